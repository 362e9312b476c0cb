package validation

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/stretchr/testify/require"
)

// jwksServer serves one key; hang makes every fetch wait until release is closed.
type jwksServer struct {
	*httptest.Server
	hits    atomic.Int32
	hang    atomic.Bool
	fail    atomic.Bool
	empty   atomic.Bool // answer 200 with a key set of no keys
	hmac    atomic.Bool // answer 200 with a key set of one symmetric key
	release chan struct{}
}

func newJWKSServer(t *testing.T) *jwksServer {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	key, err := jwk.Import(raw)
	require.NoError(t, err)
	require.NoError(t, key.Set(jwk.KeyIDKey, "k1"))
	pub, err := key.PublicKey()
	require.NoError(t, err)
	set := jwk.NewSet()
	require.NoError(t, set.AddKey(pub))
	s := &jwksServer{release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.hang.Load() {
			<-s.release
		}
		if s.fail.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		switch {
		case s.empty.Load():
			_, _ = w.Write([]byte(`{"keys":[]}`))
		case s.hmac.Load():
			_, _ = w.Write([]byte(`{"keys":[{"kty":"oct","kid":"k1","k":"c2VjcmV0"}]}`))
		default:
			_ = json.NewEncoder(w).Encode(set)
		}
	}))
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		s.Close()
	})
	return s
}

// A slow JWKS never stalls a token whose kid is cached; an unknown-kid flood makes one fetch.
func TestJWKS_CachedKeysNeverWaitAndUnknownKidsShareOneFetch(t *testing.T) {
	srv := newJWKSServer(t)
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	j := &JWKS{URL: srv.URL, Client: srv.Client(), TTL: time.Hour, MinRefresh: 10 * time.Second, Now: now}
	ctx := context.Background()
	_, err := j.Key(ctx, "k1")
	require.NoError(t, err)
	require.EqualValues(t, 1, srv.hits.Load())

	srv.hang.Store(true) // the issuer now answers only when released
	mu.Lock()
	clock = clock.Add(2 * time.Hour) // the keys are past their refresh time
	mu.Unlock()
	bg, stop := context.WithCancel(ctx)
	defer stop()
	go j.Run(bg) // starts a refresh, which hangs
	require.Eventually(t, func() bool { return srv.hits.Load() == 2 }, 5*time.Second, 5*time.Millisecond)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			k, err := j.Key(ctx, "k1")
			require.NoError(t, err)
			require.NotNil(t, k)
		})
	}
	wg.Wait() // returned while the refresh is still hanging: no validation waited on the network
	require.EqualValues(t, 2, srv.hits.Load())

	// A flood of unknown kids while the fetch hangs shares it: no new request to the issuer.
	results := make(chan error, 50)
	for i := range 50 {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err := j.Key(cctx, "unknown-"+string(rune('a'+i%26)))
			results <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them all arrive at the shared fetch
	close(srv.release)
	for range 50 {
		var unknown ErrUnknownKey
		require.ErrorAs(t, <-results, &unknown)
	}
	require.EqualValues(t, 2, srv.hits.Load(), "the flood caused no fetch of its own")

	// Within MinRefresh further unknown kids are refused without a fetch; after it, one fetch.
	_, err = j.Key(ctx, "unknown-x")
	require.ErrorAs(t, err, new(ErrUnknownKey))
	require.EqualValues(t, 2, srv.hits.Load())
	mu.Lock()
	clock = clock.Add(11 * time.Second)
	mu.Unlock()
	_, err = j.Key(ctx, "unknown-y")
	require.ErrorAs(t, err, new(ErrUnknownKey))
	require.EqualValues(t, 3, srv.hits.Load())
}

// Failures back off, are visible in Status, and the cached keys stay in use meanwhile.
func TestJWKS_FailuresBackOffAndKeepTheCachedKeys(t *testing.T) {
	srv := newJWKSServer(t)
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	j := &JWKS{URL: srv.URL, Client: srv.Client(), TTL: time.Hour, MinRefresh: 10 * time.Second, Now: func() time.Time { return clock }}
	ctx := context.Background()
	require.NoError(t, j.Ensure(ctx))
	srv.fail.Store(true)
	clock = clock.Add(time.Minute)
	_, err := j.Key(ctx, "rotated") // an unknown kid asks; the issuer fails
	require.Error(t, err)
	st := j.Status()
	require.True(t, st.Loaded)
	require.Equal(t, 1, st.Failures)
	require.Contains(t, st.LastError, "502")
	_, err = j.Key(ctx, "k1")
	require.NoError(t, err, "the cached key still works while the issuer is down")
	require.NoError(t, j.Ensure(ctx), "ready: the keys it holds still check tokens")
	hits := srv.hits.Load()
	clock = clock.Add(11 * time.Second) // past MinRefresh, but within the 1 s·2^n back-off? no: back-off is 1 s
	_, _ = j.Key(ctx, "rotated-2")
	require.Equal(t, hits+1, srv.hits.Load())
	require.Equal(t, 2, j.Status().Failures, "consecutive failures count up (the back-off doubles)")

	// A cold cache whose issuer is down: not ready, with the reason, and no fetch storm.
	cold := &JWKS{URL: srv.URL, Client: srv.Client(), TTL: time.Hour, MinRefresh: 10 * time.Second, Now: func() time.Time { return clock }}
	err = cold.Ensure(ctx)
	require.ErrorContains(t, err, "502")
	before := srv.hits.Load()
	for range 20 {
		_, err := cold.Key(ctx, "k1")
		require.ErrorContains(t, err, "not loaded")
	}
	require.Equal(t, before, srv.hits.Load(), "backing off: no fetch per request")
}

// An empty or unusable key set in a 200 answer never replaces keys that verify tokens: it counts
// as a failed fetch, and the cached keys stay in use (issue #29: 50 of 50 valid tokens were
// refused after one).
func TestJWKS_AnEmptyOrUnusableKeySetNeverReplacesUsableKeys(t *testing.T) {
	for name, bad := range map[string]func(s *jwksServer){
		"empty":     func(s *jwksServer) { s.empty.Store(true) },
		"symmetric": func(s *jwksServer) { s.hmac.Store(true) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := newJWKSServer(t)
			clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
			j := &JWKS{URL: srv.URL, Client: srv.Client(), TTL: time.Hour, MinRefresh: 10 * time.Second, Now: func() time.Time { return clock }}
			ctx := context.Background()
			_, err := j.Key(ctx, "k1")
			require.NoError(t, err)
			bad(srv)
			clock = clock.Add(2 * time.Hour)
			<-func() chan struct{} { j.mu.Lock(); defer j.mu.Unlock(); return j.startLocked() }()
			k, err := j.Key(ctx, "k1")
			require.NoError(t, err, "the cached RSA key is still used")
			require.NotNil(t, k)
			st := j.Status()
			require.Positive(t, st.Failures)
			require.Contains(t, st.LastError, "no RSA signing key")
		})
	}
}
