package accounts

import (
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
