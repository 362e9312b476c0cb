package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
	"unicode/utf8"
)

// MaxCompactRecord is the most the record of an anonymous call (refused before any token was
// accepted) takes in the log (docs/compliance.md "Audit log", disk): anyone can send such calls, so what each
// costs is bounded by us, not by the caller's header sizes (issue #25).
const MaxCompactRecord = 512

// MaxCompactSummary is the most any other compact record takes: one standing for several
// identical refusals (its count and the time of the last add to MaxCompactRecord: at least two
// requests, so at most 300 bytes each), and the refusal of a token that Maskinporten signed for
// a consumer that is not allowed (it also names that consumer: not anyone's call).
const MaxCompactSummary = 600

// Compact cuts r, a call refused before a valid token of an allowed consumer, to what identifies
// it: the request line (the operation is left out: the path names it), the caller's address, the case and correlation ids (a UUID each, kept
// whole), the outcome (its reason is ours, a short word), and (for
// a token of another Maskinporten client) that client's consumer. Everything else the caller
// chose is dropped, and each value the caller chose is capped by its encoded size, long values
// keeping their start, a marker "…#" and 8 hex digits of their SHA-256, so that two long values
// can still be told apart. Encoded, such a record stays within MaxCompactRecord (tested with the
// largest values a request can carry).
func Compact(r *Record) {
	c := Record{
		Time: r.Time.Truncate(time.Millisecond), Method: cut(r.Method, 12), Path: cut(r.Path, 28), Client: cut(r.Client, 39),
		AccountInfoRequestID: cut(r.AccountInfoRequestID, 36), CorrelationID: cut(r.CorrelationID, 36),
		Status: r.Status, Code: r.Code, Reason: cut(r.Reason, 32), Count: r.Count, Until: r.Until.Truncate(time.Millisecond),
	}
	if r.Reason == "token:consumer" {
		c.Consumer = cut(r.Consumer, 24)
	}
	*r = c
}

// cut keeps s if it encodes (appendString) in at most n bytes; else as many of its first
// characters as leave room for "…#" and 8 hex digits of its SHA-256.
func cut(s string, n int) string {
	if len(s) <= n && encodedLen(s) <= n { // a value encodes in at least its length
		return s
	}
	sum := sha256.Sum256([]byte(s))
	tail := "…#" + hex.EncodeToString(sum[:4])
	budget, keep := n-len(tail), 0
	for i, r := range s {
		w := encodedLen(s[i : i+utf8.RuneLen(max(r, 0))])
		if r == utf8.RuneError {
			w = 3
		}
		if budget-w < 0 {
			break
		}
		budget -= w
		keep = i + utf8.RuneLen(max(r, 0))
	}
	return s[:keep] + tail
}

// encodedLen is how many bytes appendString writes for s, without the quotes.
func encodedLen(s string) int {
	return len(appendString(nil, s)) - 2
}
