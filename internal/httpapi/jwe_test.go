package httpapi_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
)

func production(d *httpapi.Deps) { d.Mode = httpapi.ModeProduction }

// The three endpoints of a case, for tests that go over all of them.
func (h *harness) endpoints(t *testing.T) map[string]string {
	ref := h.ref(demoAccount(t, openOrg, dsop.BusinessAccount))
	return map[string]string{
		"accounts":     accountsURL(earliest, today),
		"details":      accountURL(ref, "", earliest, today),
		"transactions": accountURL(ref, "/transactions", earliest, today),
	}
}

// E-01, E-03: production never sends account data in clear, whatever Accept says.
func TestJWE_ProductionEncryptsEvery200ForEveryAccept(t *testing.T) {
	h := newHarness(t, production)
	for name, target := range h.endpoints(t) {
		for _, accept := range []string{"", "*/*", "application/*", "application/jose", "application/json", "application/json, application/jose", "text/plain, application/json"} {
			t.Run(name+" "+accept, func(t *testing.T) {
				hd := h.headers(openOrg)
				hd.Del("Accept")
				if accept != "" {
					hd.Set("Accept", accept)
				}
				rec := h.do(http.MethodGet, target, hd)
				require.Equal(t, 200, rec.Code)
				require.Equal(t, "application/jose", rec.Header().Get("Content-Type"))
				body := rec.Body.String()
				require.Len(t, strings.Split(body, "."), 5, "JWE compact serialization")
				require.NotContains(t, body, "responseDetails")
				plain, err := encryption.Decrypt([]byte(body), h.consumerKey)
				require.NoError(t, err)
				require.Contains(t, string(plain), `"responseDetails"`)
			})
		}
		requireProblem(t, h.do(http.MethodGet, target, withAccept(h.headers(openOrg), "application/xml")), 406, "ACC-013")
	}
}

func withAccept(hd http.Header, a string) http.Header {
	hd.Set("Accept", a)
	return hd
}

// E-02 and the round trip: the decrypted JWE is exactly the clear JSON of the same request, and
// exactly the bytes the audit record hashed.
func TestJWE_RoundTripEqualsClearJSONAndTheAuditHash(t *testing.T) {
	for _, enc := range []string{encryption.A128CBCHS256, encryption.A256GCM} {
		t.Run(enc, func(t *testing.T) {
			h := newHarness(t, func(d *httpapi.Deps) { d.Encrypter.(*encryption.Encrypter).Enc = enc })
			for name, target := range h.endpoints(t) {
				clear := h.do(http.MethodGet, target, h.headers(openOrg))
				require.Equal(t, "application/json", clear.Header().Get("Content-Type"), name)
				rec := h.do(http.MethodGet, target, withAccept(h.headers(openOrg), "application/jose"))
				require.Equal(t, "application/jose", rec.Header().Get("Content-Type"), name)
				hdr, err := encryption.Inspect(rec.Body.Bytes())
				require.NoError(t, err)
				require.Equal(t, "RSA-OAEP-256", hdr.Alg)
				require.Equal(t, enc, hdr.Enc)
				require.NotEmpty(t, hdr.KID)
				require.NotEmpty(t, hdr.X5TS256)
				plain, err := encryption.Decrypt(rec.Body.Bytes(), h.consumerKey)
				require.NoError(t, err)
				require.Equal(t, clear.Body.String(), string(plain), name)
				recs := h.audit.Records()
				require.Equal(t, audit.BodyHash(plain), recs[len(recs)-1].BodySHA256)
			}
		})
	}
}

// E-04: errors are never encrypted.
func TestJWE_ErrorsArePlainJSON(t *testing.T) {
	h := newHarness(t, production)
	requireProblem(t, h.do(http.MethodGet, accountsURL("2010-01-01", today), withAccept(h.headers(openOrg), "application/jose")), 400, "ACC-001")
}

type noCert struct{}

func (noCert) Certificate(context.Context, string) (*x509.Certificate, error) {
	return nil, errors.New("CertPub down and nothing cached")
}

