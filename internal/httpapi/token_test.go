package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// A-01…A-07 and the attacks an attacker tries: every row is refused with its status and code,
// no account data leaves (requireProblem), and the same request with a valid token is served —
// so each row proves the refusal is the token's.
func TestToken_Refusals(t *testing.T) {
	h := newHarness(t)
	valid := h.token(devissuer.Options{})
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	foreign := func(o devissuer.Options) string { o.ForeignKey = true; return h.token(o) }
	bearer := func(tok string) []string { return []string{"Bearer " + tok} }
	unauthorized, forbidden := 401, 403
	cases := []struct {
		name   string
		auth   []string
		status int
	}{
		// Presence and form of the header.
		{"no header", nil, unauthorized},
		{"empty header", []string{""}, unauthorized},
		{"not bearer", []string{"Basic dXNlcjpwYXNz"}, unauthorized},
		{"bearer without token", []string{"Bearer"}, unauthorized},
		{"bearer with a blank token", []string{"Bearer    "}, unauthorized},
		{"malformed", bearer("not-a-jwt"), unauthorized},
		{"two parts", bearer(parts[0] + "." + parts[1]), unauthorized},
		{"four parts", bearer(valid + ".x"), unauthorized},
		{"a JWE instead of a JWS", bearer("eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMTI4R0NNIn0.a.b.c.d"), unauthorized},
		{"token followed by junk", []string{"Bearer " + valid + " extra"}, unauthorized},
		{"two Authorization headers, valid first", []string{"Bearer " + valid, "Bearer garbage"}, unauthorized},
		{"two Authorization headers, valid last", []string{"Bearer garbage", "Bearer " + valid}, unauthorized},
		{"two valid Authorization headers", []string{"Bearer " + valid, "Bearer " + valid}, unauthorized},
		// Signature and algorithm.
		{"bad signature", bearer(parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))), unauthorized},
		{"no signature", bearer(parts[0] + "." + parts[1] + "."), unauthorized},
		{"tampered payload", bearer(tampered), unauthorized},
		{"payload not JSON", bearer(parts[0] + "." + b64("not json") + "." + parts[2]), unauthorized},
		{"header not JSON", bearer(b64("{") + "." + parts[1] + "." + parts[2]), unauthorized},
		{"alg none", bearer(h.token(devissuer.Options{Alg: "none"})), unauthorized},
		{"HS256 with the public key", bearer(h.token(devissuer.Options{Alg: "HS256"})), unauthorized},
		{"alg not a string", bearer(b64(`{"alg":1,"kid":"x"}`) + "." + parts[1] + "." + parts[2]), unauthorized},
		{"kid not a string", bearer(b64(`{"alg":"RS256","kid":["x"]}`) + "." + parts[1] + "." + parts[2]), unauthorized},
		{"no kid", bearer(b64(`{"alg":"RS256"}`) + "." + parts[1] + "." + parts[2]), unauthorized},
		{"unknown key", bearer(foreign(devissuer.Options{KID: "rotated-away"})), unauthorized},
		{"foreign key, known kid", bearer(foreign(devissuer.Options{})), unauthorized},
		{"the real key under a made-up kid", bearer(h.token(devissuer.Options{KID: "-"})), unauthorized},
		{"kid path traversal", bearer(foreign(devissuer.Options{KID: "../../../../etc/passwd"})), unauthorized},
		{"kid SQL injection", bearer(foreign(devissuer.Options{KID: "' OR '1'='1"})), unauthorized},
		{"embedded jwk of the attacker", bearer(foreign(devissuer.Options{KID: "attacker", EmbedJWK: true})), unauthorized},
		{"jku to the attacker's key set", bearer(foreign(devissuer.Options{Header: map[string]any{"jku": "https://attacker.example/jwks.json"}})), unauthorized},
		{"x5u to the attacker's certificate", bearer(foreign(devissuer.Options{Header: map[string]any{"x5u": "https://attacker.example/cert.pem"}})), unauthorized},
		{"crit names an unknown extension", bearer(h.token(devissuer.Options{Header: map[string]any{"crit": []string{"urn:example:unknown"}, "urn:example:unknown": true}})), unauthorized},
		// Time claims (RFC 7519 NumericDate).
		{"expired", bearer(h.token(devissuer.Options{TTL: -time.Minute})), unauthorized},
		{"expired a day ago", bearer(h.token(devissuer.Options{Now: now.Add(-24 * time.Hour)})), unauthorized},
		{"not yet valid", bearer(h.token(devissuer.Options{NotBefore: time.Minute})), unauthorized},
		{"issued in the future", bearer(h.token(devissuer.Options{Now: now.Add(time.Hour)})), unauthorized},
		{"no exp", bearer(h.token(devissuer.Options{NoExp: true})), unauthorized},
		{"exp as a string", bearer(h.token(devissuer.Options{Claims: map[string]any{"exp": fmt.Sprint(now.Add(time.Minute).Unix())}})), unauthorized},
		{"exp as null", bearer(h.token(devissuer.Options{Claims: map[string]any{"exp": json.RawMessage("null")}})), unauthorized},
		{"exp as a boolean", bearer(h.token(devissuer.Options{Claims: map[string]any{"exp": true}})), unauthorized},
		{"iat as a string", bearer(h.token(devissuer.Options{Claims: map[string]any{"iat": fmt.Sprint(now.Unix())}})), unauthorized},
		{"nbf as a string", bearer(h.token(devissuer.Options{Claims: map[string]any{"nbf": fmt.Sprint(now.Unix())}})), unauthorized},
		// Issuer and audience: exact.
		{"wrong iss", bearer(h.token(devissuer.Options{Issuer: "https://maskinporten.no/"})), unauthorized},
		{"iss without its trailing slash", bearer(h.token(devissuer.Options{Issuer: "https://test.maskinporten.no"})), unauthorized},
		{"no iss", bearer(h.token(devissuer.Options{Claims: map[string]any{"iss": nil}})), unauthorized},
		{"wrong aud", bearer(h.token(devissuer.Options{Audience: "https://api.otherbank.no/v2"})), unauthorized},
		{"aud with a trailing slash", bearer(h.token(devissuer.Options{Audience: baseURL + "/"})), unauthorized},
		{"no aud", bearer(h.token(devissuer.Options{Claims: map[string]any{"aud": nil}})), unauthorized},
		// Scope and consumer: a valid token without the right.
		{"scope kundeforhold only", bearer(h.token(devissuer.Options{Scope: "bits:kundeforhold"})), forbidden},
		{"scope with a suffix", bearer(h.token(devissuer.Options{Scope: "bits:kontoinformasjon.oed"})), forbidden},
		{"scope as a prefix", bearer(h.token(devissuer.Options{Scope: "bits:kontoinformasjonx"})), forbidden},
		{"no scope", bearer(h.token(devissuer.Options{Claims: map[string]any{"scope": nil}})), forbidden},
		{"other consumer (Skatteetaten)", bearer(h.token(devissuer.Options{Consumer: "0192:974761076"})), forbidden},
		{"consumer without the 0192 prefix", bearer(h.token(devissuer.Options{Consumer: "974760673"})), forbidden},
		{"no consumer", bearer(h.token(devissuer.Options{Claims: map[string]any{"consumer": nil}})), forbidden},
		{"consumer as a string", bearer(h.token(devissuer.Options{Claims: map[string]any{"consumer": "0192:974760673"}})), forbidden},
		{"BRREG only as supplier", bearer(h.token(devissuer.Options{Consumer: "0192:889640782",
			Claims: map[string]any{"supplier": map[string]any{"authority": "iso6523-actorid-upis", "ID": "0192:974760673"}}})), forbidden},
		{"BRREG only in the deprecated client_orgno", bearer(h.token(devissuer.Options{Consumer: "0192:889640782", Claims: map[string]any{"client_orgno": "974760673"}})), forbidden},
		// Issue #29: consumer.authority, scopes on single spaces, one spelling of a token.
		{"consumer under another authority", bearer(h.token(devissuer.Options{Claims: map[string]any{"consumer": map[string]any{"authority": "other", "ID": "0192:974760673"}}})), forbidden},
		{"consumer without authority", bearer(h.token(devissuer.Options{Claims: map[string]any{"consumer": map[string]any{"ID": "0192:974760673"}}})), forbidden},
		{"scope separated by a TAB", bearer(h.token(devissuer.Options{Scope: "bits:kontoinformasjon\tbits:kundeforhold"})), forbidden},
		{"scope separated by a newline", bearer(h.token(devissuer.Options{Scope: "openid\nbits:kontoinformasjon"})), forbidden},
		{"signature in the standard base64 alphabet", bearer(stdAlphabet(valid)), unauthorized},
		{"signature with padding", bearer(valid + "=="), unauthorized},
		{"claims with stray bits", bearer(parts[0] + "." + strayBits(parts[1]) + "." + parts[2]), unauthorized},
	}
	// The reason the audit record gives, where a row's reason is pinned.
	reasons := map[string]string{
		"alg none":                                  "token:alg",
		"HS256 with the public key":                 "token:alg",
		"alg not a string":                          "token:malformed",
		"kid not a string":                          "token:malformed",
		"no kid":                                    "token:kid",
		"unknown key":                               "token:unknown_kid",
		"crit names an unknown extension":           "token:crit",
		"consumer under another authority":          "token:consumer",
		"scope separated by a TAB":                  "token:scope",
		"signature in the standard base64 alphabet": "token:malformed",
	}
	require.GreaterOrEqual(t, len(cases), 40)
	ok := h.headers(openOrg)
	require.Equal(t, http.StatusOK, h.do(http.MethodGet, accountsURL(earliest, today), ok).Code, "the request is served with a valid token")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hd := h.headers(openOrg)
			hd.Del("Authorization")
			for _, v := range c.auth {
				hd.Add("Authorization", v)
			}
			code := map[int]string{401: "ACC-010", 403: "ACC-011"}[c.status]
			requireProblem(t, h.do(http.MethodGet, accountsURL(earliest, today), hd), c.status, code)
			r := h.audit.Records()[len(h.audit.Records())-1]
			require.Equal(t, c.status, r.Status, "refused and audited")
			require.True(t, strings.HasPrefix(r.Reason, "token:"), r.Reason)
			if want, ok := reasons[c.name]; ok {
				require.Equal(t, want, r.Reason)
			}
		})
	}
}

