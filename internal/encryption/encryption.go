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

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwe"

	"github.com/dsop-bank/dsop-bank/internal/certpub"
)

// ContentEncryption names the allowed enc values.
var ContentEncryption = map[string]jwa.ContentEncryptionAlgorithm{
	"A128CBC-HS256": jwa.A128CBC_HS256,
	"A256GCM":       jwa.A256GCM,
}

// Encrypter encrypts bodies for consumers.
type Encrypter struct {
	Certs certpub.Source
	Enc   jwa.ContentEncryptionAlgorithm
}

// Encrypt returns the JWE compact serialization of plaintext for consumerID.
func (e *Encrypter) Encrypt(ctx context.Context, consumerID string, plaintext []byte) ([]byte, error) {
	cert, err := e.Certs.Certificate(ctx, consumerID)
	if err != nil {
		return nil, fmt.Errorf("encryption certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("encryption certificate has no RSA key")
	}
	hdr := jwe.NewHeaders()
	thumb := sha256.Sum256(cert.Raw)
	x5t := base64.RawURLEncoding.EncodeToString(thumb[:])
	_ = hdr.Set(jwe.KeyIDKey, x5t)
	_ = hdr.Set(jwe.X509CertThumbprintS256Key, x5t)
	_ = hdr.Set(jwe.ContentTypeKey, "application/json")
	out, err := jwe.Encrypt(plaintext,
		jwe.WithKey(jwa.RSA_OAEP_256, pub),
		jwe.WithContentEncryption(e.Enc),
		jwe.WithProtectedHeaders(hdr),
	)
	if err != nil {
		return nil, fmt.Errorf("encrypt response: %w", err)
	}
	return out, nil
}

// Decrypt opens a JWE with an RSA private key (for testers: dsop-bank decrypt).
func Decrypt(compact []byte, key *rsa.PrivateKey) ([]byte, error) {
	return jwe.Decrypt(compact, jwe.WithKey(jwa.RSA_OAEP_256, key))
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
	return Header{Alg: h.Algorithm().String(), Enc: h.ContentEncryption().String(), KID: h.KeyID(), X5TS256: h.X509CertThumbprintS256()}, nil
}
