package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/compliance"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// pageData is what every template gets; each page fills its part.
type pageData struct {
	User  *User
	Title string
	Error string
	Nav   string // the menu entry to mark

	Query    url.Values
	Cases    []caseRow
	Prev     string
	Next     string
	Total    int
	Case     *caseView
	Findings []findingRow
	Health   *healthView
	Sync     *syncView
	Actions  []actionRow
	Notices  []noticeRow
	Party    string // the party looked up (masked)
	Activity []accessRow
	Return   string // where the signed-in page moves on to
	Days     int    // the period of the anomalies page
	AsOf     string // when the anomalies shown were computed
	// Computing says the anomalies are being computed; the page reloads after RefreshAfter s.
	Computing    bool
	RefreshAfter int
}

type caseRow struct {
	ID, Href, Consumers, Parties, Statuses string
	First, Last                            string
	Calls, Unauthenticated                 int
	Transactions, Accounts                 int
}

type partyLink struct{ Shown, Href string }

type caseView struct {
	compliance.Case
	Href, Consumers, AccountNumbers string
	First, Last                     string
	Parties                         []partyLink
	Calls, Refused                  []callRow
	Unauthenticated                 int
	Access                          []accessRow
	Revealed                        string // the one identity shown in full on this page, if any
	Truncated                       bool
}

type callRow struct {
	N                                  int
	Seq                                uint64
	Time, Method, Path, Operation      string
	Status                             int
	Code, Reason, Correlation, Client  string
	Consumer, JTI, Mandate, Service    string
	Notice                             string
	Party                              string
	PartyMasked, CanReveal             bool
	AccountReference, From, To, OnlyPO string
	AccountNumbers                     string
	Spells                             string
	Delivered                          bool
	WithheldBy                         uint64 // the record saying the answer never left
	Accounts, Transactions             string
	Fields                             int
	FieldList                          string
	BodySHA256                         string
	Count                              uint64 // identical refusals this record stands for
}

type accessRow struct {
	Seq                                                   uint64
	Time, Operation, Actor, Detail, Case, CaseHref, Party string
}

type findingRow struct {
	Text, Case, CaseHref string
}

type healthView struct {
	Records        uint64
	HeadSeq        uint64
	HeadHash       string
	LastVerify     *accessRow
	LastVerifyOK   bool
	Checkpoint     *audit.Checkpoint
	CheckpointTime string
	Retention      string
	ReadError      string
}

type syncView struct {
	Here                                     bool
	LastSuccess, LastAttempt, LastError, Lag string
	Cursor                                   string
	Applied                                  string
	Rejected, Errors, FutureDated            int
}

type actionRow struct {
	ID, Type, NoticeType, NoticeUUID, Debitor, Kjennelsesdato, Registered, Created string
	Accounts                                                                       string
	Acked                                                                          bool
	AckedAt, AckedBy                                                               string
}

type noticeRow struct {
	UUID, Type, Kjennelsesdato, Registered, Debitor, Associated string
}

var pageNames = []string{"cases", "case", "anomalies", "health", "konkursvarsel", "activity", "error", "signedout", "signedin"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"pathEscape": url.PathEscape}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// page renders a page in full before sending it, so that a template error is a clean 500.
func (c *Console) page(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	if d.User != nil && d.User.Sub == "" {
		d.User = nil
	}
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, d); err != nil {
		c.logger.Error("console template", "page", name, "error", err)
		http.Error(w, "the console could not render this page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// readCtx bounds every read of the audit log that a page makes (DSOP_CONSOLE_READ_TIMEOUT): a
// locked table or a slow disk gives a clear error page, never a browser left waiting.
func (c *Console) readCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), c.readTimeout)
}

// readFailed answers a page whose read of the log failed: 503 with what to do when its deadline
// passed, else the generic error.
func (c *Console) readFailed(w http.ResponseWriter, r *http.Request, u User, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		c.logger.Warn("console read timed out", "path", r.URL.Path, "timeout", c.readTimeout.String())
		c.page(w, r, http.StatusServiceUnavailable, "error", pageData{User: &u, Title: "The audit log did not answer in time",
			Error: fmt.Sprintf("The audit log did not answer within %s. Try again in a moment, or narrow the search (a case id, a party, a shorter period).", c.readTimeout)})
		return
	}
	c.fail(w, r, err)
}

