// Package config reads dsop-bank's settings from flags and DSOP_* environment variables (a flag
// wins over its variable) and checks them all at once, so that a bad configuration stops start-up
// with every problem listed.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/audit"
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

// serviceKey is the environment key prefix of a service's settings: DSOP_SERVICE_OED_….
func serviceKey(name string) string { return "DSOP_SERVICE_" + strings.ToUpper(name) + "_" }

// bankCore reads and checks the live connector's settings.
func bankCore(c *Config, get func(string) string, bad func(env, format string, args ...any), prod bool) {
	b := &c.BankCore
	b.URL = strings.TrimRight(get("DSOP_BANK_CORE_URL"), "/")
	b.Cert, b.Key, b.CA = get("DSOP_BANK_CORE_CERT"), get("DSOP_BANK_CORE_KEY"), get("DSOP_BANK_CORE_CA")
	b.TokenURL, b.ClientID, b.ClientSecretFile = get("DSOP_BANK_CORE_TOKEN_URL"), get("DSOP_BANK_CORE_CLIENT_ID"), get("DSOP_BANK_CORE_CLIENT_SECRET_FILE")
	b.Scopes = splitList(get("DSOP_BANK_CORE_SCOPE"))
	var err error
	if b.Timeout, err = time.ParseDuration(get("DSOP_BANK_CORE_TIMEOUT")); err != nil || b.Timeout < 10*time.Millisecond {
		bad("DSOP_BANK_CORE_TIMEOUT", "must be a duration such as 5s")
	}
	if b.URL == "" {
		return
	}
	for env, v := range map[string]string{"DSOP_BANK_CORE_URL": b.URL, "DSOP_BANK_CORE_TOKEN_URL": b.TokenURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || u.Host == "" || (u.Scheme != "https" && (prod || u.Scheme != "http")) {
			bad(env, "must be an absolute https URL (http allowed in test)")
		}
	}
	if (b.Cert == "") != (b.Key == "") {
		bad("DSOP_BANK_CORE_CERT", "DSOP_BANK_CORE_CERT and DSOP_BANK_CORE_KEY go together")
	}
	if b.TokenURL != "" && (b.ClientID == "" || b.ClientSecretFile == "") {
		bad("DSOP_BANK_CORE_TOKEN_URL", "needs DSOP_BANK_CORE_CLIENT_ID and DSOP_BANK_CORE_CLIENT_SECRET_FILE")
	}
	for env, f := range map[string]string{"DSOP_BANK_CORE_CERT": b.Cert, "DSOP_BANK_CORE_KEY": b.Key, "DSOP_BANK_CORE_CA": b.CA, "DSOP_BANK_CORE_CLIENT_SECRET_FILE": b.ClientSecretFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			bad(env, "%v", err)
		}
	}
}

