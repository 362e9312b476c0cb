// Command dsop-bank is a Norwegian bank's server for the DSOP service Konkursbehandling, and the
// tools that go with it. `dsop-bank help` lists the commands; `dsop-bank <command> --help` shows
// a command's own flags. Settings come from flags or DSOP_* environment variables (a flag wins);
// see docs/operators.md.
//
// The commands are spf13/cobra commands (one help style, suggestions, shell completion) whose
// flags are bound to their variables by internal/config, the one configuration layer.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	_ "time/tzdata" // "today" is Europe/Oslo even on hosts without a zoneinfo database

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dsop-bank/dsop-bank/internal/config"
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

// cli is what every command runs with: the environment and the standard streams (tests give
// their own).
type cli struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// run is the whole program; tests call it with their own arguments, environment and context.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root := newRoot(&cli{getenv: getenv, stdin: os.Stdin, stdout: stdout, stderr: stderr})
	root.SetArgs(config.LongFlags(args))
	return root.ExecuteContext(ctx)
}

// newRoot is the command tree. Without a command, dsop-bank serves (the container's default).
func newRoot(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:           "dsop-bank [command] [flags]",
		Short:         "A Norwegian bank's server for the DSOP Control API v2, and its tools.",
		Long:          "A Norwegian bank's server for the DSOP Control API v2 (Konkursbehandling, Oppgjør etter dødsfall), and its tools.\nWithout a command it serves. Settings are flags or DSOP_* environment variables (docs/operators.md).",
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          unknownCommand,
		// Suggest a command within two edits of a mistyped one.
		SuggestionsMinimumDistance: 2,
		// A flag not given on the command line takes its variable (internal/config.ApplyEnv).
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.ApplyEnv(cmd.Flags(), c.getenv); err != nil {
				return &usageError{err}
			}
			return nil
		},
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetIn(c.stdin)
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate(helpTemplate)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{fmt.Errorf("%w; `%s --help` lists the flags", err, cmd.CommandPath())}
	})
	runWithSettings(c, root, true, serveWith(c))
	root.AddCommand(
		serveCommand(c), devTokenCommand(c), conformanceCommand(c), checkBankDataCommand(c),
		importCommand(c), migrateCommand(c), genCommand(c), actionsCommand(c), auditCommand(c),
		decryptCommand(c), mockKonkursvarselCommand(c), mockCoreCommand(c), healthcheckCommand(c),
		versionCommand(c),
	)
	root.SetHelpCommand(helpCommand(root))
	return root
}

// The one help style of every command: what it does, its usage line, its subcommands, its flags.
const helpTemplate = `{{with (or .Long .Short)}}{{. | trimTrailingWhitespaces}}

{{end}}{{.UsageString}}`

const usageTemplate = `usage: {{.UseLine}}{{if .HasAvailableSubCommands}}

Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }}  {{.Short}}{{end}}{{end}}

` + "`{{.CommandPath}} <command> --help`" + ` shows a command's own flags.{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if and .HasParent (ne .Name "serve") (.Flags.Lookup "database-url")}}

Server settings: every flag of ` + "`dsop-bank serve --help`" + ` (or its DSOP_* variable) is read too.{{end}}
`

// unknownCommand refuses a word that is no command, with the nearest one suggested.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	hint := ""
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return &usageError{fmt.Errorf("unknown command %q%s; `dsop-bank help` lists the commands", args[0], hint)}
}

// helpCommand is `dsop-bank help [command …]`; an unknown topic is a usage error.
func helpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "List the commands, or show one command's help.",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				return &usageError{fmt.Errorf("no help for %q; `dsop-bank help` lists the commands", strings.Join(args, " "))}
			}
			return target.Help()
		},
	}
}

// noArgs, exactArgs and rangeArgs check a command's arguments; a mistake is a usage error that
// shows the usage line.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("unexpected arguments %q; usage: %s", args, cmd.UseLine())}
	}
	return nil
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if n := beforeDash(cmd, args); len(n) < lo || len(n) > hi {
			return &usageError{fmt.Errorf("usage: %s", cmd.UseLine())}
		}
		return nil
	}
}

// beforeDash are the arguments before "--"; afterDash are the server settings given after it (the
// form of earlier versions, still read).
func beforeDash(cmd *cobra.Command, args []string) []string {
	if i := cmd.ArgsLenAtDash(); i >= 0 {
		return args[:i]
	}
	return args
}

func afterDash(cmd *cobra.Command, args []string) []string {
	if i := cmd.ArgsLenAtDash(); i >= 0 {
		return args[i:]
	}
	return nil
}

// runWithSettings registers the server's settings on cmd and makes run its action, called with
// them read from the command line, the variables and anything after "--", and with the command's
// own arguments (those before "--"). hidden keeps the settings out of the command's help: only
// serve lists them.
func runWithSettings(c *cli, cmd *cobra.Command, hidden bool, run func(cmd *cobra.Command, cfg *config.Config, args []string) error) {
	s := config.Register(cmd.Flags(), hidden)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := s.Load(c.getenv, afterDash(cmd, args))
		if err != nil {
			return err
		}
		return run(cmd, cfg, beforeDash(cmd, args))
	}
}

// serveWith is the action of serve (and of dsop-bank without a command).
func serveWith(c *cli) func(*cobra.Command, *config.Config, []string) error {
	return func(cmd *cobra.Command, cfg *config.Config, _ []string) error { return serve(cmd.Context(), cfg, c) }
}

// aliases lets a command's flag also be spelled as another command spells the same thing
// (issue #27: dev-token's --aud is conformance's --audience; decrypt's --key is conformance's
// --consumer-key). Each pair is one flag with two names.
func aliases(cmd *cobra.Command, names map[string]string) {
	cmd.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := names[name]; ok {
			name = to
		}
		return pflag.NormalizedName(name)
	})
}

func serveCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the DSOP Control API v2 (the default command).",
		Args:  noArgs,
	}
	runWithSettings(c, cmd, false, serveWith(c))
	return cmd
}

func versionCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the build (version, revision, Go version).",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			v, rev := telemetry.Version()
			fmt.Fprintf(c.stdout, "dsop-bank %s (revision %s, %s)\n", v, rev, runtime.Version())
			return nil
		},
	}
}
