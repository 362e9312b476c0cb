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
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/conformance"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
)

// conformanceFlags are the kit's flags, each also a DSOP_CONFORMANCE_* variable.
type conformanceFlags struct {
	baseURL, audience, service, tokenCmd, tokenFile, keyFile, parties, refused, format, junit, caFile string
	production                                                                                        bool
	rateCap                                                                                           float64
}

// conformanceCommand plays a DSOP service's consumer (BRREG for Konkursbehandling, by default)
// against a bank's DSOP Control API v2 and reports case by case (internal/conformance). Against
// our own server it needs no flag but --base-url: run with the server's DSOP_* environment, it
// mints tokens from the development issuer and decrypts with the development consumer key in the
// state directory.
func conformanceCommand(c *cli) *cobra.Command {
	var f conformanceFlags
	cmd := &cobra.Command{
		Use:   "conformance [--base-url URL] [flags]",
		Short: "Play a DSOP service's consumer (BRREG by default; --service oed) against a bank's DSOP Control API v2 and report case by case.",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return conformanceRun(cmd.Context(), f, c.getenv, c.stdout, c.stderr)
		},
	}
	fs := cmd.Flags()
	for _, v := range []struct {
		p         *string
		name, def string
		help, env string
	}{
		{&f.baseURL, "base-url", "", "the bank's registered base URL, e.g. https://api.bank.no/dsop/v2 (default the server's DSOP_BASE_URL)", "BASE_URL"},
		{&f.audience, "audience", "", "aud of the tokens minted by the development issuer (default the server's DSOP_BASE_URL; also --aud)", "AUDIENCE"},
		{&f.service, "service", "konkursbehandling", "the DSOP service to play: konkursbehandling or oed", "SERVICE"},
		{&f.tokenCmd, "token-command", "", "shell command that prints a valid token of the service's consumer for the bank", "TOKEN_COMMAND"},
		{&f.tokenFile, "token-file", "", "file holding a valid token of the service's consumer, read for each request", "TOKEN_FILE"},
		{&f.keyFile, "consumer-key", "", "PEM file with the consumer's RSA private key, to decrypt the JWE answers (default the development consumer key in the state directory; also --key)", "CONSUMER_KEY"},
		{&f.parties, "parties", "", "test parties the service serves, PartyID:date,… — the date is the kjennelsesdato (konkursbehandling) or the date of death (oed) (default BRREG's published test debtors, or the demo bank's deceased customers)", "PARTIES"},
		{&f.refused, "refused-parties", "", "parties the bank must refuse, comma-separated (default the annulled, reversed and closed test debtors and one never notified, or for oed a living customer and one unknown)", "REFUSED_PARTIES"},
		{&f.format, "format", "table", "table or json", "FORMAT"},
		{&f.junit, "junit", "", "also write a JUnit XML report to this file", "JUNIT"},
		{&f.caFile, "ca", "", "PEM bundle of CAs to trust for the bank's TLS, besides the system roots", "CA"},
	} {
		fs.StringVar(v.p, v.name, v.def, v.help)
		config.BindEnv(fs, v.name, "DSOP_CONFORMANCE_"+v.env)
	}
	fs.BoolVar(&f.production, "production", false, "read-only mode for the bank's production: GET only (the case that sends other methods is skipped), --parties required (the bank's own test party; no published test debtors), no refused parties unless given, and a rate cap")
	config.BindEnv(fs, "production", "DSOP_CONFORMANCE_PRODUCTION")
	fs.Float64Var(&f.rateCap, "rate", 0, "requests per second at most (default no cap, 2 with --production)")
	config.BindEnv(fs, "rate", "DSOP_CONFORMANCE_RATE")
	aliases(cmd, map[string]string{"aud": "audience", "key": "consumer-key"})
	return cmd
}

func conformanceRun(ctx context.Context, f conformanceFlags, getenv func(string) string, stdout, stderr io.Writer) error {
	if f.format != "table" && f.format != "json" {
		return fmt.Errorf("conformance: --format must be table or json")
	}
	// The server's own settings, when this machine has them: base URL, state directory,
	// development issuer.
	server, serverErr := config.Load(nil, getenv)
	if f.baseURL == "" {
		if server == nil {
			return fmt.Errorf("conformance: --base-url is required (the server settings in the environment are not usable: %v)", serverErr)
		}
		f.baseURL = server.BaseURL
	}
	if f.audience == "" && server != nil {
		f.audience = server.BaseURL
	}
	svc, ok := serviceNamed(f.service)
	if !ok {
		return fmt.Errorf("conformance: --service must be konkursbehandling or oed, got %q", f.service)
	}
	o := conformance.Options{BaseURL: f.baseURL, Service: svc}
	var err error
	if o.Tokens, err = tokenSource(f.tokenCmd, f.tokenFile, f.audience, svc.Consumers[0], server); err != nil {
		return err
	}
	if o.Key, err = consumerKey(f.keyFile, server); err != nil {
		return err
	}
	open, refusedDefault, err := conformance.DefaultPartiesFor(svc)
	if err != nil {
		return err
	}
	o.Parties, o.Refused = open, refusedDefault
	if f.production {
		// In production only the bank's own test party is asked for, and the bank is never
		// loaded more than the real consumer would load it.
		if f.parties == "" {
			return &usageError{errors.New("conformance --production needs --parties: the bank's own test party in production (PartyID:date), never the published test debtors")}
		}
		o.Refused, o.Production, o.Rate = nil, true, 2
	}
	if f.rateCap < 0 {
		return &usageError{errors.New("--rate must be 0 (no cap) or a number of requests per second")}
	}
	if f.rateCap > 0 {
		o.Rate = f.rateCap
	}
	if f.parties != "" {
		if o.Parties, err = conformance.ParseParties(f.parties); err != nil {
			return fmt.Errorf("conformance: --parties: %w", err)
		}
	}
	if f.refused != "" {
		o.Refused = config.SplitList(f.refused)
	}
	if o.HTTP, err = bankClient(f.caFile); err != nil {
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
	if f.format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if f.junit != "" {
		f, err := os.Create(f.junit)
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