func TestToken_ValidWithinSkewAndWithScopeList(t *testing.T) {
	h := newHarness(t)
	for name, o := range map[string]devissuer.Options{
		"several scopes":      {Scope: "bits:kundeforhold bits:kontoinformasjon"},
		"nbf within skew":     {NotBefore: 5 * time.Second},
		"just issued, skewed": {Now: now.Add(5 * time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			hd := h.headers(openOrg)
			hd.Set("Authorization", "Bearer "+h.token(o))
			require.Equal(t, http.StatusOK, h.do(http.MethodGet, accountsURL(earliest, today), hd).Code)
		})
	}
}

// one token, several requests; and the JWKS is fetched once for them.
func TestToken_ReusedTokenAndCachedKeys(t *testing.T) {
	h := newHarness(t)
	hd := h.headers(openOrg)
	for range 5 {
		require.Equal(t, http.StatusOK, h.do(http.MethodGet, accountsURL(earliest, today), hd).Code)
	}
	require.EqualValues(t, 1, h.jwksHits.Load())
}

// An unknown kid makes the validator fetch the JWKS again once (rotation), then refuse.
func TestToken_UnknownKidRefreshesOnceThen401(t *testing.T) {
	h := newHarness(t)
	require.Equal(t, http.StatusOK, h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg)).Code)
	before := h.jwksHits.Load()
	hd := h.headers(openOrg)
	hd.Set("Authorization", "Bearer "+h.token(devissuer.Options{ForeignKey: true, KID: "new-key"}))
	requireProblem(t, h.do(http.MethodGet, accountsURL(earliest, today), hd), 401, "ACC-010")
	require.Equal(t, before+1, h.jwksHits.Load())
}

