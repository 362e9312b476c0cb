package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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
