package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// mockKonkursvarselCommand runs the Konkursvarsel mock on its own: BRREG's published test notices
// (or a file in the list format), oppdatert/{ts}, detail links, and POST /admin/konkursvarsler.
func mockKonkursvarselCommand(c *cli) *cobra.Command {
	var addr, file string
	cmd := &cobra.Command{
		Use:   "mock-konkursvarsel [--addr A] [--notices FILE]",
		Short: "Run a stand-in for BRREG's Konkursvarsel API.",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return mockKonkursvarsel(cmd.Context(), addr, file, c.stdout, c.stderr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8082", "listen address")
	config.BindEnv(cmd.Flags(), "addr", "DSOP_MOCK_KONKURSVARSEL_ADDR")
	cmd.Flags().StringVar(&file, "notices", "", "notices in the Konkursvarsel list format (default: the published test notices)")
	return cmd
}

func mockKonkursvarsel(ctx context.Context, addr, file string, stdout, stderr io.Writer) error {
	var in io.Reader = demo.Konkursvarsler()
	if file != "" {
		f, err := os.Open(file)
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
	return serveMock(ctx, addr, konkursvarsel.NewMock(list).Handler(), func(at string) {
		fmt.Fprintf(stdout, "Konkursvarsel mock on http://%s with %d notices\nAppend one: curl -s -X POST http://%s/admin/konkursvarsler -d '{\"type\":\"aapning\",\"debitor\":\"900308841\"}'\n", at, len(list), at)
	})
}

// actionsCommand is `dsop-bank actions list|ack`: the block/reopen instructions for the bank's
// core systems (the server writes them to <state-dir>/actions/actions.jsonl, which is also the
// export).
func actionsCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "actions list|ack [flags]",
		Short: "The block/reopen instructions from the bankruptcy notices.",
		Args:  cobra.ArbitraryArgs,
		RunE:  needsSubcommand,
	}
	var (
		all    bool
		format string
		by     string
	)
	list := &cobra.Command{
		Use:   "list [--all] [--format table|json] [-- server flags]",
		Short: "List the actions not yet acknowledged (--all: every one).",
		Args:  rangeArgs(0, 0),
	}
	list.Flags().BoolVar(&all, "all", false, "include acknowledged actions")
	list.Flags().StringVar(&format, "format", "table", "table or json (JSON lines)")
	runWithSettings(c, list, true, func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
		return actions(cmd.Context(), cfg, "list", nil, all, format, "", c.stdout)
	})
	ack := &cobra.Command{
		Use:   "ack [--by NAME] ID [ID…] [-- server flags]",
		Short: "Acknowledge actions the bank has carried out.",
		Args:  rangeArgs(1, math.MaxInt),
	}
	ack.Flags().StringVar(&by, "by", "", "who carried the action out (default: the OS user)")
	runWithSettings(c, ack, true, func(cmd *cobra.Command, cfg *config.Config, ids []string) error {
		return actions(cmd.Context(), cfg, "ack", ids, false, "", by, c.stdout)
	})
	cmd.AddCommand(list, ack)
	return cmd
}

// needsSubcommand is the run of a command that only groups subcommands: a missing or unknown
// subcommand is a usage error naming them.
func needsSubcommand(cmd *cobra.Command, args []string) error {
	var names []string
	for _, sub := range cmd.Commands() {
		names = append(names, sub.Name())
	}
	if len(args) == 0 {
		return &usageError{fmt.Errorf("%s needs a subcommand: %s; `%s --help` says what each does", cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())}
	}
	return &usageError{fmt.Errorf("unknown %s command %q (%s)", cmd.Name(), args[0], strings.Join(names, ", "))}
}

