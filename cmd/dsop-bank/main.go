// Command dsop-bank is a Norwegian bank's server for the DSOP service Konkursbehandling, and the
// tools that go with it. `dsop-bank help` lists the commands (from the one table in commands);
// `dsop-bank <command> --help` shows a command's own flags. Settings come from flags or DSOP_*
// environment variables; see docs/operators.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	_ "time/tzdata" // "today" is Europe/Oslo even on hosts without a zoneinfo database

	"github.com/dsop-bank/dsop-bank/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dsop-bank:", err)
		os.Exit(exitStatus(err))
	}
}

// usageError is a command line the program cannot read: exit status 2, as the shells' own tools
// do, apart from 1 for findings and failures (a refused file, a broken chain, a failed case).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitStatus is 2 for a usage error, 1 for anything else.
func exitStatus(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// flagMistake reports whether err is the flag package's refusal of a command line.
func flagMistake(err error) bool {
	msg := err.Error()
	for _, p := range []string{"flag provided but not defined", "flag needs an argument", "invalid value", "invalid boolean", "bad flag syntax", "unexpected arguments"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// command is one row of the command table: help, the error for an unknown command and the
// package documentation all come from it.
type command struct {
	name    string
	args    string
	summary string
	// subs are the subcommands, for `dsop-bank <command> --help`.
	subs []string
	run  func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{name: "serve", args: "[flags]", summary: "Run the DSOP Control API v2 (the default command).", run: serve},
		{name: "dev-token", args: "[flags] [-- server flags]", summary: "Mint a token from the development issuer (test mode).",
			run: func(_ context.Context, a []string, g func(string) string, o, e io.Writer) error {
				return devToken(a, g, o, e)
			}},
		{name: "conformance", args: "[--base-url URL] [flags]", summary: "Play a DSOP service's consumer (BRREG by default; --service oed) against a bank's DSOP Control API v2 and report case by case.", run: conformanceCmd},
		{name: "check-bank-data", args: "FILE", summary: "Validate a bank data file and list every problem with its location.",
			run: func(_ context.Context, a []string, _ func(string) string, o, e io.Writer) error {
				return checkBankData(a, o, e)
			}},
		{name: "import", args: "[--bank-data FILE | --delta FILE | --status]", summary: "Check and load a full bank data file into PostgreSQL as a new generation, or apply a change set, without stopping the server.", run: importCmd},
		{name: "migrate", summary: "Apply the database migrations to DSOP_DATABASE_URL and report what was applied.", run: migrateCmd},
		{name: "gen", args: "--accounts N --transactions M [--seed S] [--end DATE]", summary: "Write a synthetic bank data file for load tests.",
			run: func(_ context.Context, a []string, _ func(string) string, o, e io.Writer) error {
				return genCmd(a, o, e)
			}},
		{name: "actions", args: "list|ack [flags]", summary: "The block/reopen instructions from the bankruptcy notices.", subs: []string{"list", "ack"}, run: actionsCmd},
		{name: "audit", args: "verify|query|case|anomalies|expire [flags]", summary: "The compliance officer's tools on the audit log.",
			subs: []string{"verify", "query", "case", "anomalies", "expire"}, run: auditCmd},
		{name: "decrypt", args: "--key FILE [JWE-FILE]", summary: "Decrypt a JWE answer with the consumer's private key.",
			run: func(_ context.Context, a []string, _ func(string) string, o, e io.Writer) error {
				return decrypt(a, os.Stdin, o, e)
			}},
		{name: "mock-konkursvarsel", args: "[--addr A] [--notices FILE]", summary: "Run a stand-in for BRREG's Konkursvarsel API.",
			run: mockKonkursvarsel},
		{name: "mock-core", args: "[--addr A] [--bank-data FILE | --accounts N --transactions M]", summary: "Serve the live connector's contract (openapi/bank-core.yaml) from a bank data file, the demo bank or gen's synthetic bank.", run: mockCoreCmd},
		{name: "healthcheck", args: "[--url URL]", summary: "Exit 0 when the server's /readyz answers 200 (for container healthchecks: the image has no shell or curl).", run: healthcheckCmd},
		{name: "version", summary: "Print the build (version, revision, Go version).", run: func(_ context.Context, a []string, _ func(string) string, o, _ io.Writer) error {
			if commandHelp("version", a, o, "") {
				return nil
			}
			if len(a) > 0 {
				return fmt.Errorf("version takes no arguments")
			}
			v, rev := telemetry.Version()
			fmt.Fprintf(o, "dsop-bank %s (revision %s, %s)\n", v, rev, runtime.Version())
			return nil
		}},
		{name: "help", args: "[COMMAND]", summary: "List the commands, or show one command's help."},
	}
}

// run is the whole program; tests call it with their own arguments, environment and context.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	name := "serve"
	switch {
	case len(args) > 0 && isHelpFlag(args[0]):
		printHelp(stdout)
		return nil
	case len(args) > 0 && !strings.HasPrefix(args[0], "-"):
		name, args = args[0], args[1:]
	}
	if name == "help" {
		if len(args) > 0 {
			return run(ctx, []string{args[0], "--help"}, getenv, stdout, stderr)
		}
		printHelp(stdout)
		return nil
	}
	c, ok := lookup(name)
	if !ok {
		return &usageError{fmt.Errorf("unknown command %q%s; `dsop-bank help` lists the commands", name, suggest(name))}
	}
	if len(c.subs) > 0 && (len(args) == 0 || isHelpFlag(args[0])) {
		fmt.Fprintf(stdout, "usage: dsop-bank %s %s\n\n%s\n\nSubcommands (each with its own --help): %s\n", c.name, c.args, c.summary, strings.Join(c.subs, ", "))
		if len(args) == 0 {
			return &usageError{fmt.Errorf("%s needs a subcommand: %s", c.name, strings.Join(c.subs, ", "))}
		}
		return nil
	}
	err := c.run(ctx, args, getenv, stdout, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil // the command's usage was printed
	case err != nil && flagMistake(err):
		return &usageError{err}
	}
	return err
}

func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, c.run != nil
		}
	}
	return command{}, false
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "usage: dsop-bank [command] [flags]   (no command: serve)")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\n`dsop-bank <command> --help` shows a command's flags; settings are also DSOP_* environment variables (docs/operators.md).")
}

// suggest names the nearest command to a mistyped one.
func suggest(name string) string {
	best, dist := "", 3
	for _, c := range commands() {
		if d := editDistance(name, c.name); d < dist {
			best, dist = c.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// commandHelp handles --help for a command without flags of its own: it says what the command does
// and where its settings come from, instead of listing every server flag.
func commandHelp(name string, args []string, stdout io.Writer, detail string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		if isHelpFlag(a) {
			c, _ := lookup(name)
			fmt.Fprintf(stdout, "usage: dsop-bank %s %s\n\n%s\n%s\n", name, c.args, c.summary, detail)
			return true
		}
	}
	return false
}

// newFlags is a command's flag set, whose --help prints the command's line of the table and its
// own flags.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		c, _ := lookup(name)
		fmt.Fprintf(stderr, "usage: dsop-bank %s %s\n\n%s\n\nFlags:\n", name, c.args, c.summary)
		fs.PrintDefaults()
	}
	return fs
}
