package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// load is Load with the given variables and nothing else.
func load(t *testing.T, env map[string]string, args ...string) (*Config, error) {
	t.Helper()
	if env["DSOP_STATE_DIR"] == "" {
		env["DSOP_STATE_DIR"] = t.TempDir()
	}
	return Load(args, func(k string) string { return env[k] })
}

// production is a complete production configuration with real files.
func production(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte(strings.Repeat("k", 48)), 0o600))
	return map[string]string{
		"DSOP_ENV": "production", "DSOP_BASE_URL": "https://api.bank.no/dsop/v2",
		"DSOP_MASKINPORTEN_ISSUER": "https://maskinporten.no/", "DSOP_MASKINPORTEN_JWKS_URL": "https://maskinporten.no/jwk",
		"DSOP_CERTPUB_URL": "https://bcl.difi.blufo.net", "DSOP_SECRET_FILE": secret,
		"DSOP_DATABASE_URL": "postgres://dsop_app@db/dsop", "DSOP_STATE_DIR": dir,
	}
}

func TestLoad_Defaults(t *testing.T) {
	c, err := load(t, map[string]string{})
	require.NoError(t, err)
	require.Equal(t, "test", c.Env)
	require.Equal(t, "http://127.0.0.1:8080/v2", c.BaseURL)
	require.Equal(t, 1000, c.PageSize)
	require.Zero(t, c.RateLimit, "no rate limit in test")
	require.Zero(t, c.DrainDelay)
	require.Equal(t, "http://127.0.0.1:8081/", c.MaskinportenIssuer, "the development issuer")
	require.Equal(t, "http://127.0.0.1:8082", c.KonkursvarselURL, "the built-in mock")
	require.True(t, c.KonkursvarselSince.IsZero(), "the mock's whole history")
	require.Equal(t, filepath.Join(c.StateDir, "secret.key"), c.SecretFile)
	require.Len(t, c.Services, 1)

	p, err := load(t, production(t))
	require.NoError(t, err)
	require.EqualValues(t, DefaultRateLimit, p.RateLimit, "production protects itself")
	require.Equal(t, 5*time.Second, p.DrainDelay)
	require.Empty(t, p.DevIssuerAddr)
	require.Empty(t, p.MockKonkursvarselAddr)
	require.WithinDuration(t, time.Now().Add(-72*time.Hour), p.KonkursvarselSince, time.Minute)
}

// A flag wins over its variable; both name the same setting.
func TestLoad_FlagWinsOverVariable(t *testing.T) {
	c, err := load(t, map[string]string{"DSOP_PAGE_SIZE": "2000"}, "--page-size", "3000")
	require.NoError(t, err)
	require.Equal(t, 3000, c.PageSize)
	c, err = load(t, map[string]string{"DSOP_PAGE_SIZE": "2000"})
	require.NoError(t, err)
	require.Equal(t, 2000, c.PageSize)
}