func (c *Console) ts(t time.Time) string { return c.present.Time(t) }

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func num(p *int) string {
	if p == nil {
		return "–"
	}
	return strconv.Itoa(*p)
}

// joinMasked lists parties as the presenter shows them.
func (c *Console) joinMasked(list []string) string {
	if len(list) == 0 {
		return "–"
	}
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = c.present.Mask(v)
	}
	return strings.Join(out, ", ")
}

// search takes the search form (a POST, so that an identity number typed into it never lands in
// an address, a browser history or a proxy log) and sends the browser to the results. A party
// number is replaced by an opaque reference; searching by one is an officer's action, recorded
// with a keyed hash of the number (no answer to a viewer depends on hidden digits).
func (c *Console) search(w http.ResponseWriter, r *http.Request, u User) {
	q := url.Values{}
	for _, k := range []string{"id", "consumer", "service", "status", "from", "to"} {
		if v := strings.TrimSpace(r.PostForm.Get(k)); v != "" {
			q.Set(k, v)
		}
	}
	if party := strings.TrimSpace(r.PostForm.Get("party")); party != "" {
		if !u.Officer() {
			_, _ = c.record(r, u, "console.refused", "party search refused to a viewer", "", "")
			c.page(w, r, http.StatusForbidden, "cases", pageData{User: &u, Title: "Cases", Nav: "cases", Query: q,
				Error: "Only compliance officers may search by a party's number. Search by case id, or follow a party's link on a case page."})
			return
		}
		if _, err := validation.ParsePartyID(party); err != nil {
			c.page(w, r, http.StatusBadRequest, "cases", pageData{User: &u, Title: "Cases", Nav: "cases", Query: q,
				Error: "Party must be an organisation number (9 digits) or a national identity number (11 digits) with valid check digits."})
			return
		}
		if ok, err := c.allowSearch(r, u); err != nil {
			c.fail(w, r, err)
			return
		} else if !ok {
			c.page(w, r, http.StatusTooManyRequests, "cases", pageData{User: &u, Title: "Cases", Nav: "cases", Query: q,
				Error: fmt.Sprintf("You have searched by party number %d times in the last hour, the most the console allows; the searches are flagged on the Anomalies page.", c.searchLimit)})
			return
		}
		if _, err := c.record(r, u, "console.search-party", "searched cases by party number "+c.present.SearchHash(party), "", ""); err != nil {
			c.fail(w, r, err)
			return
		}
		q.Set("party", c.present.PartyRef(party))
	}
	http.Redirect(w, r, "/?"+q.Encode(), http.StatusSeeOther)
}

// allowSearch applies the per-user limit on searches by party number (DSOP_CONSOLE_SEARCH_LIMIT
// an hour), counted from the user's own recorded searches.
func (c *Console) allowSearch(r *http.Request, u User) (bool, error) {
	ctx, cancel := c.readCtx(r)
	defer cancel()
	n := 0
	err := audit.Each(ctx, c.Audit, audit.Query{Kind: audit.KindAccess, Operation: "console.search-party", From: c.now().Add(-time.Hour), Limit: audit.MaxLimit},
		func(rec audit.Record) error {
			if rec.Actor == u.Actor() {
				n++
			}
			return nil
		})
	return n < c.searchLimit, err
}

