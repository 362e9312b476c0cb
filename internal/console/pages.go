package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"regexp"
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
}

type caseRow struct {
	ID, Consumers, Parties, Statuses string
	First, Last                      string
	Calls, Transactions, Accounts    int
}

type caseView struct {
	compliance.Case
	Consumers, Parties string
	Calls              []callRow
	Access             []accessRow
	Revealed           string // the one identity shown in full on this page, if any
}

type callRow struct {
	N                                  int
	Seq                                uint64
	Time, Method, Path, Operation      string
	Status                             int
	Code, Reason, Correlation          string
	Consumer, JTI, Mandate             string
	NoticeUUID, Kjennelsesdato         string
	Party                              string
	PartyMasked, CanReveal             bool
	AccountReference, From, To, OnlyPO string
	Spells                             string
	Delivered                          bool
	WithheldBy                         uint64 // the record saying the answer never left
	Accounts, Transactions             string
	Fields                             int
	FieldList                          string
	BodySHA256                         string
	Unauthenticated                    bool
}

type accessRow struct {
	Seq                                         uint64
	Time, Operation, Actor, Detail, Case, Party string
}

type findingRow struct {
	Text, Case string
}

type healthView struct {
	Records      int
	HeadSeq      uint64
	HeadHash     string
	LastVerify   *accessRow
	LastVerifyOK bool
	Checkpoint   *audit.Checkpoint
	Retention    string
	ReadError    string
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

var pageNames = []string{"cases", "case", "anomalies", "health", "konkursvarsel", "activity", "error", "signedout"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"mask": maskText}
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

// records reads the whole log. The log is the single source of every page; for the sizes a
// bank's Konkursbehandling traffic gives (thousands of calls a year) a scan is fast enough.
func (c *Console) records(r *http.Request) ([]audit.Record, error) {
	var out []audit.Record
	err := c.Audit.Scan(r.Context(), func(rec audit.Record) error {
		out = append(out, rec)
		return nil
	})
	return out, err
}

// identity numbers: an 11-digit run (fødselsnummer, d-nummer) in any text is shown as its first
// six digits; organisation numbers (9 digits) are no personal data and stay.
var elevenDigits = regexp.MustCompile(`\d{11,}`)

func maskText(s string) string {
	return elevenDigits.ReplaceAllStringFunc(s, func(m string) string {
		if len(m) != 11 {
			return m
		}
		return validation.Mask(m)
	})
}

func joinMasked(list []string) string {
	if len(list) == 0 {
		return "–"
	}
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = maskText(v)
	}
	return strings.Join(out, ", ")
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

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

const casesPerPage = 25

// search takes the search form (a POST, so that an identity number typed into it never lands in
// an address, a browser history or a proxy log) and sends the browser to the results, the party
// replaced by an opaque reference.
func (c *Console) search(w http.ResponseWriter, r *http.Request, u User) {
	q := url.Values{}
	for _, k := range []string{"id", "consumer", "status", "from", "to"} {
		if v := strings.TrimSpace(r.PostForm.Get(k)); v != "" {
			q.Set(k, v)
		}
	}
	if party := strings.TrimSpace(r.PostForm.Get("party")); party != "" {
		if _, err := validation.ParsePartyID(party); err != nil {
			c.page(w, r, http.StatusBadRequest, "cases", pageData{User: &u, Title: "Cases", Nav: "cases", Query: q,
				Error: "Party must be an organisation number (9 digits) or a national identity number (11 digits) with valid check digits."})
			return
		}
		q.Set("partyref", c.cookies.ref(party))
		q.Set("shown", maskText(party))
	}
	http.Redirect(w, r, "/?"+q.Encode(), http.StatusSeeOther)
}

func (c *Console) cases(w http.ResponseWriter, r *http.Request, u User) {
	q := r.URL.Query()
	query := compliance.Query{ID: strings.TrimSpace(q.Get("id")), Consumer: strings.TrimSpace(q.Get("consumer"))}
	d := pageData{User: &u, Title: "Cases", Nav: "cases", Query: q}
	var problems []string
	if s := strings.TrimSpace(q.Get("status")); s != "" {
		if n, err := strconv.Atoi(s); err != nil || n < 100 || n > 599 {
			problems = append(problems, "status must be an HTTP status such as 200 or 404")
		} else {
			query.Status = n
		}
	}
	for _, f := range []struct {
		name string
		t    *time.Time
		end  bool
	}{{"from", &query.From, false}, {"to", &query.Until, true}} {
		if s := strings.TrimSpace(q.Get(f.name)); s != "" {
			day, err := time.Parse(time.DateOnly, s)
			if err != nil {
				problems = append(problems, f.name+" must be a date, YYYY-MM-DD")
				continue
			}
			if f.end {
				day = day.AddDate(0, 0, 1) // to is inclusive
			}
			*f.t = day
		}
	}
	if len(problems) > 0 {
		d.Error = strings.Join(problems, "; ")
		c.page(w, r, http.StatusBadRequest, "cases", d)
		return
	}
	recs, err := c.records(r)
	if err != nil {
		d.Error = "The audit log could not be read: " + err.Error() + ". Run verify on the Audit log page."
		c.page(w, r, http.StatusInternalServerError, "cases", d)
		return
	}
	if ref := q.Get("partyref"); ref != "" {
		query.Party = "no party has this reference"
		for _, rec := range recs {
			if rec.PartyID != "" && c.cookies.ref(rec.PartyID) == ref {
				query.Party = rec.PartyID
				break
			}
		}
	}
	all := compliance.Cases(recs, query)
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	d.Total = len(all)
	start := min((page-1)*casesPerPage, len(all))
	end := min(start+casesPerPage, len(all))
	for _, cs := range all[start:end] {
		var st []string
		for _, code := range slices.Sorted(maps.Keys(cs.Statuses)) {
			st = append(st, fmt.Sprintf("%d×%d", cs.Statuses[code], code))
		}
		d.Cases = append(d.Cases, caseRow{ID: cs.ID, Consumers: joinMasked(cs.Consumers), Parties: joinMasked(cs.Parties), Statuses: strings.Join(st, " "),
			First: ts(cs.First), Last: ts(cs.Last), Calls: len(cs.Calls), Transactions: cs.Transactions, Accounts: cs.Accounts})
	}
	link := func(p int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(p))
		return "/?" + v.Encode()
	}
	if page > 1 {
		d.Prev = link(page - 1)
	}
	if end < len(all) {
		d.Next = link(page + 1)
	}
	c.page(w, r, http.StatusOK, "cases", d)
}

