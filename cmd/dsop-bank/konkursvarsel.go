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

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// mockKonkursvarsel runs the Konkursvarsel mock on its own: BRREG's published test notices (or a
// file in the list format), oppdatert/{ts}, detail links, and POST /admin/konkursvarsler.
func mockKonkursvarsel(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("mock-konkursvarsel", stderr)
	addr := fs.String("addr", envOr(getenv, "DSOP_MOCK_KONKURSVARSEL_ADDR", "127.0.0.1:8082"), "listen address (DSOP_MOCK_KONKURSVARSEL_ADDR)")
	file := fs.String("notices", "", "notices in the Konkursvarsel list format (default: the published test notices)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var in io.Reader = demo.Konkursvarsler()
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	list, rejected, err := konkursvarsel.ParseList(in)
	if err != nil {
		return err
	}
	for _, e := range rejected {
		fmt.Fprintln(stderr, "rejected:", e)
	}
	return serveMock(ctx, *addr, konkursvarsel.NewMock(list).Handler(), func(at string) {
		fmt.Fprintf(stdout, "Konkursvarsel mock on http://%s with %d notices\nAppend one: curl -s -X POST http://%s/admin/konkursvarsler -d '{\"type\":\"aapning\",\"debitor\":\"900308841\"}'\n", at, len(list), at)
	})
}

// actionsCmd is `dsop-bank actions list|ack`: the block/reopen instructions for the bank's core
// systems (the server writes them to <state-dir>/actions/actions.jsonl, which is also the export).
func actionsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: dsop-bank actions list [--all] [--format table|json] | actions ack [--by NAME] ID [ID…]")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("actions "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		all    bool
		format = "table"
		by     string
	)
	switch sub {
	case "list":
		fs.BoolVar(&all, "all", false, "include acknowledged actions")
		fs.StringVar(&format, "format", "table", "table or json (JSON lines)")
	case "ack":
		fs.StringVar(&by, "by", "", "who carried the action out (default: the OS user)")
	default:
		return fmt.Errorf("unknown actions command %q (list, ack)", sub)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: dsop-bank actions %s%s [-- server flags]\n", sub, map[string]string{"list": " [--all] [--format table|json]", "ack": " [--by NAME] ID [ID…]"}[sub])
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	// IDs come first; server settings (DSOP_*) may follow after --.
	var ids, rest []string
	for i, a := range fs.Args() {
		if strings.HasPrefix(a, "-") {
			rest = fs.Args()[i:]
			break
		}
		ids = append(ids, a)
	}
	cfg, err := config.Load("actions", rest, getenv, stderr)
	if err != nil {
		return err
	}
	out, closeOutbox, err := openOutbox(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer closeOutbox()
	switch sub {
	case "list":
		acts, err := out.List(ctx)
		if err != nil {
			return err
		}
		var show []konkursvarsel.Action
		for _, a := range acts {
			if all || a.AckedAt == nil {
				show = append(show, a)
			}
		}
		if format == "json" {
			return writeJSONLines(stdout, show)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tACTION\tNOTICE\tDEBITOR\tKJENNELSESDATO\tACCOUNTS\tACKED")
		for _, a := range show {
			var nums []string
			for _, acc := range a.Accounts {
				nums = append(nums, acc.AccountNumber)
			}
			acked := "-"
			if a.AckedAt != nil {
				acked = a.AckedAt.Format(time.RFC3339) + " " + a.AckedBy
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Type, a.NoticeType, validation.Mask(a.Debitor), dash(a.Kjennelsesdato), strings.Join(nums, ","), acked)
		}
		return tw.Flush()
	case "ack":
		if len(ids) == 0 {
			return errors.New("usage: dsop-bank actions ack [--by NAME] ID [ID…]")
		}
		who := by
		if who == "" {
			who = osUser()
		}
		var errs []error
		for _, id := range ids {
			if err := out.Ack(ctx, id, who); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(stdout, "acknowledged %s\n", id)
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("unknown actions command %q (list, ack)", sub)
}

// importCmd loads a bank data file into PostgreSQL: validated first (every problem listed), then
// replaced in one transaction, transactions with COPY. Importing the same file again is a no-op
// in effect. accountReference values depend on DSOP_SECRET_FILE and the delivered forms of the
// transactions on DSOP_FIELD_POLICY: use the servers' secret and field policy.
func importCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("import", stderr)
	file := fs.String("bank-data", "", "full bank data file (openapi/bank-data.yaml); default DSOP_BANK_DATA")
	delta := fs.String("delta", "", "change set to apply (openapi/bank-data-delta.yaml) instead of a full file")
	status := fs.Bool("status", false, "show the serving generation and the change sets it has taken, and change nothing")
	maxRate := fs.Float64("max-rate", 0, "with --bank-data: load at most this many transactions a second (0 = as fast as it goes), to leave a database that serves at the same time more room")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load("import", fs.Args(), getenv, stderr)
	if err != nil {
		return err
	}
	if *file == "" && *delta == "" && !*status {
		*file = cfg.BankData
	}
	if n := btoi(*file != "") + btoi(*delta != "") + btoi(*status); n != 1 {
		return &usageError{errors.New("usage: dsop-bank import [--bank-data FILE | --delta FILE | --status] (with DSOP_DATABASE_URL and DSOP_SECRET_FILE): give exactly one")}
	}
	if cfg.DatabaseURL == "" {
		return errors.New("import needs DSOP_DATABASE_URL: without a database the server reads DSOP_BANK_DATA itself at start (check it with dsop-bank check-bank-data)")
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if *status {
		st, err := postgres.Status(ctx, pool)
		if err != nil {
			return err
		}
		printDataStatus(stdout, st)
		return nil
	}
	secret, err := loadSecret(cfg.SecretFile, cfg.Env != "production", cfg.Env == "production")
	if err != nil {
		return err
	}
	policy, err := loadPolicy(cfg)
	if err != nil {
		return err
	}
	refs := accounts.NewReferencer(secret)
	if err := postgres.CheckSecret(ctx, pool, accounts.Fingerprint(secret)); err != nil && *delta != "" {
		return err // a change set adds to data whose accountReference values come from the recorded secret
	}
	start := time.Now()
	if *delta != "" {
		rep, err := postgres.ApplyDelta(ctx, pool, *delta, refs, policy)
		if err != nil {
			return refusal(stderr, err)
		}
		if rep.AlreadyApplied {
			fmt.Fprintf(stdout, "change set %d (%s) was already applied on %s: nothing changed\n", rep.Sequence, *delta, rep.AppliedAt.Format(time.RFC3339))
			return nil
		}
		fmt.Fprintf(stdout, "applied change set %d from %s: %d parties, %d accounts, %d transactions in %s\n", rep.Sequence, *delta, rep.Parties, rep.Accounts, rep.Transactions, time.Since(start).Round(time.Millisecond))
		return nil
	}
	progress := newProgress(stderr, *file)
	if *maxRate < 0 {
		return &usageError{errors.New("--max-rate must be 0 (no cap) or a number of transactions a second")}
	}
	rep, err := postgres.ImportFile(ctx, pool, *file, refs, policy, postgres.ImportOptions{Progress: progress.report, MaxRate: *maxRate})
	progress.done()
	if err != nil {
		return refusal(stderr, err)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	previous, err := postgres.RecordSecret(ctx, pool, accounts.Fingerprint(secret))
	if err != nil {
		return err
	}
	if previous != "" {
		fmt.Fprintf(stderr, "warning: the database was set up with another secret (fingerprint %s, now %s): restart every replica with this DSOP_SECRET_FILE\n", previous, accounts.Fingerprint(secret))
	}
	fmt.Fprintf(stdout, "imported %s: %d parties, %d accounts, %d transactions in %s (generation %d, sequence %d)\n", *file, rep.Parties, rep.Accounts, rep.Transactions, time.Since(start).Round(time.Millisecond), rep.Generation, rep.Sequence)
	return nil
}

// refusal lists a refused file's problems, one per line, and returns the summary.
func refusal(stderr io.Writer, err error) error {
	var r *accounts.Refused
	if errors.As(err, &r) {
		for _, p := range r.Problems {
			fmt.Fprintf(stderr, "%s:%s\n", r.File, p)
		}
	}
	return err
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func printDataStatus(w io.Writer, st postgres.DataStatus) {
	fmt.Fprintf(w, "generation %d, loaded %s from %s\n", st.Generation, st.LoadedAt.Format(time.RFC3339), st.Source)
	fmt.Fprintf(w, "sequence %d: the next change set must be %d\n", st.Sequence, st.Sequence+1)
	fmt.Fprintf(w, "%d parties, %d accounts, %d transactions\n", st.Parties, st.Accounts, st.Transactions)
	if st.Importing {
		fmt.Fprintln(w, "an import or change set is being applied now")
	}
	for _, c := range st.Changes {
		fmt.Fprintf(w, "change set %d applied %s from %s (sha256 %s): %d parties, %d accounts, %d transactions\n",
			c.Sequence, c.AppliedAt.Format(time.RFC3339), c.Source, c.SHA256[:16], c.Parties, c.Accounts, c.Transactions)
	}
}

// migrateCmd applies the database migrations (the server also does it at start).
func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if commandHelp("migrate", args, stdout, "It reads DSOP_DATABASE_URL (with the other server settings: dsop-bank serve --help). Run it as the role that owns the schema; the server then finds nothing to apply (docs/operators.md \"PostgreSQL roles\").") {
		return nil
	}
	cfg, err := config.Load("migrate", args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return errors.New("migrate needs DSOP_DATABASE_URL")
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DSOP_DATABASE_URL: %w", err)
	}
	defer pool.Close()
	applied, err := postgres.MigrateReport(ctx, pool)
	for _, name := range applied {
		fmt.Fprintf(stdout, "applied %s\n", name)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database schema up to date: nothing to apply")
	} else {
		fmt.Fprintf(stdout, "database schema up to date: %d migrations applied\n", len(applied))
	}
	return nil
}

// progress shows an import's progress: a bar redrawn in place on a terminal, a line every five
// seconds otherwise (a log, a CI job); each phase after the load (index, switch, drop) on a line
// of its own.
type progress struct {
	w        io.Writer
	file     string
	size     int64
	terminal bool
	last     time.Time
	phase    string
	drawn    bool
}

func newProgress(w io.Writer, file string) *progress {
	p := &progress{w: w, file: file}
	if fi, err := os.Stat(file); err == nil {
		p.size = fi.Size()
	}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) report(g postgres.Progress) {
	if g.Phase != "load" {
		if g.Phase != p.phase {
			p.done()
			p.drawn = false
			fmt.Fprintf(p.w, "importing %s: %s (%d transactions loaded)\n", p.file, map[string]string{
				"index": "building the new generation's indexes", "switch": "switching to the new generation",
				"drop": "dropping the previous generation",
			}[g.Phase], g.Transactions)
		}
		p.phase = g.Phase
		return
	}
	every := 5 * time.Second
	if p.terminal {
		every = 200 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	pct := 100
	if p.size > 0 {
		pct = int(min(100, g.Offset*100/p.size))
	}
	if p.terminal {
		bar := strings.Repeat("#", pct/4) + strings.Repeat(".", 25-pct/4)
		fmt.Fprintf(p.w, "\rimporting %s [%s] %3d%% %d transactions, %d of %d MB read", p.file, bar, pct, g.Transactions, g.Offset>>20, p.size>>20)
		p.drawn = true
		return
	}
	fmt.Fprintf(p.w, "importing %s: %d%% (%d transactions, %d of %d MB read)\n", p.file, pct, g.Transactions, g.Offset>>20, p.size>>20)
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
