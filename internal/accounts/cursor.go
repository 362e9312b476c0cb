package accounts

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/civil"
)

// Position is a place in an account's transaction order: after the transaction with this
// effective time and identifier.
type Position struct {
	Time time.Time
	ID   string
}

// Before reports whether p comes before the transaction at (at, id) in the paging order.
func (p Position) Before(at time.Time, id string) bool { return less(p.Time, p.ID, at, id) }

// ErrBadCursor is a page cursor that was not made by this server for this request (400 ACC-001).
var ErrBadCursor = errors.New("the page cursor is invalid: take the next link of the previous page unchanged, with the same account and dates")

// CursorCodec seals a Position into the opaque page parameter. The MAC covers the account, the
// period and the position, so a cursor cannot be edited, nor replayed on another account or
// with other dates.
type CursorCodec struct{ key []byte }

// NewCursorCodec derives the cursor key from the server secret.
func NewCursorCodec(secret []byte) CursorCodec {
	return CursorCodec{key: deriveKey(secret, "dsop-bank page cursor v1")}
}

const macLen = 16

// Encode returns the cursor for the page after pos.
func (c CursorCodec) Encode(ref string, from, to civil.Date, pos Position) string {
	body := binary.BigEndian.AppendUint64(nil, uint64(pos.Time.UnixNano()))
	body = append(body, pos.ID...)
	return base64.RawURLEncoding.EncodeToString(append(body, c.mac(ref, from, to, body)...))
}

// Decode checks and opens a cursor.
func (c CursorCodec) Decode(ref string, from, to civil.Date, cursor string) (Position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) < 8+macLen {
		return Position{}, ErrBadCursor
	}
	body, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(sum, c.mac(ref, from, to, body)) {
		return Position{}, ErrBadCursor
	}
	return Position{Time: time.Unix(0, int64(binary.BigEndian.Uint64(body[:8]))).UTC(), ID: string(body[8:])}, nil
}

func (c CursorCodec) mac(ref string, from, to civil.Date, body []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(ref + "\x00" + from.String() + "\x00" + to.String() + "\x00"))
	m.Write(body)
	return m.Sum(nil)[:macLen]
}