func (c *Console) cases(w http.ResponseWriter, r *http.Request, u User) {
	q := r.URL.Query()
	f := compliance.CaseFilter{Consumer: strings.TrimSpace(q.Get("consumer")), Service: strings.TrimSpace(q.Get("service"))}
	d := pageData{User: &u, Title: "Cases", Nav: "cases", Query: q}
	var problems []string
	if s := strings.TrimSpace(q.Get("status")); s != "" {
		if n, err := strconv.Atoi(s); err != nil || n < 100 || n > 599 {
			problems = append(problems, "status must be an HTTP status such as 200 or 404")
		} else {
			f.Status = n
		}
	}
	for _, fd := range []struct {
		name string
		t    *time.Time
		end  bool
	}{{"from", &f.From, false}, {"to", &f.Until, true}} {
		if s := strings.TrimSpace(q.Get(fd.name)); s != "" {
			day, err := time.ParseInLocation(time.DateOnly, s, c.loc)
			if err != nil {
				problems = append(problems, fd.name+" must be a date, YYYY-MM-DD")
				continue
			}
			if fd.end {
				day = day.AddDate(0, 0, 1) // to is inclusive
			}
			*fd.t = day
		}
	}
	var before uint64
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			problems = append(problems, "the page link is damaged: start from the first page")
		}
		before = n
	}
	if ref := q.Get("party"); ref != "" {
		party, err := c.present.OpenPartyRef(ref)
		if err != nil {
			problems = append(problems, "the party reference is not valid: follow a party's link on a case page, or search again")
		}
		f.Party = party
		d.Party = c.present.Mask(party)
	}
	if len(problems) > 0 {
		d.Error = strings.Join(problems, "; ")
		c.page(w, r, http.StatusBadRequest, "cases", d)
		return
	}
	ctx, cancel := c.readCtx(r)
	defer cancel()
	if id := strings.TrimSpace(q.Get("id")); id != "" {
		// One case by its id: straight to its report if it has calls.
		cs, err := compliance.LoadCase(ctx, c.Audit, id)
		if err != nil {
			c.readFailed(w, r, u, err)
			return
		}
		if len(cs.Calls) > 0 {
			d.Cases = append(d.Cases, c.caseRow(cs))
		}
		c.page(w, r, http.StatusOK, "cases", d)
		return
	}
	page, err := compliance.ListCases(ctx, c.Audit, f, before)
	if err != nil {
		c.readFailed(w, r, u, err)
		return
	}
	for _, cs := range page.Cases {
		d.Cases = append(d.Cases, c.caseRow(cs))
	}
	if before != 0 {
		v := cloneValues(q)
		v.Del("before")
		d.Prev = "/?" + v.Encode()
	}
	if page.Next != 0 {
		v := cloneValues(q)
		v.Set("before", strconv.FormatUint(page.Next, 10))
		d.Next = "/?" + v.Encode()
	}
	c.page(w, r, http.StatusOK, "cases", d)
}

func cloneValues(q url.Values) url.Values {
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	return v
}

func (c *Console) caseRow(cs compliance.Case) caseRow {
	var st []string
	for _, code := range slices.Sorted(maps.Keys(cs.Statuses)) {
		st = append(st, fmt.Sprintf("%d×%d", cs.Statuses[code], code))
	}
	return caseRow{ID: cs.ID, Href: caseHref(cs.ID), Consumers: strings.Join(cs.Consumers, ", "), Parties: c.joinMasked(cs.Parties),
		Statuses: strings.Join(st, " "), First: c.ts(cs.First), Last: c.ts(cs.Last), Calls: len(cs.Calls), Unauthenticated: len(cs.Unauthenticated),
		Transactions: cs.Transactions, Accounts: cs.Accounts}
}

// caseHref is the link to a case: the id is path material only after escaping, so that no id a
// caller chose can climb out of /cases/ (issue #26).
func caseHref(id string) string { return "/cases/" + url.PathEscape(id) }

// caseReport shows one case. Only a same-origin navigation is recorded as a view (a link on
// another site must not make an officer's browser write records in their name, issue #26).
func (c *Console) caseReport(w http.ResponseWriter, r *http.Request, u User) {
	cs, ok := c.loadCase(w, r, u)
	if !ok {
		return
	}
	if sameOrigin(r) {
		rec, err := c.record(r, u, "console.view-case", "viewed the case report", cs.ID, "")
		if err != nil {
			c.fail(w, r, err)
			return
		}
		cs.Access = append(cs.Access, rec) // the view just recorded belongs on the page too
	}
	if r.URL.Query().Get("format") == "csv" {
		c.exportCSV(w, cs)
		return
	}
	c.showCase(w, r, u, cs, "")
}