func actions(ctx context.Context, cfg *config.Config, sub string, ids []string, all bool, format, by string, stdout io.Writer) error {
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
func importCommand(c *cli) *cobra.Command {
	var (
		delta   string
		status  bool
		maxRate float64
	)
	cmd := &cobra.Command{
		Use:   "import [--bank-data FILE | --delta FILE | --status] [flags]",
		Short: "Check and load a full bank data file into PostgreSQL as a new generation, or apply a change set, without stopping the server.",
		Long: "Check and load a full bank data file into PostgreSQL as a new generation, or apply a change set, without stopping the server.\n" +
			"--bank-data is the server's setting of the same name (DSOP_BANK_DATA). It needs DSOP_DATABASE_URL and DSOP_SECRET_FILE.",
		Args: rangeArgs(0, 0),
	}
	fs := cmd.Flags()
	fs.StringVar(&delta, "delta", "", "change set to apply (openapi/bank-data-delta.yaml) instead of a full file")
	fs.BoolVar(&status, "status", false, "show the serving generation and the change sets it has taken, and change nothing")
	fs.Float64Var(&maxRate, "max-rate", 0, "with --bank-data: load at most this many transactions a second (0 = as fast as it goes), to leave a database that serves at the same time more room")
	runWithSettings(c, cmd, true, func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
		file := cfg.BankData
		if !cmd.Flags().Changed("bank-data") && (delta != "" || status) {
			file = "" // DSOP_BANK_DATA, the server's setting, is the default of a full import only
		}
		return importData(cmd.Context(), cfg, file, delta, status, maxRate, c.stdout, c.stderr)
	})
	// The server's --bank-data setting is import's own flag: shown in its help, with its meaning here.
	bankData := fs.Lookup("bank-data")
	bankData.Hidden, bankData.Usage = false, "full bank data file to load as a new generation (openapi/bank-data.yaml) [DSOP_BANK_DATA]"
	return cmd
}

func importData(ctx context.Context, cfg *config.Config, file, delta string, status bool, maxRate float64, stdout, stderr io.Writer) error {
	if n := btoi(file != "") + btoi(delta != "") + btoi(status); n != 1 {
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
	if status {
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
	if err := postgres.CheckSecret(ctx, pool, accounts.Fingerprint(secret)); err != nil && delta != "" {
		return err // a change set adds to data whose accountReference values come from the recorded secret
	}
	start := time.Now()
	if delta != "" {
		rep, err := postgres.ApplyDelta(ctx, pool, delta, refs, policy)
		if err != nil {
			return refusal(stderr, err)
		}
		if rep.AlreadyApplied {
			fmt.Fprintf(stdout, "change set %d (%s) was already applied on %s: nothing changed\n", rep.Sequence, delta, rep.AppliedAt.Format(time.RFC3339))
			return nil
		}
		fmt.Fprintf(stdout, "applied change set %d from %s: %d parties, %d accounts, %d transactions in %s\n", rep.Sequence, delta, rep.Parties, rep.Accounts, rep.Transactions, time.Since(start).Round(time.Millisecond))
		return nil
	}
	progress := newProgress(stderr, file)
	if maxRate < 0 {
		return &usageError{errors.New("--max-rate must be 0 (no cap) or a number of transactions a second")}
	}
	rep, err := postgres.ImportFile(ctx, pool, file, refs, policy, postgres.ImportOptions{Progress: progress.report, MaxRate: maxRate})
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
	fmt.Fprintf(stdout, "imported %s: %d parties, %d accounts, %d transactions in %s (generation %d, sequence %d)\n", file, rep.Parties, rep.Accounts, rep.Transactions, time.Since(start).Round(time.Millisecond), rep.Generation, rep.Sequence)
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

// migrateCommand applies the database migrations (the server also does it at start).
func migrateCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations to DSOP_DATABASE_URL and report what was applied.",
		Long: "Apply the database migrations to DSOP_DATABASE_URL and report what was applied.\n" +
			"Run it as the role that owns the schema; the server then finds nothing to apply (docs/operators.md \"PostgreSQL roles\").",
		Args: rangeArgs(0, 0),
	}
	runWithSettings(c, cmd, true, func(cmd *cobra.Command, cfg *config.Config, _ []string) error {
		return migrate(cmd.Context(), cfg, c.stdout)
	})
	return cmd
}

func migrate(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
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
	granted, err := postgres.GrantRoles(ctx, pool)
	if err != nil {
		return err
	}
	if granted {
		fmt.Fprintln(stdout, "granted dsop_app and dsop_import what each needs on every table (deploy/postgres/roles.sql)")
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
