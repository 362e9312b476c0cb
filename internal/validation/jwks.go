package validation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// JWKS holds Maskinporten's signing keys (kontrollinformasjon-api.md §9.1: cache the keys, fetch
// again when an unknown key id appears). Its rules, so that a slow or failing JWKS never stalls
// token checks:
//   - a token whose kid is cached is checked without touching the network, ever;
//   - the keys are refreshed in the background (Run) every TTL; while refreshes fail, the keys
//     already held stay in use;
//   - an unknown kid triggers at most one fetch per MinRefresh, and concurrent requests share that
//     one fetch (single flight) instead of queueing behind a lock;
//   - failures back off exponentially (1 s doubling, capped at MaxBackoff), are logged with their
//     reason, and show in Status (readiness, metrics).
//
// The library's jwk.Cache was considered; its refresh and error handling do not give the
// unknown-kid rate limit and the back-off status readiness needs, so the cache is ours and the
// library parses and fetches.
type JWKS struct {
	URL        string
	Client     *http.Client
	TTL        time.Duration // background refresh period
	MinRefresh time.Duration // at most one unknown-kid fetch per this
	MaxBackoff time.Duration // default 5 minutes
	Timeout    time.Duration // of one fetch; default 10 s
	Now        func() time.Time
	Logger     *slog.Logger

	mu        sync.Mutex // never held over the network
	set       jwk.Set
	fetchedAt time.Time
	triedAt   time.Time // start of the last fetch
	lastErr   error
	failures  int // consecutive
	fetches   int // attempts, for tests and metrics
	failTotal int
	nextTry   time.Time
	inflight  chan struct{}
}

// NewJWKS returns a key source for url with the defaults (refresh every hour, an unknown kid
// fetches at most every 10 s).
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

func (j *JWKS) now() time.Time {
	if j.Now == nil {
		return time.Now()
	}
	return j.Now()
}

// Key returns the public key with id kid.
func (j *JWKS) Key(ctx context.Context, kid string) (jwk.Key, error) {
	j.mu.Lock()
	if j.set != nil {
		if k, ok := j.set.LookupKeyID(kid); ok {
			j.mu.Unlock()
			return k, nil
		}
	}
	now := j.now()
	done := j.inflight
	switch {
	case done != nil:
		// A fetch is under way (a refresh, or another unknown kid): share it.
	case j.set != nil && (now.Sub(j.triedAt) < j.MinRefresh || now.Before(j.nextTry)):
		// Unknown kid, and a fetch ran just now or the issuer is failing: do not ask again.
		j.mu.Unlock()
		return nil, ErrUnknownKey{KID: kid}
	case j.set == nil && now.Before(j.nextTry):
		err := j.lastErr
		j.mu.Unlock()
		return nil, fmt.Errorf("token signing keys not loaded (retrying after %s): %w", j.nextTry.Format(time.RFC3339), err)
	default:
		done = j.startLocked()
	}
	j.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.set == nil {
		return nil, fmt.Errorf("token signing keys not loaded: %w", j.lastErr)
	}
	if k, ok := j.set.LookupKeyID(kid); ok {
		return k, nil
	}
	return nil, ErrUnknownKey{KID: kid}
}

// startLocked starts a fetch unless one is running, and returns its done channel.
func (j *JWKS) startLocked() chan struct{} {
	if j.inflight != nil {
		return j.inflight
	}
	done := make(chan struct{})
	j.inflight = done
	j.fetches++
	j.triedAt = j.now() // any fetch makes the set fresh: an unknown kid right after it needs none
	go func() {
		timeout := j.Timeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		set, err := jwk.Fetch(ctx, j.URL, jwk.WithHTTPClient(j.Client))
		cancel()
		if err == nil && !usableKeys(set) {
			// An empty or unusable answer (a misconfigured proxy, a key rotation gone wrong)
			// must never replace keys that verify tokens (issue #29): it counts as a failure.
			err = errors.New("the key set has no RSA signing key")
		}
		j.mu.Lock()
		now := j.now()
		if err != nil {
			j.failures++
			j.failTotal++
			j.lastErr = fmt.Errorf("fetch JWKS %s: %w", j.URL, err)
			backoff := time.Second << min(j.failures-1, 20)
			if limit := j.maxBackoff(); backoff > limit {
				backoff = limit
			}
			j.nextTry = now.Add(backoff)
			if j.Logger != nil {
				j.Logger.Error("token signing keys could not be fetched; cached keys stay in use", "url", j.URL, "error", err.Error(),
					"failures", j.failures, "retry_in", backoff.String(), "keys_cached", j.set != nil)
			}
		} else {
			if j.failures > 0 && j.Logger != nil {
				j.Logger.Info("token signing keys fetched again", "url", j.URL, "after_failures", j.failures)
			}
			j.set, j.fetchedAt, j.lastErr, j.failures, j.nextTry = set, now, nil, 0, time.Time{}
		}
		j.inflight = nil
		j.mu.Unlock()
		close(done)
	}()
	return done
}

func (j *JWKS) maxBackoff() time.Duration {
	if j.MaxBackoff > 0 {
		return j.MaxBackoff
	}
	return 5 * time.Minute
}

// Run refreshes the keys in the background until ctx ends: at once if none are loaded, then
// every TTL, and after a failure when its back-off has passed.
func (j *JWKS) Run(ctx context.Context) {
	for {
		j.mu.Lock()
		due := j.fetchedAt.Add(j.TTL)
		if j.set == nil || j.lastErr != nil {
			due = j.nextTry
		}
		done := j.inflight
		if done == nil && !j.now().Before(due) {
			done = j.startLocked()
		}
		wait := due.Sub(j.now())
		j.mu.Unlock()
		if done != nil {
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return
			}
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// JWKSStatus is what readiness and metrics report.
type JWKSStatus struct {
	Loaded    bool
	FetchedAt time.Time
	LastError string
	Failures  int // consecutive
	Fetches   int // attempts since start
	FailTotal int // failed attempts since start
}

// Status reports the cache's state.
func (j *JWKS) Status() JWKSStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := JWKSStatus{Loaded: j.set != nil, FetchedAt: j.fetchedAt, Failures: j.failures, Fetches: j.fetches, FailTotal: j.failTotal}
	if j.lastErr != nil {
		st.LastError = j.lastErr.Error()
	}
	return st
}

// Ensure is the readiness check: ready once keys are loaded (a later failing refresh keeps the
// cached keys and the server ready; the failure shows in Status). Before that it starts a fetch
// if none is running or backing off, and reports why the keys are missing.
func (j *JWKS) Ensure(ctx context.Context) error {
	j.mu.Lock()
	if j.set != nil {
		j.mu.Unlock()
		return nil
	}
	var done chan struct{}
	if !j.now().Before(j.nextTry) {
		done = j.startLocked()
	}
	j.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("JWKS %s not loaded yet", j.URL)
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.set != nil {
		return nil
	}
	if j.lastErr != nil {
		return j.lastErr
	}
	return errors.New("JWKS not loaded yet")
}

// usableKeys reports whether set has a key tokens can be verified with: RSA, for signing.
func usableKeys(set jwk.Set) bool {
	for i := range set.Len() {
		k, ok := set.Key(i)
		if !ok || k.KeyType() != jwa.RSA() {
			continue
		}
		if use, ok := k.KeyUsage(); ok && use != "" && use != "sig" {
			continue
		}
		return true
	}
	return false
}