// splitList is a comma-separated setting's values, blanks left out.
func splitList(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
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

type setting struct {
	flag, env, def, help string
	val                  *string
}

// Settings lists every setting with its flag, variable, default and help, in the order of the manual's table (docs/operators.md).
func settings(raw map[string]*string) []setting {
	s := func(flag, env, def, help string) setting {
		v := new(string)
		raw[env] = v
		return setting{flag, env, def, help, v}
	}
	out := []setting{
		s("addr", "DSOP_ADDR", "127.0.0.1:8080", "listen address of the API"),
		s("env", "DSOP_ENV", "test", "test or production"),
		s("bank-data", "DSOP_BANK_DATA", "", "bank data file (JSON, see openapi/bank-data.yaml); empty = embedded demo bank (test only)"),
		s("state-dir", "DSOP_STATE_DIR", ".dsop-state", "directory for local state (secret, dev issuer key)"),
		s("base-url", "DSOP_BASE_URL", "", "the bank's registered base URL, also the token audience; default http://<addr>/v2 in test"),
		s("audiences", "DSOP_AUDIENCES", "", "comma-separated aud values accepted in access tokens, while the bank's URL moves (old and new side by side); default DSOP_BASE_URL alone"),
		s("link-base", "DSOP_LINK_BASE", "", "path put before /accounts/… in links[].href; empty = relative to the registered base URL, as the real consumer resolves them"),
		s("maskinporten-issuer", "DSOP_MASKINPORTEN_ISSUER", "", "exact iss of Maskinporten tokens; empty in test = built-in development issuer"),
		s("maskinporten-jwks-url", "DSOP_MASKINPORTEN_JWKS_URL", "", "Maskinporten JWKS URL; empty in test = built-in development issuer"),
		s("maskinporten-ca", "DSOP_MASKINPORTEN_CA", "", "PEM bundle of CAs to trust for the JWKS URL besides the system roots (a bank's TLS-inspecting proxy, a test issuer)"),
		s("services", "DSOP_SERVICES", "konkursbehandling", "comma-separated DSOP services this server answers (konkursbehandling, oed); each request is routed to one by its token's consumer and its Legal-Mandate"),
		s("allowed-consumers", "DSOP_ALLOWED_CONSUMERS", "", "Konkursbehandling's accepted consumer.ID values, comma-separated (the same as DSOP_SERVICE_KONKURSBEHANDLING_CONSUMERS, which wins); default the service's own (Brønnøysundregistrene)"),
		s("konkursvarsel-seed", "DSOP_KONKURSVARSEL_SEED", "", "notices file in the Konkursvarsel list format (_embedded.konkursvarsler[]); empty in test = demo notices"),
		s("dev-issuer-addr", "DSOP_DEV_ISSUER_ADDR", "127.0.0.1:8081", "listen address of the development token issuer (test only)"),
		s("token-skew", "DSOP_TOKEN_SKEW", "10s", "allowed clock skew for exp/iat/nbf"),
		s("page-size", "DSOP_PAGE_SIZE", "1000", "transactions per page (at least 1000)"),
		s("todate-policy", "DSOP_TODATE_POLICY", "not-future", "not-future (toDate <= today) or today (toDate must be today)"),
		s("allow-closed", "DSOP_ALLOW_CLOSED", "false", "also serve parties whose bankruptcy is closed (avslutning)"),
		s("targeted-extraction", "DSOP_TARGETED_EXTRACTION", "false", "the bank copies only bankrupt parties' data: an opening for a party without accounts here becomes an export action (actions list) for the bank to export that party as a change set"),
		s("field-policy", "DSOP_FIELD_POLICY", "", "JSON file {\"emit\":[...],\"omit\":[...]} switching configurable fields (endpoint:path)"),
		s("timezone", "DSOP_TIMEZONE", "Europe/Oslo", "time zone of 'today' and of date boundaries"),
		s("secret-file", "DSOP_SECRET_FILE", "", "file with the server secret (>= 32 bytes) for accountReference and page cursors; default <state-dir>/secret.key, created in test"),
		s("log-level", "DSOP_LOG_LEVEL", "info", "debug, info, warn or error"),
		s("database-url", "DSOP_DATABASE_URL", "", "PostgreSQL connection URL; empty = embedded default (state directory)"),
		s("bank-core-url", "DSOP_BANK_CORE_URL", "", "base URL of the bank's core API (openapi/bank-core.yaml): the bank data is read live from it instead of a copy (DSOP_BANK_DATA, dsop-bank import); https in production"),
		s("bank-core-timeout", "DSOP_BANK_CORE_TIMEOUT", "5s", "longest wait for one call to the bank's core; never beyond the request's own deadline (DSOP_REQUEST_TIMEOUT)"),
		s("bank-core-cert", "DSOP_BANK_CORE_CERT", "", "PEM client certificate for mutual TLS with the bank's core"),
		s("bank-core-key", "DSOP_BANK_CORE_KEY", "", "PEM private key of DSOP_BANK_CORE_CERT"),
		s("bank-core-ca", "DSOP_BANK_CORE_CA", "", "PEM bundle of CAs the core's certificate chains to, besides the system roots"),
		s("bank-core-token-url", "DSOP_BANK_CORE_TOKEN_URL", "", "OAuth2 token endpoint: when set, each call carries a client-credentials bearer token"),
		s("bank-core-client-id", "DSOP_BANK_CORE_CLIENT_ID", "", "OAuth2 client id at DSOP_BANK_CORE_TOKEN_URL"),
		s("bank-core-client-secret-file", "DSOP_BANK_CORE_CLIENT_SECRET_FILE", "", "file with the OAuth2 client secret"),
		s("bank-core-scope", "DSOP_BANK_CORE_SCOPE", "", "OAuth2 scopes to ask for, comma-separated"),
		s("audit-pool-size", "DSOP_AUDIT_POOL_SIZE", "4", "connections the audit log has to itself (PostgreSQL): an audit write never waits behind bank-data queries, so a refusal is recorded even when they are stuck"),
		s("audit-dir", "DSOP_AUDIT_DIR", "", "audit log directory when no database is configured; default <state-dir>/audit"),
		s("audit-retention", "DSOP_AUDIT_RETENTION", "0", "keep audit records this long (e.g. 3650d or 87600h); 0 = forever"),
		s("consumer-cert", "DSOP_CONSUMER_CERT", "", "PEM file with the consumer's encryption certificate; empty in test (and no CertPub) = development certificate in the state directory"),
		s("certpub-url", "DSOP_CERTPUB_URL", "", "CertPub locator (BCL) base URL, e.g. https://bcl.difi.blufo.net"),
		s("certpub-ca", "DSOP_CERTPUB_CA", "", "PEM bundle of CAs the consumer certificate must chain to (optional)"),
		s("certpub-ttl", "DSOP_CERTPUB_TTL", "24h", "how long a CertPub certificate is used before it is fetched again"),
		s("jwe-enc", "DSOP_JWE_ENC", "A128CBC-HS256", "JWE content encryption: A128CBC-HS256 or A256GCM"),
		s("konkursvarsel-url", "DSOP_KONKURSVARSEL_URL", "", "Konkursvarsel API base URL, e.g. https://konkursvarsel.vcert.brreg.no; empty in test = built-in mock; empty in production = no polling"),
		s("mock-konkursvarsel-addr", "DSOP_MOCK_KONKURSVARSEL_ADDR", "127.0.0.1:8082", "listen address of the built-in Konkursvarsel mock (test, when DSOP_KONKURSVARSEL_URL is empty)"),
		s("konkursvarsel-poll-interval", "DSOP_KONKURSVARSEL_POLL_INTERVAL", "5m", "how often to poll Konkursvarsel"),
		s("konkursvarsel-overlap", "DSOP_KONKURSVARSEL_OVERLAP", "24h", "how far before its cursor each poll asks again, so that a notice published late is still applied (once: notices are stored by uuid)"),
		s("konkursvarsel-since", "DSOP_KONKURSVARSEL_SINCE", "", "where the first sync starts: a duration back (72h), a date or RFC 3339 time, or 'all'; default 72h (all with the built-in mock)"),
		s("konkursvarsel-cert", "DSOP_KONKURSVARSEL_CERT", "", "PEM enterprise certificate for mutual TLS with Konkursvarsel"),
		s("konkursvarsel-key", "DSOP_KONKURSVARSEL_KEY", "", "PEM private key of DSOP_KONKURSVARSEL_CERT"),
		s("konkursvarsel-ca", "DSOP_KONKURSVARSEL_CA", "", "PEM CA bundle to trust for Konkursvarsel (default: the system roots)"),
		s("konkursvarsel-auth", "DSOP_KONKURSVARSEL_AUTH", "certificate", "how dsop-bank authenticates to Konkursvarsel: certificate (mutual TLS with DSOP_KONKURSVARSEL_CERT) or maskinporten (a bearer token obtained with that certificate)"),
		s("konkursvarsel-maskinporten", "DSOP_KONKURSVARSEL_MASKINPORTEN", "", "Maskinporten issuer for DSOP_KONKURSVARSEL_AUTH=maskinporten, e.g. https://test.maskinporten.no/ (the token endpoint is <issuer>token)"),
		s("konkursvarsel-client-id", "DSOP_KONKURSVARSEL_CLIENT_ID", "", "the bank's Maskinporten client id (DSOP_KONKURSVARSEL_AUTH=maskinporten)"),
		s("konkursvarsel-scope", "DSOP_KONKURSVARSEL_SCOPE", "", "the Maskinporten scope BRREG grants for Konkursvarsel (DSOP_KONKURSVARSEL_AUTH=maskinporten)"),
		s("konkursvarsel-key-id", "DSOP_KONKURSVARSEL_KEY_ID", "", "kid of a key registered with the Maskinporten client, sent instead of the certificate chain (x5c); optional"),
		s("tls-cert", "DSOP_TLS_CERT", "", "PEM server certificate (chain) for TLS on the API, admin and console listeners; reloaded when the file changes; empty = plain HTTP behind the gateway"),
		s("tls-key", "DSOP_TLS_KEY", "", "PEM private key of DSOP_TLS_CERT"),
		s("tls-client-ca", "DSOP_TLS_CLIENT_CA", "", "PEM CA bundle: with TLS, the API listener requires a client certificate chaining to it (mutual TLS from the gateway)"),
		s("admin-addr", "DSOP_ADMIN_ADDR", "127.0.0.1:9090", "listen address of /livez, /readyz and /metrics; empty = off"),
		s("rate-limit", "DSOP_RATE_LIMIT", "", "sustained requests per second per consumer (token bucket); 0 = off; default 50 in production, off in test"),
		s("rate-burst", "DSOP_RATE_BURST", strconv.Itoa(DefaultRateBurst), "requests a consumer may send at once before the rate applies"),
		s("rate-wait", "DSOP_RATE_WAIT", DefaultRateWait.String(), "how long a request over the rate or the concurrency limit may wait for its turn before 429 (keep it below the consumer's 30 s budget)"),
		s("consumer-concurrency", "DSOP_CONSUMER_CONCURRENCY", strconv.Itoa(DefaultConsumerConcurrency), "requests of one consumer served at the same time; more wait up to DSOP_RATE_WAIT; 0 = unbounded"),
		s("request-timeout", "DSOP_REQUEST_TIMEOUT", "60s", "deadline of one request; store queries are cancelled when it passes"),
		s("max-headers", "DSOP_MAX_HEADERS", "100", "most header lines a request may have"),
		s("max-in-flight", "DSOP_MAX_IN_FLIGHT", "256", "requests served at once; more are shed with 503 ACC-100 and Retry-After (0 = no cap)"),
		s("client-rate", "DSOP_CLIENT_RATE", "20", "refused requests a second one client address may send (no valid token, wrong path or method) before its requests are refused with 429 before the token is read; 0 = off"),
		s("client-burst", "DSOP_CLIENT_BURST", "100", "refused requests one client address may send at once before DSOP_CLIENT_RATE applies"),
		s("client-address-header", "DSOP_CLIENT_ADDRESS_HEADER", "", "header in which the gateway passes the caller's address (its last value is used, e.g. X-Forwarded-For); empty = the connection's address"),
		s("answer-memory", "DSOP_ANSWER_MEMORY", "256MiB", "memory that answers may hold while they are written to their callers (e.g. 256MiB); beyond it a new answer gets 503 ACC-100 and Retry-After (0 = no bound)"),
		s("audit-min-free", "DSOP_AUDIT_MIN_FREE", "512MiB", "file store: below this much free space on the audit volume, new requests get 503 and /readyz fails (e.g. 512MiB, 2GiB; 0 = off)"),
		s("audit-timeout", "DSOP_AUDIT_TIMEOUT", "5s", "the least time an audit write is given, even past the request deadline; beyond it the answer is withheld (503 ACC-100, Retry-After: 1)"),
		s("leader-check", "DSOP_LEADER_CHECK", "5s", "with PostgreSQL: how often a replica tries to become the Konkursvarsel poller, and the poller checks its lease"),
		s("shutdown-timeout", "DSOP_SHUTDOWN_TIMEOUT", "30s", "on SIGTERM, the most the shutdown may take, whatever the dependencies do"),
		s("drain-delay", "DSOP_DRAIN_DELAY", "", "on SIGTERM, how long /readyz answers 503 before the listeners close, so that the load balancer stops routing first; default 5s in production, 0 in test"),
		s("konkursvarsel-stale-after", "DSOP_KONKURSVARSEL_STALE_AFTER", "2h", "after this long without a successful Konkursvarsel sync, /readyz reports it (as a warning: it does not make the server unready)"),
		s("konkursvarsel-on-demand-every", "DSOP_KONKURSVARSEL_ON_DEMAND_EVERY", "30s", "at most one on-demand sync (for a party with no notice) per this interval"),
		s("console-addr", "DSOP_CONSOLE_ADDR", "", "listen address of the compliance console (web pages for compliance officers); empty = off; port 0 = a free port"),
		s("console-url", "DSOP_CONSOLE_URL", "", "the console's address as browsers reach it (the OpenID Connect redirect is <url>/callback); default http://<console listen address>"),
		s("console-oidc-issuer", "DSOP_CONSOLE_OIDC_ISSUER", "", "OpenID Connect issuer of the bank's single sign-on, e.g. https://login.microsoftonline.com/<tenant>/v2.0; empty in test = the development issuer; required in production"),
		s("console-oidc-client-id", "DSOP_CONSOLE_OIDC_CLIENT_ID", "", "the console's client ID at the identity provider; default dsop-console with the development issuer"),
		s("console-oidc-client-secret-file", "DSOP_CONSOLE_OIDC_CLIENT_SECRET_FILE", "", "file with the console's client secret (empty = a public client, PKCE only)"),
		s("console-role-claim", "DSOP_CONSOLE_ROLE_CLAIM", "roles", "ID token claim with the user's roles or groups (a string or an array)"),
		s("console-viewer-value", "DSOP_CONSOLE_VIEWER_VALUE", "dsop.viewer", "value of the role claim that grants the viewer role (read)"),
		s("console-officer-value", "DSOP_CONSOLE_OFFICER_VALUE", "dsop.officer", "value of the role claim that grants the officer role (also reveal, acknowledge, verify)"),
		s("console-read-timeout", "DSOP_CONSOLE_READ_TIMEOUT", "10s", "the most a console page may spend reading the audit log; past it the page says so (503)"),
		s("console-idle-timeout", "DSOP_CONSOLE_IDLE_TIMEOUT", "30m", "a console session unused this long ends"),
		s("console-session-timeout", "DSOP_CONSOLE_SESSION_TIMEOUT", "8h", "a console session ends this long after sign-in, whatever its use"),
		s("console-role-recheck", "DSOP_CONSOLE_ROLE_RECHECK", "10m", "how often a session's role is re-read from the identity provider (with its refresh token); a role removed there ends the session"),
		s("console-search-limit", "DSOP_CONSOLE_SEARCH_LIMIT", "20", "searches by party number one console user may make an hour; more are refused, and the searches are flagged as an anomaly"),
	}
	// Each service's own settings: keys of that service, not globals (issue #30).
	for _, svc := range dsopservice.All() {
		k, f := serviceKey(svc.Name), "service-"+svc.Name+"-"
		out = append(out,
			s(f+"consumers", k+"CONSUMERS", "", "consumer.ID values accepted for "+svc.Title+", comma-separated; default "+strings.Join(svc.Consumers, ",")),
			s(f+"field-policy", k+"FIELD_POLICY", "", "JSON file {\"emit\":[...],\"omit\":[...]} switching configurable fields of "+svc.Title+"'s delivery tables"),
			s(f+"rate-limit", k+"RATE_LIMIT", "", "sustained requests per second per consumer of "+svc.Title+"; default DSOP_RATE_LIMIT"),
			s(f+"rate-burst", k+"RATE_BURST", "", "requests a consumer of "+svc.Title+" may send at once; default DSOP_RATE_BURST"),
		)
	}
	return out
}

// Names lists every setting's environment variable.
func Names() []string {
	var out []string
	for _, s := range settings(map[string]*string{}) {
		out = append(out, s.env)
	}
	return out
}

// Usage writes the settings table.
func Usage(w io.Writer) {
	for _, s := range settings(map[string]*string{}) {
		fmt.Fprintf(w, "  --%-24s %-28s %s (default %q)\n", s.flag, s.env, s.help, s.def)
	}
}

// Load reads flags from args and variables through getenv.
func Load(name string, args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	raw := map[string]*string{}
	all := settings(raw)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// --help prints the whole settings table; a mistake gets one line saying where it is.
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: dsop-bank %s [flags]; `dsop-bank %s --help` lists the flags (each also a DSOP_* variable)\n", name, name)
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprintf(stderr, "usage: dsop-bank %s [flags]\n", name)
			Usage(stderr)
			return nil, flag.ErrHelp
		}
	}
	for _, s := range all {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		fs.StringVar(s.val, s.flag, def, s.help)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v; `dsop-bank %s --help` lists the flags", fs.Args(), name)
	}
	// Settings that were retired are read only to say what replaced them.
	for _, env := range []string{"DSOP_LINK_PREFIX"} {
		v := getenv(env)
		raw[env] = &v
	}
	return build(raw)
}

