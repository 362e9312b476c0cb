package certpub

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/certpub/certpubtest"
)

const brreg = "0192:974760673"

func TestChecker_RefusesUnusableCertificates(t *testing.T) {
	ca, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	other, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	now := time.Now()
	enc := x509.KeyUsageKeyEncipherment
	good, _, err := ca.Issue("974760673", now.Add(-time.Hour), now.AddDate(1, 0, 0), enc)
	require.NoError(t, err)
	expired, _, _ := ca.Issue("974760673", now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0), enc)
	future, _, _ := ca.Issue("974760673", now.Add(time.Hour), now.AddDate(1, 0, 0), enc)
	wrongOrg, _, _ := ca.Issue("974761076", now.Add(-time.Hour), now.AddDate(1, 0, 0), enc)
	signOnly, _, _ := ca.Issue("974760673", now.Add(-time.Hour), now.AddDate(1, 0, 0), x509.KeyUsageDigitalSignature)
	foreign, _, _ := other.Issue("974760673", now.Add(-time.Hour), now.AddDate(1, 0, 0), enc)

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	ch := Checker{Roots: roots}
	require.NoError(t, ch.Check(good, brreg))
	for name, c := range map[string]*x509.Certificate{"expired": expired, "not yet valid": future, "other organisation": wrongOrg, "no key encipherment": signOnly, "other CA": foreign} {
		require.Error(t, ch.Check(c, brreg), name)
	}
	require.NoError(t, Checker{}.Check(foreign, brreg), "without a CA bundle the chain is not checked")
}

// fakeCertPub is a locator and a publisher.
type fakeCertPub struct {
	locator, publisher *httptest.Server
	down               atomic.Bool
	hang               atomic.Bool // the publisher answers only when release is closed
	release            chan struct{}
	fetches            atomic.Int32
}

func newFakeCertPub(t *testing.T, certs ...*x509.Certificate) *fakeCertPub {
	f := &fakeCertPub{release: make(chan struct{})}
	f.publisher = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.hang.Load() {
			<-f.release
		}
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		f.fetches.Add(1)
		require.Equal(t, "/bcp/api/v1/iso6523-actorid-upis::0192:974760673/"+ProcessID, r.URL.Path)
		var own string
		for _, c := range certs {
			own += "<Certificate>" + base64.StdEncoding.EncodeToString(c.Raw) + "</Certificate>"
		}
		fmt.Fprintf(w, `<?xml version="1.0"?><ServiceMetadata xmlns="urn:difi:bcp"><Participant><Identifier>iso6523-actorid-upis::0192:974760673</Identifier>
		<Process><Identifier>bdx-procid-other::x</Identifier><Certificate>AAAA</Certificate></Process>
		<Process><Identifier>%s</Identifier>%s</Process></Participant></ServiceMetadata>`, ProcessID, own)
	}))
	t.Cleanup(func() {
		select {
		case <-f.release:
		default:
			close(f.release)
		}
	})
	f.locator = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		require.Equal(t, "/lookup/v2/iso6523-actorid-upis::0192:974760673", r.URL.Path)
		_ = json.NewEncoder(w).Encode(map[string]string{"difi-bcp-v1": f.publisher.URL + "/bcp/"})
	}))
	t.Cleanup(f.locator.Close)
	t.Cleanup(f.publisher.Close)
	return f
}

