// Package config reads dsop-bank's settings from flags and DSOP_* environment variables (a flag
// wins over its variable) and checks them all at once, so that a bad configuration stops start-up
// with every problem listed. It is also the one way any command's flag is bound to a variable
// (flags.go), so that every command honours the same DSOP_* names.
package config

import (
	"errors"
	"strings"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// Config is the validated configuration.
type Config struct {
	Addr                string
	Env                 string // test | production
	BankData            string // file; empty = embedded demo bank
	StateDir            string
	BaseURL             string   // the registered base URL; the token audience
	LinkBase            string   // path before /accounts/… in paging hrefs; "" = relative to the registered base URL
	Audiences           []string // aud values accepted; DSOP_BASE_URL alone by default
	MaskinportenIssuer  string
	MaskinportenJWKSURL string
	MaskinportenCA      string // PEM bundle trusted for the JWKS, besides the system roots
	TLSCert, TLSKey     string // TLS on our own listeners (API and admin); empty = plain HTTP
	TLSClientCA         string // with TLS: client certificates (the gateway's) must chain to it
	// AllowedConsumers are the consumer.ID values some enabled service accepts (the union of
	// Services' consumers): the token check and the CertPub prefetch use them.
	AllowedConsumers []string
	// Services are the enabled DSOP services (DSOP_SERVICES), each with its own settings.
	Services          []ServiceConfig
	KonkursvarselSeed string // notices file in the Konkursvarsel list format; "" = demo notices in test
	DevIssuerAddr     string // address of the development token issuer; "" in production
	TokenSkew         time.Duration
	PageSize          int
	ToDatePolicy      validation.ToDatePolicy
	AllowClosed       bool
	// TargetedExtraction: the bank copies only the data of bankrupt parties, so an opening for a
	// party without accounts here becomes an export action (docs/bank-data.md).
	TargetedExtraction bool
	FieldPolicy        string // JSON file with filter overrides
	Timezone           *time.Location
	SecretFile         string
	LogLevel           string
	DatabaseURL        string // PostgreSQL; empty = the embedded default (files in the state directory)
	AuditPoolSize      int    // connections of the audit log's own pool (PostgreSQL)
	// BankCore is the live connector to the bank's core (DSOP_BANK_CORE_URL): when set, the bank
	// data is read from it, not from a copy.
	BankCore       BankCoreConfig
	AuditDir       string        // audit log directory of the embedded default
	AuditRetention time.Duration // 0 = keep forever
	ConsumerCert   string        // PEM file with the consumer's encryption certificate
	CertPubURL     string        // CertPub locator base URL
	CertPubCA      string        // CA bundle consumer certificates must chain to
	CertPubTTL     time.Duration
	JWEEnc         string // A128CBC-HS256 or A256GCM
	// Konkursvarsel (module A).
	KonkursvarselURL          string // empty in test = the built-in mock on MockKonkursvarselAddr
	MockKonkursvarselAddr     string
	KonkursvarselPollInterval time.Duration
	KonkursvarselSince        time.Time // first sync starts here; zero = whole history
	KonkursvarselOverlap      time.Duration
	KonkursvarselCert         string
	KonkursvarselKey          string
	KonkursvarselCA           string
	// KonkursvarselAuth is "certificate" (mutual TLS with the enterprise certificate) or
	// "maskinporten" (a bearer token obtained with that certificate); konkursvarsel.md §3.
	KonkursvarselAuth                                string
	KonkursvarselMaskinporten, KonkursvarselClientID string
	KonkursvarselScope, KonkursvarselKeyID           string
	OnDemandSyncEvery                                time.Duration
	// Operations.
	AdminAddr string
	RateLimit float64 // requests per second per consumer; 0 = off
	RateBurst int
	// RateWait is how long a request over the rate or concurrency limit may wait for its turn.
	RateWait            time.Duration
	ConsumerConcurrency int // requests of one consumer served at once; 0 = unbounded
	RequestTimeout      time.Duration
	MaxHeaders          int
	MaxInFlight         int           // requests served at once; above, 503 ACC-100 (0 = no cap)
	AuditTimeout        time.Duration // least time an audit write gets, even past the request deadline
	// Admission of callers without a valid token, per client address (issue #25).
	ClientRate          float64
	ClientBurst         int
	ClientAddressHeader string
	AuditMinFree        uint64 // bytes; 0 = no check
	AnswerMemory        uint64 // bytes; 0 = no bound
	ConsoleReadTimeout  time.Duration
	ConsoleSearchLimit  int
	// Console sessions (issue #26).
	ConsoleIdleTimeout, ConsoleSessionTimeout, ConsoleRoleRecheck time.Duration
	ShutdownTimeout                                               time.Duration
	// DrainDelay is how long /readyz answers 503 before the listeners close on SIGTERM.
	DrainDelay time.Duration
	// KonkursvarselStaleAfter is when a missing successful sync is reported by /readyz (as a
	// warning) and counted.
	KonkursvarselStaleAfter time.Duration
	LeaderCheck             time.Duration // with PostgreSQL: how fast another replica takes over polling
	// The compliance console (internal/console).
	ConsoleAddr                   string // "" = off
	ConsoleURL                    string // where browsers reach it; "" = http://<its listen address>
	ConsoleOIDCIssuer             string // "" in test = the development issuer
	ConsoleOIDCClientID           string
	ConsoleOIDCClientSecret       string // file
	ConsoleRoleClaim              string
	ConsoleViewer, ConsoleOfficer string // claim values that grant each role
}

// BankCoreConfig is the live connector's settings (openapi/bank-core.yaml).
type BankCoreConfig struct {
	URL                                  string
	Timeout                              time.Duration
	Cert, Key, CA                        string
	TokenURL, ClientID, ClientSecretFile string
	Scopes                               []string
}

// ServiceConfig is one enabled DSOP service with the bank's settings for it, read from the keys
// DSOP_SERVICE_<NAME>_… (dsopservice.Service names the service; the settings only narrow it).
type ServiceConfig struct {
	Service     dsopservice.Service
	FieldPolicy string  // JSON file with filter overrides for this service's delivery tables
	RateLimit   float64 // requests per second per consumer of this service; -1 = the global DSOP_RATE_LIMIT
	RateBurst   int     // 0 = the global DSOP_RATE_BURST
}

// ConsoleDevIssuer reports whether the console signs users in through the development issuer.
func (c *Config) ConsoleDevIssuer() bool { return c.ConsoleAddr != "" && c.ConsoleOIDCIssuer == "" }

// Admission defaults in production (kontrollinformasjon-api.md §7.1: the real consumer asks for
// the details of every account of a debtor at once and drops an account whose request fails).
// 300 at once and 50 a second after that serve a debtor with 1 000 accounts within 15 s of
// waiting, inside the consumer's 30 s budget; 16 at a time keep the database pool for the rest.
const (
	DefaultRateLimit           = 50
	DefaultRateBurst           = 300
	DefaultRateWait            = 15 * time.Second
	DefaultConsumerConcurrency = 16
)

// MockKonkursvarsel reports whether the server starts the built-in Konkursvarsel mock.
func (c *Config) MockKonkursvarsel() bool { return c.MockKonkursvarselAddr != "" }

// DevConsumerCert reports whether test mode makes its own consumer certificate.
func (c *Config) DevConsumerCert() bool { return c.ConsumerCert == "" && c.CertPubURL == "" }

// DevIssuer reports whether the built-in development token issuer is used.
func (c *Config) DevIssuer() bool { return c.DevIssuerAddr != "" }

// Names lists every setting's environment variable.
func Names() []string {
	var out []string
	for _, s := range settings(&Config{}) {
		out = append(out, s.env)
	}
	return out
}

// build reads every setting into c, then applies the rules that relate several of them.
func build(c *Config, all []setting, raw map[string]string) (*Config, error) {
	r := &rules{raw: raw, prod: raw["DSOP_ENV"] == "production"}
	for _, s := range all {
		r.read(s)
	}
	for _, rule := range everyRule() {
		rule(c, r)
	}
	if len(r.problems) > 0 {
		return nil, errors.New("invalid configuration:\n  " + strings.Join(r.problems, "\n  "))
	}
	return c, nil
}