// sameOrigin reports whether the browser says the request came from the console itself (or was
// typed, or opened from a bookmark). Browsers without Fetch Metadata count as same-origin.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// loadCase reads the case of the request's path, or answers 404.
func (c *Console) loadCase(w http.ResponseWriter, r *http.Request, u User) (compliance.Case, bool) {
	ctx, cancel := c.readCtx(r)
	defer cancel()
	cs, err := compliance.LoadCase(ctx, c.Audit, r.PathValue("id"))
	if err != nil {
		c.readFailed(w, r, u, err)
		return compliance.Case{}, false
	}
	if len(cs.Calls) == 0 {
		c.page(w, r, http.StatusNotFound, "error", pageData{User: &u, Title: "No such case", Error: "No call of an authenticated consumer carried this AccountInfoRequestID."})
		return cs, false
	}
	return cs, true
}

// showCase renders the case report, with the identity revealed (if any) in full.
func (c *Console) showCase(w http.ResponseWriter, r *http.Request, u User, cs compliance.Case, revealed string) {
	v := &caseView{Case: cs, Href: caseHref(cs.ID), Consumers: dash(strings.Join(cs.Consumers, ", ")), Revealed: revealed, Truncated: cs.Truncated,
		AccountNumbers: dash(c.joinMasked(cs.AccountNumbers)), First: c.ts(cs.First), Last: c.ts(cs.Last), Unauthenticated: len(cs.Unauthenticated)}
	for _, p := range cs.Parties {
		shown := c.present.Mask(p)
		if p == revealed {
			shown = p
		}
		v.Parties = append(v.Parties, partyLink{Shown: shown, Href: "/?party=" + url.QueryEscape(c.present.PartyRef(p))})
	}
	for i, rec := range cs.Calls {
		v.Calls = append(v.Calls, c.callRow(i+1, rec, cs, revealed, u))
	}
	for i, rec := range cs.Unauthenticated {
		v.Refused = append(v.Refused, c.callRow(i+1, rec, cs, "", User{}))
	}
	for _, rec := range cs.Access {
		v.Access = append(v.Access, c.access(rec))
	}
	c.page(w, r, http.StatusOK, "case", pageData{User: &u, Title: "Case " + cs.ID, Nav: "cases", Case: v})
}

func (c *Console) callRow(n int, rec audit.Record, cs compliance.Case, revealed string, u User) callRow {
	row := callRow{
		N: n, Seq: rec.Seq, Time: c.ts(rec.Time), Method: rec.Method, Path: c.present.MaskText(rec.Path), Operation: rec.Operation,
		Status: rec.Status, Code: rec.Code, Reason: rec.Reason, Correlation: rec.CorrelationID, Client: dash(rec.Client),
		Consumer: dash(rec.Consumer), JTI: dash(rec.TokenJTI), Mandate: dash(rec.LegalMandate), Service: dash(rec.Service),
		Notice:           compliance.NoticeInForce(rec),
		AccountReference: dash(rec.AccountReference), From: dash(rec.FromDate), To: dash(rec.ToDate), OnlyPO: dash(rec.OnlyPrimaryOwner),
		AccountNumbers: dash(c.joinMasked(rec.AccountNumbers)),
		Spells:         strings.Join(rec.Spells, "; "), Delivered: cs.Delivered(rec), WithheldBy: cs.WithheldBy[rec.Seq],
		Accounts: num(rec.Accounts), Transactions: num(rec.Transactions), Fields: len(rec.Fields), FieldList: strings.Join(rec.Fields, ", "),
		BodySHA256: rec.BodySHA256, Count: rec.Count,
	}
	switch {
	case rec.PartyID == "":
		row.Party = "–"
	case rec.PartyID == revealed:
		row.Party = rec.PartyID
	default:
		row.Party = c.present.Mask(rec.PartyID)
		row.PartyMasked = row.Party != rec.PartyID
		row.CanReveal = row.PartyMasked && u.Officer()
	}
	return row
}

func (c *Console) access(rec audit.Record) accessRow {
	return accessRow{Seq: rec.Seq, Time: c.ts(rec.Time), Operation: rec.Operation, Actor: dash(rec.Actor), Detail: c.present.MaskText(rec.Detail),
		Case: rec.AccountInfoRequestID, CaseHref: caseHref(rec.AccountInfoRequestID), Party: c.present.MaskText(rec.PartyID)}
}