// Each bad value is refused with the setting's name and what it must be; the first row shows
// that the base configuration itself is accepted, so each refusal is caused by its one value.
func TestLoad_Refusals(t *testing.T) {
	for _, tc := range []struct {
		prod       bool
		key, value string
		want       string // "" = accepted
	}{
		{false, "DSOP_PAGE_SIZE", "1000", ""},
		{true, "DSOP_LOG_LEVEL", "info", ""},
		{false, "DSOP_ENV", "staging", "DSOP_ENV: must be test or production"},
		{false, "DSOP_ADDR", "8080", "DSOP_ADDR: must be host:port"},
		{false, "DSOP_PAGE_SIZE", "999", "DSOP_PAGE_SIZE: must be a number from 1000 to 10000"},
		{false, "DSOP_PAGE_SIZE", "many", "DSOP_PAGE_SIZE: must be a number from 1000 to 10000"},
		{false, "DSOP_TOKEN_SKEW", "6m", "DSOP_TOKEN_SKEW: must be a duration between 0 and 5m"},
		{false, "DSOP_RATE_WAIT", "30s", "DSOP_RATE_WAIT: must be a duration from 0 to below 30s"},
		{false, "DSOP_ALLOW_CLOSED", "yes please", "DSOP_ALLOW_CLOSED: must be true or false"},
		{false, "DSOP_TIMEZONE", "Europe/Atlantis", "DSOP_TIMEZONE: unknown time zone"},
		{false, "DSOP_JWE_ENC", "A128GCM", "DSOP_JWE_ENC: must be A128CBC-HS256 or A256GCM"},
		{false, "DSOP_TODATE_POLICY", "yesterday", "DSOP_TODATE_POLICY: must be not-future or today"},
		{false, "DSOP_ANSWER_MEMORY", "1MiB", "DSOP_ANSWER_MEMORY: must be 0 (no bound) or at least 16MiB"},
		{false, "DSOP_AUDIT_MIN_FREE", "lots", "DSOP_AUDIT_MIN_FREE: \"lots\" is not a size"},
		{false, "DSOP_AUDIT_RETENTION", "30d", "DSOP_AUDIT_RETENTION: must be 0 (forever) or at least"},
		{false, "DSOP_DATABASE_URL", "mysql://db", "DSOP_DATABASE_URL: must be a postgres:// URL"},
		{false, "DSOP_DRAIN_DELAY", "1m", "DSOP_DRAIN_DELAY: must be a duration from 0 to below DSOP_SHUTDOWN_TIMEOUT"},
		{false, "DSOP_LINK_PREFIX", "/v2", "DSOP_LINK_PREFIX: was replaced by DSOP_LINK_BASE"},
		{false, "DSOP_LINK_BASE", "dsop", "DSOP_LINK_BASE: must be empty or a path"},
		{false, "DSOP_SERVICES", "konkursbehandling,tax", "DSOP_SERVICES: unknown DSOP service \"tax\""},
		{false, "DSOP_SERVICE_OED_RATE_BURST", "0", ""}, // OED is not enabled: its keys are not read
		{false, "DSOP_SERVICE_KONKURSBEHANDLING_RATE_BURST", "0", "DSOP_SERVICE_KONKURSBEHANDLING_RATE_BURST: must be a positive number"},
		{false, "DSOP_SERVICE_KONKURSBEHANDLING_CONSUMERS", "0192:123", "DSOP_SERVICE_KONKURSBEHANDLING_CONSUMERS: \"0192:123\" is not 0192:<organisation number>"},
		{false, "DSOP_FIELD_POLICY", "/nonexistent/policy.json", "DSOP_FIELD_POLICY: stat /nonexistent/policy.json"},
		{false, "DSOP_TLS_CERT", "/nonexistent/tls.crt", "DSOP_TLS_CERT: DSOP_TLS_CERT and DSOP_TLS_KEY go together"},
		{false, "DSOP_TLS_CLIENT_CA", "/nonexistent/ca.pem", "DSOP_TLS_CLIENT_CA: needs DSOP_TLS_CERT"},
		{false, "DSOP_KONKURSVARSEL_AUTH", "maskinporten", "DSOP_KONKURSVARSEL_CLIENT_ID: is needed"},
		{false, "DSOP_KONKURSVARSEL_AUTH", "password", "DSOP_KONKURSVARSEL_AUTH: must be certificate or maskinporten"},
		{false, "DSOP_KONKURSVARSEL_SINCE", "last week", "DSOP_KONKURSVARSEL_SINCE: \"last week\" is not a duration"},
		{false, "DSOP_BANK_CORE_URL", "ftp://core", "DSOP_BANK_CORE_URL: must be an absolute https URL"},
		{false, "DSOP_CONSOLE_ADDR", "console", "DSOP_CONSOLE_ADDR: must be host:port"},
		{false, "DSOP_MASKINPORTEN_JWKS_URL", "https://maskinporten.no/jwk", "DSOP_MASKINPORTEN_ISSUER: required when DSOP_MASKINPORTEN_JWKS_URL is set"},
		{true, "DSOP_BASE_URL", "http://api.bank.no/v2", "DSOP_BASE_URL: must be an absolute https URL"},
		{true, "DSOP_BASE_URL", "", "DSOP_BASE_URL: required in production"},
		{true, "DSOP_AUDIENCES", "https://a.bank.no/v2,http://b.bank.no/v2", "DSOP_AUDIENCES: must be an absolute https URL (http allowed in test), got \"http://b.bank.no/v2\""},
		{true, "DSOP_CERTPUB_URL", "", "DSOP_CERTPUB_URL: required in production"},
		{true, "DSOP_SECRET_FILE", "", "DSOP_SECRET_FILE: required in production"},
		{true, "DSOP_SECRET_FILE", "/nonexistent/secret", "DSOP_SECRET_FILE: stat /nonexistent/secret"},
		{true, "DSOP_MASKINPORTEN_ISSUER", "", "DSOP_MASKINPORTEN_ISSUER: required when DSOP_MASKINPORTEN_JWKS_URL is set"},
		{true, "DSOP_DATABASE_URL", "", "DSOP_BANK_DATA: required in production without DSOP_DATABASE_URL"},
		{true, "DSOP_CONSOLE_ADDR", "0.0.0.0:8083", "DSOP_CONSOLE_URL: required in production"},
		{true, "DSOP_KONKURSVARSEL_URL", "http://konkursvarsel.brreg.no", "DSOP_KONKURSVARSEL_URL: must be an absolute https URL"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			env := map[string]string{}
			if tc.prod {
				env = production(t)
			}
			env[tc.key] = tc.value
			_, err := load(t, env)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// Production refuses a secret readable by other users, and says how to fix it.
func TestLoad_ExposedSecretRefusedInProduction(t *testing.T) {
	env := production(t)
	_, err := load(t, env)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(env["DSOP_SECRET_FILE"], 0o644))
	_, err = load(t, env)
	require.ErrorContains(t, err, "is readable by other users (mode 0644); run chmod 600")
	env["DSOP_ENV"] = "test"
	_, err = load(t, env)
	require.NoError(t, err, "test mode does not check the mode")
}

// Every problem is listed at once, not only the first.
func TestLoad_ListsEveryProblem(t *testing.T) {
	_, err := load(t, map[string]string{"DSOP_PAGE_SIZE": "1", "DSOP_JWE_ENC": "x", "DSOP_ENV": "staging"})
	require.Error(t, err)
	for _, k := range []string{"DSOP_PAGE_SIZE", "DSOP_JWE_ENC", "DSOP_ENV"} {
		require.Contains(t, err.Error(), k)
	}
}

// Each setting is declared once: one flag and one variable per row, none twice.
func TestSettings_DeclaredOnce(t *testing.T) {
	flags, envs := map[string]bool{}, map[string]bool{}
	for _, s := range settings(&Config{}) {
		require.False(t, flags[s.flag], "flag --%s declared twice", s.flag)
		require.False(t, envs[s.env], "%s declared twice", s.env)
		flags[s.flag], envs[s.env] = true, true
		require.Equal(t, "DSOP_"+strings.ToUpper(strings.ReplaceAll(s.flag, "-", "_")), s.env, "the flag and the variable name the same thing")
		require.NotEmpty(t, s.help, s.env)
	}
}

// No function of this package is above cyclomatic complexity 15 (issue #27: the old build was
// one function of complexity 158). The count is gocyclo's: 1, plus one per if, for, range,
// non-default case and && or ||.
func TestComplexity_EveryFunctionAtMost15(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			require.LessOrEqual(t, complexity(fn.Body), 15, "%s: %s", name, fn.Name.Name)
		}
	}
	require.Greater(t, complexity(mustParseBody(t, "if a && b { for range x { switch { case c: } } }")), 4, "the counter counts")
}

func complexity(body ast.Node) int {
	n := 1
	ast.Inspect(body, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			n++
		case *ast.CaseClause:
			if x.List != nil {
				n++
			}
		case *ast.CommClause:
			if x.Comm != nil {
				n++
			}
		case *ast.BinaryExpr:
			if x.Op == token.LAND || x.Op == token.LOR {
				n++
			}
		}
		return true
	})
	return n
}

func mustParseBody(t *testing.T, src string) ast.Node {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", "package x\nfunc f() {"+src+"}", 0)
	require.NoError(t, err)
	return f.Decls[0].(*ast.FuncDecl).Body
}

// Command lines of earlier versions (Go's flag package) keep working: -page-size 2000.
func TestLongFlags(t *testing.T) {
	require.Equal(t, []string{"--page-size", "2000", "--addr=x", "--ttl", "-5s", "-h", "--", "-keep"},
		LongFlags([]string{"-page-size", "2000", "-addr=x", "--ttl", "-5s", "-h", "--", "-keep"}))
	c, err := load(t, map[string]string{}, "-page-size", "2000")
	require.NoError(t, err)
	require.Equal(t, 2000, c.PageSize)
}
