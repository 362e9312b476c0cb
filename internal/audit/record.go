// Package audit is the compliance log of dsop-bank: one record per request, allowed or refused,
// written durably before the answer leaves (kontrollinformasjon-api.md §10,
// konkursbehandling-rules.md §7). Records form a hash chain, so that an edited, deleted or
// reordered record is found by Verify; expiry removes whole old segments and leaves a signed
// checkpoint from which the rest of the chain still verifies.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"
)

// Record is what the bank keeps of one request. Audit rows carry no foreign keys: they outlive
// the data they describe.
//
// Its stored form is documented in encoding.go (versions, canonical form, hash rule); the JSON
// tags here only read stored records back, they never write one.
type Record struct {
	V         int       `json:"v,omitempty"` // the encoding version (encoding.go); 1 when absent
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Service   string    `json:"service,omitempty"` // the DSOP service, e.g. konkursbehandling (v2)
	Operation string    `json:"operation"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	// Client is the caller's network address as the server saw it (v2).
	Client string `json:"client,omitempty"`
	// The caller, from the validated access token (empty when the token was refused).
	Consumer string `json:"consumer,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	TokenJTI string `json:"jti,omitempty"`
	// The request's inputs as received (bounded in length).
	AccountInfoRequestID      string `json:"account_info_request_id,omitempty"`
	CorrelationID             string `json:"correlation_id,omitempty"`
	LegalMandate              string `json:"legal_mandate,omitempty"` // decoded when decodable
	PartyID                   string `json:"party_id,omitempty"`      // header (2a) or resolved owner (2b)
	AccountReference          string `json:"account_reference,omitempty"`
	FromDate                  string `json:"from_date,omitempty"`
	ToDate                    string `json:"to_date,omitempty"`
	OnlyPrimaryOwner          string `json:"only_primary_owner,omitempty"`
	AdditionalReferenceID     string `json:"additional_reference_id,omitempty"`
	AdditionalReferenceIDType string `json:"additional_reference_id_type,omitempty"`
	RequesterID               string `json:"requester_id,omitempty"`
	PageCursor                string `json:"page_cursor,omitempty"`
	// The legal basis found: the notice that authorised the request.
	NoticeUUID     string `json:"notice_uuid,omitempty"`
	NoticeType     string `json:"notice_type,omitempty"` // the notice in force: aapning, oppheving, … (v2)
	Kjennelsesdato string `json:"kjennelsesdato,omitempty"`
	// Spells are the delivery spells of a delivered answer: "<accountReference> FROM/TO" for each
	// sub-period in which the party was primary owner (konkursbehandling-rules.md §4.1).
	Spells []string `json:"spells,omitempty"`
	// The answer.
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"` // short refusal reason, e.g. window, token:expired
	// Count and Until, on a record that stands for several identical refusals from one client
	// (v2): how many, and the time of the last (Time is the first's).
	Count        uint64    `json:"count,omitempty"`
	Until        time.Time `json:"until,omitempty"`
	Accounts     *int      `json:"accounts,omitempty"`
	Transactions *int      `json:"transactions,omitempty"`
	// AccountNumbers are the account numbers an answer concerned (v2): officers work by them.
	AccountNumbers []string `json:"account_numbers,omitempty"`
	Fields         []string `json:"fields,omitempty"`      // field paths delivered
	BodySHA256     string   `json:"body_sha256,omitempty"` // of the exact plaintext body delivered
	// Body, when set, is the delivered body for the store to hash into BodySHA256 (HashBody) —
	// PostgreSQL does it while it waits for the chain's head (issue #15). It is never stored.
	Body      []byte  `json:"-"`
	LatencyMS float64 `json:"latency_ms"`
	// Withholds is set on the record written when the answer of the record with that Seq could
	// not be encrypted after it was written: that answer never left.
	Withholds uint64 `json:"withholds,omitempty"`
	// Actor and Detail describe records the tools write about themselves (e.g. --reveal).
	Actor  string `json:"actor,omitempty"`
	Detail string `json:"detail,omitempty"`
	// The chain.
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
	// Raw is the record as stored: set by Link and by every store's reads. Verify hashes it.
	Raw []byte `json:"-"`
}

