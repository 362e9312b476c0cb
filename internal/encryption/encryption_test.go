package encryption

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/certpub"
	"github.com/dsop-bank/dsop-bank/internal/certpub/certpubtest"
)

// page is a Transactions body of 1 000 transactions, about the size the bank sends.
func page() []byte {
	var b strings.Builder
	b.WriteString(`{"responseDetails":{"status":"complete"},"transactions":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"transactionIdentifier":"tx-%09d","references":[{"value":"%010d","type":"archiveReference"}],"creditDebitIndicator":"debit","status":"booked","bookingDate":"2026-01-01T12:00:00Z","valueDate":"2026-01-01T12:00:00Z","additionalInfo":"Faktura %d","registered":"2026-01-01T12:00:00Z","amount":123.45,"currency":"NOK"}`, i, i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func encrypter(tb testing.TB, enc string) (*Encrypter, *rsa.PrivateKey) {
	ca, err := certpubtest.NewTestCA()
	require.NoError(tb, err)
	cert, key, err := ca.Issue("974760673", time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), x509.KeyUsageKeyEncipherment)
	require.NoError(tb, err)
	return &Encrypter{Certs: &certpub.FileSource{Cert: cert, Checker: certpub.Checker{}}, Enc: enc}, key
}

func TestEncrypt_RoundTripAndHeaderForBothContentEncryptions(t *testing.T) {
	for _, enc := range []string{A128CBCHS256, A256GCM, ""} {
		e, key := encrypter(t, enc)
		body := page()
		seal, err := e.For(context.Background(), "0192:974760673")
		require.NoError(t, err)
		jwe, _, err := seal(context.Background(), body)
		require.NoError(t, err)
		again, _, err := seal(context.Background(), body)
		require.NoError(t, err)
		require.NotEqual(t, jwe, again, "a fresh key and IV for every body")
		h, err := Inspect(jwe)
		require.NoError(t, err)
		require.Equal(t, "RSA-OAEP-256", h.Alg)
		want := enc
		if want == "" {
			want = A128CBCHS256
		}
		require.Equal(t, want, h.Enc)
		require.Equal(t, h.KID, h.X5TS256)
		for _, msg := range [][]byte{jwe, again} {
			plain, err := Decrypt(msg, key)
			require.NoError(t, err)
			require.Equal(t, body, plain)
		}
		other, _ := rsa.GenerateKey(rand.Reader, 2048)
		_, err = Decrypt(jwe, other)
		require.Error(t, err, "only the consumer's key opens it")
	}
}

// BenchmarkJWE is the JWE step of a 1 000-transaction page (RSA-OAEP-256 + A128CBC-HS256,
// 2048-bit key), as make bench reports it: the output's memory is given back as the server gives
// it back once the answer is written.
func BenchmarkJWE(b *testing.B) {
	e, _ := encrypter(b, A128CBCHS256)
	body := page()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		seal, err := e.For(context.Background(), "0192:974760673")
		if err != nil {
			b.Fatal(err)
		}
		_, release, err := seal(context.Background(), body)
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}
