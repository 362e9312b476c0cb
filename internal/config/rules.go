package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// rules collects the problems of one configuration, so that start-up lists them all at once.
type rules struct {
	raw      map[string]string // every setting's value as given (trimmed)
	prod     bool
	problems []string
}

func (r *rules) bad(env, format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf("%s: %s", env, fmt.Sprintf(format, args...)))
}

// https checks that a URL setting is an absolute https URL (http allowed in test).
func (r *rules) https(env, v string) {
	if !httpsURL(v, r.prod) {
		r.bad(env, "must be an absolute https URL (http allowed in test), got %q", v)
	}
}

// read fills one setting's field from its value and checks the file it names.
func (r *rules) read(s setting) {
	v := r.raw[s.env]
	if v == "" && r.prod {
		v = s.unsetProd
	} else if v == "" {
		v = s.unsetTest
	}
	if s.set != nil {
		if err := s.set(v); err != nil {
			r.bad(s.env, "%v", err)
		}
	}
	if v == "" || !(s.checkFile || (s.secret && r.prod)) {
		return
	}
	fi, err := os.Stat(v)
	switch {
	case err != nil:
		r.bad(s.env, "%v", err)
	case s.secret && r.prod && exposedSecret(fi):
		// A secret readable by other users of the host: the server secret derives
		// accountReference, the cursor key and the checkpoint key; the enterprise key
		// authenticates the bank at BRREG.
		r.bad(s.env, "%s is readable by other users (mode %04o); run chmod 600 %s", v, fi.Mode().Perm(), v)
	}
}

// everyRule lists, in order, the rules that relate several settings.
func everyRule() []func(*Config, *rules) {
	return []func(*Config, *rules){
		maskinporten, registeredURL, bankDataSource, services, certPub, konkursvarsel,
		konkursvarselAuth, listenerTLS, shutdown, bankCore, consoleListener, consoleSignOn, stateFiles,
	}
}

// maskinporten: issuer and JWKS both or neither; neither means the development issuer, which
// production refuses.
func maskinporten(c *Config, r *rules) {
	switch {
	case c.MaskinportenIssuer == "" && c.MaskinportenJWKSURL == "":
		if r.prod {
			r.bad("DSOP_MASKINPORTEN_ISSUER", "required in production (and DSOP_MASKINPORTEN_JWKS_URL)")
		} else if _, _, err := net.SplitHostPort(c.DevIssuerAddr); err != nil {
			r.bad("DSOP_DEV_ISSUER_ADDR", "must be host:port: %v", err)
		} else {
			c.MaskinportenIssuer = "http://" + c.DevIssuerAddr + "/"
			c.MaskinportenJWKSURL = "http://" + c.DevIssuerAddr + "/jwks.json"
		}
	case c.MaskinportenIssuer == "":
		r.bad("DSOP_MASKINPORTEN_ISSUER", "required when DSOP_MASKINPORTEN_JWKS_URL is set")
	case c.MaskinportenJWKSURL == "":
		r.bad("DSOP_MASKINPORTEN_JWKS_URL", "required when DSOP_MASKINPORTEN_ISSUER is set")
	default:
		c.DevIssuerAddr = ""
		r.https("DSOP_MASKINPORTEN_JWKS_URL", c.MaskinportenJWKSURL)
	}
}

// registeredURL: the base URL (the token audience), the other audiences and the links' base.
func registeredURL(c *Config, r *rules) {
	if c.BaseURL == "" {
		if r.prod {
			r.bad("DSOP_BASE_URL", "required in production: the base URL registered in the API catalogue")
		}
		c.BaseURL = "http://" + c.Addr + "/v2"
	}
	r.https("DSOP_BASE_URL", c.BaseURL)
	for _, a := range c.Audiences {
		r.https("DSOP_AUDIENCES", a)
	}
	if r.raw["DSOP_LINK_PREFIX"] != "" {
		// Refused rather than read: it meant "the path before /accounts", which was the base path,
		// and such hrefs break the real consumer (kontrollinformasjon-api.md §7).
		r.bad("DSOP_LINK_PREFIX", "was replaced by DSOP_LINK_BASE: links are now relative to the registered base URL (/accounts/…) by default; remove it, or set DSOP_LINK_BASE if your gateway or consumer really needs a path before /accounts")
	}
	if c.LinkBase != "" && (!strings.HasPrefix(c.LinkBase, "/") || strings.ContainsAny(c.LinkBase, "?#")) {
		r.bad("DSOP_LINK_BASE", "must be empty or a path starting with /, e.g. /dsop/v2")
	}
}

