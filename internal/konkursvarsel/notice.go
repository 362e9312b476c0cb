// Package konkursvarsel is module A of Konkursbehandling: the bankruptcy notices that BRREG
// publishes (konkursvarsel.md), the state they imply for each debtor, and the gate that lets the
// Control API serve a party only while its bankruptcy is open (konkursbehandling-rules.md §5.2).
package konkursvarsel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

// Type is a notice type (konkursvarsel.md §1).
type Type string

// The four notice types; what each means is stated once, in Types.
const (
	Aapning    Type = "aapning"
	Sletting   Type = "sletting"
	Oppheving  Type = "oppheving"
	Avslutning Type = "avslutning"
)

// TypeRule is what a notice type means: to the debtor's bankruptcy (Derive) and to the bank's
// accounts (the action recorded for the bank's core systems).
type TypeRule struct {
	Type    Type
	Meaning string
	// Status is the debtor's bankruptcy after the notice: StatusOpen for the opening; the others
	// end the bankruptcy opened last.
	Status Status
	Action ActionType
}

// Types is the one table of the notice types (konkursvarsel.md §1), in the order of a case.
func Types() []TypeRule {
	r := typeRules()
	return r[:]
}

// typeRules is the table as an array value: RuleOf, on the request path (Derive), reads it
// without allocating.
func typeRules() [4]TypeRule {
	return [4]TypeRule{
		{Aapning, "bankruptcy opened: serve the estate from kjennelsesdato − 12 months; block the debtor's accounts", StatusOpen, ActionBlock},
		{Sletting, "the opening annulled: serve nothing; reopen the accounts blocked for it", StatusAnnulled, ActionReopen},
		{Oppheving, "the opening reversed on appeal: serve nothing; the bank decides whether to reopen", StatusReversed, ActionReview},
		{Avslutning, "the proceedings closed: serve nothing (unless DSOP_ALLOW_CLOSED); for information", StatusClosed, ActionClosed},
	}
}

// RuleOf is the rule of a notice type; ok is false for a type the table does not know.
func RuleOf(t Type) (TypeRule, bool) {
	for _, r := range typeRules() {
		if r.Type == t {
			return r, true
		}
	}
	return TypeRule{}, false
}

// TypeFor is the notice type that leaves a debtor in status st (aapning for an open bankruptcy);
// ok is false for a status no notice gives (no notice at all).
func TypeFor(st Status) (Type, bool) {
	for _, r := range typeRules() {
		if r.Status == st {
			return r.Type, true
		}
	}
	return "", false
}

// Notice is one Konkursvarsel as listed in _embedded.konkursvarsler[].
type Notice struct {
	UUID                   string     `json:"uuid"`
	Type                   Type       `json:"type"`
	Registreringstidspunkt time.Time  `json:"registreringstidspunkt"`
	Kjennelsesdato         civil.Date `json:"kjennelsesdato,omitzero"`
	Debitor                string     `json:"debitor"`
	// AssociatedOrgNos are the ENK/TVAM organisation numbers of a personal bankruptcy, from the
	// notice's detail data set; requests on them are judged by this notice.
	AssociatedOrgNos []string `json:"associatedOrgNos,omitempty"`
	SelfHref         string   `json:"-"`
}

// Validate rejects a notice that cannot be applied safely. A rejected notice is reported and
// skipped; it never stops the rest of a batch.
func (n Notice) Validate() error {
	if err := validation.CheckUUID("uuid", n.UUID); err != nil {
		return fmt.Errorf("notice uuid %q is not a UUID", n.UUID)
	}
	if _, ok := RuleOf(n.Type); !ok {
		return fmt.Errorf("notice %s: unknown type %q", n.UUID, n.Type)
	}
	if n.Registreringstidspunkt.IsZero() {
		return fmt.Errorf("notice %s: registreringstidspunkt is missing", n.UUID)
	}
	if _, err := validation.ParsePartyID(n.Debitor); err != nil {
		return fmt.Errorf("notice %s: debitor: %w", n.UUID, err)
	}
	if n.Type == Aapning && n.Kjennelsesdato.IsZero() {
		return fmt.Errorf("notice %s: an aapning needs kjennelsesdato", n.UUID)
	}
	for _, org := range n.AssociatedOrgNos {
		if k, err := validation.ParsePartyID(org); err != nil || k != validation.Organisation {
			return fmt.Errorf("notice %s: associated unit %q is not an organisation number", n.UUID, org)
		}
	}
	return nil
}

type listItem struct {
	UUID                   string   `json:"uuid"`
	Type                   string   `json:"type"`
	Registreringstidspunkt string   `json:"registreringstidspunkt"`
	Kjennelsesdato         string   `json:"kjennelsesdato"`
	Debitor                string   `json:"debitor"`
	AssociatedOrgNos       []string `json:"associatedOrgNos"`
	Links                  struct {
		Self struct {
			Href string `json:"href"`
		} `json:"self"`
	} `json:"_links"`
}

// ParseList reads a Konkursvarsel list document (HAL, _embedded.konkursvarsler[]) and returns the
// valid notices and one error per rejected item.
func ParseList(r io.Reader) ([]Notice, []error, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("konkursvarsel list: %w", err)
	}
	items, _, err := parsePage(b)
	if err != nil {
		return nil, nil, fmt.Errorf("konkursvarsel list: %w", err)
	}
	notices, rejected := parseItems(items)
	return notices, rejected, nil
}

// parseItems turns list items into notices; a malformed item is reported, never half-applied,
// and does not stop the others.
func parseItems(items []json.RawMessage) ([]Notice, []error) {
	var notices []Notice
	var rejected []error
	for i, raw := range items {
		n, err := parseItem(raw)
		if err != nil {
			rejected = append(rejected, fmt.Errorf("konkursvarsler[%d]: %w", i, err))
			continue
		}
		notices = append(notices, n)
	}
	return notices, rejected
}

func parseItem(raw json.RawMessage) (Notice, error) {
	var it listItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return Notice{}, err
	}
	n := Notice{UUID: it.UUID, Type: Type(it.Type), Debitor: it.Debitor, SelfHref: it.Links.Self.Href, AssociatedOrgNos: it.AssociatedOrgNos}
	if it.Registreringstidspunkt != "" {
		t, err := time.Parse(time.RFC3339Nano, it.Registreringstidspunkt)
		if err != nil {
			return Notice{}, fmt.Errorf("notice %s: registreringstidspunkt %q is not an ISO 8601 timestamp", it.UUID, it.Registreringstidspunkt)
		}
		n.Registreringstidspunkt = t.UTC()
	}
	if it.Kjennelsesdato != "" {
		d, err := civil.Parse(it.Kjennelsesdato)
		if err != nil {
			return Notice{}, fmt.Errorf("notice %s: kjennelsesdato: %w", it.UUID, err)
		}
		n.Kjennelsesdato = d
	}
	if err := n.Validate(); err != nil {
		return Notice{}, err
	}
	return n, nil
}

// ErrNoticeConflict is returned when a notice arrives again under a known uuid with other content.
var ErrNoticeConflict = errors.New("notice uuid already stored with different content")

func isOrgNo(s string) bool {
	k, err := validation.ParsePartyID(s)
	return err == nil && k == validation.Organisation
}

// registered reads only the registreringstidspunkt of a list item.
func registered(raw json.RawMessage) (time.Time, bool) {
	var it struct {
		Registreringstidspunkt string `json:"registreringstidspunkt"`
	}
	if json.Unmarshal(raw, &it) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, it.Registreringstidspunkt)
	return t.UTC(), err == nil
}
