package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/config"
)

// Every command and subcommand of the one command table answers --help with exit status 0 and its
// own usage; help lists every command; an unknown command gets the nearest one suggested.
func TestCLI_EveryCommandHasItsOwnHelp(t *testing.T) {
	env := map[string]string{"DSOP_STATE_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	var help bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"help"}, getenv, &help, &help))
	for _, c := range commands() {
		require.Contains(t, help.String(), "  "+c.name+" ", "help lists %s", c.name)
		if c.name == "help" {
			continue
		}
		targets := [][]string{{c.name, "--help"}}
		for _, sub := range c.subs {
			targets = append(targets, []string{c.name, sub, "--help"})
		}
		for _, args := range targets {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var out, errOut bytes.Buffer
				err := run(context.Background(), args, getenv, &out, &errOut)
				require.NoError(t, err, "exit status 0 for %v", args)
				text := out.String() + errOut.String()
				require.Contains(t, text, "usage: dsop-bank "+strings.Join(args[:len(args)-1], " "), text)
				if c.name != "serve" {
					require.NotContains(t, text, "-konkursvarsel-poll-interval", "only the command's own flags, not every server setting")
				}
			})
		}
	}
	var top bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"--help"}, getenv, &top, &top), "--help lists the commands, exit 0")
	require.Contains(t, top.String(), "conformance")

	err := run(context.Background(), []string{"conformence"}, getenv, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, `unknown command "conformence" (did you mean "conformance"?)`)
	var q bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"audit", "query", "--help"}, getenv, &q, &q))
	require.Contains(t, q.String(), "-request-id")
	require.NotContains(t, q.String(), "-max-per-case", "each audit subcommand lists only its flags")
}

// walk visits every command of the tree.
func walk(cmd *cobra.Command, visit func(*cobra.Command)) {
	visit(cmd)
	for _, sub := range cmd.Commands() {
		walk(sub, visit)
	}
}

// testValue is a valid value of a flag's type, different from its default.
func testValue(t *testing.T, f *pflag.Flag, n int) string {
	switch f.Value.Type() {
	case "string":
		return fmt.Sprintf("value-%d", n)
	case "int", "uint64":
		return fmt.Sprint(7 + n)
	case "float64":
		return fmt.Sprintf("%d.5", 2+n)
	case "bool":
		return "true"
	case "duration":
		return fmt.Sprintf("%ds", 7+n)
	}
	t.Fatalf("flag --%s has type %s: add a test value", f.Name, f.Value.Type())
	return ""
}