// bankDataSource: production serves a copy, a database or the live core, never the demo bank.
func bankDataSource(c *Config, r *rules) {
	if r.prod && c.BankData == "" && c.DatabaseURL == "" && c.BankCore.URL == "" {
		r.bad("DSOP_BANK_DATA", "required in production without DSOP_DATABASE_URL or DSOP_BANK_CORE_URL: the embedded demo bank is for test only")
	}
}

// services reads DSOP_SERVICES and each enabled service's own keys, and checks that requests can
// be routed (dsopservice.NewRegistry).
func services(c *Config, r *rules) {
	var names []string
	for _, n := range SplitList(r.raw["DSOP_SERVICES"]) {
		names = append(names, strings.ToLower(n))
	}
	for _, n := range names {
		if !slices.ContainsFunc(dsopservice.All(), func(s dsopservice.Service) bool { return s.Name == n }) {
			r.bad("DSOP_SERVICES", "unknown DSOP service %q (known: konkursbehandling, oed)", n)
			return
		}
	}
	var enabled []dsopservice.Service
	for _, svc := range dsopservice.All() {
		if !slices.Contains(names, svc.Name) {
			continue
		}
		sc := serviceConfig(c, r, svc)
		c.Services = append(c.Services, sc)
		enabled = append(enabled, sc.Service)
		for _, id := range sc.Service.Consumers {
			if !slices.Contains(c.AllowedConsumers, id) {
				c.AllowedConsumers = append(c.AllowedConsumers, id)
			}
		}
	}
	if _, err := dsopservice.NewRegistry(enabled, names...); err != nil {
		r.bad("DSOP_SERVICES", "%v", err)
	}
}

// serviceConfig reads one service's keys DSOP_SERVICE_<NAME>_…; Konkursbehandling also takes the
// older global keys DSOP_ALLOWED_CONSUMERS and DSOP_FIELD_POLICY.
func serviceConfig(c *Config, r *rules, svc dsopservice.Service) ServiceConfig {
	k := serviceKey(svc.Name)
	first := svc.Name == dsopservice.Konkursbehandling().Name
	consumers := consumerList(r, k+"CONSUMERS")
	if len(consumers) == 0 && first {
		consumers = consumerList(r, "DSOP_ALLOWED_CONSUMERS")
	}
	if len(consumers) > 0 {
		svc.Consumers = consumers
	}
	sc := ServiceConfig{Service: svc, FieldPolicy: r.raw[k+"FIELD_POLICY"], RateLimit: -1}
	if sc.FieldPolicy == "" && first {
		sc.FieldPolicy = c.FieldPolicy
	}
	if v := r.raw[k+"RATE_LIMIT"]; v != "" {
		if err := number(&sc.RateLimit, atLeast(0.0), "must be a number of requests per second (0 = off)").set(v); err != nil {
			r.bad(k+"RATE_LIMIT", "%v", err)
		}
	}
	if v := r.raw[k+"RATE_BURST"]; v != "" {
		if err := integer(&sc.RateBurst, atLeast(1), "must be a positive number").set(v); err != nil {
			r.bad(k+"RATE_BURST", "%v", err)
		}
	}
	return sc
}

// consumerList reads a comma-separated list of consumer.ID values (0192:<organisation number>).
func consumerList(r *rules, env string) []string {
	ids := SplitList(r.raw[env])
	for _, id := range ids {
		org, ok := strings.CutPrefix(id, "0192:")
		if k, err := validation.ParsePartyID(org); !ok || err != nil || k != validation.Organisation {
			r.bad(env, "%q is not 0192:<organisation number>", id)
		}
	}
	return ids
}