// Link is the one statement of how a record joins the chain (the memory, file and PostgreSQL
// stores all call it): it follows the chain's head — the last stored record (lastSeq, lastHash;
// lastSeq 0 when there is none) or, when expiry left no record, the signed checkpoint — and gets
// its Seq, PrevHash and Hash.
func Link(r *Record, lastSeq uint64, lastHash string, cp *Checkpoint) error {
	r.HashBody()
	seq, prev := uint64(1), GenesisHash
	switch {
	case lastSeq > 0:
		seq, prev = lastSeq+1, lastHash
	case cp != nil:
		seq, prev = cp.Seq, cp.PrevHash
	}
	return seal(r, seq, prev)
}

// seal sets the chain fields of r as the record after prev and encodes it (Raw) in the current
// version.
func seal(r *Record, seq uint64, prevHash string) error {
	r.V, r.Seq, r.PrevHash, r.Time = CurrentVersion, seq, prevHash, r.Time.UTC()
	if !r.Until.IsZero() {
		r.Until = r.Until.UTC()
	}
	raw, h, err := CanonicalV2(r)
	if err != nil {
		return err
	}
	r.Raw, r.Hash = raw, h
	return nil
}

// HashBody sets BodySHA256 from Body, if a body was handed over, and lets go of the body.
func (r *Record) HashBody() {
	if r.Body != nil {
		r.BodySHA256, r.Body = BodyHash(r.Body), nil
	}
}

// GenesisHash is the PrevHash of the first record of a chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// BodyHash is the hex SHA-256 of a delivered body.
func BodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// MaxField bounds what a caller can make the audit log store in one field.
const MaxField = 512

// Field makes a value the caller sent fit for every audit store: valid UTF-8 without NUL
// (PostgreSQL refuses both; invalid bytes and NUL become U+FFFD, so the record shows that
// something was replaced), at most MaxField bytes, cut on a character boundary and marked "…".
// A record that could not be stored would leave a request unaudited.
func Field(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= MaxField {
		return s
	}
	cut := MaxField
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// ReasonAuditWrite is the reason of a record whose request was answered 503 ACC-100 because
// its audit write failed (or of the marker that says so of a record already stored).
const ReasonAuditWrite = "audit-write"

// WithholdingOf is the record that follows a stored record whose answer never left — its
// write was reported failed (a failed fsync, a commit whose outcome was unknown, a caller that
// gave up waiting) after its bytes may have reached the store. It names the same request,
// records what the caller got (503 ACC-100) and points back with Withholds, so that the log
// never shows a delivery without saying it did not happen (issue #29).
func WithholdingOf(stored Record, now time.Time) Record {
	return Record{
		Service: stored.Service, Operation: stored.Operation, Method: stored.Method, Path: stored.Path,
		Client: stored.Client, Consumer: stored.Consumer, ClientID: stored.ClientID, TokenJTI: stored.TokenJTI,
		AccountInfoRequestID: stored.AccountInfoRequestID, CorrelationID: stored.CorrelationID,
		LegalMandate: stored.LegalMandate, PartyID: stored.PartyID, AccountReference: stored.AccountReference,
		FromDate: stored.FromDate, ToDate: stored.ToDate, OnlyPrimaryOwner: stored.OnlyPrimaryOwner,
		AdditionalReferenceID: stored.AdditionalReferenceID, AdditionalReferenceIDType: stored.AdditionalReferenceIDType,
		RequesterID: stored.RequesterID, PageCursor: stored.PageCursor,
		NoticeUUID: stored.NoticeUUID, NoticeType: stored.NoticeType, Kjennelsesdato: stored.Kjennelsesdato,
		Time: now.UTC(), Status: 503, Code: "ACC-100", Reason: ReasonAuditWrite,
		LatencyMS: stored.LatencyMS, Withholds: stored.Seq,
	}
}

// AsWriteFailure turns a record not yet stored into the record of what its caller got once the
// write was given up: 503 ACC-100, nothing delivered.
func AsWriteFailure(r Record) Record {
	w := WithholdingOf(r, r.Time)
	w.Withholds = 0
	return w
}
