package validation

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// JWKS fetches Maskinporten's signing keys and caches them. Keys are fetched again when the cache
// is older than TTL, and at once when a token names an unknown kid (Maskinporten rotates keys),
// but forced refreshes are spaced by MinRefresh so that tokens with made-up kids cannot turn the
// server into a load generator against Maskinporten.
type JWKS struct {
	URL        string
	Client     *http.Client
	TTL        time.Duration
	MinRefresh time.Duration
	Now        func() time.Time

	mu        sync.Mutex
	set       jwk.Set
	fetchedAt time.Time
	triedAt   time.Time
}

// NewJWKS returns a key source for url with the defaults (TTL 1 h, refresh at most every 10 s).
func NewJWKS(url string, client *http.Client) *JWKS {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &JWKS{URL: url, Client: client, TTL: time.Hour, MinRefresh: 10 * time.Second, Now: time.Now}
}

// ErrUnknownKey is returned when no key with the token's kid exists, even after a refresh.
type ErrUnknownKey struct{ KID string }

func (e ErrUnknownKey) Error() string {
	return fmt.Sprintf("no signing key with kid %q in the issuer's JWKS", e.KID)
}

// Key returns the public key with id kid.
func (j *JWKS) Key(ctx context.Context, kid string) (jwk.Key, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.Now()
	if j.set == nil || now.Sub(j.fetchedAt) > j.TTL {
		if err := j.fetchLocked(ctx, now); err != nil && j.set == nil {
			return nil, err
		}
	}
	if k, ok := j.set.LookupKeyID(kid); ok {
		return k, nil
	}
	if now.Sub(j.triedAt) >= j.MinRefresh {
		if err := j.fetchLocked(ctx, now); err != nil {
			return nil, err
		}
		if k, ok := j.set.LookupKeyID(kid); ok {
			return k, nil
		}
	}
	return nil, ErrUnknownKey{KID: kid}
}

// Ensure fetches the key set if it has never been loaded (at most once a second), for start-up
// and readiness: a server is not ready before it can check a token.
func (j *JWKS) Ensure(ctx context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.set != nil {
		return nil
	}
	now := j.Now()
	if now.Sub(j.triedAt) < time.Second {
		return fmt.Errorf("JWKS %s not loaded yet", j.URL)
	}
	return j.fetchLocked(ctx, now)
}

func (j *JWKS) fetchLocked(ctx context.Context, now time.Time) error {
	j.triedAt = now
	set, err := jwk.Fetch(ctx, j.URL, jwk.WithHTTPClient(j.Client))
	if err != nil {
		return fmt.Errorf("fetch JWKS %s: %w", j.URL, err)
	}
	j.set, j.fetchedAt = set, now
	return nil
}
