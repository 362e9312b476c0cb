package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The record encoding (docs/compliance.md "Audit log", record format).
//
// A record is encoded once, when it joins the chain, and stored as encoded; nothing ever encodes
// it again. Its hash is the SHA-256 of the stored bytes with the value of the final "hash" key
// emptied, so verification reads bytes, never a re-encoded Go value: adding a field to Record,
// renaming one, or a new Go version cannot change what an old record hashes to.
//
// Versions:
//   - v1 (no "v" key): encoding/json of the Record struct of dsop-bank ≤ 0.x (June–December
//     2026): keys in struct order, HTML characters escaped as \u003c etc.
//   - v2: the canonical form below, written by CanonicalV2. "v":2 first, then the keys of
//     fieldsV2 in that order, each omitted when empty (seq, time, status, prev_hash and hash are
//     always present), strings escaped only where JSON requires it (" \ and control characters),
//     times in UTC RFC 3339 with nanoseconds as needed, numbers in their shortest decimal form.
//
// Both versions end in "prev_hash":"<64 hex>","hash":"<64 hex>"} and hash the same way (the rule
// the PostgreSQL expiry function applies too, migration 0003). Adding a field is a new version:
// append it to a copy of the field list, give it a number, and keep every earlier list.

// CurrentVersion is the version new records are written in.
const CurrentVersion = 2

// hashSuffixLen is the length of `"hash":"<64 hex>"}`.
const hashSuffixLen = len(`"hash":""}`) + 64

// StoredHash computes the hash of a stored record from its bytes: SHA-256 of the bytes with the
// hash value emptied. It fails when the bytes do not end in a hash key of the expected shape.
func StoredHash(raw []byte) (string, error) {
	n := len(raw)
	if n < hashSuffixLen+1 || !bytes.HasPrefix(raw[n-hashSuffixLen:], []byte(`"hash":"`)) || raw[n-2] != '"' || raw[n-1] != '}' {
		return "", errors.New("the record does not end with its hash")
	}
	h := sha256.New()
	h.Write(raw[:n-hashSuffixLen])
	h.Write([]byte(`"hash":""}`))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// field is one key of a record version: its name and how it is appended (nothing when empty).
type field struct {
	name string
	put  func(b []byte, r *Record) ([]byte, bool)
}

func str(get func(r *Record) string) func([]byte, *Record) ([]byte, bool) {
	return func(b []byte, r *Record) ([]byte, bool) {
		s := get(r)
		if s == "" {
			return b, false
		}
		return appendString(b, s), true
	}
}

func uintField(get func(r *Record) uint64, always bool) func([]byte, *Record) ([]byte, bool) {
	return func(b []byte, r *Record) ([]byte, bool) {
		v := get(r)
		if v == 0 && !always {
			return b, false
		}
		return strconv.AppendUint(b, v, 10), true
	}
}

func intPtr(get func(r *Record) *int) func([]byte, *Record) ([]byte, bool) {
	return func(b []byte, r *Record) ([]byte, bool) {
		p := get(r)
		if p == nil {
			return b, false
		}
		return strconv.AppendInt(b, int64(*p), 10), true
	}
}

func timeField(get func(r *Record) time.Time, always bool) func([]byte, *Record) ([]byte, bool) {
	return func(b []byte, r *Record) ([]byte, bool) {
		t := get(r)
		if t.IsZero() && !always {
			return b, false
		}
		b = append(b, '"')
		b = t.UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"'), true
	}
}

func strings_(get func(r *Record) []string) func([]byte, *Record) ([]byte, bool) {
	return func(b []byte, r *Record) ([]byte, bool) {
		list := get(r)
		if len(list) == 0 {
			return b, false
		}
		b = append(b, '[')
		for i, s := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), true
	}
}