func TestCachedSource_LookupCacheAndOutage(t *testing.T) {
	ca, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	cert, _, err := ca.Issue("974760673", time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), x509.KeyUsageKeyEncipherment)
	require.NoError(t, err)
	f := newFakeCertPub(t, cert)
	var mu sync.Mutex
	clock := time.Now()
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	src := &CachedSource{Client: &Client{LocatorURL: f.locator.URL}, TTL: time.Hour, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }}
	ctx := context.Background()

	got, err := src.Certificate(ctx, brreg)
	require.NoError(t, err)
	require.Equal(t, cert.Raw, got.Raw)
	_, err = src.Certificate(ctx, brreg)
	require.NoError(t, err)
	require.EqualValues(t, 1, f.fetches.Load(), "cached")

	// Outage with a warm cache: the cached certificate is used, even after the TTL.
	f.down.Store(true)
	advance(2 * time.Hour)
	got, err = src.Certificate(ctx, brreg)
	require.NoError(t, err)
	require.Equal(t, cert.Raw, got.Raw)

	// Outage with a cold cache: no certificate.
	cold := &CachedSource{Client: &Client{LocatorURL: f.locator.URL}, TTL: time.Hour}
	_, err = cold.Certificate(ctx, brreg)
	require.ErrorIs(t, err, ErrNoCertificate)

	// Back up: after the back-off, refreshed in the background while the cached one serves.
	f.down.Store(false)
	require.Eventually(t, func() bool {
		advance(2 * time.Second)
		_, err := src.Certificate(ctx, brreg)
		require.NoError(t, err)
		return f.fetches.Load() == 2
	}, 5*time.Second, 20*time.Millisecond)
}

// CertPub that hangs past the cache's TTL does not hold requests: the cached certificate is
// served at once while one refresh runs in the background (issue #29: 15–17 s per request).
func TestCachedSource_ServesTheCachedCertificateWhileCertPubHangs(t *testing.T) {
	ca, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	cert, _, err := ca.Issue("974760673", time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), x509.KeyUsageKeyEncipherment)
	require.NoError(t, err)
	f := newFakeCertPub(t, cert)
	var mu sync.Mutex
	clock := time.Now()
	src := &CachedSource{Client: &Client{LocatorURL: f.locator.URL}, TTL: time.Hour, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }}
	_, err = src.Certificate(context.Background(), brreg)
	require.NoError(t, err)
	f.hang.Store(true)
	mu.Lock()
	clock = clock.Add(2 * time.Hour)
	mu.Unlock()
	start := time.Now()
	for range 20 {
		got, err := src.Certificate(context.Background(), brreg)
		require.NoError(t, err)
		require.Equal(t, cert.Raw, got.Raw)
	}
	require.Less(t, time.Since(start), time.Second, "no request waited for CertPub")
	close(f.release)
	require.Eventually(t, func() bool { return f.fetches.Load() == 2 }, 5*time.Second, 5*time.Millisecond, "one refresh for twenty requests")
}

// During a rollover the publisher lists several certificates: the valid one that expires last
// is used, never an expired or not yet valid one (issue #29).
func TestCachedSource_PicksTheValidCertificateThatExpiresLast(t *testing.T) {
	ca, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	now, enc := time.Now(), x509.KeyUsageKeyEncipherment
	old, _, _ := ca.Issue("974760673", now.AddDate(-1, 0, 0), now.AddDate(0, 1, 0), enc)
	rolled, _, _ := ca.Issue("974760673", now.Add(-time.Hour), now.AddDate(2, 0, 0), enc)
	expired, _, _ := ca.Issue("974760673", now.AddDate(-3, 0, 0), now.AddDate(-1, 0, 0), enc)
	notYet, _, _ := ca.Issue("974760673", now.Add(24*time.Hour), now.AddDate(5, 0, 0), enc)
	f := newFakeCertPub(t, old, expired, notYet, rolled)
	src := &CachedSource{Client: &Client{LocatorURL: f.locator.URL}, TTL: time.Hour}
	got, err := src.Certificate(context.Background(), brreg)
	require.NoError(t, err)
	require.Equal(t, rolled.Raw, got.Raw)
}

func TestCachedSource_RefusesAPublishedCertificateForAnotherOrganisation(t *testing.T) {
	ca, _ := certpubtest.NewTestCA()
	cert, _, _ := ca.Issue("974761076", time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), x509.KeyUsageKeyEncipherment)
	f := newFakeCertPub(t, cert)
	src := &CachedSource{Client: &Client{LocatorURL: f.locator.URL}, TTL: time.Hour}
	_, err := src.Certificate(context.Background(), brreg)
	require.ErrorIs(t, err, ErrNoCertificate)
	require.ErrorContains(t, err, "not issued to organisation number 974760673")
}
