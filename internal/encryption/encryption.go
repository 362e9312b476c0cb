// Package encryption turns a 200 body into JWE compact serialization for the consumer that asked
// (kontrollinformasjon-api.md §3.1, §9.2): key management RSA-OAEP-256 with the public key of the
// consumer's certificate, content encryption A128CBC-HS256 by default (what a public consumer
// implementation decrypts with) or A256GCM, and the certificate's kid and x5t#S256 in the
// protected header. The plaintext is the JSON body unchanged: the one the audit log hashed.
package encryption

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"

	"github.com/dsop-bank/dsop-bank/internal/buffers"
	"github.com/dsop-bank/dsop-bank/internal/certpub"
)

// The allowed enc values (DSOP_JWE_ENC).
const (
	A128CBCHS256 = "A128CBC-HS256" // what a public consumer implementation decrypts with; default
	A256GCM      = "A256GCM"
)

// contentEncryption maps an enc name to the library's algorithm; unknown names get the default.
func contentEncryption(name string) jwa.ContentEncryptionAlgorithm {
	if name == A256GCM {
		return jwa.A256GCM()
	}
	return jwa.A128CBC_HS256()
}

// Encrypter encrypts bodies for consumers. It must not be copied after first use.
type Encrypter struct {
	Certs certpub.Source
	// Enc is the content encryption, A128CBCHS256 (the default when empty) or A256GCM.
	Enc string

	outputs buffers.Pool // the memory of answers that have left, for the next ones
}

// Seal encrypts one body for the consumer For found. It fails only if the encryption itself
// does (the key was checked when it was found). release, when not nil, gives the output's memory
// back for a later body (issue #15): call it once, when nothing holds the output any more (the
// answer has been written); without it the memory is left to the garbage collector.
type Seal func(ctx context.Context, plaintext []byte) (out []byte, release func(), err error)

// For finds consumerID's certificate and returns what encrypts a body for it. The server looks
// the certificate up before the answer's audit record is written, so that a certificate CertPub
// cannot give is refused like any other error, and then encrypts the body while the record is
// being written (issue #15).
func (e *Encrypter) For(ctx context.Context, consumerID string) (Seal, error) {
	cert, err := e.Certs.Certificate(ctx, consumerID)
	if err != nil {
		return nil, fmt.Errorf("encryption certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("encryption certificate has no RSA key")
	}
	thumb := sha256.Sum256(cert.Raw)
	x5t := base64.RawURLEncoding.EncodeToString(thumb[:])
	enc := contentEncryption(e.Enc)
	if enc == jwa.A128CBC_HS256() {
		s, err := newCBCSealer(pub, x5t, x5t)
		if err != nil {
			return nil, fmt.Errorf("encryption header: %w", err)
		}
		return func(_ context.Context, plaintext []byte) ([]byte, func(), error) {
			out, release, err := s.seal(plaintext, &e.outputs)
			if err != nil {
				return nil, nil, fmt.Errorf("encrypt response: %w", err)
			}
			return out, release, nil
		}, nil
	}
	return func(_ context.Context, plaintext []byte) ([]byte, func(), error) {
		// A header per message: the library adds alg and enc to the one it is given.
		hdr := jwe.NewHeaders()
		_ = hdr.Set(jwe.KeyIDKey, x5t)
		_ = hdr.Set(jwe.X509CertThumbprintS256Key, x5t)
		_ = hdr.Set(jwe.ContentTypeKey, "application/json")
		out, err := jwe.Encrypt(plaintext,
			jwe.WithKey(jwa.RSA_OAEP_256(), pub),
			jwe.WithContentEncryption(enc),
			jwe.WithProtectedHeaders(hdr),
		)
		if err != nil {
			return nil, nil, fmt.Errorf("encrypt response: %w", err)
		}
		return out, nil, nil
	}, nil
}

// Decrypt opens a JWE with an RSA private key (for testers: dsop-bank decrypt).
func Decrypt(compact []byte, key *rsa.PrivateKey) ([]byte, error) {
	return jwe.Decrypt(compact, jwe.WithKey(jwa.RSA_OAEP_256(), key))
}

// ParsePrivateKey reads an RSA private key from PEM (PKCS#1 or PKCS#8).
func ParsePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no RSA private key in the PEM file")
		}
		switch blk.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, err
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, errors.New("the private key is not RSA")
			}
			return rk, nil
		}
	}
}

// Header is what a consumer reads from a JWE's protected header before it decrypts.
type Header struct {
	Alg, Enc, KID, X5TS256 string
}

// Inspect parses a JWE compact serialization and returns its protected header, without
// decrypting it (for the conformance kit).
func Inspect(compact []byte) (Header, error) {
	msg, err := jwe.Parse(compact)
	if err != nil {
		return Header{}, err
	}
	h := msg.ProtectedHeaders()
	var out Header
	if alg, ok := h.Algorithm(); ok {
		out.Alg = alg.String()
	}
	if enc, ok := h.ContentEncryption(); ok {
		out.Enc = enc.String()
	}
	out.KID, _ = h.KeyID()
	out.X5TS256, _ = h.X509CertThumbprintS256()
	return out, nil
}
