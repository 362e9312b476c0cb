package certpub

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	fetches            atomic.Int32
}

func newFakeCertPub(t *testing.T, cert *x509.Certificate) *fakeCertPub {
	f := &fakeCertPub{}
	f.publisher = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		f.fetches.Add(1)
		require.Equal(t, "/bcp/api/v1/iso6523-actorid-upis::0192:974760673/"+ProcessID, r.URL.Path)
		fmt.Fprintf(w, `<?xml version="1.0"?><ServiceMetadata xmlns="urn:difi:bcp"><Participant><Identifier>iso6523-actorid-upis::0192:974760673</Identifier>
		<Process><Identifier>bdx-procid-other::x</Identifier><Certificate>AAAA</Certificate></Process>
		<Process><Identifier>%s</Identifier><Certificate>%s</Certificate></Process></Participant></ServiceMetadata>`, ProcessID, base64.StdEncoding.EncodeToString(cert.Raw))
	}))
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
	clock := time.Now()
	src := &CachedSource{Client: &Client{LocatorURL: f.locator.URL}, TTL: time.Hour, Now: func() time.Time { return clock }}
	ctx := context.Background()

	got, err := src.Certificate(ctx, brreg)
	require.NoError(t, err)
	require.Equal(t, cert.Raw, got.Raw)
	_, err = src.Certificate(ctx, brreg)
	require.NoError(t, err)
	require.EqualValues(t, 1, f.fetches.Load(), "cached")

	// Outage with a warm cache: the cached certificate is used, even after the TTL.
	f.down.Store(true)
	clock = clock.Add(2 * time.Hour)
	got, err = src.Certificate(ctx, brreg)
	require.NoError(t, err)
	require.Equal(t, cert.Raw, got.Raw)

	// Outage with a cold cache: no certificate.
	cold := &CachedSource{Client: &Client{LocatorURL: f.locator.URL}, TTL: time.Hour}
	_, err = cold.Certificate(ctx, brreg)
	require.ErrorIs(t, err, ErrNoCertificate)

	// Back up: refreshed.
	f.down.Store(false)
	_, err = src.Certificate(ctx, brreg)
	require.NoError(t, err)
	require.EqualValues(t, 2, f.fetches.Load())
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