// certPub: 200 answers are encrypted with the consumer's certificate, from a file or CertPub.
func certPub(c *Config, r *rules) {
	switch {
	case c.ConsumerCert != "" && c.CertPubURL != "":
		r.bad("DSOP_CONSUMER_CERT", "set either DSOP_CONSUMER_CERT or DSOP_CERTPUB_URL, not both")
	case r.prod && c.ConsumerCert == "" && c.CertPubURL == "":
		r.bad("DSOP_CERTPUB_URL", "required in production (or DSOP_CONSUMER_CERT): 200 answers are encrypted with the consumer's certificate")
	}
	if c.CertPubURL != "" {
		r.https("DSOP_CERTPUB_URL", c.CertPubURL)
	}
}

// konkursvarsel: BRREG's API, or the built-in mock in test; the enterprise certificate; where
// the first sync starts.
func konkursvarsel(c *Config, r *rules) {
	switch {
	case c.KonkursvarselURL != "":
		c.MockKonkursvarselAddr = ""
		r.https("DSOP_KONKURSVARSEL_URL", c.KonkursvarselURL)
	case r.prod:
		c.MockKonkursvarselAddr = ""
	default:
		if _, _, err := net.SplitHostPort(c.MockKonkursvarselAddr); err != nil {
			r.bad("DSOP_MOCK_KONKURSVARSEL_ADDR", "must be host:port: %v", err)
		}
		c.KonkursvarselURL = "http://" + c.MockKonkursvarselAddr
	}
	if (c.KonkursvarselCert == "") != (c.KonkursvarselKey == "") {
		r.bad("DSOP_KONKURSVARSEL_CERT", "DSOP_KONKURSVARSEL_CERT and DSOP_KONKURSVARSEL_KEY go together")
	}
	since := r.raw["DSOP_KONKURSVARSEL_SINCE"]
	if since == "" && !c.MockKonkursvarsel() {
		since = "72h"
	}
	var err error
	if c.KonkursvarselSince, err = parseSince(since, time.Now()); err != nil {
		r.bad("DSOP_KONKURSVARSEL_SINCE", "%v", err)
	}
}

// konkursvarselAuth checks how the poller authenticates to Konkursvarsel (konkursvarsel.md §3).
func konkursvarselAuth(c *Config, r *rules) {
	if c.KonkursvarselAuth != "maskinporten" {
		return
	}
	if !httpsURL(c.KonkursvarselMaskinporten, r.prod) {
		r.bad("DSOP_KONKURSVARSEL_MASKINPORTEN", "must be the Maskinporten issuer, an absolute https URL such as https://maskinporten.no/ (http allowed in test)")
	}
	if c.KonkursvarselClientID == "" {
		r.bad("DSOP_KONKURSVARSEL_CLIENT_ID", "is needed with DSOP_KONKURSVARSEL_AUTH=maskinporten")
	}
	if c.KonkursvarselScope == "" {
		r.bad("DSOP_KONKURSVARSEL_SCOPE", "is needed with DSOP_KONKURSVARSEL_AUTH=maskinporten")
	}
	if c.KonkursvarselCert == "" {
		r.bad("DSOP_KONKURSVARSEL_CERT", "DSOP_KONKURSVARSEL_AUTH=maskinporten signs its token grant with the enterprise certificate: set DSOP_KONKURSVARSEL_CERT and DSOP_KONKURSVARSEL_KEY")
	}
}

// listenerTLS: the server certificate and key go together; a client CA needs them.
func listenerTLS(c *Config, r *rules) {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		r.bad("DSOP_TLS_CERT", "DSOP_TLS_CERT and DSOP_TLS_KEY go together")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		r.bad("DSOP_TLS_CLIENT_CA", "needs DSOP_TLS_CERT and DSOP_TLS_KEY")
	}
}

// shutdown: the drain comes within the shutdown; a session's idle end within its whole life.
func shutdown(c *Config, r *rules) {
	if c.ShutdownTimeout > 0 && c.DrainDelay >= c.ShutdownTimeout {
		r.bad("DSOP_DRAIN_DELAY", "must be a duration from 0 to below DSOP_SHUTDOWN_TIMEOUT")
	}
	if c.ConsoleIdleTimeout > c.ConsoleSessionTimeout {
		r.bad("DSOP_CONSOLE_IDLE_TIMEOUT", "must not exceed DSOP_CONSOLE_SESSION_TIMEOUT")
	}
}