func TestToken_NeverLogged(t *testing.T) {
	h := newHarness(t)
	hd := h.headers(openPerson)
	require.Equal(t, http.StatusOK, h.do(http.MethodGet, accountsURL(earliest, today), hd).Code)
	hd.Set("PartyID", openPerson[:10]+"9") // a refusal quotes the PartyID in its message, masked
	h.do(http.MethodGet, accountsURL(earliest, today), hd)
	tok := strings.TrimPrefix(hd.Get("Authorization"), "Bearer ")
	require.NotContains(t, h.logs.String(), tok[len(tok)-20:])
	require.NotContains(t, h.logs.String(), openPerson)
	require.NotContains(t, h.logs.String(), openPerson[:10]+"9")
}

// stdAlphabet spells a token's signature in the standard base64 alphabet: the same bytes, a
// second spelling. A test token's signature has a '-' or '_' in it nearly always; one that has
// neither is re-minted by the caller's luck, so the helper makes sure the spelling differs.
func stdAlphabet(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig := strings.NewReplacer("-", "+", "_", "/").Replace(tok[i+1:])
	if sig == tok[i+1:] {
		sig += "=" // no '-' or '_': padding is the other spelling
	}
	return tok[:i+1] + sig
}

// strayBits changes the unused low bits of a base64url part's last character: the decoded bytes
// stay the same, the spelling does not.
func strayBits(part string) string {
	if len(part)%4 == 0 {
		return part + "A" // no spare bits: an extra character is not canonical either
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, part[len(part)-1])
	return part[:len(part)-1] + string(alphabet[last^1])
}

// During a move of the bank's URL, tokens for the old and the new one are both accepted when
// DSOP_AUDIENCES names both; without it, only the registered base URL (issue #29).
func TestToken_SeveralAudiencesDuringAMove(t *testing.T) {
	const moved = "https://api.bank.example/dsop/v2"
	for _, accept := range []bool{false, true} {
		h := newHarness(t, func(d *httpapi.Deps) {
			if accept {
				d.Tokens.(*validation.TokenValidator).Audiences = []string{baseURL, moved}
			}
		})
		hd := h.headers(openOrg)
		hd.Set("Authorization", "Bearer "+h.token(devissuer.Options{Audience: moved}))
		want := map[bool]int{false: http.StatusUnauthorized, true: http.StatusOK}[accept]
		require.Equal(t, want, h.do(http.MethodGet, accountsURL(earliest, today), hd).Code, "DSOP_AUDIENCES set: %v", accept)
		require.Equal(t, http.StatusOK, h.do(http.MethodGet, accountsURL(earliest, today), h.headers(openOrg)).Code, "the registered URL's tokens still work")
	}
}
