package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
)

func devKeyHint(cfg *config.Config) string {
	if !cfg.DevConsumerCert() {
		return "<the consumer's private key>"
	}
	return filepath.Join(cfg.StateDir, "dev-consumer-key.pem")
}

// printDemo tells the user how to call the server, with a token that lasts an hour.
func printDemo(w io.Writer, cfg *config.Config, dev *devissuer.Issuer, consoleURL string) {
	tok, err := dev.Mint(devissuer.Options{TTL: time.Hour})
	if err != nil {
		return
	}
	today := civil.Today(time.Now(), cfg.Timezone)
	// 910336819 is an open bankruptcy in the demo notices, kjennelsesdato 2018-06-08.
	from := konkursbehandling.EarliestFromDate(civil.MustParse("2018-06-08"))
	fmt.Fprintf(w, `
dsop-bank is running in test mode on http://%[1]s with %[8]s.
Development Maskinporten issuer: %[2]s (JWKS %[3]s)

Step 2a (accounts of the bankrupt demo company 910336819), token valid for one hour:

curl -s 'http://%[1]s/v2/accounts?OnlyPrimaryOwner=true&fromDate=%[4]s&toDate=%[5]s' \
  -H 'Accept: application/json' \
  -H 'Authorization: Bearer %[6]s' \
  -H 'AccountInfoRequestID: d4a820ca-ddde-11ed-b5ea-0242ac120002' \
  -H 'CorrelationID: 14fbc062-aacb-4449-93c1-85c352d387a4' \
  -H 'Legal-Mandate: kkl.%%20%%C2%%A7156%%20(3)%%20og%%20(4)%%2C%%20jf.%%20kkfor.%%C2%%A721' \
  -H 'PartyID: 910336819'

Step 2b: GET /v2/accounts/{accountReference} and .../transactions with the same headers (no PartyID)
and fromDate/toDate. New token: go run ./cmd/dsop-bank dev-token (or GET %[2]stoken).

Encrypted, as in production: replace the Accept header by 'Accept: application/jose' and pipe the
answer to: go run ./cmd/dsop-bank decrypt --key %[7]s
`, cfg.Addr, cfg.MaskinportenIssuer, cfg.MaskinportenJWKSURL, from, today, tok, devKeyHint(cfg), bankDataSource(cfg))
	if consoleURL != "" {
		fmt.Fprintf(w, "\nCompliance console: %s/ (sign in with one click, as an officer or a viewer, through the development issuer)\n", consoleURL)
	}
}

// bankDataSource names where the served bank data comes from, as serve chooses it (stores.go).
func bankDataSource(cfg *config.Config) string {
	switch {
	case cfg.DatabaseURL != "":
		return "the bank data in PostgreSQL (dsop-bank import)"
	case cfg.BankData != "":
		return "the bank data file " + cfg.BankData
	}
	return "the embedded demo bank"
}