// bankCore checks the live connector's settings (openapi/bank-core.yaml).
func bankCore(c *Config, r *rules) {
	b := &c.BankCore
	if b.URL == "" {
		return
	}
	r.https("DSOP_BANK_CORE_URL", b.URL)
	if b.TokenURL != "" {
		r.https("DSOP_BANK_CORE_TOKEN_URL", b.TokenURL)
	}
	if (b.Cert == "") != (b.Key == "") {
		r.bad("DSOP_BANK_CORE_CERT", "DSOP_BANK_CORE_CERT and DSOP_BANK_CORE_KEY go together")
	}
	if b.TokenURL != "" && (b.ClientID == "" || b.ClientSecretFile == "") {
		r.bad("DSOP_BANK_CORE_TOKEN_URL", "needs DSOP_BANK_CORE_CLIENT_ID and DSOP_BANK_CORE_CLIENT_SECRET_FILE")
	}
}

// consoleListener: where browsers reach the console, and its role claim.
func consoleListener(c *Config, r *rules) {
	if c.ConsoleAddr == "" {
		return
	}
	switch {
	case c.ConsoleURL != "":
		r.https("DSOP_CONSOLE_URL", c.ConsoleURL)
	case r.prod:
		// Without it the console would run on http, its session cookie without Secure
		// (issue #26): production says so instead of starting that way.
		r.bad("DSOP_CONSOLE_URL", "required in production when DSOP_CONSOLE_ADDR is set: the https address browsers reach the console at (behind the bank's reverse proxy); the session cookie is Secure only on https")
	}
	if c.ConsoleRoleClaim == "" || c.ConsoleViewer == "" || c.ConsoleOfficer == "" || c.ConsoleViewer == c.ConsoleOfficer {
		r.bad("DSOP_CONSOLE_ROLE_CLAIM", "the role claim and two different role values (DSOP_CONSOLE_VIEWER_VALUE, DSOP_CONSOLE_OFFICER_VALUE) are required")
	}
}

// consoleSignOn: the bank's OpenID Connect provider, or the development issuer in test.
func consoleSignOn(c *Config, r *rules) {
	if c.ConsoleAddr == "" {
		return
	}
	switch {
	case c.ConsoleOIDCIssuer == "" && r.prod:
		// No console without the bank's sign-on: it shows who was disclosed to whom.
		r.bad("DSOP_CONSOLE_OIDC_ISSUER", "required in production when DSOP_CONSOLE_ADDR is set: the console signs users in only through the bank's OpenID Connect provider")
	case c.ConsoleOIDCIssuer == "" && !c.DevIssuer():
		r.bad("DSOP_CONSOLE_OIDC_ISSUER", "required when the development issuer is off (DSOP_MASKINPORTEN_ISSUER is set)")
	case c.ConsoleOIDCIssuer == "":
		if c.ConsoleOIDCClientID == "" {
			c.ConsoleOIDCClientID = "dsop-console"
		}
	default:
		r.https("DSOP_CONSOLE_OIDC_ISSUER", c.ConsoleOIDCIssuer)
		if c.ConsoleOIDCClientID == "" {
			r.bad("DSOP_CONSOLE_OIDC_CLIENT_ID", "required with DSOP_CONSOLE_OIDC_ISSUER")
		}
	}
}

// stateFiles: the state directory, and the files whose default is inside it.
func stateFiles(c *Config, r *rules) {
	if c.StateDir == "" {
		r.bad("DSOP_STATE_DIR", "must not be empty")
	}
	if c.SecretFile == "" {
		if r.prod {
			r.bad("DSOP_SECRET_FILE", "required in production, the same file on every replica: accountReference values and page cursors depend on it")
		}
		c.SecretFile = filepath.Join(c.StateDir, "secret.key")
	}
	if c.AuditDir == "" {
		c.AuditDir = filepath.Join(c.StateDir, "audit")
	}
}

// serviceKey is the environment key prefix of a service's settings: DSOP_SERVICE_OED_….
func serviceKey(name string) string { return "DSOP_SERVICE_" + strings.ToUpper(name) + "_" }
