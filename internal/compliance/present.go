package compliance

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Oslo on machines without a zone database (distroless images)
)

// Presenter shows identity numbers and times the one way both the console and the CLI show them.
//
// Masking (docs/compliance.md): an 11-digit national identity number is shown as its first six
// digits, five stars and a keyed pseudonym — "080860***** ~k7q2mf" — so that two numbers with
// the same first digits never look alike, and nobody without the server secret can tell which
// number a pseudonym stands for: the hidden digits cannot be guessed by computing pseudonyms.
// Organisation numbers (9 digits) are no personal data and are shown whole.
//
// A party is referred to in links and searches by an opaque reference (PartyRef): the number
// sealed with a key derived from the server secret, so that a viewer can follow "other cases of
// this party" without ever seeing or sending the number.
type Presenter struct {
	pseudonym []byte
	search    []byte
	seal      cipher.AEAD
	loc       *time.Location
}

// NewPresenter derives the presenter's keys from the server secret (DSOP_SECRET_FILE: every
// replica and the CLI agree). loc is where times are shown (nil: Europe/Oslo).
func NewPresenter(secret []byte, loc *time.Location) (*Presenter, error) {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("dsop-bank compliance " + label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("party reference v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if loc == nil {
		if loc, err = time.LoadLocation("Europe/Oslo"); err != nil {
			return nil, err
		}
	}
	return &Presenter{pseudonym: derive("pseudonym v1"), search: derive("search v1"), seal: aead, loc: loc}, nil
}

var pseudoEnc = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// Pseudonym is the short keyed name of an identity number (30 bits: the numbers that share a
// mask's six digits are at most a thousand, so two of them share a pseudonym about once in a
// million).
func (p *Presenter) Pseudonym(id string) string {
	m := hmac.New(sha256.New, p.pseudonym)
	m.Write([]byte(id))
	return pseudoEnc.EncodeToString(m.Sum(nil))[:6]
}

// Mask shows one party: an identity number masked with its pseudonym, anything else as it is.
func (p *Presenter) Mask(id string) string {
	if len(id) != 11 || strings.Trim(id, "0123456789") != "" {
		return id
	}
	return id[:6] + "***** ~" + p.Pseudonym(id)
}

var elevenDigits = regexp.MustCompile(`\d{11,}`)

// MaskText masks every 11-digit run in a text (a path, a detail) as Mask does.
func (p *Presenter) MaskText(s string) string {
	return elevenDigits.ReplaceAllStringFunc(s, func(m string) string {
		if len(m) != 11 {
			return m
		}
		return p.Mask(m)
	})
}

// PartyRef seals a party number into an opaque reference for links and searches.
func (p *Presenter) PartyRef(id string) string {
	nonce := make([]byte, p.seal.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(p.seal.Seal(nonce, nonce, []byte(id), []byte("party")))
}

// ErrBadPartyRef is a reference that was not made by this bank's server.
var ErrBadPartyRef = errors.New("the party reference is not valid here")

// OpenPartyRef returns the number a reference stands for.
func (p *Presenter) OpenPartyRef(ref string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(ref)
	if err != nil || len(b) < p.seal.NonceSize() {
		return "", ErrBadPartyRef
	}
	n := p.seal.NonceSize()
	id, err := p.seal.Open(nil, b[:n], b[n:], []byte("party"))
	if err != nil {
		return "", ErrBadPartyRef
	}
	return string(id), nil
}

// SearchHash is what the audit log keeps of an identity number an officer searched for: a keyed
// hash, so that the record proves which number was searched (the bank can recompute it) without
// holding the number.
func (p *Presenter) SearchHash(id string) string {
	m := hmac.New(sha256.New, p.search)
	m.Write([]byte(id))
	return "hmac-sha256:" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:22]
}

// Time shows t in the bank's zone with its offset ("2026-12-03 10:15:00 +01:00"); exports use
// UTC (ExportTime).
func (p *Presenter) Time(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.In(p.loc).Format("2006-01-02 15:04:05 -07:00")
}

// ExportTime is a time in exports: UTC, RFC 3339.
func ExportTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
