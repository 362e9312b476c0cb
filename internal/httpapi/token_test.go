package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/devissuer"
)

// A-01…A-07 and the attacks named in the issue.
func TestToken_Refusals(t *testing.T) {
	h := newHarness(t)
	valid := h.token(devissuer.Options{})
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	cases := []struct {
		name   string
		auth   string
		status int
		code   string
	}{
		{"no header", "", 401, "ACC-010"},
		{"not bearer", "Basic dXNlcjpwYXNz", 401, "ACC-010"},
		{"malformed", "Bearer not-a-jwt", 401, "ACC-010"},
		{"bad signature", "Bearer " + parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), 401, "ACC-010"},
		{"tampered payload", "Bearer " + tampered, 401, "ACC-010"},
		{"alg none", "Bearer " + h.token(devissuer.Options{Alg: "none"}), 401, "ACC-010"},
		{"HS256 with the public key", "Bearer " + h.token(devissuer.Options{Alg: "HS256"}), 401, "ACC-010"},
		{"unknown key", "Bearer " + h.token(devissuer.Options{ForeignKey: true, KID: "rotated-away"}), 401, "ACC-010"},
		{"foreign key, known kid", "Bearer " + h.token(devissuer.Options{ForeignKey: true}), 401, "ACC-010"},
		{"expired", "Bearer " + h.token(devissuer.Options{TTL: -time.Minute}), 401, "ACC-010"},
		{"not yet valid", "Bearer " + h.token(devissuer.Options{NotBefore: time.Minute}), 401, "ACC-010"},
		{"issued in the future", "Bearer " + h.token(devissuer.Options{Now: now.Add(time.Hour)}), 401, "ACC-010"},
		{"no exp", "Bearer " + h.token(devissuer.Options{NoExp: true}), 401, "ACC-010"},
		{"wrong iss", "Bearer " + h.token(devissuer.Options{Issuer: "https://maskinporten.no/"}), 401, "ACC-010"},
		{"wrong aud", "Bearer " + h.token(devissuer.Options{Audience: "https://api.otherbank.no/v2"}), 401, "ACC-010"},
		{"scope kundeforhold only", "Bearer " + h.token(devissuer.Options{Scope: "bits:kundeforhold"}), 403, "ACC-011"},
		{"other consumer (Skatteetaten)", "Bearer " + h.token(devissuer.Options{Consumer: "0192:974761076"}), 403, "ACC-011"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hd := h.headers(openOrg)
			hd.Del("Authorization")
			if c.auth != "" {
				hd.Set("Authorization", c.auth)
			}
			requireProblem(t, h.do(http.MethodGet, accountsURL(earliest, today), hd), c.status, c.code)
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