// caseReport shows one case; the view itself is recorded.
func (c *Console) caseReport(w http.ResponseWriter, r *http.Request, u User) {
	cs, ok := c.loadCase(w, r, u)
	if !ok {
		return
	}
	rec, err := c.record(r, u, "console.view-case", "viewed the case report", cs.ID, "")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	cs.Access = append(cs.Access, rec) // the view just recorded belongs on the page too
	c.showCase(w, r, u, cs, "")
}

// loadCase reads the case of the request's path, or answers 404.
func (c *Console) loadCase(w http.ResponseWriter, r *http.Request, u User) (compliance.Case, bool) {
	recs, err := c.records(r)
	if err != nil {
		c.fail(w, r, err)
		return compliance.Case{}, false
	}
	cs := compliance.CaseOf(r.PathValue("id"), recs)
	if len(cs.Calls) == 0 {
		c.page(w, r, http.StatusNotFound, "error", pageData{User: &u, Title: "No such case", Error: "No call of the API carried this AccountInfoRequestID."})
		return cs, false
	}
	return cs, true
}

// showCase renders the case report, with the identity revealed (if any) in full.
func (c *Console) showCase(w http.ResponseWriter, r *http.Request, u User, cs compliance.Case, revealed string) {
	v := &caseView{Case: cs, Consumers: joinMasked(cs.Consumers), Revealed: revealed}
	var parties []string
	for _, p := range cs.Parties {
		if p != revealed {
			p = maskText(p)
		}
		parties = append(parties, p)
	}
	v.Parties = dash(strings.Join(parties, ", "))
	for i, rec := range cs.Calls {
		row := callRow{
			N: i + 1, Seq: rec.Seq, Time: ts(rec.Time), Method: rec.Method, Path: maskText(rec.Path), Operation: rec.Operation,
			Status: rec.Status, Code: rec.Code, Reason: rec.Reason, Correlation: rec.CorrelationID,
			Consumer: dash(rec.Consumer), JTI: dash(rec.TokenJTI), Mandate: dash(rec.LegalMandate),
			NoticeUUID: rec.NoticeUUID, Kjennelsesdato: rec.Kjennelsesdato,
			AccountReference: dash(rec.AccountReference), From: dash(rec.FromDate), To: dash(rec.ToDate), OnlyPO: dash(rec.OnlyPrimaryOwner),
			Spells: strings.Join(rec.Spells, "; "), Delivered: cs.Delivered(rec), WithheldBy: cs.WithheldBy[rec.Seq],
			Accounts: num(rec.Accounts), Transactions: num(rec.Transactions), Fields: len(rec.Fields), FieldList: strings.Join(rec.Fields, ", "),
			BodySHA256: rec.BodySHA256, Unauthenticated: rec.Consumer == "",
		}
		switch {
		case rec.PartyID == "":
			row.Party = "–"
		case rec.PartyID == revealed:
			row.Party = rec.PartyID
		default:
			row.Party = maskText(rec.PartyID)
			row.PartyMasked = row.Party != rec.PartyID
			row.CanReveal = row.PartyMasked && u.Officer()
		}
		v.Calls = append(v.Calls, row)
	}
	for _, rec := range cs.Access {
		v.Access = append(v.Access, access(rec))
	}
	c.page(w, r, http.StatusOK, "case", pageData{User: &u, Title: "Case " + cs.ID, Nav: "cases", Case: v})
}

