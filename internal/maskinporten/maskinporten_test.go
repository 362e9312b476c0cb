package maskinporten_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/maskinporten"
)

func enterpriseCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "DEMO BANK", SerialNumber: "999999999"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// fakeMaskinporten checks each grant as Maskinporten does — signature by the certificate in
// x5c, audience, issuer, scope, a lifetime of at most 120 s — and answers a token.
func fakeMaskinporten(t *testing.T, fetches *atomic.Int32, refuse *atomic.Bool) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/token", r.URL.Path)
		require.NoError(t, r.ParseForm())
		require.Equal(t, "urn:ietf:params:oauth:grant-type:jwt-bearer", r.PostForm.Get("grant_type"))
		if refuse.Load() {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_scope","error_description":"scope brreg:konkursvarsel not granted"}`))
			return
		}
		grant := []byte(r.PostForm.Get("assertion"))
		msg, err := jws.Parse(grant)
		require.NoError(t, err)
		chain, ok := msg.Signatures()[0].ProtectedHeaders().X509CertChain()
		require.True(t, ok, "the certificate chain is in x5c")
		b64, _ := chain.Get(0)
		der, err := base64.StdEncoding.DecodeString(string(b64))
		require.NoError(t, err)
		cert, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		payload, err := jws.Verify(grant, jws.WithKey(jwa.RS256(), cert.PublicKey))
		require.NoError(t, err, "signed by the enterprise certificate's key")
		var claims struct {
			Aud, Iss, Scope string
			Iat, Exp        int64
		}
		require.NoError(t, json.Unmarshal(payload, &claims))
		require.Equal(t, srv.URL+"/", claims.Aud)
		require.Equal(t, "client-123", claims.Iss)
		require.Equal(t, "brreg:konkursvarsel", claims.Scope)
		require.LessOrEqual(t, claims.Exp-claims.Iat, int64(120))
		fetches.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "token-" + string(rune('0'+fetches.Load())), "expires_in": 120})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSource_FetchesReusesAndRenewsTokens(t *testing.T) {
	var fetches atomic.Int32
	var refuse atomic.Bool
	srv := fakeMaskinporten(t, &fetches, &refuse)
	now := time.Now()
	s := &maskinporten.Source{Issuer: srv.URL + "/", ClientID: "client-123", Scope: "brreg:konkursvarsel",
		Key: enterpriseCert(t), Now: func() time.Time { return now }}
	ctx := context.Background()
	tok, err := s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "token-1", tok)
	tok, _ = s.Token(ctx)
	require.Equal(t, "token-1", tok, "reused while valid")
	require.EqualValues(t, 1, fetches.Load())

	now = now.Add(101 * time.Second) // less than 20 s left
	tok, _ = s.Token(ctx)
	require.Equal(t, "token-2", tok, "renewed before it expires")

	s.Forget()
	tok, _ = s.Token(ctx)
	require.Equal(t, "token-3", tok, "a refused token is replaced")

	refuse.Store(true)
	s.Forget()
	_, err = s.Token(ctx)
	require.ErrorContains(t, err, "invalid_scope", "Maskinporten's reason reaches the operator")
}
