// Command dsop-bank is a Norwegian bank's server for the DSOP service Konkursbehandling.
//
//	dsop-bank [serve] [flags]        run the DSOP Control API v2 (default)
//	dsop-bank version                print the build
//	dsop-bank import --bank-data F   load a bank data file into PostgreSQL
//	dsop-bank migrate                apply the database migrations
//	dsop-bank gen --accounts N --transactions M   synthetic bank data for benchmarks
//	dsop-bank dev-token [flags]      mint a token from the development issuer
//	dsop-bank check-bank-data FILE   validate a bank data file and list every problem
//	dsop-bank audit verify|query|case|anomalies|expire   the compliance officer's tools
//	dsop-bank decrypt --key FILE     decrypt a JWE answer with the consumer's private key
//	dsop-bank actions list|ack       block/reopen instructions from the bankruptcy notices
//	dsop-bank mock-konkursvarsel     a stand-in for BRREG's Konkursvarsel API
//	dsop-bank conformance --base-url U   play BRREG against a bank's API and report case by case
//
// Settings come from flags or DSOP_* environment variables; see README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	_ "time/tzdata" // "today" is Europe/Oslo even on hosts without a zoneinfo database

	"github.com/dsop-bank/dsop-bank/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dsop-bank:", err)
		os.Exit(1)
	}
}

// run is the whole program; tests call it with their own arguments, environment and context.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "dev-token":
		return devToken(args, getenv, stdout, stderr)
	case "check-bank-data":
		return checkBankData(args, stdout)
	case "version":
		v, rev := telemetry.Version()
		fmt.Fprintf(stdout, "dsop-bank %s (revision %s, %s)\n", v, rev, runtime.Version())
		return nil
	case "import":
		return importCmd(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args, getenv, stdout, stderr)
	case "gen":
		return genCmd(args, stdout, stderr)
	case "mock-konkursvarsel":
		return mockKonkursvarsel(ctx, args, stdout, stderr)
	case "actions":
		return actionsCmd(ctx, args, getenv, stdout, stderr)
	case "decrypt":
		return decrypt(args, os.Stdin, stdout, stderr)
	case "audit":
		return auditCmd(ctx, args, getenv, stdout, stderr)
	case "conformance":
		return conformanceCmd(ctx, args, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: dsop-bank [serve|dev-token|check-bank-data|audit|decrypt|actions|mock-konkursvarsel|conformance] [flags]; see README.md")
		return nil
	}
	return fmt.Errorf("unknown command %q (serve, version, import, migrate, gen, dev-token, check-bank-data, audit, decrypt, actions, mock-konkursvarsel, conformance)", cmd)
}
