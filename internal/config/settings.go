package config

// The settings table. Each setting is declared here once — flag, variable,
// default, help and the Config field it fills with its parser and range — and the rules that
// relate several settings are in rules.go, one small function per subsystem.
import (
	"strconv"
	"strings"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
)

// setting is one row of the table: a flag and its DSOP_* variable (a flag wins over its
// variable), the default, the help line of the manual, and where the value goes.
type setting struct {
	flag, env, def, help string
	binding
	// unsetTest and unsetProd are used when the value is empty and the default depends on
	// DSOP_ENV (the table's def is then empty).
	unsetTest, unsetProd string
}

// unset gives the values an empty setting takes in test and in production.
func (s setting) unset(test, prod string) setting {
	s.unsetTest, s.unsetProd = test, prod
	return s
}

// file marks a setting that a rule reads (a service's key) as a file that must exist when given.
func (s setting) file() setting {
	s.checkFile = true
	return s
}

// settings lists every setting of c, in the order of the manual's table (docs/operators.md).
func settings(c *Config) []setting {
	s := func(flag, env, def, help string, b binding) setting {
		return setting{flag: flag, env: env, def: def, help: help, binding: b}
	}
	out := []setting{
		s("addr", "DSOP_ADDR", "127.0.0.1:8080", "listen address of the API", hostPort(&c.Addr)),
		s("env", "DSOP_ENV", "test", "test or production", oneOf(&c.Env, "test", "production")),
		s("bank-data", "DSOP_BANK_DATA", "", "bank data file (JSON, see openapi/bank-data.yaml); empty = embedded demo bank (test only)", file(&c.BankData)),
		s("state-dir", "DSOP_STATE_DIR", ".dsop-state", "directory for local state (secret, dev issuer key)", text(&c.StateDir)),
		s("base-url", "DSOP_BASE_URL", "", "the bank's registered base URL, also the token audience; default http://<addr>/v2 in test", trimmed(&c.BaseURL)),
		s("audiences", "DSOP_AUDIENCES", "", "comma-separated aud values accepted in access tokens, while the bank's URL moves (old and new side by side); default DSOP_BASE_URL alone", list(&c.Audiences)),
		s("link-base", "DSOP_LINK_BASE", "", "path put before /accounts/… in links[].href; empty = relative to the registered base URL, as the real consumer resolves them", trimmed(&c.LinkBase)),
		s("maskinporten-issuer", "DSOP_MASKINPORTEN_ISSUER", "", "exact iss of Maskinporten tokens; empty in test = built-in development issuer", text(&c.MaskinportenIssuer)),
		s("maskinporten-jwks-url", "DSOP_MASKINPORTEN_JWKS_URL", "", "Maskinporten JWKS URL; empty in test = built-in development issuer", text(&c.MaskinportenJWKSURL)),
		s("maskinporten-ca", "DSOP_MASKINPORTEN_CA", "", "PEM bundle of CAs to trust for the JWKS URL besides the system roots (a bank's TLS-inspecting proxy, a test issuer)", file(&c.MaskinportenCA)),
		s("services", "DSOP_SERVICES", "konkursbehandling", "comma-separated DSOP services this server answers (konkursbehandling, oed); each request is routed to one by its token's consumer and its Legal-Mandate", none),
		s("allowed-consumers", "DSOP_ALLOWED_CONSUMERS", "", "Konkursbehandling's accepted consumer.ID values, comma-separated (the same as DSOP_SERVICE_KONKURSBEHANDLING_CONSUMERS, which wins); default the service's own (Brønnøysundregistrene)", none),
		s("konkursvarsel-seed", "DSOP_KONKURSVARSEL_SEED", "", "notices file in the Konkursvarsel list format (_embedded.konkursvarsler[]); empty in test = demo notices", file(&c.KonkursvarselSeed)),
		s("dev-issuer-addr", "DSOP_DEV_ISSUER_ADDR", "127.0.0.1:8081", "listen address of the development token issuer (test only)", text(&c.DevIssuerAddr)),
		s("token-skew", "DSOP_TOKEN_SKEW", "10s", "allowed clock skew for exp/iat/nbf", duration(&c.TokenSkew, within(0, 5*time.Minute), "must be a duration between 0 and 5m")),
		s("page-size", "DSOP_PAGE_SIZE", "1000", "transactions per page (at least 1000)", integer(&c.PageSize, within(1000, 10000), "must be a number from 1000 to 10000 (the standard asks for at least 1000)")),
		s("todate-policy", "DSOP_TODATE_POLICY", "not-future", "not-future (toDate <= today) or today (toDate must be today)", toDatePolicy(&c.ToDatePolicy)),
		s("allow-closed", "DSOP_ALLOW_CLOSED", "false", "also serve parties whose bankruptcy is closed (avslutning)", boolean(&c.AllowClosed)),
		s("targeted-extraction", "DSOP_TARGETED_EXTRACTION", "false", "the bank copies only bankrupt parties' data: an opening for a party without accounts here becomes an export action (actions list) for the bank to export that party as a change set", boolean(&c.TargetedExtraction)),
		s("field-policy", "DSOP_FIELD_POLICY", "", "JSON file {\"emit\":[...],\"omit\":[...]} switching configurable fields (endpoint:path)", file(&c.FieldPolicy)),
		s("timezone", "DSOP_TIMEZONE", "Europe/Oslo", "time zone of 'today' and of date boundaries", location(&c.Timezone)),
		s("secret-file", "DSOP_SECRET_FILE", "", "file with the server secret (>= 32 bytes) for accountReference and page cursors; default <state-dir>/secret.key, created in test", serverSecret(&c.SecretFile)),
		s("log-level", "DSOP_LOG_LEVEL", "info", "debug, info, warn or error", oneOf(&c.LogLevel, "debug", "info", "warn", "error")),
		s("database-url", "DSOP_DATABASE_URL", "", "PostgreSQL connection URL; empty = embedded default (state directory)", databaseURL(&c.DatabaseURL)),
		s("bank-core-url", "DSOP_BANK_CORE_URL", "", "base URL of the bank's core API (openapi/bank-core.yaml): the bank data is read live from it instead of a copy (DSOP_BANK_DATA, dsop-bank import); https in production", trimmed(&c.BankCore.URL)),
		s("bank-core-timeout", "DSOP_BANK_CORE_TIMEOUT", "5s", "longest wait for one call to the bank's core; never beyond the request's own deadline (DSOP_REQUEST_TIMEOUT)", duration(&c.BankCore.Timeout, atLeast(10*time.Millisecond), "must be a duration such as 5s")),
		s("bank-core-cert", "DSOP_BANK_CORE_CERT", "", "PEM client certificate for mutual TLS with the bank's core", file(&c.BankCore.Cert)),
		s("bank-core-key", "DSOP_BANK_CORE_KEY", "", "PEM private key of DSOP_BANK_CORE_CERT", secretFile(&c.BankCore.Key)),
		s("bank-core-ca", "DSOP_BANK_CORE_CA", "", "PEM bundle of CAs the core's certificate chains to, besides the system roots", file(&c.BankCore.CA)),
		s("bank-core-token-url", "DSOP_BANK_CORE_TOKEN_URL", "", "OAuth2 token endpoint: when set, each call carries a client-credentials bearer token", text(&c.BankCore.TokenURL)),
		s("bank-core-client-id", "DSOP_BANK_CORE_CLIENT_ID", "", "OAuth2 client id at DSOP_BANK_CORE_TOKEN_URL", text(&c.BankCore.ClientID)),
		s("bank-core-client-secret-file", "DSOP_BANK_CORE_CLIENT_SECRET_FILE", "", "file with the OAuth2 client secret", secretFile(&c.BankCore.ClientSecretFile)),
		s("bank-core-scope", "DSOP_BANK_CORE_SCOPE", "", "OAuth2 scopes to ask for, comma-separated", list(&c.BankCore.Scopes)),
		s("audit-pool-size", "DSOP_AUDIT_POOL_SIZE", "4", "connections the audit log has to itself (PostgreSQL): an audit write never waits behind bank-data queries, so a refusal is recorded even when they are stuck", integer(&c.AuditPoolSize, within(1, 100), "must be a number of connections from 1 to 100")),
		s("audit-dir", "DSOP_AUDIT_DIR", "", "audit log directory when no database is configured; default <state-dir>/audit", text(&c.AuditDir)),
		s("audit-retention", "DSOP_AUDIT_RETENTION", "0", "keep audit records this long (e.g. 3650d or 87600h); 0 = forever", retention(&c.AuditRetention)),
		s("consumer-cert", "DSOP_CONSUMER_CERT", "", "PEM file with the consumer's encryption certificate; empty in test (and no CertPub) = development certificate in the state directory", file(&c.ConsumerCert)),
		s("certpub-url", "DSOP_CERTPUB_URL", "", "CertPub locator (BCL) base URL, e.g. https://bcl.difi.blufo.net", trimmed(&c.CertPubURL)),
		s("certpub-ca", "DSOP_CERTPUB_CA", "", "PEM bundle of CAs the consumer certificate must chain to (optional)", file(&c.CertPubCA)),
		s("certpub-ttl", "DSOP_CERTPUB_TTL", "24h", "how long a CertPub certificate is used before it is fetched again", duration(&c.CertPubTTL, atLeast(time.Minute), "must be a duration of at least 1m")),
		s("jwe-enc", "DSOP_JWE_ENC", "A128CBC-HS256", "JWE content encryption: A128CBC-HS256 or A256GCM", oneOf(&c.JWEEnc, "A128CBC-HS256", "A256GCM")),
		s("konkursvarsel-url", "DSOP_KONKURSVARSEL_URL", "", "Konkursvarsel API base URL, e.g. https://konkursvarsel.vcert.brreg.no; empty in test = built-in mock; empty in production = no polling", trimmed(&c.KonkursvarselURL)),
		s("mock-konkursvarsel-addr", "DSOP_MOCK_KONKURSVARSEL_ADDR", "127.0.0.1:8082", "listen address of the built-in Konkursvarsel mock (test, when DSOP_KONKURSVARSEL_URL is empty)", text(&c.MockKonkursvarselAddr)),
		s("konkursvarsel-poll-interval", "DSOP_KONKURSVARSEL_POLL_INTERVAL", "5m", "how often to poll Konkursvarsel", duration(&c.KonkursvarselPollInterval, atLeast(100*time.Millisecond), "must be a duration such as 5m")),
		s("konkursvarsel-overlap", "DSOP_KONKURSVARSEL_OVERLAP", "24h", "how far before its cursor each poll asks again, so that a notice published late is still applied (once: notices are stored by uuid)", duration(&c.KonkursvarselOverlap, atLeast(time.Minute), "must be a duration of at least 1m, such as 24h")),
		s("konkursvarsel-since", "DSOP_KONKURSVARSEL_SINCE", "", "where the first sync starts: a duration back (72h), a date or RFC 3339 time, or 'all'; default 72h (all with the built-in mock)", none),
		s("konkursvarsel-cert", "DSOP_KONKURSVARSEL_CERT", "", "PEM enterprise certificate for mutual TLS with Konkursvarsel", file(&c.KonkursvarselCert)),
		s("konkursvarsel-key", "DSOP_KONKURSVARSEL_KEY", "", "PEM private key of DSOP_KONKURSVARSEL_CERT", secretFile(&c.KonkursvarselKey)),
		s("konkursvarsel-ca", "DSOP_KONKURSVARSEL_CA", "", "PEM CA bundle to trust for Konkursvarsel (default: the system roots)", file(&c.KonkursvarselCA)),
		s("konkursvarsel-auth", "DSOP_KONKURSVARSEL_AUTH", "certificate", "how dsop-bank authenticates to Konkursvarsel: certificate (mutual TLS with DSOP_KONKURSVARSEL_CERT) or maskinporten (a bearer token obtained with that certificate)", oneOf(&c.KonkursvarselAuth, "certificate", "maskinporten")),
		s("konkursvarsel-maskinporten", "DSOP_KONKURSVARSEL_MASKINPORTEN", "", "Maskinporten issuer for DSOP_KONKURSVARSEL_AUTH=maskinporten, e.g. https://test.maskinporten.no/ (the token endpoint is <issuer>token)", text(&c.KonkursvarselMaskinporten)),
		s("konkursvarsel-client-id", "DSOP_KONKURSVARSEL_CLIENT_ID", "", "the bank's Maskinporten client id (DSOP_KONKURSVARSEL_AUTH=maskinporten)", text(&c.KonkursvarselClientID)),
		s("konkursvarsel-scope", "DSOP_KONKURSVARSEL_SCOPE", "", "the Maskinporten scope BRREG grants for Konkursvarsel (DSOP_KONKURSVARSEL_AUTH=maskinporten)", text(&c.KonkursvarselScope)),
		s("konkursvarsel-key-id", "DSOP_KONKURSVARSEL_KEY_ID", "", "kid of a key registered with the Maskinporten client, sent instead of the certificate chain (x5c); optional", text(&c.KonkursvarselKeyID)),
		s("tls-cert", "DSOP_TLS_CERT", "", "PEM server certificate (chain) for TLS on the API, admin and console listeners; reloaded when the file changes; empty = plain HTTP behind the gateway", file(&c.TLSCert)),
		s("tls-key", "DSOP_TLS_KEY", "", "PEM private key of DSOP_TLS_CERT", secretFile(&c.TLSKey)),
		s("tls-client-ca", "DSOP_TLS_CLIENT_CA", "", "PEM CA bundle: with TLS, the API listener requires a client certificate chaining to it (mutual TLS from the gateway)", file(&c.TLSClientCA)),
		s("admin-addr", "DSOP_ADMIN_ADDR", "127.0.0.1:9090", "listen address of /livez, /readyz and /metrics; empty = off", optionalHostPort(&c.AdminAddr)),
		s("rate-limit", "DSOP_RATE_LIMIT", "", "sustained requests per second per consumer (token bucket); 0 = off; default 50 in production, off in test", number(&c.RateLimit, atLeast(0.0), "must be a number of requests per second (0 = off)")).unset("0", strconv.Itoa(DefaultRateLimit)),
		s("rate-burst", "DSOP_RATE_BURST", strconv.Itoa(DefaultRateBurst), "requests a consumer may send at once before the rate applies", integer(&c.RateBurst, atLeast(1), "must be a positive number")),
		s("rate-wait", "DSOP_RATE_WAIT", DefaultRateWait.String(), "how long a request over the rate or the concurrency limit may wait for its turn before 429 (keep it below the consumer's 30 s budget)", duration(&c.RateWait, within(0, 30*time.Second-1), "must be a duration from 0 to below 30s (the consumer gives up after 30 s)")),
		s("consumer-concurrency", "DSOP_CONSUMER_CONCURRENCY", strconv.Itoa(DefaultConsumerConcurrency), "requests of one consumer served at the same time; more wait up to DSOP_RATE_WAIT; 0 = unbounded", integer(&c.ConsumerConcurrency, atLeast(0), "must be a number (0 = unbounded)")),
		s("request-timeout", "DSOP_REQUEST_TIMEOUT", "60s", "deadline of one request; store queries are cancelled when it passes", duration(&c.RequestTimeout, atLeast(time.Duration(1)), "must be a positive duration")),
		s("max-headers", "DSOP_MAX_HEADERS", "100", "most header lines a request may have", integer(&c.MaxHeaders, atLeast(20), "must be a number of at least 20")),
		s("max-in-flight", "DSOP_MAX_IN_FLIGHT", "256", "requests served at once; more are shed with 503 ACC-100 and Retry-After (0 = no cap)", integer(&c.MaxInFlight, atLeast(0), "must be a number (0 = no cap)")),
		s("client-rate", "DSOP_CLIENT_RATE", "20", "refused requests a second one client address may send (no valid token, wrong path or method) before its requests are refused with 429 before the token is read; 0 = off", number(&c.ClientRate, atLeast(0.0), "must be a number of refused requests per second (0 = off)")),
		s("client-burst", "DSOP_CLIENT_BURST", "100", "refused requests one client address may send at once before DSOP_CLIENT_RATE applies", integer(&c.ClientBurst, atLeast(1), "must be a positive number")),
		s("client-address-header", "DSOP_CLIENT_ADDRESS_HEADER", "", "header in which the gateway passes the caller's address (its last value is used, e.g. X-Forwarded-For); empty = the connection's address", text(&c.ClientAddressHeader)),
		s("answer-memory", "DSOP_ANSWER_MEMORY", "256MiB", "memory that answers may hold while they are written to their callers (e.g. 256MiB); beyond it a new answer gets 503 ACC-100 and Retry-After (0 = no bound)", size(&c.AnswerMemory, func(n uint64) bool { return n == 0 || n >= 16<<20 }, "must be 0 (no bound) or at least 16MiB: a 1 000-transaction page with its JWE takes about 1 MB")),
		s("audit-min-free", "DSOP_AUDIT_MIN_FREE", "512MiB", "file store: below this much free space on the audit volume, new requests get 503 and /readyz fails (e.g. 512MiB, 2GiB; 0 = off)", size(&c.AuditMinFree, nil, "")),
		s("audit-timeout", "DSOP_AUDIT_TIMEOUT", "5s", "the least time an audit write is given, even past the request deadline; beyond it the answer is withheld (503 ACC-100, Retry-After: 1)", duration(&c.AuditTimeout, atLeast(time.Duration(1)), "must be a positive duration")),
		s("leader-check", "DSOP_LEADER_CHECK", "5s", "with PostgreSQL: how often a replica tries to become the Konkursvarsel poller, and the poller checks its lease", duration(&c.LeaderCheck, atLeast(50*time.Millisecond), "must be a duration such as 5s")),
		s("shutdown-timeout", "DSOP_SHUTDOWN_TIMEOUT", "30s", "on SIGTERM, the most the shutdown may take, whatever the dependencies do", duration(&c.ShutdownTimeout, atLeast(time.Duration(1)), "must be a positive duration")),
		s("drain-delay", "DSOP_DRAIN_DELAY", "", "on SIGTERM, how long /readyz answers 503 before the listeners close, so that the load balancer stops routing first; default 5s in production, 0 in test", duration(&c.DrainDelay, atLeast(time.Duration(0)), "must be a duration from 0 to below DSOP_SHUTDOWN_TIMEOUT")).unset("0s", "5s"),
		s("konkursvarsel-stale-after", "DSOP_KONKURSVARSEL_STALE_AFTER", "2h", "after this long without a successful Konkursvarsel sync, /readyz reports it (as a warning: it does not make the server unready)", duration(&c.KonkursvarselStaleAfter, atLeast(time.Duration(1)), "must be a positive duration such as 2h")),
		s("konkursvarsel-on-demand-every", "DSOP_KONKURSVARSEL_ON_DEMAND_EVERY", "30s", "at most one on-demand sync (for a party with no notice) per this interval", duration(&c.OnDemandSyncEvery, atLeast(time.Duration(0)), "must be a duration such as 30s")),
		s("console-addr", "DSOP_CONSOLE_ADDR", "", "listen address of the compliance console (web pages for compliance officers); empty = off; port 0 = a free port", optionalHostPort(&c.ConsoleAddr)),
		s("console-url", "DSOP_CONSOLE_URL", "", "the console's address as browsers reach it (the OpenID Connect redirect is <url>/callback); default http://<console listen address>", trimmed(&c.ConsoleURL)),
		s("console-oidc-issuer", "DSOP_CONSOLE_OIDC_ISSUER", "", "OpenID Connect issuer of the bank's single sign-on, e.g. https://login.microsoftonline.com/<tenant>/v2.0; empty in test = the development issuer; required in production", text(&c.ConsoleOIDCIssuer)),
		s("console-oidc-client-id", "DSOP_CONSOLE_OIDC_CLIENT_ID", "", "the console's client ID at the identity provider; default dsop-console with the development issuer", text(&c.ConsoleOIDCClientID)),
		s("console-oidc-client-secret-file", "DSOP_CONSOLE_OIDC_CLIENT_SECRET_FILE", "", "file with the console's client secret (empty = a public client, PKCE only)", secretFile(&c.ConsoleOIDCClientSecret)),
		s("console-role-claim", "DSOP_CONSOLE_ROLE_CLAIM", "roles", "ID token claim with the user's roles or groups (a string or an array)", text(&c.ConsoleRoleClaim)),
		s("console-viewer-value", "DSOP_CONSOLE_VIEWER_VALUE", "dsop.viewer", "value of the role claim that grants the viewer role (read)", text(&c.ConsoleViewer)),
		s("console-officer-value", "DSOP_CONSOLE_OFFICER_VALUE", "dsop.officer", "value of the role claim that grants the officer role (also reveal, acknowledge, verify)", text(&c.ConsoleOfficer)),
		s("console-read-timeout", "DSOP_CONSOLE_READ_TIMEOUT", "10s", "the most a console page may spend reading the audit log; past it the page says so (503)", duration(&c.ConsoleReadTimeout, atLeast(time.Duration(1)), "must be a positive duration such as 10s")),
		s("console-idle-timeout", "DSOP_CONSOLE_IDLE_TIMEOUT", "30m", "a console session unused this long ends", duration(&c.ConsoleIdleTimeout, atLeast(time.Second), "must be a duration such as 30m")),
		s("console-session-timeout", "DSOP_CONSOLE_SESSION_TIMEOUT", "8h", "a console session ends this long after sign-in, whatever its use", duration(&c.ConsoleSessionTimeout, atLeast(time.Second), "must be a duration such as 30m")),
		s("console-role-recheck", "DSOP_CONSOLE_ROLE_RECHECK", "10m", "how often a session's role is re-read from the identity provider (with its refresh token); a role removed there ends the session", duration(&c.ConsoleRoleRecheck, atLeast(time.Second), "must be a duration such as 30m")),
		s("console-search-limit", "DSOP_CONSOLE_SEARCH_LIMIT", "20", "searches by party number one console user may make an hour; more are refused, and the searches are flagged as an anomaly", integer(&c.ConsoleSearchLimit, atLeast(1), "must be a positive number")),
	}
	// Each service's own settings: keys of that service, not globals (issue #30).
	for _, svc := range dsopservice.All() {
		k, f := serviceKey(svc.Name), "service-"+svc.Name+"-"
		out = append(out,
			s(f+"consumers", k+"CONSUMERS", "", "consumer.ID values accepted for "+svc.Title+", comma-separated; default "+strings.Join(svc.Consumers, ","), none),
			s(f+"field-policy", k+"FIELD_POLICY", "", "JSON file {\"emit\":[...],\"omit\":[...]} switching configurable fields of "+svc.Title+"'s delivery tables", none).file(),
			s(f+"rate-limit", k+"RATE_LIMIT", "", "sustained requests per second per consumer of "+svc.Title+"; default DSOP_RATE_LIMIT", none),
			s(f+"rate-burst", k+"RATE_BURST", "", "requests a consumer of "+svc.Title+" may send at once; default DSOP_RATE_BURST", none),
		)
	}
	return out
}
