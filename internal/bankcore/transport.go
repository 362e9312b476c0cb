package bankcore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Auth is how dsop-bank proves itself to the bank's core: mutual TLS, an OAuth2
// client-credentials token, both, or neither (a core reached over a private network).
type Auth struct {
	Cert, Key, CA string // PEM files: our client certificate and key, the CAs the core's certificate chains to

	TokenURL, ClientID, ClientSecretFile string // OAuth2 client credentials (RFC 6749 §4.4)
	Scopes                               []string
}

// HTTPClient is the client the connector calls the core with. The OAuth2 token is fetched, cached
// and renewed by golang.org/x/oauth2 through the same TLS transport.
func (a Auth) HTTPClient(ctx context.Context) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 64 // one request of a debtor with many accounts calls the core at once
	if a.Cert != "" {
		cert, err := tls.LoadX509KeyPair(a.Cert, a.Key)
		if err != nil {
			return nil, fmt.Errorf("DSOP_BANK_CORE_CERT: %w", err)
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	if a.CA != "" {
		b, err := os.ReadFile(a.CA)
		if err != nil {
			return nil, fmt.Errorf("DSOP_BANK_CORE_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("DSOP_BANK_CORE_CA %s: no certificates", a.CA)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	base := &http.Client{Transport: tr}
	if a.TokenURL == "" {
		return base, nil
	}
	secret, err := os.ReadFile(a.ClientSecretFile)
	if err != nil {
		return nil, fmt.Errorf("DSOP_BANK_CORE_CLIENT_SECRET_FILE: %w", err)
	}
	cc := clientcredentials.Config{ClientID: a.ClientID, ClientSecret: strings.TrimSpace(string(secret)), TokenURL: a.TokenURL, Scopes: a.Scopes}
	// The token source outlives this call: it renews the token as the server runs.
	return cc.Client(context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, base)), nil
}
