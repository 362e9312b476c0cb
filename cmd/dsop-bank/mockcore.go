package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/bankcore"
)

// mockCoreCmd serves openapi/bank-core.yaml (the live connector's contract) from a bank data file,
// the embedded demo bank, or gen's synthetic bank: the bank's side of DSOP_BANK_CORE_URL for the
// demo and for an integration team's tests.
func mockCoreCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("mock-core", stderr)
	addr := fs.String("addr", envOr(getenv, "DSOP_MOCK_CORE_ADDR", "127.0.0.1:8083"), "listen address (DSOP_MOCK_CORE_ADDR)")
	file := fs.String("bank-data", "", "bank data file to serve (openapi/bank-data.yaml); default the embedded demo bank, or gen's bank with --accounts")
	n := fs.Int("accounts", 0, "serve gen's synthetic bank of this many accounts instead (as dsop-bank gen)")
	m := fs.Int("transactions", 1000, "with --accounts: transactions per account")
	seed := fs.Uint64("seed", 1, "with --accounts: random seed")
	end := fs.String("end", "", "with --accounts: last day of the history (YYYY-MM-DD); default today")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var bd *accounts.BankData
	switch {
	case *n > 0 && *file != "":
		return &usageError{fmt.Errorf("mock-core serves --bank-data FILE or gen's bank (--accounts N), not both")}
	case *n > 0:
		now, err := genEnd(*end)
		if err != nil {
			return &usageError{err}
		}
		bd = Generate(*n, *m, *seed, now)
	default:
		var err error
		if bd, err = loadBankData(*file); err != nil {
			return err
		}
	}
	return serveMock(ctx, *addr, bankcore.NewMock(bd).Handler(), func(at string) {
		fmt.Fprintf(stdout, "bank-core mock on http://%s with %d parties and %d accounts (openapi/bank-core.yaml)\nServe from it: DSOP_BANK_CORE_URL=http://%s dsop-bank serve\n", at, len(bd.Parties), len(bd.Accounts), at)
	})
}

// serveMock serves a mock on addr until ctx ends; ready is told the address it listens on.
func serveMock(ctx context.Context, addr string, h http.Handler, ready func(addr string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := newHTTPServer(h)
	ready(ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		return srv.Shutdown(context.Background())
	case err := <-errc:
		return err
	}
}

// envOr is a DSOP_* variable's value, or def when it is not set.
func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