// reveal shows one identity number of a case in full, to an officer, once the reveal is recorded.
// The form names the audit record whose party is meant, so that the number never travels in a
// URL or a form.
func (c *Console) reveal(w http.ResponseWriter, r *http.Request, u User) {
	seq, err := strconv.ParseUint(r.PostForm.Get("seq"), 10, 64)
	if err != nil {
		c.page(w, r, http.StatusBadRequest, "error", pageData{User: &u, Title: "Nothing to reveal", Error: "The form did not name a call of the case."})
		return
	}
	cs, ok := c.loadCase(w, r, u)
	if !ok {
		return
	}
	party := ""
	for _, rec := range cs.Calls {
		if rec.Seq == seq {
			party = rec.PartyID
		}
	}
	if party == "" {
		c.page(w, r, http.StatusBadRequest, "error", pageData{User: &u, Title: "Nothing to reveal", Error: "That call of the case names no party."})
		return
	}
	rec, err := c.record(r, u, "console.reveal", fmt.Sprintf("revealed the party of audit record %d", seq), cs.ID, party)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	cs.Access = append(cs.Access, rec)
	c.showCase(w, r, u, cs, party)
}

// maxFindings bounds the anomalies page; the CLI lists them all.
const maxFindings = 200

// searchFindings flags users who searched by party number more often than the hourly limit
// within any hour of the last 30 days.
func (c *Console) searchFindings(ctx context.Context, d *pageData) error {
	byActor := map[string][]time.Time{}
	flagged := map[string]bool{}
	err := audit.Each(ctx, c.Audit, audit.Query{Kind: audit.KindAccess, Operation: "console.search-party", From: c.now().AddDate(0, 0, -30), Oldest: true, Limit: audit.MaxLimit},
		func(rec audit.Record) error {
			ts := append(byActor[rec.Actor], rec.Time)
			for len(ts) > 0 && rec.Time.Sub(ts[0]) > time.Hour {
				ts = ts[1:]
			}
			byActor[rec.Actor] = ts
			if len(ts) >= c.searchLimit && !flagged[rec.Actor] {
				flagged[rec.Actor] = true
				d.Findings = append(d.Findings, findingRow{Text: fmt.Sprintf("%s searched by party number %d times within an hour (ending %s)", rec.Actor, len(ts), c.ts(rec.Time))})
			}
			return nil
		})
	return err
}

func (c *Console) finding(f compliance.Finding, t compliance.Thresholds) findingRow {
	row := findingRow{Case: f.Case, CaseHref: caseHref(f.Case)}
	switch f.Kind {
	case compliance.PerCase:
		row.Text = fmt.Sprintf("%d calls in one case (more than %d)", f.Count, t.PerCase)
	case compliance.PerParty:
		row.Text = fmt.Sprintf("%d calls for party %s (more than %d)", f.Count, c.present.Mask(f.Party), t.PerParty)
	case compliance.Window:
		row.Text = fmt.Sprintf("refused outside the bankruptcy window: audit record %d at %s, party %s, fromDate %s (kjennelsesdato %s)",
			f.Record.Seq, c.ts(f.Record.Time), c.present.Mask(f.Party), dash(f.Record.FromDate), dash(f.Record.Kjennelsesdato))
	case compliance.TokenFailures:
		row.Text = fmt.Sprintf("%d token failures from address %s (more than %d)", f.Count, f.Client, t.TokenFailures)
	}
	return row
}

