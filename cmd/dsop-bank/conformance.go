package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/conformance"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
)

// conformanceCmd plays a DSOP service's consumer (BRREG for Konkursbehandling, by default)
// against a bank's DSOP Control API v2 and reports case by case
// (internal/conformance). Against our own server it needs no flag but --base-url: run with the
// server's DSOP_* environment, it mints tokens from the development issuer and decrypts with the
// development consumer key in the state directory.
func conformanceCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("conformance", stderr)
	env := func(k string) string { return getenv("DSOP_CONFORMANCE_" + k) }
	baseURL := fs.String("base-url", env("BASE_URL"), "the bank's registered base URL, e.g. https://api.bank.no/dsop/v2 (DSOP_CONFORMANCE_BASE_URL; default the server's DSOP_BASE_URL)")
	audience := fs.String("audience", env("AUDIENCE"), "aud of the tokens minted by the development issuer (DSOP_CONFORMANCE_AUDIENCE; default the server's DSOP_BASE_URL)")
	service := fs.String("service", firstNonEmpty(env("SERVICE"), "konkursbehandling"), "the DSOP service to play: konkursbehandling or oed (DSOP_CONFORMANCE_SERVICE)")
	tokenCmd := fs.String("token-command", env("TOKEN_COMMAND"), "shell command that prints a valid token of the service's consumer for the bank (DSOP_CONFORMANCE_TOKEN_COMMAND)")
	tokenFile := fs.String("token-file", env("TOKEN_FILE"), "file holding a valid token of the service's consumer, read for each request (DSOP_CONFORMANCE_TOKEN_FILE)")
	keyFile := fs.String("consumer-key", env("CONSUMER_KEY"), "PEM file with the consumer's RSA private key, to decrypt the JWE answers (DSOP_CONFORMANCE_CONSUMER_KEY; default the development consumer key in the state directory)")
	parties := fs.String("parties", env("PARTIES"), "test parties the service serves, PartyID:date,… — the date is the kjennelsesdato (konkursbehandling) or the date of death (oed) (DSOP_CONFORMANCE_PARTIES; default BRREG's published test debtors, or the demo bank's deceased customers)")
	refused := fs.String("refused-parties", env("REFUSED_PARTIES"), "parties the bank must refuse, comma-separated (DSOP_CONFORMANCE_REFUSED_PARTIES; default the annulled, reversed and closed test debtors and one never notified, or for oed a living customer and one unknown)")
	format := fs.String("format", firstNonEmpty(env("FORMAT"), "table"), "table or json (DSOP_CONFORMANCE_FORMAT)")
	junit := fs.String("junit", env("JUNIT"), "also write a JUnit XML report to this file (DSOP_CONFORMANCE_JUNIT)")
	production := fs.Bool("production", env("PRODUCTION") == "true", "read-only mode for the bank's production: GET only (the case that sends other methods is skipped), --parties required (the bank's own test party; no published test debtors), no refused parties unless given, and a rate cap (DSOP_CONFORMANCE_PRODUCTION=true)")
	rateCap := fs.Float64("rate", 0, "requests per second at most (DSOP_CONFORMANCE_RATE; default no cap, 2 with --production)")
	caFile := fs.String("ca", env("CA"), "PEM bundle of CAs to trust for the bank's TLS, besides the system roots (DSOP_CONFORMANCE_CA)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("conformance: unexpected arguments %v", fs.Args())
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("conformance: --format must be table or json")
	}
	// The server's own settings, when this machine has them: base URL, state directory,
	// development issuer.
	server, serverErr := config.Load("conformance", nil, getenv, io.Discard)
	if *baseURL == "" {
		if server == nil {
			return fmt.Errorf("conformance: --base-url is required (the server settings in the environment are not usable: %v)", serverErr)
		}
		*baseURL = server.BaseURL
	}
	if *audience == "" && server != nil {
		*audience = server.BaseURL
	}
	svc, ok := serviceNamed(*service)
	if !ok {
		return fmt.Errorf("conformance: --service must be konkursbehandling or oed, got %q", *service)
	}
	o := conformance.Options{BaseURL: *baseURL, Service: svc}
	var err error
	if o.Tokens, err = tokenSource(*tokenCmd, *tokenFile, *audience, svc.Consumers[0], server); err != nil {
		return err
	}
	if o.Key, err = consumerKey(*keyFile, server); err != nil {
		return err
	}
	open, refusedDefault, err := conformance.DefaultPartiesFor(svc)
	if err != nil {
		return err
	}
	o.Parties, o.Refused = open, refusedDefault
	if *production {
		// In production only the bank's own test party is asked for, and the bank is never
		// loaded more than the real consumer would load it.
		if *parties == "" {
			return &usageError{errors.New("conformance --production needs --parties: the bank's own test party in production (PartyID:date), never the published test debtors")}
		}
		o.Refused, o.Production, o.Rate = nil, true, 2
	}
	if v := env("RATE"); v != "" && *rateCap == 0 {
		if *rateCap, err = strconv.ParseFloat(v, 64); err != nil || *rateCap < 0 {
			return &usageError{fmt.Errorf("DSOP_CONFORMANCE_RATE: must be a number of requests per second")}
		}
	}
	if *rateCap < 0 {
		return &usageError{errors.New("--rate must be 0 (no cap) or a number of requests per second")}
	}
	if *rateCap > 0 {
		o.Rate = *rateCap
	}
	if *parties != "" {
		if o.Parties, err = conformance.ParseParties(*parties); err != nil {
			return fmt.Errorf("conformance: --parties: %w", err)
		}
	}
	if *refused != "" {
		o.Refused = splitList(*refused)
	}
	if o.HTTP, err = bankClient(*caFile); err != nil {
		return err
	}
	o.Progress = func(done, total int, r conformance.Result) {
		fmt.Fprintf(stderr, "conformance [%2d/%d] %-4s %s (%s)\n", done, total, r.Status, r.Case.ID, r.Duration.Round(time.Millisecond))
	}
	fmt.Fprintf(stderr, "conformance: playing %s (%s) against %s with %d test parties\n", svc.Title, svc.Consumers[0], o.BaseURL, len(o.Parties))
	if o.Production {
		fmt.Fprintf(stderr, "conformance: production mode: GET only, at most %g requests a second\n", o.Rate)
	}
	rep, err := conformance.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("conformance: %w", err)
	}
	if *format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if *junit != "" {
		f, err := os.Create(*junit)
		if err != nil {
			return err
		}
		if err := errors.Join(rep.WriteJUnit(f), f.Close()); err != nil {
			return fmt.Errorf("conformance: --junit: %w", err)
		}
	}
	if n := rep.Count(conformance.Fail); n > 0 {
		return fmt.Errorf("conformance: %d of %d cases failed", n, len(rep.Results))
	}
	return nil
}