// consumerList reads a comma-separated list of consumer.ID values.
func consumerList(env, v string, bad func(env, format string, args ...any)) []string {
	var out []string
	for _, id := range strings.Split(v, ",") {
		if id = strings.TrimSpace(id); id != "" {
			org, ok := strings.CutPrefix(id, "0192:")
			if k, err := validation.ParsePartyID(org); !ok || err != nil || k != validation.Organisation {
				bad(env, "%q is not 0192:<organisation number>", id)
			}
			out = append(out, id)
		}
	}
	return out
}

// services reads DSOP_SERVICES and each enabled service's own keys, and checks that requests can
// be routed (dsopservice.NewRegistry).
func services(c *Config, get func(string) string, bad func(env, format string, args ...any)) {
	var names []string
	for _, n := range strings.Split(get("DSOP_SERVICES"), ",") {
		if n = strings.TrimSpace(strings.ToLower(n)); n != "" {
			names = append(names, n)
		}
	}
	var enabled []dsopservice.Service
	for _, svc := range dsopservice.All() {
		if !slices.Contains(names, svc.Name) {
			continue
		}
		k := serviceKey(svc.Name)
		consumers := consumerList(k+"CONSUMERS", get(k+"CONSUMERS"), bad)
		if len(consumers) == 0 && svc.Name == dsopservice.Konkursbehandling().Name {
			consumers = consumerList("DSOP_ALLOWED_CONSUMERS", get("DSOP_ALLOWED_CONSUMERS"), bad)
		}
		if len(consumers) > 0 {
			svc.Consumers = consumers
		}
		sc := ServiceConfig{Service: svc, FieldPolicy: get(k + "FIELD_POLICY"), RateLimit: -1}
		if sc.FieldPolicy == "" && svc.Name == dsopservice.Konkursbehandling().Name {
			sc.FieldPolicy = get("DSOP_FIELD_POLICY")
		}
		if v := get(k + "RATE_LIMIT"); v != "" {
			if r, err := strconv.ParseFloat(v, 64); err != nil || r < 0 {
				bad(k+"RATE_LIMIT", "must be a number of requests per second (0 = off)")
			} else {
				sc.RateLimit = r
			}
		}
		if v := get(k + "RATE_BURST"); v != "" {
			if b, err := strconv.Atoi(v); err != nil || b < 1 {
				bad(k+"RATE_BURST", "must be a positive number")
			} else {
				sc.RateBurst = b
			}
		}
		c.Services = append(c.Services, sc)
		enabled = append(enabled, svc)
		for _, id := range svc.Consumers {
			if !slices.Contains(c.AllowedConsumers, id) {
				c.AllowedConsumers = append(c.AllowedConsumers, id)
			}
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(dsopservice.All(), func(s dsopservice.Service) bool { return s.Name == n }) {
			bad("DSOP_SERVICES", "unknown DSOP service %q (known: konkursbehandling, oed)", n)
			return
		}
	}
	if _, err := dsopservice.NewRegistry(enabled, names...); err != nil {
		bad("DSOP_SERVICES", "%v", err)
	}
}

// konkursvarselAuth reads and checks how the poller authenticates to Konkursvarsel.
func konkursvarselAuth(c *Config, get func(string) string, bad func(env, format string, args ...any), prod bool) {
	c.KonkursvarselAuth = get("DSOP_KONKURSVARSEL_AUTH")
	c.KonkursvarselMaskinporten, c.KonkursvarselClientID = get("DSOP_KONKURSVARSEL_MASKINPORTEN"), get("DSOP_KONKURSVARSEL_CLIENT_ID")
	c.KonkursvarselScope, c.KonkursvarselKeyID = get("DSOP_KONKURSVARSEL_SCOPE"), get("DSOP_KONKURSVARSEL_KEY_ID")
	switch c.KonkursvarselAuth {
	case "certificate":
	case "maskinporten":
		if u, err := url.Parse(c.KonkursvarselMaskinporten); err != nil || u.Host == "" || (u.Scheme != "https" && (prod || u.Scheme != "http")) {
			bad("DSOP_KONKURSVARSEL_MASKINPORTEN", "must be the Maskinporten issuer, an absolute https URL such as https://maskinporten.no/ (http allowed in test)")
		}
		if c.KonkursvarselClientID == "" {
			bad("DSOP_KONKURSVARSEL_CLIENT_ID", "is needed with DSOP_KONKURSVARSEL_AUTH=maskinporten")
		}
		if c.KonkursvarselScope == "" {
			bad("DSOP_KONKURSVARSEL_SCOPE", "is needed with DSOP_KONKURSVARSEL_AUTH=maskinporten")
		}
		if c.KonkursvarselCert == "" {
			bad("DSOP_KONKURSVARSEL_CERT", "DSOP_KONKURSVARSEL_AUTH=maskinporten signs its token grant with the enterprise certificate: set DSOP_KONKURSVARSEL_CERT and DSOP_KONKURSVARSEL_KEY")
		}
	default:
		bad("DSOP_KONKURSVARSEL_AUTH", "must be certificate or maskinporten")
	}
}

func build(raw map[string]*string) (*Config, error) {
	get := func(k string) string { return strings.TrimSpace(*raw[k]) }
	var problems []string
	bad := func(env, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	c := &Config{
		Addr: get("DSOP_ADDR"), Env: get("DSOP_ENV"), BankData: get("DSOP_BANK_DATA"), StateDir: get("DSOP_STATE_DIR"),
		BaseURL:            strings.TrimRight(get("DSOP_BASE_URL"), "/"),
		MaskinportenIssuer: get("DSOP_MASKINPORTEN_ISSUER"), MaskinportenJWKSURL: get("DSOP_MASKINPORTEN_JWKS_URL"), MaskinportenCA: get("DSOP_MASKINPORTEN_CA"),
		KonkursvarselSeed: get("DSOP_KONKURSVARSEL_SEED"), DevIssuerAddr: get("DSOP_DEV_ISSUER_ADDR"),
		FieldPolicy: get("DSOP_FIELD_POLICY"), SecretFile: get("DSOP_SECRET_FILE"), LogLevel: get("DSOP_LOG_LEVEL"),
		DatabaseURL: get("DSOP_DATABASE_URL"), AuditDir: get("DSOP_AUDIT_DIR"),
		ConsumerCert: get("DSOP_CONSUMER_CERT"), CertPubURL: strings.TrimRight(get("DSOP_CERTPUB_URL"), "/"),
		CertPubCA: get("DSOP_CERTPUB_CA"), JWEEnc: get("DSOP_JWE_ENC"),
		TLSCert: get("DSOP_TLS_CERT"), TLSKey: get("DSOP_TLS_KEY"), TLSClientCA: get("DSOP_TLS_CLIENT_CA"),
		KonkursvarselURL: strings.TrimRight(get("DSOP_KONKURSVARSEL_URL"), "/"), MockKonkursvarselAddr: get("DSOP_MOCK_KONKURSVARSEL_ADDR"),
		KonkursvarselCert: get("DSOP_KONKURSVARSEL_CERT"), KonkursvarselKey: get("DSOP_KONKURSVARSEL_KEY"), KonkursvarselCA: get("DSOP_KONKURSVARSEL_CA"),
		ToDatePolicy: validation.ToDatePolicy(get("DSOP_TODATE_POLICY")),
	}
	if c.Env != "test" && c.Env != "production" {
		bad("DSOP_ENV", "must be test or production, got %q", c.Env)
	}
	prod := c.Env == "production"
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("DSOP_ADDR", "must be host:port: %v", err)
	}
	services(c, get, bad)
	// Maskinporten: both or neither; neither means the development issuer, which production refuses.
	switch {
	case c.MaskinportenIssuer == "" && c.MaskinportenJWKSURL == "":
		if prod {
			bad("DSOP_MASKINPORTEN_ISSUER", "required in production (and DSOP_MASKINPORTEN_JWKS_URL)")
		} else if _, _, err := net.SplitHostPort(c.DevIssuerAddr); err != nil {
			bad("DSOP_DEV_ISSUER_ADDR", "must be host:port: %v", err)
		} else {
			c.MaskinportenIssuer = "http://" + c.DevIssuerAddr + "/"
			c.MaskinportenJWKSURL = "http://" + c.DevIssuerAddr + "/jwks.json"
		}
	case c.MaskinportenIssuer == "":
		bad("DSOP_MASKINPORTEN_ISSUER", "required when DSOP_MASKINPORTEN_JWKS_URL is set")
	case c.MaskinportenJWKSURL == "":
		bad("DSOP_MASKINPORTEN_JWKS_URL", "required when DSOP_MASKINPORTEN_ISSUER is set")
	default:
		c.DevIssuerAddr = ""
		if u, err := url.Parse(c.MaskinportenJWKSURL); err != nil || (u.Scheme != "https" && (prod || u.Scheme != "http")) || u.Host == "" {
			bad("DSOP_MASKINPORTEN_JWKS_URL", "must be an absolute https URL (http allowed in test)")
		}
	}
	if c.BaseURL == "" {
		if prod {
			bad("DSOP_BASE_URL", "required in production: the base URL registered in the API catalogue")
		}
		c.BaseURL = "http://" + c.Addr + "/v2"
	}
	if u, err := url.Parse(c.BaseURL); err != nil || u.Host == "" || (u.Scheme != "https" && (prod || u.Scheme != "http")) {
		bad("DSOP_BASE_URL", "must be an absolute https URL (http allowed in test), got %q", c.BaseURL)
	}
	if get("DSOP_LINK_PREFIX") != "" {
		// Refused rather than read: it meant "the path before /accounts", which was the base path,
		// and such hrefs break the real consumer (kontrollinformasjon-api.md §7).
		bad("DSOP_LINK_PREFIX", "was replaced by DSOP_LINK_BASE: links are now relative to the registered base URL (/accounts/…) by default; remove it, or set DSOP_LINK_BASE if your gateway or consumer really needs a path before /accounts")
	}
	c.LinkBase = strings.TrimRight(get("DSOP_LINK_BASE"), "/")
	if c.LinkBase != "" && (!strings.HasPrefix(c.LinkBase, "/") || strings.ContainsAny(c.LinkBase, "?#")) {
		bad("DSOP_LINK_BASE", "must be empty or a path starting with /, e.g. /dsop/v2")
	}
	if prod && c.BankData == "" && get("DSOP_DATABASE_URL") == "" && get("DSOP_BANK_CORE_URL") == "" {
		bad("DSOP_BANK_DATA", "required in production without DSOP_DATABASE_URL or DSOP_BANK_CORE_URL: the embedded demo bank is for test only")
	}
	var err error
	if c.TokenSkew, err = time.ParseDuration(get("DSOP_TOKEN_SKEW")); err != nil || c.TokenSkew < 0 || c.TokenSkew > 5*time.Minute {
		bad("DSOP_TOKEN_SKEW", "must be a duration between 0 and 5m")
	}
	if c.PageSize, err = strconv.Atoi(get("DSOP_PAGE_SIZE")); err != nil || c.PageSize < 1000 || c.PageSize > 10000 {
		bad("DSOP_PAGE_SIZE", "must be a number from 1000 to 10000 (the standard asks for at least 1000)")
	}
	if c.ToDatePolicy != validation.ToDateNotInFuture && c.ToDatePolicy != validation.ToDateToday {
		bad("DSOP_TODATE_POLICY", "must be not-future or today")
	}
	if c.TargetedExtraction, err = strconv.ParseBool(get("DSOP_TARGETED_EXTRACTION")); err != nil {
		bad("DSOP_TARGETED_EXTRACTION", "must be true or false")
	}
	if c.AllowClosed, err = strconv.ParseBool(get("DSOP_ALLOW_CLOSED")); err != nil {
		bad("DSOP_ALLOW_CLOSED", "must be true or false")
	}
	if c.Timezone, err = time.LoadLocation(get("DSOP_TIMEZONE")); err != nil {
		bad("DSOP_TIMEZONE", "unknown time zone: %v", err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("DSOP_LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.AuditRetention, err = parseRetention(get("DSOP_AUDIT_RETENTION")); err != nil {
		bad("DSOP_AUDIT_RETENTION", "%v", err)
	} else if c.AuditRetention != 0 && c.AuditRetention < audit.MinRetention {
		bad("DSOP_AUDIT_RETENTION", "must be 0 (forever) or at least %s (%d days): the floor keeps every case verifiable for Bits' error handling", audit.MinRetention, int(audit.MinRetention.Hours()/24))
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("DSOP_DATABASE_URL", "must be a postgres:// URL")
		}
	}
	switch {
	case c.ConsumerCert != "" && c.CertPubURL != "":
		bad("DSOP_CONSUMER_CERT", "set either DSOP_CONSUMER_CERT or DSOP_CERTPUB_URL, not both")
	case prod && c.ConsumerCert == "" && c.CertPubURL == "":
		bad("DSOP_CERTPUB_URL", "required in production (or DSOP_CONSUMER_CERT): 200 answers are encrypted with the consumer's certificate")
	}
	if c.CertPubURL != "" {
		if u, err := url.Parse(c.CertPubURL); err != nil || u.Host == "" || (u.Scheme != "https" && (prod || u.Scheme != "http")) {
			bad("DSOP_CERTPUB_URL", "must be an absolute https URL (http allowed in test)")
		}
	}
	if c.CertPubTTL, err = time.ParseDuration(get("DSOP_CERTPUB_TTL")); err != nil || c.CertPubTTL < time.Minute {
		bad("DSOP_CERTPUB_TTL", "must be a duration of at least 1m")
	}
	if c.JWEEnc != "A128CBC-HS256" && c.JWEEnc != "A256GCM" {
		bad("DSOP_JWE_ENC", "must be A128CBC-HS256 or A256GCM")
	}
	switch {
	case c.KonkursvarselURL != "":
		c.MockKonkursvarselAddr = ""
		if u, err := url.Parse(c.KonkursvarselURL); err != nil || u.Host == "" || (u.Scheme != "https" && (prod || u.Scheme != "http")) {
			bad("DSOP_KONKURSVARSEL_URL", "must be an absolute https URL (http allowed in test)")
		}
	case prod:
		c.MockKonkursvarselAddr = ""
	default:
		if _, _, err := net.SplitHostPort(c.MockKonkursvarselAddr); err != nil {
			bad("DSOP_MOCK_KONKURSVARSEL_ADDR", "must be host:port: %v", err)
		}
		c.KonkursvarselURL = "http://" + c.MockKonkursvarselAddr
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("DSOP_TLS_CERT", "DSOP_TLS_CERT and DSOP_TLS_KEY go together")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		bad("DSOP_TLS_CLIENT_CA", "needs DSOP_TLS_CERT and DSOP_TLS_KEY")
	}
	if (c.KonkursvarselCert == "") != (c.KonkursvarselKey == "") {
		bad("DSOP_KONKURSVARSEL_CERT", "DSOP_KONKURSVARSEL_CERT and DSOP_KONKURSVARSEL_KEY go together")
	}
	konkursvarselAuth(c, get, bad, prod)
	if c.KonkursvarselPollInterval, err = time.ParseDuration(get("DSOP_KONKURSVARSEL_POLL_INTERVAL")); err != nil || c.KonkursvarselPollInterval < 100*time.Millisecond {
		bad("DSOP_KONKURSVARSEL_POLL_INTERVAL", "must be a duration such as 5m")
	}
	if c.OnDemandSyncEvery, err = time.ParseDuration(get("DSOP_KONKURSVARSEL_ON_DEMAND_EVERY")); err != nil || c.OnDemandSyncEvery < 0 {
		bad("DSOP_KONKURSVARSEL_ON_DEMAND_EVERY", "must be a duration such as 30s")
	}
	c.AdminAddr = get("DSOP_ADMIN_ADDR")
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			bad("DSOP_ADMIN_ADDR", "must be host:port: %v", err)
		}
	}
	rate := get("DSOP_RATE_LIMIT")
	if rate == "" {
		// Test environments replay cases at will; production protects itself (20,000 requests a
		// year is the whole service's volume, konkursbehandling-rules.md §8) but admits the real
		// consumer's fan-out (DefaultRateLimit).
		rate = map[bool]string{true: strconv.Itoa(DefaultRateLimit), false: "0"}[prod]
	}
	if c.RateLimit, err = strconv.ParseFloat(rate, 64); err != nil || c.RateLimit < 0 {
		bad("DSOP_RATE_LIMIT", "must be a number of requests per second (0 = off)")
	}
	if c.RateBurst, err = strconv.Atoi(get("DSOP_RATE_BURST")); err != nil || c.RateBurst < 1 {
		bad("DSOP_RATE_BURST", "must be a positive number")
	}
	if c.RateWait, err = time.ParseDuration(get("DSOP_RATE_WAIT")); err != nil || c.RateWait < 0 || c.RateWait >= 30*time.Second {
		bad("DSOP_RATE_WAIT", "must be a duration from 0 to below 30s (the consumer gives up after 30 s)")
	}
	if c.ConsumerConcurrency, err = strconv.Atoi(get("DSOP_CONSUMER_CONCURRENCY")); err != nil || c.ConsumerConcurrency < 0 {
		bad("DSOP_CONSUMER_CONCURRENCY", "must be a number (0 = unbounded)")
	}
	if c.RequestTimeout, err = time.ParseDuration(get("DSOP_REQUEST_TIMEOUT")); err != nil || c.RequestTimeout <= 0 {
		bad("DSOP_REQUEST_TIMEOUT", "must be a positive duration")
	}
	if c.MaxHeaders, err = strconv.Atoi(get("DSOP_MAX_HEADERS")); err != nil || c.MaxHeaders < 20 {
		bad("DSOP_MAX_HEADERS", "must be a number of at least 20")
	}
	if c.MaxInFlight, err = strconv.Atoi(get("DSOP_MAX_IN_FLIGHT")); err != nil || c.MaxInFlight < 0 {
		bad("DSOP_MAX_IN_FLIGHT", "must be a number (0 = no cap)")
	}
	if c.ClientRate, err = strconv.ParseFloat(get("DSOP_CLIENT_RATE"), 64); err != nil || c.ClientRate < 0 {
		bad("DSOP_CLIENT_RATE", "must be a number of refused requests per second (0 = off)")
	}
	if c.ClientBurst, err = strconv.Atoi(get("DSOP_CLIENT_BURST")); err != nil || c.ClientBurst < 1 {
		bad("DSOP_CLIENT_BURST", "must be a positive number")
	}
	c.ClientAddressHeader = get("DSOP_CLIENT_ADDRESS_HEADER")
	for _, a := range strings.Split(get("DSOP_AUDIENCES"), ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if u, err := url.Parse(a); err != nil || u.Host == "" || (u.Scheme != "https" && (prod || u.Scheme != "http")) {
			bad("DSOP_AUDIENCES", "each value must be an absolute https URL (http allowed in test), got %q", a)
		}
		c.Audiences = append(c.Audiences, a)
	}
	if c.AuditMinFree, err = ParseSize(get("DSOP_AUDIT_MIN_FREE")); err != nil {
		bad("DSOP_AUDIT_MIN_FREE", "%v", err)
	}
	if c.AnswerMemory, err = ParseSize(get("DSOP_ANSWER_MEMORY")); err != nil {
		bad("DSOP_ANSWER_MEMORY", "%v", err)
	} else if c.AnswerMemory != 0 && c.AnswerMemory < 16<<20 {
		bad("DSOP_ANSWER_MEMORY", "must be 0 (no bound) or at least 16MiB: a 1 000-transaction page with its JWE takes about 1 MB")
	}
	if c.ConsoleReadTimeout, err = time.ParseDuration(get("DSOP_CONSOLE_READ_TIMEOUT")); err != nil || c.ConsoleReadTimeout <= 0 {
		bad("DSOP_CONSOLE_READ_TIMEOUT", "must be a positive duration such as 10s")
	}
	bankCore(c, get, bad, prod)
	if c.AuditPoolSize, err = strconv.Atoi(get("DSOP_AUDIT_POOL_SIZE")); err != nil || c.AuditPoolSize < 1 || c.AuditPoolSize > 100 {
		bad("DSOP_AUDIT_POOL_SIZE", "must be a number of connections from 1 to 100")
	}
	if c.ConsoleSearchLimit, err = strconv.Atoi(get("DSOP_CONSOLE_SEARCH_LIMIT")); err != nil || c.ConsoleSearchLimit < 1 {
		bad("DSOP_CONSOLE_SEARCH_LIMIT", "must be a positive number")
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{"DSOP_CONSOLE_IDLE_TIMEOUT", &c.ConsoleIdleTimeout}, {"DSOP_CONSOLE_SESSION_TIMEOUT", &c.ConsoleSessionTimeout}, {"DSOP_CONSOLE_ROLE_RECHECK", &c.ConsoleRoleRecheck}} {
		if *d.to, err = time.ParseDuration(get(d.env)); err != nil || *d.to < time.Second {
			bad(d.env, "must be a duration such as 30m")
		}
	}
	if c.ConsoleIdleTimeout > c.ConsoleSessionTimeout {
		bad("DSOP_CONSOLE_IDLE_TIMEOUT", "must not exceed DSOP_CONSOLE_SESSION_TIMEOUT")
	}
	if c.AuditTimeout, err = time.ParseDuration(get("DSOP_AUDIT_TIMEOUT")); err != nil || c.AuditTimeout <= 0 {
		bad("DSOP_AUDIT_TIMEOUT", "must be a positive duration")
	}
	if c.ShutdownTimeout, err = time.ParseDuration(get("DSOP_SHUTDOWN_TIMEOUT")); err != nil || c.ShutdownTimeout <= 0 {
		bad("DSOP_SHUTDOWN_TIMEOUT", "must be a positive duration")
	}
	drain := get("DSOP_DRAIN_DELAY")
	if drain == "" {
		drain = map[bool]string{true: "5s", false: "0s"}[prod]
	}
	if c.DrainDelay, err = time.ParseDuration(drain); err != nil || c.DrainDelay < 0 || (c.ShutdownTimeout > 0 && c.DrainDelay >= c.ShutdownTimeout) {
		bad("DSOP_DRAIN_DELAY", "must be a duration from 0 to below DSOP_SHUTDOWN_TIMEOUT")
	}
	if c.KonkursvarselStaleAfter, err = time.ParseDuration(get("DSOP_KONKURSVARSEL_STALE_AFTER")); err != nil || c.KonkursvarselStaleAfter <= 0 {
		bad("DSOP_KONKURSVARSEL_STALE_AFTER", "must be a positive duration such as 2h")
	}
	if c.KonkursvarselOverlap, err = time.ParseDuration(get("DSOP_KONKURSVARSEL_OVERLAP")); err != nil || c.KonkursvarselOverlap < time.Minute {
		bad("DSOP_KONKURSVARSEL_OVERLAP", "must be a duration of at least 1m, such as 24h")
	}
	if c.LeaderCheck, err = time.ParseDuration(get("DSOP_LEADER_CHECK")); err != nil || c.LeaderCheck < 50*time.Millisecond {
		bad("DSOP_LEADER_CHECK", "must be a duration such as 5s")
	}
	since := get("DSOP_KONKURSVARSEL_SINCE")
	if since == "" && !c.MockKonkursvarsel() {
		since = "72h"
	}
	if c.KonkursvarselSince, err = parseSince(since, time.Now()); err != nil {
		bad("DSOP_KONKURSVARSEL_SINCE", "%v", err)
	}
	if c.StateDir == "" {
		bad("DSOP_STATE_DIR", "must not be empty")
	}
	if c.SecretFile == "" {
		if prod {
			bad("DSOP_SECRET_FILE", "required in production, the same file on every replica: accountReference values and page cursors depend on it")
		}
		c.SecretFile = filepath.Join(c.StateDir, "secret.key")
	}
	if c.AuditDir == "" {
		c.AuditDir = filepath.Join(c.StateDir, "audit")
	}
	for env, f := range map[string]string{"DSOP_BANK_DATA": c.BankData, "DSOP_KONKURSVARSEL_SEED": c.KonkursvarselSeed, "DSOP_FIELD_POLICY": c.FieldPolicy,
		"DSOP_CONSUMER_CERT": c.ConsumerCert, "DSOP_CERTPUB_CA": c.CertPubCA,
		"DSOP_KONKURSVARSEL_CERT": c.KonkursvarselCert, "DSOP_KONKURSVARSEL_KEY": c.KonkursvarselKey, "DSOP_KONKURSVARSEL_CA": c.KonkursvarselCA,
		"DSOP_TLS_CERT": c.TLSCert, "DSOP_TLS_KEY": c.TLSKey, "DSOP_TLS_CLIENT_CA": c.TLSClientCA, "DSOP_MASKINPORTEN_CA": c.MaskinportenCA} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			bad(env, "%v", err)
		}
	}
	c.ConsoleAddr, c.ConsoleURL = get("DSOP_CONSOLE_ADDR"), strings.TrimRight(get("DSOP_CONSOLE_URL"), "/")
	c.ConsoleOIDCIssuer, c.ConsoleOIDCClientID, c.ConsoleOIDCClientSecret = get("DSOP_CONSOLE_OIDC_ISSUER"), get("DSOP_CONSOLE_OIDC_CLIENT_ID"), get("DSOP_CONSOLE_OIDC_CLIENT_SECRET_FILE")
	c.ConsoleRoleClaim, c.ConsoleViewer, c.ConsoleOfficer = get("DSOP_CONSOLE_ROLE_CLAIM"), get("DSOP_CONSOLE_VIEWER_VALUE"), get("DSOP_CONSOLE_OFFICER_VALUE")
	if c.ConsoleAddr != "" {
		if _, _, err := net.SplitHostPort(c.ConsoleAddr); err != nil {
			bad("DSOP_CONSOLE_ADDR", "must be host:port (port 0 for a free port): %v", err)
		}
		if c.ConsoleURL != "" {
			if u, err := url.Parse(c.ConsoleURL); err != nil || u.Host == "" || (u.Scheme != "https" && (prod || u.Scheme != "http")) {
				bad("DSOP_CONSOLE_URL", "must be an absolute https URL (http allowed in test), got %q", c.ConsoleURL)
			}
		} else if prod {
			// Without it the console would run on http, its session cookie without Secure
			// (issue #26): production says so instead of starting that way.
			bad("DSOP_CONSOLE_URL", "required in production when DSOP_CONSOLE_ADDR is set: the https address browsers reach the console at (behind the bank's reverse proxy); the session cookie is Secure only on https")
		}
		switch {
		case c.ConsoleOIDCIssuer == "" && prod:
			// No console without the bank's sign-on: it shows who was disclosed to whom.
			bad("DSOP_CONSOLE_OIDC_ISSUER", "required in production when DSOP_CONSOLE_ADDR is set: the console signs users in only through the bank's OpenID Connect provider")
		case c.ConsoleOIDCIssuer == "" && !c.DevIssuer():
			bad("DSOP_CONSOLE_OIDC_ISSUER", "required when the development issuer is off (DSOP_MASKINPORTEN_ISSUER is set)")
		case c.ConsoleOIDCIssuer == "":
			if c.ConsoleOIDCClientID == "" {
				c.ConsoleOIDCClientID = "dsop-console"
			}
		default:
			if u, err := url.Parse(c.ConsoleOIDCIssuer); err != nil || u.Host == "" || (u.Scheme != "https" && (prod || u.Scheme != "http")) {
				bad("DSOP_CONSOLE_OIDC_ISSUER", "must be an absolute https URL (http allowed in test), got %q", c.ConsoleOIDCIssuer)
			}
			if c.ConsoleOIDCClientID == "" {
				bad("DSOP_CONSOLE_OIDC_CLIENT_ID", "required with DSOP_CONSOLE_OIDC_ISSUER")
			}
		}
		if c.ConsoleRoleClaim == "" || c.ConsoleViewer == "" || c.ConsoleOfficer == "" || c.ConsoleViewer == c.ConsoleOfficer {
			bad("DSOP_CONSOLE_ROLE_CLAIM", "the role claim and two different role values (DSOP_CONSOLE_VIEWER_VALUE, DSOP_CONSOLE_OFFICER_VALUE) are required")
		}
		if c.ConsoleOIDCClientSecret != "" {
			if _, err := os.Stat(c.ConsoleOIDCClientSecret); err != nil {
				bad("DSOP_CONSOLE_OIDC_CLIENT_SECRET_FILE", "%v", err)
			}
		}
	}
	// Secrets readable by other users of the host are refused in production: the server secret
	// derives accountReference, the page cursor key and the checkpoint signing key; the
	// enterprise certificate's key authenticates the bank at BRREG.
	if prod {
		for env, f := range map[string]string{"DSOP_SECRET_FILE": c.SecretFile, "DSOP_KONKURSVARSEL_KEY": c.KonkursvarselKey, "DSOP_TLS_KEY": c.TLSKey,
			"DSOP_CONSOLE_OIDC_CLIENT_SECRET_FILE": c.ConsoleOIDCClientSecret} {
			if f == "" {
				continue
			}
			fi, err := os.Stat(f)
			if err != nil {
				if env == "DSOP_SECRET_FILE" {
					bad(env, "%v", err)
				}
				continue
			}
			if exposedSecret(fi) {
				bad(env, "%s is readable by other users (mode %04o); run chmod 600 %s", f, fi.Mode().Perm(), f)
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("invalid configuration:\n  " + strings.Join(problems, "\n  "))
	}
	return c, nil
}

// parseRetention reads "0", a Go duration ("87600h") or a number of days ("3650d").
func parseRetention(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 3650d or 87600h", s)
	}
	return d, nil
}

// parseSince reads where the first Konkursvarsel sync starts: "" or "all" (whole history), a
// duration back from now, a date, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "" || s == "all":
		return time.Time{}, nil
	case len(s) == 10:
		return time.Parse(time.DateOnly, s)
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a duration (72h), a date, an RFC 3339 time or 'all'", s)
}

// exposedSecret reports whether a secret file can be read by users other than this process's: by
// others, or by a group that is not the process's own. A group of the process's own is what a
// Kubernetes secret volume with fsGroup gives (mode 0440, group = fsGroup = runAsGroup).
func exposedSecret(fi os.FileInfo) bool {
	perm := fi.Mode().Perm()
	if perm&0o007 != 0 {
		return true
	}
	if perm&0o070 == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || int(st.Gid) != os.Getgid()
}

// ParseSize reads a size in bytes: a number, optionally with KiB, MiB, GiB or TiB (or kB, MB, GB,
// TB, powers of ten).
func ParseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := uint64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size such as 512MiB or 2GiB", s)
	}
	return n * mult, nil
}
