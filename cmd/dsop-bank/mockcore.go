package main

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/bankcore"
	"github.com/dsop-bank/dsop-bank/internal/config"
)

// mockCoreCommand serves openapi/bank-core.yaml (the live connector's contract) from a bank data
// file, the embedded demo bank, or gen's synthetic bank: the bank's side of DSOP_BANK_CORE_URL for
// the demo and for an integration team's tests.
func mockCoreCommand(c *cli) *cobra.Command {
	var (
		addr, file string
		g          genFlags
	)
	cmd := &cobra.Command{
		Use:   "mock-core [--addr A] [--bank-data FILE | --accounts N --transactions M]",
		Short: "Serve the live connector's contract (openapi/bank-core.yaml) from a bank data file, the demo bank or gen's synthetic bank.",
		Args:  noArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&addr, "addr", "127.0.0.1:8083", "listen address")
	config.BindEnv(fs, "addr", "DSOP_MOCK_CORE_ADDR")
	fs.StringVar(&file, "bank-data", "", "bank data file to serve (openapi/bank-data.yaml); default the embedded demo bank, or gen's bank with --accounts")
	g.register(fs, 0, "gen's synthetic bank instead: ")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var bd *accounts.BankData
		var err error
		switch {
		case g.accounts > 0 && file != "":
			return &usageError{fmt.Errorf("mock-core serves --bank-data FILE or gen's bank (--accounts N), not both")}
		case g.accounts > 0:
			bd, err = g.generate()
		default:
			bd, err = loadBankData(file)
		}
		if err != nil {
			return err
		}
		return serveMock(cmd.Context(), addr, bankcore.NewMock(bd).Handler(), func(at string) {
			fmt.Fprintf(c.stdout, "bank-core mock on http://%s with %d parties and %d accounts (openapi/bank-core.yaml)\nServe from it: DSOP_BANK_CORE_URL=http://%s dsop-bank serve\n", at, len(bd.Parties), len(bd.Accounts), at)
		})
	}
	return cmd
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
