package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/compliance"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// auditCmd is `dsop-bank audit verify|query|case|anomalies|expire`: the compliance officer's
// tools. They read the store the server writes (DSOP_DATABASE_URL, else DSOP_AUDIT_DIR).
func auditCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: dsop-bank audit verify|query|case|anomalies|expire [flags]")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// Each subcommand registers only the flags it reads.
	var (
		caseID, correlation, party, consumer, since, until string
		status                                             int
		format                                             = "table"
		reveal                                             bool
		perCase, perParty, tokenFails                      = 50, 100, 10
	)
	usage := map[string]string{
		"verify":    "Walk the audit hash chain; exit status 1 on the first broken or missing record.",
		"query":     "Search the audit log.",
		"case":      "The case report: every call of one AccountInfoRequestID, its legal basis and what was delivered.",
		"anomalies": "Unusually many requests per case or party, refusals outside the window, repeated token failures; exit status 1 on findings.",
		"expire":    "Apply DSOP_AUDIT_RETENTION now (the chain is verified first).",
	}
	if _, ok := usage[sub]; !ok {
		return fmt.Errorf("unknown audit command %q (verify, query, case, anomalies, expire)", sub)
	}
	switch sub {
	case "query":
		fs.StringVar(&caseID, "request-id", "", "AccountInfoRequestID")
		fs.StringVar(&correlation, "correlation-id", "", "CorrelationID")
		fs.StringVar(&party, "party", "", "PartyID (or party resolved from an accountReference)")
		fs.StringVar(&consumer, "consumer", "", "consumer, e.g. 0192:974760673")
		fs.StringVar(&since, "since", "", "from this time (RFC 3339 or YYYY-MM-DD)")
		fs.StringVar(&until, "until", "", "before this time (RFC 3339 or YYYY-MM-DD)")
		fs.IntVar(&status, "status", 0, "HTTP status")
		fs.StringVar(&format, "format", "table", "table or json (JSON lines)")
		fs.BoolVar(&reveal, "reveal", false, "show national identity numbers in full (the reveal is itself recorded)")
	case "case":
		fs.BoolVar(&reveal, "reveal", false, "show national identity numbers in full (the reveal is itself recorded)")
	case "anomalies":
		fs.IntVar(&perCase, "max-per-case", 50, "requests per AccountInfoRequestID above this")
		fs.IntVar(&perParty, "max-per-party", 100, "requests per party above this")
		fs.IntVar(&tokenFails, "max-token-failures", 10, "token failures per consumer above this")
	}
	fs.Usage = func() {
		args := map[string]string{"case": " <AccountInfoRequestID>"}[sub]
		fmt.Fprintf(stderr, "usage: dsop-bank audit %s [flags]%s [-- server flags]\n\n%s\n", sub, args, usage[sub])
		fs.PrintDefaults()
	}
	// Server settings (DSOP_* variables) may follow after --.
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if sub == "case" {
		if len(rest) == 0 {
			return errors.New("usage: dsop-bank audit case <AccountInfoRequestID>")
		}
		caseID, rest = rest[0], rest[1:]
	}
	cfg, err := config.Load("audit", rest, getenv, stderr)
	if err != nil {
		return err
	}
	secret, err := loadSecret(cfg.SecretFile, false)
	if err != nil {
		return err
	}
	signer := audit.NewSigner(secret)
	writes := sub == "expire" || reveal
	st, closeStore, err := openAudit(ctx, cfg, !writes)
	if err != nil {
		if writes {
			return fmt.Errorf("%w (the reveal or expiry must be recorded in the audit log, which needs the writer's lock: use the PostgreSQL store, or stop the server)", err)
		}
		return err
	}
	defer closeStore()

	filter := func(r audit.Record) bool {
		return (caseID == "" || r.AccountInfoRequestID == caseID) &&
			(correlation == "" || r.CorrelationID == correlation) &&
			(party == "" || r.PartyID == party) &&
			(consumer == "" || r.Consumer == consumer) &&
			(status == 0 || r.Status == status)
	}
	var from, to time.Time
	for _, p := range []struct {
		s string
		t *time.Time
	}{{since, &from}, {until, &to}} {
		if p.s == "" {
			continue
		}
		if *p.t, err = parseTime(p.s); err != nil {
			return err
		}
	}
	inTime := func(r audit.Record) bool {
		return (from.IsZero() || !r.Time.Before(from)) && (to.IsZero() || r.Time.Before(to))
	}
	if reveal {
		who := osUser()
		detail := strings.Join(os.Args[1:], " ")
		if err := st.Append(ctx, &audit.Record{Time: time.Now(), Operation: "audit.reveal", Method: "CLI", Path: "audit " + sub,
			Actor: who, Detail: audit.Field(detail), AccountInfoRequestID: audit.Field(caseID), PartyID: audit.Field(party), Status: 0}); err != nil {
			return fmt.Errorf("record the reveal: %w", err)
		}
	}
	show := func(r audit.Record) audit.Record {
		if !reveal {
			r.PartyID = validation.Mask(r.PartyID)
		}
		return r
	}
	collect := func() ([]audit.Record, error) {
		var out []audit.Record
		err := st.Scan(ctx, func(r audit.Record) error {
			if filter(r) && inTime(r) {
				out = append(out, show(r))
			}
			return nil
		})
		return out, err
	}

	switch sub {
	case "verify":
		rep, err := audit.Verify(ctx, st, signer)
		if err != nil {
			return err
		}
		if !rep.OK() {
			fmt.Fprintf(stdout, "audit chain BROKEN at record %d: %s\n", rep.BadSeq, rep.Problem)
			return errors.New("audit chain verification failed")
		}
		start := "the first record"
		if rep.Checkpoint != nil {
			start = fmt.Sprintf("the signed retention checkpoint (%d records expired)", rep.Checkpoint.Removed)
		}
		fmt.Fprintf(stdout, "audit chain OK: %d records (seq %d–%d), verified from %s\n", rep.Records, rep.FirstSeq, rep.LastSeq, start)
		return nil
	case "query":
		recs, err := collect()
		if err != nil {
			return err
		}
		return printRecords(stdout, recs, format)
	case "case":
		recs, err := collect()
		if err != nil {
			return err
		}
		return printCase(stdout, caseID, recs)
	case "anomalies":
		recs, err := collect()
		if err != nil {
			return err
		}
		if n := printAnomalies(stdout, recs, compliance.Thresholds{PerCase: perCase, PerParty: perParty, TokenFailures: tokenFails}); n > 0 {
			// A non-zero exit status lets cron or a CI job alert on findings.
			return fmt.Errorf("%d anomalies found", n)
		}
		return nil
	case "expire":
		if cfg.AuditRetention == 0 {
			return errors.New("DSOP_AUDIT_RETENTION is 0 (keep forever): nothing to expire")
		}
		n, err := audit.Expire(ctx, st, cfg.AuditRetention, time.Now(), signer)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "expired %d audit records older than %s\n", n, cfg.AuditRetention)
		return nil
	}
	return fmt.Errorf("unknown audit command %q (verify, query, case, anomalies, expire)", sub)
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339 or YYYY-MM-DD", s)
}

