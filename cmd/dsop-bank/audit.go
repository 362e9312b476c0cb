package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/compliance"
	"github.com/dsop-bank/dsop-bank/internal/config"
)

// auditFlags are the flags of the audit subcommands; each subcommand registers only those it reads.
type auditFlags struct {
	caseID, correlation, party, consumer, service, client, kind, outcome, since, until, as string
	status, limit                                                                          int
	format                                                                                 string
	reveal                                                                                 bool
	perCase, perParty, tokenFails                                                          int
}

// auditCommand is `dsop-bank audit verify|query|case|anomalies|expire`: the compliance officer's
// tools. They read the store the server writes (DSOP_DATABASE_URL, else DSOP_AUDIT_DIR) through
// the audit query interface, a page at a time, and present it through internal/compliance, as
// the console does: identity numbers masked with a keyed pseudonym, times in Europe/Oslo (UTC in
// JSON). A full number needs --reveal, which is itself recorded with the operator's identity.
func auditCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit verify|query|case|anomalies|expire [flags]",
		Short: "The compliance officer's tools on the audit log.",
		Args:  cobra.ArbitraryArgs,
		RunE:  needsSubcommand,
	}
	sub := func(use, short string, args cobra.PositionalArgs, register func(fs *pflag.FlagSet, f *auditFlags)) {
		var f auditFlags
		sc := &cobra.Command{Use: use, Short: short, Args: args}
		if register != nil {
			register(sc.Flags(), &f)
		}
		runWithSettings(c, sc, true, func(cmd *cobra.Command, cfg *config.Config, args []string) error {
			if len(args) > 0 {
				f.caseID = args[0] // audit case <AccountInfoRequestID>
			}
			return auditRun(cmd.Context(), cfg, cmd.Name(), commandLine(cmd, args), f, c.stdout, c.stderr)
		})
		cmd.AddCommand(sc)
	}
	reveal := func(fs *pflag.FlagSet, f *auditFlags) {
		fs.BoolVar(&f.reveal, "reveal", false, "show national identity numbers in full (the reveal is itself recorded)")
		fs.StringVar(&f.as, "as", "", "who reveals or searches, for the audit record (default: the OS user)")
	}
	sub("verify [-- server flags]", "Walk the audit hash chain; exit status 1 on the first broken or missing record.", rangeArgs(0, 0), nil)
	sub("query [flags] [-- server flags]", "Search the audit log (newest first; every filter uses an index).", rangeArgs(0, 0), func(fs *pflag.FlagSet, f *auditFlags) {
		fs.StringVar(&f.caseID, "request-id", "", "AccountInfoRequestID")
		fs.StringVar(&f.correlation, "correlation-id", "", "CorrelationID")
		fs.StringVar(&f.party, "party", "", "PartyID (or party resolved from an accountReference); an identity number is a recorded search")
		fs.StringVar(&f.consumer, "consumer", "", "consumer, e.g. 0192:974760673")
		fs.StringVar(&f.service, "service", "", "DSOP service, e.g. konkursbehandling")
		fs.StringVar(&f.client, "client", "", "the caller's network address")
		fs.StringVar(&f.kind, "kind", "", "call, unauthenticated or access")
		fs.StringVar(&f.outcome, "outcome", "", "allowed (2xx) or refused")
		fs.StringVar(&f.since, "since", "", "from this time (RFC 3339 or YYYY-MM-DD)")
		fs.StringVar(&f.until, "until", "", "before this time (RFC 3339 or YYYY-MM-DD)")
		fs.IntVar(&f.status, "status", 0, "HTTP status")
		fs.IntVar(&f.limit, "limit", 0, "print at most this many records (0 = all)")
		fs.StringVar(&f.format, "format", "table", "table or json (JSON lines, times in UTC)")
		reveal(fs, f)
	})
	sub("case <AccountInfoRequestID> [flags] [-- server flags]", "The case report: every call of one AccountInfoRequestID, its legal basis and what was delivered.", rangeArgs(1, 1), func(fs *pflag.FlagSet, f *auditFlags) {
		fs.StringVar(&f.format, "format", "text", "text or csv (times in UTC)")
		reveal(fs, f)
	})
	sub("anomalies [flags] [-- server flags]", "Unusually many calls per case or party, refusals outside the window, repeated token failures from one address; exit status 1 on findings.", rangeArgs(0, 0), func(fs *pflag.FlagSet, f *auditFlags) {
		fs.IntVar(&f.perCase, "max-per-case", 50, "calls per AccountInfoRequestID above this")
		fs.IntVar(&f.perParty, "max-per-party", 100, "calls per party above this")
		fs.IntVar(&f.tokenFails, "max-token-failures", 10, "token failures per address above this")
		fs.StringVar(&f.since, "since", "", "only records from this time (RFC 3339 or YYYY-MM-DD); default the whole log")
	})
	sub("expire [-- server flags]", "Apply DSOP_AUDIT_RETENTION now (the chain is verified first).", rangeArgs(0, 0), nil)
	return cmd
}