// Every command honours the same variable for the same flag (issue #27): for each flag bound to a
// DSOP_* variable, on every command that has it, the variable sets it when the command line does
// not, and the command line wins when it does. A variable is bound to one flag name everywhere.
func TestCLI_EveryCommandHonoursItsVariables(t *testing.T) {
	root := newRoot(&cli{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	nameOf := map[string]string{} // variable → flag name
	checked := 0
	walk(root, func(cmd *cobra.Command) {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			env := config.EnvOf(f)
			if env == "" {
				return
			}
			// The one alias: the standalone mock's --addr is the server's --mock-konkursvarsel-addr.
			if cmd.Name() == "mock-konkursvarsel" && f.Name == "addr" {
				require.Equal(t, "DSOP_MOCK_KONKURSVARSEL_ADDR", env)
			} else if prev, ok := nameOf[env]; ok {
				require.Equal(t, prev, f.Name, "%s is --%s on one command and --%s on %s", env, prev, f.Name, cmd.CommandPath())
			}
			if _, ok := nameOf[env]; !ok || f.Name != "addr" {
				nameOf[env] = f.Name
			}
			t.Run(cmd.CommandPath()+" --"+f.Name, func(t *testing.T) {
				fromEnv, fromFlag := testValue(t, f, 1), testValue(t, f, 2)
				getenv := func(k string) string { return map[string]string{env: fromEnv}[k] }
				c := newRoot(&cli{getenv: getenv, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
				target, _, err := c.Find(strings.Fields(strings.TrimPrefix(cmd.CommandPath(), "dsop-bank")))
				require.NoError(t, err)
				require.NoError(t, target.ParseFlags(nil))
				require.NoError(t, config.ApplyEnv(target.Flags(), getenv))
				require.Equal(t, fromEnv, target.Flags().Lookup(f.Name).Value.String(), "the variable sets the flag")

				c = newRoot(&cli{getenv: getenv, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
				target, _, err = c.Find(strings.Fields(strings.TrimPrefix(cmd.CommandPath(), "dsop-bank")))
				require.NoError(t, err)
				require.NoError(t, target.ParseFlags([]string{"--" + f.Name + "=" + fromFlag}))
				require.NoError(t, config.ApplyEnv(target.Flags(), getenv))
				require.Equal(t, fromFlag, target.Flags().Lookup(f.Name).Value.String(), "the command line wins")
			})
			checked++
		})
	})
	require.Greater(t, checked, 500, "every setting on every command that reads them, and the commands' own variables")

	// Every command that reads the server's settings reads all of them.
	walk(root, func(cmd *cobra.Command) {
		if cmd.Flags().Lookup("database-url") == nil {
			return
		}
		for _, name := range config.Names() {
			require.Contains(t, nameOf, name)
			require.NotNil(t, cmd.Flags().Lookup(nameOf[name]), "%s reads --%s (%s)", cmd.CommandPath(), nameOf[name], name)
		}
	})

	// No command reads a DSOP_* variable behind the configuration layer's back: each one read
	// directly is a setting or a bound flag's variable.
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	direct := regexp.MustCompile(`getenv\("(DSOP_[A-Z_]+)"\)`)
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range direct.FindAllStringSubmatch(string(b), -1) {
			_, bound := nameOf[m[1]]
			require.True(t, bound, "%s reads %s, which is neither a setting nor bound to a flag", file, m[1])
		}
	}
}

// A variable bound to a flag that does not parse is a usage error naming the variable.
func TestCLI_BadVariableIsAUsageError(t *testing.T) {
	getenv := func(k string) string { return map[string]string{"DSOP_CONFORMANCE_RATE": "fast"}[k] }
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"conformance", "--base-url", "http://127.0.0.1:1/v2"}, getenv, &bytes.Buffer{}, &stderr)
	require.ErrorContains(t, err, "DSOP_CONFORMANCE_RATE")
	require.Equal(t, 2, exitStatus(err))
	// The same variable, valid, is read (the kit then fails to reach the bank: exit 1, not 2).
	getenv = func(k string) string { return map[string]string{"DSOP_CONFORMANCE_RATE": "100"}[k] }
	err = run(context.Background(), []string{"conformance", "--base-url", "http://127.0.0.1:1/v2", "--format", "json"}, getenv, &bytes.Buffer{}, &bytes.Buffer{})
	require.NotEqual(t, 2, exitStatus(err), "%v", err)
}

// More usage errors, each exit 2: an unknown help topic, decrypt without its key, a missing
// argument, a subcommand that does not exist.
func TestCLI_MoreUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"help", "nosuch"}, {"decrypt"}, {"audit", "case"}, {"actions", "frobnicate"}, {"check-bank-data"}, {"gen", "--accounts", "many"}} {
		err := run(context.Background(), args, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
		require.Error(t, err, args)
		require.Equal(t, 2, exitStatus(err), "%v: %v", args, err)
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"help", "audit", "query"}, func(string) string { return "" }, &out, &out))
	require.Contains(t, out.String(), "usage: dsop-bank audit query")
}

// Shell completion for every command and flag, and the single-dash flags of earlier versions.
func TestCLI_CompletionAndOldFlagForms(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), []string{"completion", shell}, func(string) string { return "" }, &out, &bytes.Buffer{}), shell)
		require.Contains(t, out.String(), "dsop-bank", shell)
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"__complete", "audit", "qu"}, func(string) string { return "" }, &out, &bytes.Buffer{}))
	require.Contains(t, out.String(), "query")
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"__complete", "import", "--max"}, func(string) string { return "" }, &out, &bytes.Buffer{}))
	require.Contains(t, out.String(), "--max-rate")

	out.Reset()
	require.NoError(t, run(context.Background(), []string{"gen", "-accounts", "1", "-transactions", "2", "-end", "2026-01-31"}, func(string) string { return "" }, &out, &bytes.Buffer{}))
	require.Equal(t, 2, strings.Count(out.String(), `"transactionIdentifier"`), "the single-dash form is read as the double-dash one")
}

// The same thing has one meaning under both of its spellings: dev-token --audience is --aud,
// decrypt --consumer-key is --key, and conformance takes --aud and --key too (issue #27).
func TestCLI_OneThingTwoSpellings(t *testing.T) {
	root := newRoot(&cli{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	for _, tc := range []struct{ cmd, given, is string }{
		{"dev-token", "audience", "aud"}, {"decrypt", "consumer-key", "key"},
		{"conformance", "aud", "audience"}, {"conformance", "key", "consumer-key"},
	} {
		cmd, _, err := root.Find([]string{tc.cmd})
		require.NoError(t, err)
		require.NoError(t, cmd.ParseFlags([]string{"--" + tc.given + "=x"}), tc)
		require.Equal(t, "x", cmd.Flags().Lookup(tc.is).Value.String(), tc)
	}
}

// command names a command and its subcommands, for the tests and the README check.
type command struct {
	name string
	subs []string
}

// commands lists the command tree: every command and its subcommands, help included.
func commands() []command {
	root := newRoot(&cli{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var out []command
	for _, cmd := range root.Commands() {
		c := command{name: cmd.Name()}
		for _, sub := range cmd.Commands() {
			c.subs = append(c.subs, sub.Name())
		}
		out = append(out, c)
	}
	return out
}