// Without a usable certificate: 500 ACC-100, and no plaintext leaves.
func TestJWE_NoCertificateIs500WithoutPlaintext(t *testing.T) {
	h := newHarness(t, production, func(d *httpapi.Deps) {
		d.Encrypter = &encryption.Encrypter{Certs: noCert{}, Enc: encryption.A128CBCHS256}
	})
	for name, target := range h.endpoints(t) {
		before := len(h.audit.Records())
		rec := h.do(http.MethodGet, target, h.headers(openOrg))
		requireProblem(t, rec, 500, "ACC-100")
		require.NotContains(t, rec.Body.String(), "responseDetails", name)
		// The certificate is looked up before anything is recorded: one record, of the refusal.
		recs := h.audit.Records()[before:]
		require.Len(t, recs, 1, name)
		require.Equal(t, 500, recs[0].Status, name)
		require.Empty(t, recs[0].BodySHA256, name)
		require.Zero(t, recs[0].Withholds, name)
	}
}

// brokenSeal finds the certificate but fails (or panics) when it encrypts.
type brokenSeal struct{ panics bool }

func (b brokenSeal) For(context.Context, string) (encryption.Seal, error) {
	return func(context.Context, []byte) ([]byte, func(), error) {
		if b.panics {
			panic("bug in the encryption")
		}
		return nil, nil, errors.New("encryption failed")
	}, nil
}

// The body is encrypted while its record is written (issue #15). If the encryption fails after
// the record of the answer is durable, nothing leaves, and a second record says the answer of the
// first was withheld — so the log never shows a delivery without saying it did not happen.
func TestJWE_EncryptionFailingAfterTheRecordWithholdsTheAnswer(t *testing.T) {
	for _, panics := range []bool{false, true} {
		h := newHarness(t, production, func(d *httpapi.Deps) { d.Encrypter = brokenSeal{panics: panics} })
		for name, target := range h.endpoints(t) {
			before := len(h.audit.Records())
			rec := h.do(http.MethodGet, target, h.headers(openOrg))
			requireProblem(t, rec, 500, "ACC-100")
			require.Contains(t, rec.Body.String(), "could not be encrypted", name)
			require.NotContains(t, rec.Body.String(), "responseDetails", name)
			recs := h.audit.Records()[before:]
			require.Len(t, recs, 2, name)
			answered, withheld := recs[0], recs[1]
			require.Equal(t, 200, answered.Status, name)
			require.NotEmpty(t, answered.BodySHA256, name)
			require.Equal(t, 500, withheld.Status, name)
			require.Equal(t, "ACC-100", withheld.Code, name)
			require.Equal(t, "withheld", withheld.Reason, name)
			require.Equal(t, answered.Seq, withheld.Withholds, name)
			require.Equal(t, answered.AccountInfoRequestID, withheld.AccountInfoRequestID, name)
			require.Empty(t, withheld.BodySHA256, name)
		}
		rep, err := audit.Verify(context.Background(), h.audit, nil)
		require.NoError(t, err)
		require.True(t, rep.OK(), "the chain holds both records: %s", rep.Problem)
	}
}

// The memory of an encrypted answer is reused for later answers once it has been written (issue
// #15). Answers sent at the same time therefore each decrypt to their own body: none is written
// over by another's encryption before it has left.
func TestJWE_ConcurrentAnswersEachDecryptToTheirOwnBody(t *testing.T) {
	h := newHarness(t, production)
	long := accountURL(h.ref(pagingAccount), "/transactions", earliest, today)
	short := accountURL(h.ref(pagingAccount), "/transactions", "2018-06-08", today)
	want := map[string]string{}
	for _, target := range []string{long, short} {
		rec := h.do(http.MethodGet, target, h.headers(""))
		require.Equal(t, 200, rec.Code)
		require.Greater(t, rec.Body.Len(), 16<<10, "large enough for its memory to be kept")
		plain, err := encryption.Decrypt(rec.Body.Bytes(), h.consumerKey)
		require.NoError(t, err)
		want[target] = string(plain)
	}
	require.NotEqual(t, want[long], want[short])

	var wg sync.WaitGroup
	errs := make(chan error, 8*10)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				target := []string{long, short}[(g+i)%2]
				rec := h.do(http.MethodGet, target, h.headers(""))
				plain, err := encryption.Decrypt(rec.Body.Bytes(), h.consumerKey)
				switch {
				case rec.Code != 200:
					errs <- fmt.Errorf("status %d", rec.Code)
				case err != nil:
					errs <- err
				case string(plain) != want[target]:
					errs <- errors.New("an answer decrypts to another body")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