// tokenSource picks the token command, the token file, or the development issuer of this
// machine's state directory, in that order.
func tokenSource(command, file, audience, consumer string, server *config.Config) (conformance.TokenSource, error) {
	switch {
	case command != "":
		return &conformance.CommandTokens{Command: command}, nil
	case file != "":
		return conformance.FileTokens{Path: file}, nil
	case server == nil || !server.DevIssuer():
		return nil, errors.New("conformance: give --token-command or --token-file (no development issuer is configured here)")
	}
	if _, err := os.Stat(filepath.Join(server.StateDir, "dev-issuer-key.pem")); err != nil {
		return nil, fmt.Errorf("conformance: no development issuer key in %s (start the server once with `make run`, or give --token-command or --token-file)", server.StateDir)
	}
	is, err := devissuer.Open(server.StateDir, server.MaskinportenIssuer, audience)
	if err != nil {
		return nil, err
	}
	return conformance.IssuerTokens{Issuer: is, Consumer: consumer}, nil
}

func consumerKey(file string, server *config.Config) (*rsa.PrivateKey, error) {
	if file == "" {
		if server == nil || !server.DevConsumerCert() {
			return nil, errors.New("conformance: give --consumer-key (the consumer's private key, to decrypt the answers)")
		}
		file = devKeyHint(server)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("conformance: consumer key: %w", err)
	}
	k, err := encryption.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("conformance: consumer key %s: %w", file, err)
	}
	return k, nil
}

func bankClient(caFile string) (*http.Client, error) {
	c, err := httpsClient(caFile, 0)
	if err != nil {
		return nil, fmt.Errorf("conformance: --ca: %w", err)
	}
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	// Redirects are not followed: a DSOP endpoint answers, it does not redirect.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// serviceNamed finds a DSOP service this build knows by its name.
func serviceNamed(name string) (dsopservice.Service, bool) {
	for _, s := range dsopservice.All() {
		if s.Name == strings.ToLower(strings.TrimSpace(name)) {
			return s, true
		}
	}
	return dsopservice.Service{}, false
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
