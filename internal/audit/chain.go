package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Store keeps the chain. Append must not return before the record is durable.
type Store interface {
	Querier
	// Append assigns r its Seq, PrevHash and Hash — and its BodySHA256, when r carries the
	// delivered Body (Link does both) — and stores it durably.
	Append(ctx context.Context, r *Record) error
	// Scan calls fn for every stored record in Seq order, as stored (Raw set). A record that
	// cannot be read is passed as an error to fn's caller through ScanError. Only Verify and
	// expiry read the whole log; everything else asks Querier for a page.
	Scan(ctx context.Context, fn func(Record) error) error
	// Checkpoint returns the signed checkpoint left by expiry, or nil.
	Checkpoint(ctx context.Context) (*Checkpoint, error)
	// Expire removes records older than before, in whole segments, and leaves a checkpoint
	// signed by s. The newest records are never removed.
	Expire(ctx context.Context, before time.Time, s *Signer) (removed int, err error)
	Close() error
}

// ScanError is a stored record that cannot be decoded.
type ScanError struct {
	Where string
	Err   error
}

func (e *ScanError) Error() string {
	return fmt.Sprintf("%s: unreadable audit record: %v", e.Where, e.Err)
}
func (e *ScanError) Unwrap() error { return e.Err }

// Checkpoint says where the retained chain starts after expiry: the first retained record has
// Seq and PrevHash as here. The signature makes a forged start detectable.
type Checkpoint struct {
	Seq       uint64    `json:"seq"`
	PrevHash  string    `json:"prev_hash"`
	Time      time.Time `json:"time"`
	Removed   uint64    `json:"removed"`
	Signature string    `json:"signature"`
}

func (c Checkpoint) message() []byte {
	c.Signature = ""
	b, _ := json.Marshal(c)
	return b
}

// Signer signs and checks checkpoints with an Ed25519 key derived from the server secret, so
// every replica and the audit tools share it without another key file.
type Signer struct{ key ed25519.PrivateKey }

// NewSigner derives the checkpoint key from the server secret.
func NewSigner(secret []byte) *Signer {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("dsop-bank audit checkpoint v1"))
	return &Signer{key: ed25519.NewKeyFromSeed(m.Sum(nil))}
}

// Sign signs c.
func (s *Signer) Sign(c *Checkpoint) {
	c.Signature = base64.RawStdEncoding.EncodeToString(ed25519.Sign(s.key, c.message()))
}

// Valid checks c's signature.
func (s *Signer) Valid(c Checkpoint) bool {
	sig, err := base64.RawStdEncoding.DecodeString(c.Signature)
	return err == nil && ed25519.Verify(s.key.Public().(ed25519.PublicKey), c.message(), sig)
}

// Report is the outcome of Verify.
type Report struct {
	Records    uint64
	FirstSeq   uint64
	LastSeq    uint64
	Checkpoint *Checkpoint
	// Problem describes the first broken or missing record; empty when the chain is intact.
	Problem string
	// BadSeq is the Seq at which the problem was found.
	BadSeq uint64
}

// OK reports whether the chain verified.
func (r Report) OK() bool { return r.Problem == "" }

var errStop = errors.New("stop")

// Verify walks the chain from its start (genesis, or the signed checkpoint) and reports the first
// record that is edited (hash), missing (gap in Seq), out of order, or not linked to its
// predecessor.
func Verify(ctx context.Context, st Store, s *Signer) (Report, error) {
	return VerifyProgress(ctx, st, s, nil)
}

// VerifyProgress is Verify, calling progress (when set) every 100 000 records: memory does not
// grow with the log, and a terminal can show how far it got.
func VerifyProgress(ctx context.Context, st Store, s *Signer, progress func(records uint64)) (Report, error) {
	var rep Report
	cp, err := st.Checkpoint(ctx)
	if err != nil {
		return rep, err
	}
	wantSeq, wantPrev := uint64(1), GenesisHash
	if cp != nil {
		rep.Checkpoint = cp
		if !s.Valid(*cp) {
			rep.Problem = "the retention checkpoint's signature is invalid"
			return rep, nil
		}
		wantSeq, wantPrev = cp.Seq, cp.PrevHash
	}
	err = st.Scan(ctx, func(r Record) error {
		fail := func(format string, args ...any) error {
			rep.Problem, rep.BadSeq = fmt.Sprintf(format, args...), wantSeq
			return errStop
		}
		switch {
		case r.Seq > wantSeq:
			return fail("record %d is missing (next stored record is %d)", wantSeq, r.Seq)
		case r.Seq < wantSeq:
			return fail("record %d is out of order or duplicated (expected %d)", r.Seq, wantSeq)
		case r.PrevHash != wantPrev:
			return fail("record %d does not link to record %d (prev_hash differs): a record before it was changed, removed or reordered", r.Seq, r.Seq-1)
		}
		// The hash is taken over the bytes as stored, never over a re-encoded value
		// (encoding.go): a record of any version verifies as it was written.
		h, err := StoredHash(r.Raw)
		if err != nil {
			return fail("record %d cannot be verified: %v", r.Seq, err)
		}
		if h != r.Hash {
			return fail("record %d was edited (its hash does not match its content)", r.Seq)
		}
		if rep.Records == 0 {
			rep.FirstSeq = r.Seq
		}
		rep.Records++
		if progress != nil && rep.Records%100000 == 0 {
			progress(rep.Records)
		}
		rep.LastSeq = r.Seq
		wantSeq, wantPrev = r.Seq+1, r.Hash
		return nil
	})
	var se *ScanError
	switch {
	case errors.Is(err, errStop):
		return rep, nil
	case errors.As(err, &se):
		rep.Problem, rep.BadSeq = se.Error(), wantSeq
		return rep, nil
	}
	return rep, err
}

// MinRetention is the shortest retention period expiry accepts (DSOP_AUDIT_RETENTION): a bank
// must be able to verify a request and its answer when an agency reports a fault through Bits'
// error handling (kontrollinformasjon-api.md §10), and a mistyped "1s" must not wipe the log.
// The PostgreSQL expiry function enforces the same floor on its own.
const MinRetention = 90 * 24 * time.Hour

// Expire applies a retention period the only safe way: it verifies the whole chain first and
// refuses to cut a broken one — expiry must never remove the evidence of tampering — then removes
// the records older than now − retention and leaves a signed checkpoint.
func Expire(ctx context.Context, st Store, retention time.Duration, now time.Time, s *Signer) (int, error) {
	if retention < MinRetention {
		return 0, fmt.Errorf("audit retention %s is below the floor of %s: expiry refused", retention, MinRetention)
	}
	rep, err := Verify(ctx, st, s)
	if err != nil {
		return 0, fmt.Errorf("verify before expiry: %w", err)
	}
	if !rep.OK() {
		return 0, fmt.Errorf("audit chain broken at record %d (%s): expiry refused so that the evidence stays; investigate and restore the log from backup", rep.BadSeq, rep.Problem)
	}
	return st.Expire(ctx, now.Add(-retention), s)
}
