package encryption

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/buffers"
)

// The A128CBC-HS256 example of RFC 7516 Appendix A.2, worked through in Appendix B: its key,
// IV, header and plaintext must give exactly its ciphertext and authentication tag.
func TestSealCBCHS256_RFC7516AppendixB(t *testing.T) {
	cek := []byte{4, 211, 31, 197, 84, 157, 252, 254, 11, 100, 157, 250, 63, 170, 106, 206,
		107, 124, 212, 45, 111, 107, 9, 219, 200, 177, 0, 240, 143, 156, 44, 207}
	iv := []byte{3, 22, 60, 12, 43, 67, 104, 105, 108, 108, 105, 99, 111, 116, 104, 101}
	header := "eyJhbGciOiJSU0ExXzUiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0"
	wrapped := []byte{1, 2, 3} // not part of the content encryption
	out, err := sealCBCHS256(nil, header, wrapped, cek, iv, []byte("Live long and prosper."))
	require.NoError(t, err)
	require.Equal(t, []string{header, "AQID", "AxY8DCtDaGlsbGljb3RoZQ",
		"KDlTtXchhZTGufMYmOYGS4HffxPSUrfmqCHXaI9wOGY", "9hH0vgRfYgPnAHOd8stkvw"}, strings.Split(string(out), "."))
}

// Every length the chunking treats differently — inside and at a block, inside and at a chunk,
// past several — decrypts to the very bytes sealed, with jwx and with go-jose, the output is
// exactly as long as its capacity (sized in advance: no copy on the way) and the plaintext is
// left untouched.
func TestSeal_DecryptsWithTwoLibrariesAtEveryBoundary(t *testing.T) {
	e, key := encrypter(t, A128CBCHS256)
	seal, err := e.For(context.Background(), "0192:974760673")
	require.NoError(t, err)
	s, err := newCBCSealer(&key.PublicKey, "kid", "kid")
	require.NoError(t, err)
	// (Not 0: a body is never empty, and neither library decrypts an empty plaintext, not even
	// its own.)
	for _, n := range []int{1, 15, 16, 17, 47, 48, 49, cbcChunk - 17, cbcChunk - 16, cbcChunk - 1, cbcChunk,
		cbcChunk + 1, cbcChunk + 16, 2 * cbcChunk, 3*cbcChunk + 5, 400_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			plain := make([]byte, n)
			_, _ = rand.Read(plain)
			kept := bytes.Clone(plain)
			msg, _, err := seal(context.Background(), plain)
			require.NoError(t, err)
			require.Equal(t, kept, plain, "the plaintext is only read")
			got, err := Decrypt(msg, key)
			require.NoError(t, err)
			require.Equal(t, plain, got)
			// A second, independent implementation opens it too, allowing only these algorithms.
			obj, err := jose.ParseEncrypted(string(msg), []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A128CBC_HS256})
			require.NoError(t, err)
			got, err = obj.Decrypt(key)
			require.NoError(t, err)
			require.Equal(t, plain, got)

			direct, _, err := s.seal(plain, &buffers.Pool{})
			require.NoError(t, err)
			require.Equal(t, len(direct), cap(direct), "the output is sized in advance")
		})
	}
}

// The protected header says what a consumer needs, and the tag covers every part of the
// message: changing any one of them makes the library refuse it.
func TestSeal_HeaderAndTamperedPartsAreRefused(t *testing.T) {
	e, key := encrypter(t, "")
	seal, err := e.For(context.Background(), "0192:974760673")
	require.NoError(t, err)
	msg, _, err := seal(context.Background(), page())
	require.NoError(t, err)

	parts := strings.Split(string(msg), ".")
	require.Len(t, parts, 5)
	raw, err := b64.DecodeString(parts[0])
	require.NoError(t, err)
	var hdr map[string]string
	require.NoError(t, json.Unmarshal(raw, &hdr))
	require.Equal(t, "RSA-OAEP-256", hdr["alg"])
	require.Equal(t, A128CBCHS256, hdr["enc"])
	require.Equal(t, "application/json", hdr["cty"])
	require.NotEmpty(t, hdr["kid"])
	require.Equal(t, hdr["kid"], hdr["x5t#S256"])
	require.Len(t, hdr, 5)

	_, err = Decrypt(msg, key)
	require.NoError(t, err, "the untouched message opens")
	for i := range parts {
		t.Run(fmt.Sprint("part ", i), func(t *testing.T) {
			changed := append([]string(nil), parts...)
			b, err := b64.DecodeString(changed[i])
			require.NoError(t, err)
			b[len(b)/2] ^= 0x01
			changed[i] = b64.EncodeToString(b)
			_, err = Decrypt([]byte(strings.Join(changed, ".")), key)
			require.Error(t, err)
		})
	}
}

// The vectorised encoder writes what the standard library's would, at every length up to a few
// of its vector widths, at the chunk size, and appended after text already there.
func TestAppendB64_SameAsTheStandardLibrary(t *testing.T) {
	src := make([]byte, cbcChunk+300)
	_, _ = rand.Read(src)
	for _, n := range append(seq(0, 300), cbcChunk, cbcChunk+1, cbcChunk+299) {
		want := "x." + base64.RawURLEncoding.EncodeToString(src[:n])
		require.Equal(t, want, string(appendB64([]byte("x."), src[:n])), "length %d", n)
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// A large answer's memory is written over by a later one only after its release, and a release
// called twice gives it back once: two later answers never share it. Small answers are left to
// the allocator.
func TestSeal_OutputMemoryIsReusedOnlyAfterRelease(t *testing.T) {
	_, key := encrypter(t, A128CBCHS256)
	s, err := newCBCSealer(&key.PublicKey, "kid", "kid")
	require.NoError(t, err)
	var o buffers.Pool
	body := func(c byte) []byte { return bytes.Repeat([]byte{c}, 100<<10) }
	same := func(a, b []byte) bool { return &a[:1][0] == &b[:1][0] }

	_, release, err := s.seal([]byte(`{"accounts":[]}`), &o)
	require.NoError(t, err)
	require.Nil(t, release, "a small answer is not kept")

	a, releaseA, err := s.seal(body('a'), &o)
	require.NoError(t, err)
	require.NotNil(t, releaseA)
	was := string(a)
	for c := byte('b'); c < 'h'; c++ {
		b, _, err := s.seal(body(c), &o) // never released
		require.NoError(t, err)
		require.False(t, same(a, b))
		require.Equal(t, was, string(a), "an answer not released is never written over")
	}
	releaseA()
	releaseA()
	c, _, err := s.seal(body('c'), &o)
	require.NoError(t, err)
	d, _, err := s.seal(body('d'), &o)
	require.NoError(t, err)
	require.False(t, same(c, d), "released twice, given back once")

	// The pool may drop a buffer now and then (a quarter of them under the race detector).
	reused := false
	for i := 0; i < 12 && !reused; i++ {
		x, releaseX, err := s.seal(body('x'), &o)
		require.NoError(t, err)
		releaseX()
		y, releaseY, err := s.seal(body('y'), &o)
		require.NoError(t, err)
		reused = same(x, y)
		got, err := Decrypt(y, key)
		require.NoError(t, err)
		require.Equal(t, body('y'), got, "a reused buffer holds only the new answer")
		releaseY()
	}
	require.True(t, reused, "a released answer's memory is reused")
}
