// Package maskinporten obtains access tokens from Maskinporten for the services dsop-bank calls
// itself (Konkursvarsel, when the bank's agreement says bearer tokens rather than mutual TLS):
// the JWT bearer grant (RFC 7523) signed with the bank's enterprise certificate, whose chain goes
// in the grant's x5c header (or a registered key id, kid, instead). Tokens are reused until
// shortly before they expire; concurrent callers share one fetch.
package maskinporten

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Source hands out access tokens for one client and scope.
type Source struct {
	// Issuer is Maskinporten's issuer, e.g. https://test.maskinporten.no/ — the grant's audience;
	// the token endpoint is <Issuer>token.
	Issuer   string
	ClientID string
	Scope    string
	// Key signs the grant: the enterprise certificate and its key (tls.LoadX509KeyPair). Its
	// chain goes in x5c unless KeyID is set.
	Key   tls.Certificate
	KeyID string
	HTTP  *http.Client
	// Now is the clock (tests); default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// early is how long before its expiry a token is replaced: a request signed with it must still
// reach the service in time.
const early = 20 * time.Second

// Token returns a token valid for at least a little while, fetching one if needed.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock() // one fetch at a time: the others wait for it and use its token
	defer s.mu.Unlock()
	now := s.now()
	if s.token != "" && now.Add(early).Before(s.expires) {
		return s.token, nil
	}
	tok, expiresIn, err := s.fetch(ctx, now)
	if err != nil {
		return "", err
	}
	s.token, s.expires = tok, now.Add(expiresIn)
	return tok, nil
}

// Forget drops the cached token (the service refused it): the next Token fetches a new one.
func (s *Source) Forget() {
	s.mu.Lock()
	s.token = ""
	s.mu.Unlock()
}

func (s *Source) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Source) fetch(ctx context.Context, now time.Time) (string, time.Duration, error) {
	grant, err := s.grant(now)
	if err != nil {
		return "", 0, err
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {grant}}
	endpoint := strings.TrimRight(s.Issuer, "/") + "/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("maskinporten: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("maskinporten token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("maskinporten token: %w", err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &out); err != nil && resp.StatusCode == http.StatusOK {
		return "", 0, fmt.Errorf("maskinporten token: the answer is not JSON: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// The error and its description name what to fix (e.g. invalid_scope); never the grant.
		return "", 0, fmt.Errorf("maskinporten token: HTTP %d %s %s", resp.StatusCode, out.Error, out.Description)
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return "", 0, errors.New("maskinporten token: the answer has no access_token or expires_in")
	}
	return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, nil
}

// grant is the signed JWT of the bearer grant: valid for two minutes (Maskinporten's most).
func (s *Source) grant(now time.Time) (string, error) {
	signer, ok := s.Key.PrivateKey.(crypto.Signer)
	if !ok || len(s.Key.Certificate) == 0 {
		return "", errors.New("maskinporten: no enterprise certificate and key to sign the grant")
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	payload, err := json.Marshal(map[string]any{
		"aud": s.Issuer, "iss": s.ClientID, "scope": s.Scope,
		"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(), "jti": hex.EncodeToString(jti),
	})
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	if s.KeyID != "" {
		_ = hdr.Set(jws.KeyIDKey, s.KeyID)
	} else {
		var chain cert.Chain
		for _, der := range s.Key.Certificate {
			if err := chain.Add([]byte(base64.StdEncoding.EncodeToString(der))); err != nil {
				return "", fmt.Errorf("maskinporten: certificate chain: %w", err)
			}
		}
		_ = hdr.Set(jws.X509CertChainKey, &chain)
	}
	alg := jwa.RS256()
	if _, ec := signer.Public().(*ecdsa.PublicKey); ec {
		alg = jwa.ES256()
	}
	b, err := jws.Sign(payload, jws.WithKey(alg, signer, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("maskinporten: sign the grant: %w", err)
	}
	return string(b), nil
}