func access(rec audit.Record) accessRow {
	return accessRow{Seq: rec.Seq, Time: ts(rec.Time), Operation: rec.Operation, Actor: dash(rec.Actor), Detail: maskText(rec.Detail),
		Case: rec.AccountInfoRequestID, Party: maskText(rec.PartyID)}
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
	recs, err := c.records(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	cs := compliance.CaseOf(r.PathValue("id"), recs)
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

func (c *Console) anomalies(w http.ResponseWriter, r *http.Request, u User) {
	recs, err := c.records(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	t := compliance.DefaultThresholds()
	d := pageData{User: &u, Title: "Anomalies", Nav: "anomalies"}
	for _, f := range compliance.Anomalies(recs, t) {
		row := findingRow{Case: f.Case}
		switch f.Kind {
		case "per-case":
			row.Text = fmt.Sprintf("%d requests in one case (more than %d)", f.Count, t.PerCase)
		case "per-party":
			row.Text = fmt.Sprintf("%d requests for party %s (more than %d)", f.Count, maskText(f.Party), t.PerParty)
		case "window":
			row.Text = fmt.Sprintf("refused outside the bankruptcy window: audit record %d at %s, party %s, fromDate %s (kjennelsesdato %s)",
				f.Record.Seq, ts(f.Record.Time), maskText(f.Party), dash(f.Record.FromDate), dash(f.Record.Kjennelsesdato))
		case "token-failures":
			row.Text = fmt.Sprintf("%d token failures from consumer %s (more than %d)", f.Count, f.Consumer, t.TokenFailures)
		}
		d.Findings = append(d.Findings, row)
	}
	c.page(w, r, http.StatusOK, "anomalies", d)
}

func (c *Console) health(w http.ResponseWriter, r *http.Request, u User) {
	h := &healthView{Retention: "forever (DSOP_AUDIT_RETENTION=0)"}
	if c.Retention > 0 {
		h.Retention = fmt.Sprintf("%d days", int(c.Retention.Hours()/24))
	}
	recs, err := c.records(r)
	if err != nil {
		h.ReadError = err.Error()
	}
	h.Records = len(recs)
	if n := len(recs); n > 0 {
		h.HeadSeq, h.HeadHash = recs[n-1].Seq, recs[n-1].Hash
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Operation == "console.verify" {
			a := access(recs[i])
			h.LastVerify, h.LastVerifyOK = &a, strings.HasPrefix(recs[i].Detail, "OK")
			break
		}
	}
	if h.Checkpoint, err = c.Audit.Checkpoint(r.Context()); err != nil && h.ReadError == "" {
		h.ReadError = err.Error()
	}
	c.page(w, r, http.StatusOK, "health", pageData{User: &u, Title: "Audit log health", Nav: "health", Health: h})
}

// verify walks the chain now and records the result, which the health page then shows.
func (c *Console) verify(w http.ResponseWriter, r *http.Request, u User) {
	rep, err := audit.Verify(r.Context(), c.Audit, c.Signer)
	var detail string
	switch {
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
		s.LastSuccess, s.LastAttempt, s.LastError = ts(st.LastSuccess), ts(st.LastAttempt), dash(st.LastError)
		s.Lag = st.Lag.Round(time.Second).String()
		var applied []string
		for _, t := range []konkursvarsel.Type{konkursvarsel.Aapning, konkursvarsel.Sletting, konkursvarsel.Oppheving, konkursvarsel.Avslutning} {
			applied = append(applied, fmt.Sprintf("%s %d", t, st.Applied[t]))
		}
		s.Applied = strings.Join(applied, ", ")
		s.Rejected, s.Errors, s.FutureDated = st.Rejected, st.Errors, st.FutureDated
	}
	if cur, err := c.Notices.Cursor(ctx); err == nil {
		s.Cursor = ts(cur)
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
			accts = append(accts, x.AccountNumber+" ("+maskText(x.PartyID)+")")
		}
		row := actionRow{ID: a.ID, Type: string(a.Type), NoticeType: string(a.NoticeType), NoticeUUID: a.NoticeUUID, Debitor: maskText(a.Debitor),
			Kjennelsesdato: dash(a.Kjennelsesdato), Registered: ts(a.Registreringstidspunkt), Created: ts(a.CreatedAt), Accounts: dash(strings.Join(accts, ", "))}
		if a.AckedAt != nil {
			row.Acked, row.AckedAt, row.AckedBy = true, ts(*a.AckedAt), maskText(a.AckedBy)
		}
		d.Actions = append(d.Actions, row)
	}
	if party := strings.TrimSpace(r.PostForm.Get("party")); r.Method == http.MethodPost && party != "" {
		if _, err := validation.ParsePartyID(party); err != nil {
			d.Error = "party must be an organisation number (9 digits) or a national identity number (11 digits)"
		} else {
			ns, err := c.Notices.NoticesFor(ctx, party)
			if err != nil {
				c.fail(w, r, err)
				return
			}
			d.Party = maskText(party)
			for _, n := range ns {
				d.Notices = append(d.Notices, noticeRow{UUID: n.UUID, Type: string(n.Type), Kjennelsesdato: dash(n.Kjennelsesdato.String()),
					Registered: ts(n.Registreringstidspunkt), Debitor: maskText(n.Debitor), Associated: dash(strings.Join(n.AssociatedOrgNos, ", "))})
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

const activityRows = 500

func (c *Console) activity(w http.ResponseWriter, r *http.Request, u User) {
	recs, err := c.records(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := pageData{User: &u, Title: "Access log", Nav: "activity"}
	for i := len(recs) - 1; i >= 0 && len(d.Activity) < activityRows; i-- {
		if compliance.Access(recs[i]) {
			d.Activity = append(d.Activity, access(recs[i]))
		}
	}
	c.page(w, r, http.StatusOK, "activity", d)
}