func (c *Console) health(w http.ResponseWriter, r *http.Request, u User) {
	ctx, cancel := c.readCtx(r)
	defer cancel()
	h := &healthView{Retention: "forever (DSOP_AUDIT_RETENTION=0)"}
	if c.Retention > 0 {
		h.Retention = fmt.Sprintf("%d days", int(c.Retention.Hours()/24))
	}
	var err error
	if h.Checkpoint, err = c.Audit.Checkpoint(ctx); err != nil {
		h.ReadError = err.Error()
	}
	head, err := c.Audit.Query(ctx, audit.Query{Limit: 1})
	if err != nil && h.ReadError == "" {
		h.ReadError = err.Error()
	}
	if len(head.Records) == 1 {
		last := head.Records[0]
		h.HeadSeq, h.HeadHash = last.Seq, last.Hash
		h.Records = last.Seq
		if h.Checkpoint != nil {
			h.Records = last.Seq - h.Checkpoint.Seq + 1
		}
	}
	lastVerify, err := c.Audit.Query(ctx, audit.Query{Kind: audit.KindAccess, Operation: "console.verify", Limit: 1})
	if err != nil && h.ReadError == "" {
		h.ReadError = err.Error()
	}
	if len(lastVerify.Records) == 1 {
		a := c.access(lastVerify.Records[0])
		h.LastVerify, h.LastVerifyOK = &a, strings.HasPrefix(lastVerify.Records[0].Detail, "OK")
	}
	if h.CheckpointTime = "–"; h.Checkpoint != nil {
		h.CheckpointTime = c.ts(h.Checkpoint.Time)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		c.readFailed(w, r, u, ctx.Err())
		return
	}
	c.page(w, r, http.StatusOK, "health", pageData{User: &u, Title: "Audit log health", Nav: "health", Health: h})
}

// verify walks the chain now and records the result, which the health page then shows. It reads
// the whole log (a record at a time) and so has its own, longer deadline
// (console.Deps.VerifyTimeout, 10 minutes).
func (c *Console) verify(w http.ResponseWriter, r *http.Request, u User) {
	ctx, cancel := context.WithTimeout(r.Context(), c.verifyTimeout)
	defer cancel()
	rep, err := audit.Verify(ctx, c.Audit, c.Signer)
	var detail string
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		detail = fmt.Sprintf("NOT FINISHED: verification ran longer than %s; run `dsop-bank audit verify`", c.verifyTimeout)
	case err != nil:
		detail = "BROKEN: the log could not be read: " + err.Error()
	case !rep.OK():
		detail = fmt.Sprintf("BROKEN at record %d: %s", rep.BadSeq, rep.Problem)
	default:
		detail = fmt.Sprintf("OK: %d records (seq %d–%d)", rep.Records, rep.FirstSeq, rep.LastSeq)
	}
	if _, err := c.record(r, u, "console.verify", detail, "", ""); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/health", http.StatusSeeOther)
}

