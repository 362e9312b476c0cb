package accounts

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// Referencer makes accountReference values: opaque, stable for an account as long as the key is
// kept, and not decodable to the account number without the key (kontrollinformasjon-api.md
// §6.6). A keyed MAC is used rather than a hash because an 11-digit account number could be
// found from a plain hash by trying them all.
type Referencer struct{ key []byte }

// NewReferencer derives the reference key from the server secret.
func NewReferencer(secret []byte) Referencer {
	return Referencer{key: deriveKey(secret, "dsop-bank accountReference v1")}
}

// Reference returns the accountReference of an account number: 24 URL-safe characters.
func (r Referencer) Reference(accountNumber string) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(accountNumber))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Fingerprint identifies a server secret without revealing it: replicas compare fingerprints to
// know they derive the same accountReference values and cursors.
func Fingerprint(secret []byte) string {
	return hex.EncodeToString(deriveKey(secret, "dsop-bank secret fingerprint v1")[:8])
}

// SealedReferencer makes accountReference values the server can open again: the live bank-core
// connector keeps no table from reference to account number, so the number travels inside the
// reference, encrypted. It is deterministic authenticated encryption in the manner of SIV (RFC
// 5297): the IV is a keyed MAC of the number, so a reference is as stable as a Referencer's and
// reveals nothing without the key (kontrollinformasjon-api.md §6.6), and a reference not made
// with the key does not open.
type SealedReferencer struct{ mac, enc []byte }

// NewSealedReferencer derives its keys from the server secret.
func NewSealedReferencer(secret []byte) SealedReferencer {
	return SealedReferencer{mac: deriveKey(secret, "dsop-bank sealed accountReference mac v1"), enc: deriveKey(secret, "dsop-bank sealed accountReference enc v1")}
}

// Reference seals an account number.
func (r SealedReferencer) Reference(accountNumber string) string {
	iv := r.iv(accountNumber)
	out := make([]byte, len(iv)+len(accountNumber))
	copy(out, iv)
	r.stream(iv).XORKeyStream(out[len(iv):], []byte(accountNumber))
	return base64.RawURLEncoding.EncodeToString(out)
}

// Open returns the account number inside a reference; ok is false for one not made with the key.
func (r SealedReferencer) Open(ref string) (accountNumber string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(ref)
	if err != nil || len(b) <= aes.BlockSize {
		return "", false
	}
	iv, ct := b[:aes.BlockSize], b[aes.BlockSize:]
	pt := make([]byte, len(ct))
	r.stream(iv).XORKeyStream(pt, ct)
	if !hmac.Equal(r.iv(string(pt)), iv) {
		return "", false
	}
	return string(pt), true
}

func (r SealedReferencer) iv(accountNumber string) []byte {
	m := hmac.New(sha256.New, r.mac)
	m.Write([]byte(accountNumber))
	return m.Sum(nil)[:aes.BlockSize]
}

func (r SealedReferencer) stream(iv []byte) cipher.Stream {
	block, err := aes.NewCipher(r.enc) // 32 bytes: AES-256
	if err != nil {
		panic(err) // a derived key always has the right length
	}
	return cipher.NewCTR(block, iv)
}
