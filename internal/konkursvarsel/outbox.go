package konkursvarsel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/durable"
)

// ActionType is what the bank must do about a notice for its customer (konkursvarsel.md §1).
type ActionType string

// Action types.
const (
	ActionBlock  ActionType = "block"  // aapning: block every account of the debtor
	ActionReopen ActionType = "reopen" // sletting: reopen the accounts blocked for that opening
	ActionReview ActionType = "review" // oppheving: the bank decides whether to reopen
	ActionClosed ActionType = "closed" // avslutning: the estate is finished (information)
	// ActionExport is targeted extraction (Poller.ExportUnknown): a bankruptcy opened for a party
	// the copy has no accounts of. The bank exports that party's data as a change set
	// (dsop-bank import --delta), blocks its accounts, and acknowledges the action.
	ActionExport ActionType = "export"
)

// ActionFor is the bank action of a notice type (its rule in Types).
func ActionFor(t Type) ActionType {
	r, _ := RuleOf(t)
	return r.Action
}

// Action is one instruction to the bank's core systems, one per notice that concerns a customer.
type Action struct {
	ID                     string     `json:"id"` // the notice uuid
	Type                   ActionType `json:"type"`
	NoticeUUID             string     `json:"notice_uuid"`
	NoticeType             Type       `json:"notice_type"`
	Debitor                string     `json:"debitor"`
	Kjennelsesdato         string     `json:"kjennelsesdato,omitempty"`
	Registreringstidspunkt time.Time  `json:"registreringstidspunkt"`
	// Accounts are the customer's accounts the action concerns (account numbers), with the
	// party that owns each: the debitor or one of its associated units.
	Accounts  []ActionAccount `json:"accounts"`
	CreatedAt time.Time       `json:"created_at"`
	// AckedAt and AckedBy are set when the bank has carried the action out.
	AckedAt *time.Time `json:"acked_at,omitempty"`
	AckedBy string     `json:"acked_by,omitempty"`
}

// ActionAccount is an account an action concerns.
type ActionAccount struct {
	AccountNumber string `json:"account_number"`
	PartyID       string `json:"party_id"`
}

// Outbox holds the actions until the bank acknowledges them.
type Outbox interface {
	// Add records actions not recorded yet (idempotent by ID) and returns how many were new.
	Add(ctx context.Context, actions []Action) (int, error)
	// List returns every action in the order recorded, with its acknowledgement.
	List(ctx context.Context) ([]Action, error)
	// Ack acknowledges an action once; a second Ack is ErrAlreadyAcked.
	Ack(ctx context.Context, id, by string) error
}

// Outbox errors.
var (
	ErrAlreadyAcked  = errors.New("action already acknowledged")
	ErrUnknownAction = errors.New("no such action")
)

// FileOutbox keeps actions as JSON lines (actions.jsonl — also the export for the bank's core
// systems) and acknowledgements in acks.jsonl. Every operation holds a file lock, so the server
// and `dsop-bank actions ack` can work at the same time, and every write is fsynced.
type FileOutbox struct {
	Dir string
	// Logger hears of a torn last line cut after a crash; optional.
	Logger *slog.Logger
}

func (o *FileOutbox) locked(fn func() error) error {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(o.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck
	return fn()
}

type ack struct {
	ID      string    `json:"id"`
	AckedAt time.Time `json:"acked_at"`
	AckedBy string    `json:"acked_by"`
}

// readLines reads one of the outbox files under its lock, by the rule of durable.ReadLines: a
// torn last line is cut (it was never acknowledged to anyone) and logged; a damaged line
// elsewhere is an error naming it — a block instruction must never disappear silently.
func readLines[T any](path string, logger *slog.Logger) ([]T, error) {
	var out []T
	torn, err := durable.ReadLines(path, true, func(line []byte) error {
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("actions: %w; to repair, restore the file from backup, or correct the line by hand (actions.jsonl is also the export to the core systems)", err)
	}
	if torn != nil && logger != nil {
		logger.Warn("torn last line cut after a crash", "file", torn.Path, "offset", torn.Offset, "bytes", torn.Bytes)
	}
	return out, nil
}

func appendLines[T any](path string, vs []T) error {
	var buf []byte
	for _, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	return durable.Append(path, buf)
}

func (o *FileOutbox) read() ([]Action, error) {
	actions, err := readLines[Action](filepath.Join(o.Dir, "actions.jsonl"), o.Logger)
	if err != nil {
		return nil, err
	}
	acks, err := readLines[ack](filepath.Join(o.Dir, "acks.jsonl"), o.Logger)
	if err != nil {
		return nil, err
	}
	byID := map[string]ack{}
	for _, a := range acks {
		if _, dup := byID[a.ID]; !dup {
			byID[a.ID] = a
		}
	}
	for i := range actions {
		if a, ok := byID[actions[i].ID]; ok {
			t := a.AckedAt
			actions[i].AckedAt, actions[i].AckedBy = &t, a.AckedBy
		}
	}
	return actions, nil
}

// Add implements Outbox.
func (o *FileOutbox) Add(_ context.Context, actions []Action) (int, error) {
	added := 0
	err := o.locked(func() error {
		have, err := o.read()
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, a := range have {
			seen[a.ID] = true
		}
		var fresh []Action
		for _, a := range actions {
			if !seen[a.ID] {
				seen[a.ID] = true
				a.AckedAt, a.AckedBy = nil, ""
				fresh = append(fresh, a)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		added = len(fresh)
		return appendLines(filepath.Join(o.Dir, "actions.jsonl"), fresh)
	})
	return added, err
}

// List implements Outbox.
func (o *FileOutbox) List(context.Context) ([]Action, error) {
	var out []Action
	err := o.locked(func() error {
		var err error
		out, err = o.read()
		return err
	})
	return out, err
}

// Ack implements Outbox.
func (o *FileOutbox) Ack(_ context.Context, id, by string) error {
	return o.locked(func() error {
		have, err := o.read()
		if err != nil {
			return err
		}
		for _, a := range have {
			if a.ID != id {
				continue
			}
			if a.AckedAt != nil {
				return fmt.Errorf("%s: %w (at %s by %s)", id, ErrAlreadyAcked, a.AckedAt.Format(time.RFC3339), a.AckedBy)
			}
			return appendLines(filepath.Join(o.Dir, "acks.jsonl"), []ack{{ID: id, AckedAt: time.Now().UTC(), AckedBy: by}})
		}
		return fmt.Errorf("%s: %w", id, ErrUnknownAction)
	})
}