// fieldsV2 is the v2 record: the order of this list is the order of the keys. Never edit it:
// a new field is a new version (fieldsV3 := append(fieldsV2[:len(fieldsV2):len(fieldsV2)], …)).
var fieldsV2 = []field{
	{"seq", uintField(func(r *Record) uint64 { return r.Seq }, true)},
	{"time", timeField(func(r *Record) time.Time { return r.Time }, true)},
	{"service", str(func(r *Record) string { return r.Service })},
	{"operation", str(func(r *Record) string { return r.Operation })},
	{"method", str(func(r *Record) string { return r.Method })},
	{"path", str(func(r *Record) string { return r.Path })},
	{"client", str(func(r *Record) string { return r.Client })},
	{"consumer", str(func(r *Record) string { return r.Consumer })},
	{"client_id", str(func(r *Record) string { return r.ClientID })},
	{"jti", str(func(r *Record) string { return r.TokenJTI })},
	{"account_info_request_id", str(func(r *Record) string { return r.AccountInfoRequestID })},
	{"correlation_id", str(func(r *Record) string { return r.CorrelationID })},
	{"legal_mandate", str(func(r *Record) string { return r.LegalMandate })},
	{"party_id", str(func(r *Record) string { return r.PartyID })},
	{"account_reference", str(func(r *Record) string { return r.AccountReference })},
	{"from_date", str(func(r *Record) string { return r.FromDate })},
	{"to_date", str(func(r *Record) string { return r.ToDate })},
	{"only_primary_owner", str(func(r *Record) string { return r.OnlyPrimaryOwner })},
	{"additional_reference_id", str(func(r *Record) string { return r.AdditionalReferenceID })},
	{"additional_reference_id_type", str(func(r *Record) string { return r.AdditionalReferenceIDType })},
	{"requester_id", str(func(r *Record) string { return r.RequesterID })},
	{"page_cursor", str(func(r *Record) string { return r.PageCursor })},
	{"notice_uuid", str(func(r *Record) string { return r.NoticeUUID })},
	{"notice_type", str(func(r *Record) string { return r.NoticeType })},
	{"kjennelsesdato", str(func(r *Record) string { return r.Kjennelsesdato })},
	{"spells", strings_(func(r *Record) []string { return r.Spells })},
	{"status", func(b []byte, r *Record) ([]byte, bool) { return strconv.AppendInt(b, int64(r.Status), 10), true }},
	{"code", str(func(r *Record) string { return r.Code })},
	{"reason", str(func(r *Record) string { return r.Reason })},
	{"count", uintField(func(r *Record) uint64 { return r.Count }, false)},
	{"until", timeField(func(r *Record) time.Time { return r.Until }, false)},
	{"accounts", intPtr(func(r *Record) *int { return r.Accounts })},
	{"transactions", intPtr(func(r *Record) *int { return r.Transactions })},
	{"account_numbers", strings_(func(r *Record) []string { return r.AccountNumbers })},
	{"fields", strings_(func(r *Record) []string { return r.Fields })},
	{"body_sha256", str(func(r *Record) string { return r.BodySHA256 })},
	{"latency_ms", func(b []byte, r *Record) ([]byte, bool) {
		v := r.LatencyMS
		if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return b, false
		}
		return strconv.AppendFloat(b, v, 'f', -1, 64), true
	}},
	{"withholds", uintField(func(r *Record) uint64 { return r.Withholds }, false)},
	{"actor", str(func(r *Record) string { return r.Actor })},
	{"detail", str(func(r *Record) string { return r.Detail })},
	{"prev_hash", func(b []byte, r *Record) ([]byte, bool) { return appendString(b, r.PrevHash), true }},
}

// encodeWith writes r as version v with the given fields, then its hash: the stored bytes.
func encodeWith(v int, fields []field, r *Record) ([]byte, string, error) {
	if len(r.PrevHash) != 64 {
		return nil, "", fmt.Errorf("encode audit record %d: prev_hash must be 64 hex digits", r.Seq)
	}
	b := make([]byte, 0, 512)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(v), 10)
	for _, f := range fields {
		mark := len(b)
		b = append(b, ',', '"')
		b = append(b, f.name...)
		b = append(b, '"', ':')
		var ok bool
		if b, ok = f.put(b, r); !ok {
			b = b[:mark]
		}
	}
	b = append(b, `,"hash":""}`...)
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	b = append(b[:len(b)-len(`"}`)], h...)
	b = append(b, '"', '}')
	return b, h, nil
}

// CanonicalV2 encodes r (its chain fields set) in the v2 canonical form and returns the stored
// bytes and the hash.
func CanonicalV2(r *Record) ([]byte, string, error) { return encodeWith(2, fieldsV2, r) }

// appendString appends s as a JSON string: only ", \ and control characters are escaped; invalid
// UTF-8 (which Field keeps out) becomes U+FFFD, so the bytes are always valid JSON.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// chainFields are what Verify reads of a stored record besides its bytes.
type chainFields struct {
	V        int    `json:"v"`
	Seq      uint64 `json:"seq"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Decode reads a stored record. The record keeps its bytes (Raw), from which alone it is
// verified. Version 1 records are read strictly, as they always were; later versions may carry
// keys this build does not know (a newer replica during a rolling upgrade).
func Decode(raw []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(raw))
	if !bytes.HasPrefix(raw, []byte(`{"v":`)) {
		dec.DisallowUnknownFields() // v1
	}
	if err := dec.Decode(&r); err != nil {
		return r, err
	}
	if dec.More() {
		return r, errors.New("data after the record")
	}
	if r.V == 0 {
		r.V = 1
	}
	r.Raw = raw
	return r, nil
}