func (c *Console) konkursvarsel(w http.ResponseWriter, r *http.Request, u User) {
	ctx := r.Context()
	d := pageData{User: &u, Title: "Konkursvarsel", Nav: "konkursvarsel"}
	s := &syncView{}
	if c.Sync != nil {
		st := c.Sync()
		s.Here = !st.LastAttempt.IsZero()
		s.LastSuccess, s.LastAttempt, s.LastError = c.ts(st.LastSuccess), c.ts(st.LastAttempt), dash(st.LastError)
		s.Lag = st.Lag.Round(time.Second).String()
		var applied []string
		for _, r := range konkursvarsel.Types() {
			applied = append(applied, fmt.Sprintf("%s %d", r.Type, st.Applied[r.Type]))
		}
		s.Applied = strings.Join(applied, ", ")
		s.Rejected, s.Errors, s.FutureDated = st.Rejected, st.Errors, st.FutureDated
	}
	if cur, err := c.Notices.Cursor(ctx); err == nil {
		s.Cursor = c.ts(cur)
	} else {
		s.Cursor = "unreadable: " + err.Error()
	}
	d.Sync = s
	acts, err := c.Outbox.List(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for i := len(acts) - 1; i >= 0; i-- { // newest first
		a := acts[i]
		var accts []string
		for _, x := range a.Accounts {
			accts = append(accts, x.AccountNumber+" ("+c.present.Mask(x.PartyID)+")")
		}
		row := actionRow{ID: a.ID, Type: string(a.Type), NoticeType: string(a.NoticeType), NoticeUUID: a.NoticeUUID, Debitor: c.present.Mask(a.Debitor),
			Kjennelsesdato: dash(a.Kjennelsesdato), Registered: c.ts(a.Registreringstidspunkt), Created: c.ts(a.CreatedAt), Accounts: dash(strings.Join(accts, ", "))}
		if a.AckedAt != nil {
			row.Acked, row.AckedAt, row.AckedBy = true, c.ts(*a.AckedAt), c.present.MaskText(a.AckedBy)
		}
		d.Actions = append(d.Actions, row)
	}
	if party := strings.TrimSpace(r.PostForm.Get("party")); r.Method == http.MethodPost && party != "" {
		// A lookup by number answers whether notices name it: an officer's action, recorded with
		// a keyed hash of the number and limited like the case search (issue #26).
		ok, err := c.allowSearch(r, u)
		switch {
		case !u.Officer():
			_, _ = c.record(r, u, "console.refused", "Konkursvarsel lookup refused to a viewer", "", "")
			d.Error = "Only compliance officers may look a party up by number."
		case err != nil:
			c.fail(w, r, err)
			return
		case !ok:
			d.Error = fmt.Sprintf("You have searched by party number %d times in the last hour, the most the console allows.", c.searchLimit)
		default:
			if _, perr := validation.ParsePartyID(party); perr != nil {
				d.Error = "party must be an organisation number (9 digits) or a national identity number (11 digits)"
				break
			}
			if _, err := c.record(r, u, "console.search-party", "looked up Konkursvarsel notices by party number "+c.present.SearchHash(party), "", ""); err != nil {
				c.fail(w, r, err)
				return
			}
			ns, err := c.Notices.NoticesFor(ctx, party)
			if err != nil {
				c.fail(w, r, err)
				return
			}
			d.Party = c.present.Mask(party)
			for _, n := range ns {
				d.Notices = append(d.Notices, noticeRow{UUID: n.UUID, Type: string(n.Type), Kjennelsesdato: dash(n.Kjennelsesdato.String()),
					Registered: c.ts(n.Registreringstidspunkt), Debitor: c.present.Mask(n.Debitor), Associated: dash(strings.Join(n.AssociatedOrgNos, ", "))})
			}
		}
	}
	c.page(w, r, http.StatusOK, "konkursvarsel", d)
}

// ack acknowledges a block or reopen instruction: the bank has carried it out. The request is
// recorded first, so no acknowledgement exists without its audit record.
func (c *Console) ack(w http.ResponseWriter, r *http.Request, u User) {
	id := r.PathValue("id")
	if _, err := c.record(r, u, "console.ack", "acknowledge action "+id, "", ""); err != nil {
		c.fail(w, r, err)
		return
	}
	err := c.Outbox.Ack(r.Context(), id, u.Actor())
	switch {
	case errors.Is(err, konkursvarsel.ErrUnknownAction):
		c.page(w, r, http.StatusNotFound, "error", pageData{User: &u, Title: "No such action", Error: "There is no block or reopen instruction with this id."})
	case errors.Is(err, konkursvarsel.ErrAlreadyAcked):
		c.page(w, r, http.StatusConflict, "error", pageData{User: &u, Title: "Already acknowledged", Error: "Someone acknowledged this instruction already; the Konkursvarsel page shows who and when."})
	case err != nil:
		c.fail(w, r, err)
	default:
		http.Redirect(w, r, "/konkursvarsel", http.StatusSeeOther)
	}
}

// activity lists the bank's own access to the log, newest first, a page at a time.
func (c *Console) activity(w http.ResponseWriter, r *http.Request, u User) {
	d := pageData{User: &u, Title: "Access log", Nav: "activity"}
	var before uint64
	if s := r.URL.Query().Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			d.Error = "the page link is damaged: start from the first page"
			c.page(w, r, http.StatusBadRequest, "activity", d)
			return
		}
		before = n
	}
	ctx, cancel := c.readCtx(r)
	defer cancel()
	p, err := c.Audit.Query(ctx, audit.Query{Kind: audit.KindAccess, Before: before, Limit: compliance.CasesPerPage})
	if err != nil {
		c.readFailed(w, r, u, err)
		return
	}
	for _, rec := range p.Records {
		d.Activity = append(d.Activity, c.access(rec))
	}
	if p.Next != 0 {
		d.Next = "/activity?before=" + strconv.FormatUint(p.Next, 10)
	}
	c.page(w, r, http.StatusOK, "activity", d)
}