// esc makes a field that a caller wrote safe to print on a terminal: control characters
// (newlines, ANSI escapes, C1 codes) and the bidirectional overrides that reorder what is shown
// are written as \uXXXX, so a request cannot forge lines or colours in a report.
func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == '\\':
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// caller names the consumer of a record, or says that it had none: a request whose token was
// refused is anyone's, and its AccountInfoRequestID proves nothing.
func caller(r audit.Record) string {
	if r.Consumer == "" {
		return "UNAUTHENTICATED"
	}
	return esc(r.Consumer)
}

func printRecords(w io.Writer, recs []audit.Record, format string) error {
	if format == "json" {
		return writeJSONLines(w, recs)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tOPERATION\tSTATUS\tCODE\tREASON\tCONSUMER\tCASE\tCORRELATION\tPARTY\tACCOUNTS\tTRANSACTIONS")
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Format(time.RFC3339), esc(r.Operation), r.Status,
			esc(r.Code), esc(r.Reason), caller(r), esc(r.AccountInfoRequestID), esc(r.CorrelationID), esc(r.PartyID), count(r.Accounts), count(r.Transactions))
	}
	return tw.Flush()
}

func count(p *int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// printCase is the case report: every call of one AccountInfoRequestID, its legal basis and what
// was delivered (compliance.CaseOf), then the bank's own access to it.
func printCase(w io.Writer, id string, recs []audit.Record) error {
	c := compliance.CaseOf(id, recs)
	if len(c.Calls) == 0 {
		return fmt.Errorf("no audit records for AccountInfoRequestID %s", id)
	}
	escAll := func(list []string) string {
		if len(list) == 0 {
			return "-"
		}
		out := make([]string, len(list))
		for i, v := range list {
			out[i] = esc(v)
		}
		return strings.Join(out, ", ")
	}
	fmt.Fprintf(w, "Case (AccountInfoRequestID) %s\n", esc(id))
	fmt.Fprintf(w, "Calls: %d, from %s to %s", len(c.Calls), c.First.Format(time.RFC3339), c.Last.Format(time.RFC3339))
	if c.Anonymous > 0 {
		fmt.Fprintf(w, " (%d UNAUTHENTICATED: refused before a valid token, not counted below)", c.Anonymous)
	}
	fmt.Fprintf(w, "\nConsumers: %s\nParties: %s\n", escAll(c.Consumers), escAll(c.Parties))
	fmt.Fprintf(w, "Delivered: %d accounts listed, %d transactions\n\n", c.Accounts, c.Transactions)
	for i, r := range c.Calls {
		mark := ""
		if r.Consumer == "" {
			mark = "  [UNAUTHENTICATED: not a call of the case's consumer]"
		}
		fmt.Fprintf(w, "%d. %s  %s %s  → %d %s %s%s\n", i+1, r.Time.Format(time.RFC3339), esc(r.Method), esc(r.Path), r.Status, esc(r.Code), esc(r.Reason), mark)
		fmt.Fprintf(w, "   operation %s, CorrelationID %s, audit seq %d\n", esc(r.Operation), esc(r.CorrelationID), r.Seq)
		fmt.Fprintf(w, "   legal basis: mandate %q; consumer %s (token jti %s)", r.LegalMandate, caller(r), esc(dash(r.TokenJTI)))
		if r.NoticeUUID != "" {
			fmt.Fprintf(w, "; bankruptcy notice %s, kjennelsesdato %s", esc(r.NoticeUUID), esc(r.Kjennelsesdato))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "   party %s, accountReference %s, period %s – %s, OnlyPrimaryOwner %s\n", esc(r.PartyID), esc(dash(r.AccountReference)),
			esc(r.FromDate), esc(r.ToDate), esc(dash(r.OnlyPrimaryOwner)))
		if len(r.Spells) > 0 {
			fmt.Fprintf(w, "   delivery spells: %s\n", esc(strings.Join(r.Spells, "; ")))
		}
		if by, ok := c.WithheldBy[r.Seq]; ok {
			fmt.Fprintf(w, "   withheld: recorded as answered, but the answer could not be encrypted and never left (audit seq %d)\n", by)
		} else if c.Delivered(r) {
			fmt.Fprintf(w, "   delivered: %s accounts, %s transactions, %d fields, body sha256 %s\n", count(r.Accounts), count(r.Transactions), len(r.Fields), esc(r.BodySHA256))
		}
	}
	if len(c.Access) > 0 {
		fmt.Fprintf(w, "\nAccess to this case by the bank:\n")
		for _, r := range c.Access {
			fmt.Fprintf(w, "- %s  %s by %s: %s (audit seq %d)\n", r.Time.Format(time.RFC3339), esc(r.Operation), esc(dash(r.Actor)), esc(r.Detail), r.Seq)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printAnomalies prints compliance.Anomalies and returns how many it found.
func printAnomalies(w io.Writer, recs []audit.Record, t compliance.Thresholds) int {
	found := compliance.Anomalies(recs, t)
	for _, f := range found {
		switch f.Kind {
		case "per-case":
			fmt.Fprintf(w, "case %s: %d requests (more than %d)\n", esc(f.Case), f.Count, t.PerCase)
		case "per-party":
			fmt.Fprintf(w, "party %s: %d requests (more than %d)\n", esc(f.Party), f.Count, t.PerParty)
		case "window":
			r := f.Record
			fmt.Fprintf(w, "refused outside the bankruptcy window: seq %d, %s, case %s, party %s, fromDate %s (kjennelsesdato %s)\n", r.Seq, r.Time.Format(time.RFC3339),
				esc(r.AccountInfoRequestID), esc(r.PartyID), esc(r.FromDate), esc(dash(r.Kjennelsesdato)))
		case "token-failures":
			fmt.Fprintf(w, "consumer %s: %d token failures (more than %d)\n", esc(f.Consumer), f.Count, t.TokenFailures)
		}
	}
	if len(found) == 0 {
		fmt.Fprintln(w, "no anomalies")
	}
	return len(found)
}