// commandLine is what a reveal or search record says was run: the subcommand, its own flags as
// given and its own arguments. Server settings are left out (a database URL may hold a password).
func commandLine(cmd *cobra.Command, args []string) string {
	line := []string{"audit", cmd.Name()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if config.EnvOf(f) == "" || !f.Hidden {
			line = append(line, "--"+f.Name+"="+f.Value.String())
		}
	})
	return strings.Join(append(line, args...), " ")
}

func auditRun(ctx context.Context, cfg *config.Config, sub, command string, f auditFlags, stdout, stderr io.Writer) error {
	caseID, correlation, party, consumer, service, client, kind, outcome, since, until, as := f.caseID, f.correlation, f.party, f.consumer, f.service, f.client, f.kind, f.outcome, f.since, f.until, f.as
	status, limit, format, reveal, perCase, perParty, tokenFails := f.status, f.limit, f.format, f.reveal, f.perCase, f.perParty, f.tokenFails
	secret, err := loadSecret(cfg.SecretFile, false, cfg.Env == "production")
	if err != nil {
		return err
	}
	signer := audit.NewSigner(secret)
	present, err := compliance.NewPresenter(secret, cfg.Timezone)
	if err != nil {
		return err
	}
	// A search by an identity number is an officer's action, recorded like a reveal (issue #26).
	personSearch := len(party) == 11
	writes := sub == "expire" || reveal || personSearch
	st, closeStore, err := openAudit(ctx, cfg, !writes)
	if err != nil {
		if writes {
			return fmt.Errorf("%w (a reveal, a search by identity number or an expiry must be recorded in the audit log, which needs the writer's lock: use the PostgreSQL store, or stop the server)", err)
		}
		return err
	}
	defer closeStore()
	who := as
	if who == "" {
		who = osUser()
	}
	if reveal || personSearch {
		op, detail := "audit.reveal", command
		if !reveal {
			op = "audit.search-party"
		}
		if personSearch {
			detail = strings.ReplaceAll(detail, party, present.SearchHash(party))
		}
		if err := st.Append(ctx, &audit.Record{Time: time.Now(), Operation: op, Method: "CLI", Path: "audit " + sub,
			Actor: audit.Field(who), Detail: audit.Field(detail), AccountInfoRequestID: audit.Field(caseID), Status: 0}); err != nil {
			return fmt.Errorf("record the %s: %w", strings.TrimPrefix(op, "audit."), err)
		}
	}
	pr := printer{p: present, reveal: reveal}

	switch sub {
	case "verify":
		return verifyCmd(ctx, st, signer, stdout, stderr)
	case "query":
		q := audit.Query{Case: caseID, Correlation: correlation, Party: party, Consumer: consumer, Service: service, Client: client,
			Kind: audit.Kind(kind), Outcome: audit.Outcome(outcome), Status: status, Limit: audit.MaxLimit}
		switch q.Kind {
		case "", audit.KindCall, audit.KindUnauthenticated, audit.KindAccess:
		default:
			return fmt.Errorf("--kind %q: use call, unauthenticated or access", kind)
		}
		switch q.Outcome {
		case "", audit.OutcomeAllowed, audit.OutcomeRefused:
		default:
			return fmt.Errorf("--outcome %q: use allowed or refused", outcome)
		}
		for _, p := range []struct {
			s string
			t *time.Time
		}{{since, &q.From}, {until, &q.Until}} {
			if p.s == "" {
				continue
			}
			if *p.t, err = parseTime(p.s); err != nil {
				return err
			}
		}
		return pr.records(ctx, stdout, st, q, format, limit)
	case "case":
		c, err := compliance.LoadCase(ctx, st, caseID)
		if err != nil {
			return err
		}
		if len(c.Calls) == 0 && len(c.Unauthenticated) == 0 {
			return fmt.Errorf("no audit records for AccountInfoRequestID %s", esc(caseID))
		}
		if format == "csv" {
			return present.WriteCSV(stdout, c, reveal)
		}
		pr.caseReport(stdout, c)
		return nil
	case "anomalies":
		t := compliance.Thresholds{PerCase: perCase, PerParty: perParty, TokenFailures: tokenFails}
		if since != "" {
			if t.Since, err = parseTime(since); err != nil {
				return err
			}
		}
		n := 0
		if err := compliance.Anomalies(ctx, st, t, func(f compliance.Finding) error { n++; pr.finding(stdout, f, t); return nil }); err != nil {
			return err
		}
		if n == 0 {
			fmt.Fprintln(stdout, "no anomalies")
			return nil
		}
		// A non-zero exit status lets cron or a CI job alert on findings.
		return fmt.Errorf("%d anomalies found", n)
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

// verifyCmd walks the chain a record at a time; on a terminal it shows its progress.
func verifyCmd(ctx context.Context, st audit.Store, signer *audit.Signer, stdout, stderr io.Writer) error {
	var progress func(n uint64)
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			start := time.Now()
			progress = func(n uint64) {
				fmt.Fprintf(stderr, "\rverified %d records (%s)", n, time.Since(start).Round(time.Second))
			}
			defer fmt.Fprintln(stderr)
		}
	}
	rep, err := audit.VerifyProgress(ctx, st, signer, progress)
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

// printer renders the compliance model on a terminal or as an export: the CLI's half of the
// console/CLI equivalence (docs/compliance.md).
type printer struct {
	p      *compliance.Presenter
	reveal bool
}

func (pr printer) party(id string) string {
	if pr.reveal || id == "" {
		return dash(id)
	}
	return pr.p.Mask(id)
}

func (pr printer) text(s string) string {
	if pr.reveal {
		return s
	}
	return pr.p.MaskText(s)
}

// caller names the consumer of a record, or says that it had none: a request whose token was
// refused is anyone's, and its AccountInfoRequestID proves nothing.
func caller(r audit.Record) string {
	switch {
	case r.Consumer == "":
		return "UNAUTHENTICATED"
	case audit.KindOf(r) == audit.KindUnauthenticated:
		return esc(r.Consumer) + " (REFUSED: not an allowed consumer)"
	}
	return esc(r.Consumer)
}

// records prints the records q selects, a page at a time.
func (pr printer) records(ctx context.Context, w io.Writer, st audit.Querier, q audit.Query, format string, limit int) error {
	errEnough := errors.New("enough")
	n := 0
	var tw *tabwriter.Writer
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if format != "json" {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tOPERATION\tSTATUS\tCODE\tREASON\tCONSUMER\tCLIENT\tCASE\tCORRELATION\tPARTY\tACCOUNTS\tTRANSACTIONS")
	}
	err := audit.Each(ctx, st, q, func(r audit.Record) error {
		if limit > 0 && n == limit {
			return errEnough
		}
		n++
		if tw == nil {
			r.PartyID, r.Path, r.Detail, r.Actor = pr.text(r.PartyID), pr.text(r.Path), pr.text(r.Detail), pr.text(r.Actor)
			if !pr.reveal {
				for i, a := range r.AccountNumbers {
					r.AccountNumbers[i] = pr.p.MaskText(a)
				}
			}
			return enc.Encode(r)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, pr.p.Time(r.Time), esc(r.Operation), r.Status,
			esc(r.Code), esc(r.Reason), caller(r), esc(dash(r.Client)), esc(r.AccountInfoRequestID), esc(r.CorrelationID), esc(pr.party(r.PartyID)), count(r.Accounts), count(r.Transactions))
		if n%audit.DefaultLimit == 0 {
			return tw.Flush() // a long listing shows as it goes
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return err
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func count(p *int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// caseReport is the case report: every call of one AccountInfoRequestID, its legal basis and
// what was delivered, the refused calls of others that named it, then the bank's own access.
func (pr printer) caseReport(w io.Writer, c compliance.Case) {
	list := func(vs []string, f func(string) string) string {
		if len(vs) == 0 {
			return "-"
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = esc(f(v))
		}
		return strings.Join(out, ", ")
	}
	fmt.Fprintf(w, "Case (AccountInfoRequestID) %s\n", esc(c.ID))
	if c.Truncated {
		fmt.Fprintf(w, "NOTE: the case has more than %d records; the first are shown (audit query --request-id lists all)\n", compliance.MaxCaseRecords)
	}
	fmt.Fprintf(w, "Calls: %d, from %s to %s", len(c.Calls), pr.p.Time(c.First), pr.p.Time(c.Last))
	if n := len(c.Unauthenticated); n > 0 {
		fmt.Fprintf(w, " (%d UNAUTHENTICATED: refused before a valid token of an allowed consumer, listed apart, not counted)", n)
	}
	fmt.Fprintf(w, "\nConsumers: %s\nParties: %s\nAccounts: %s\n", list(c.Consumers, func(s string) string { return s }), list(c.Parties, pr.party), list(c.AccountNumbers, pr.text))
	fmt.Fprintf(w, "Delivered: %d accounts listed, %d transactions\n\n", c.Accounts, c.Transactions)
	for i, r := range c.Calls {
		pr.call(w, c, i+1, r, "")
	}
	if len(c.Unauthenticated) > 0 {
		fmt.Fprintf(w, "\nRefused calls of others that named this case:\n")
		for i, r := range c.Unauthenticated {
			pr.call(w, c, i+1, r, "  [UNAUTHENTICATED: not a call of the case's consumer]")
		}
	}
	if len(c.Access) > 0 {
		fmt.Fprintf(w, "\nAccess to this case by the bank:\n")
		for _, r := range c.Access {
			fmt.Fprintf(w, "- %s  %s by %s: %s (audit seq %d)\n", pr.p.Time(r.Time), esc(r.Operation), esc(pr.text(dash(r.Actor))), esc(pr.text(r.Detail)), r.Seq)
		}
	}
}

func (pr printer) call(w io.Writer, c compliance.Case, n int, r audit.Record, mark string) {
	times := ""
	if r.Count > 1 {
		times = fmt.Sprintf(" ×%d until %s", r.Count, pr.p.Time(r.Until))
	}
	fmt.Fprintf(w, "%d. %s  %s %s  → %d %s %s%s%s\n", n, pr.p.Time(r.Time), esc(r.Method), esc(pr.text(r.Path)), r.Status, esc(r.Code), esc(r.Reason), times, mark)
	fmt.Fprintf(w, "   operation %s, service %s, CorrelationID %s, client %s, audit seq %d\n", esc(r.Operation), esc(dash(r.Service)), esc(r.CorrelationID), esc(dash(r.Client)), r.Seq)
	fmt.Fprintf(w, "   legal basis: mandate %q; consumer %s (token jti %s)", r.LegalMandate, caller(r), esc(dash(r.TokenJTI)))
	if notice := compliance.NoticeInForce(r); notice != "" {
		fmt.Fprintf(w, "; bankruptcy notice %s", esc(notice))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "   party %s, accountReference %s, accounts %s, period %s – %s, OnlyPrimaryOwner %s\n", esc(pr.party(r.PartyID)), esc(dash(r.AccountReference)),
		esc(pr.text(dash(strings.Join(r.AccountNumbers, ", ")))), esc(r.FromDate), esc(r.ToDate), esc(dash(r.OnlyPrimaryOwner)))
	if len(r.Spells) > 0 {
		fmt.Fprintf(w, "   delivery spells: %s\n", esc(strings.Join(r.Spells, "; ")))
	}
	if by, ok := c.WithheldBy[r.Seq]; ok {
		fmt.Fprintf(w, "   withheld: recorded as answered, but the answer could not be encrypted and never left (audit seq %d)\n", by)
	} else if c.Delivered(r) {
		fmt.Fprintf(w, "   delivered: %s accounts, %s transactions, %d fields, body sha256 %s\n", count(r.Accounts), count(r.Transactions), len(r.Fields), esc(r.BodySHA256))
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// finding prints one anomaly.
func (pr printer) finding(w io.Writer, f compliance.Finding, t compliance.Thresholds) {
	switch f.Kind {
	case compliance.PerCase:
		fmt.Fprintf(w, "case %s: %d calls (more than %d)\n", esc(f.Case), f.Count, t.PerCase)
	case compliance.PerParty:
		fmt.Fprintf(w, "party %s: %d calls (more than %d)\n", esc(pr.party(f.Party)), f.Count, t.PerParty)
	case compliance.Window:
		r := f.Record
		fmt.Fprintf(w, "refused outside the bankruptcy window: seq %d, %s, case %s, party %s, fromDate %s (kjennelsesdato %s)\n", r.Seq, pr.p.Time(r.Time),
			esc(r.AccountInfoRequestID), esc(pr.party(r.PartyID)), esc(r.FromDate), esc(dash(r.Kjennelsesdato)))
	case compliance.TokenFailures:
		fmt.Fprintf(w, "address %s: %d token failures (more than %d)\n", esc(f.Client), f.Count, t.TokenFailures)
	}
}
