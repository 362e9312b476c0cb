package konkursvarsel

import (
	"fmt"
	"slices"
)

// Change is a notice a store must write: a new one, or a stored one enriched with more associated
// units.
type Change struct {
	Notice Notice
	New    bool
}

// Plan is the one statement of how a batch of notices merges into a store (every store — memory,
// file, PostgreSQL — applies it): a notice is stored once, by uuid; the same uuid with the same
// content again changes nothing, with more associated units (ENK/TVAM from the detail data) it is
// enriched, with other content it is an ErrNoticeConflict and the whole batch is refused. stored
// looks a uuid up in the store. The changes come in batch order; added counts the new notices.
func Plan(batch []Notice, stored func(uuid string) (Notice, bool, error)) (changes []Change, added int, err error) {
	merged := map[string]Notice{}
	isNew := map[string]bool{}
	var order []string
	for _, n := range batch {
		if err := n.Validate(); err != nil {
			return nil, 0, err
		}
		old, ok := merged[n.UUID]
		if !ok {
			s, found, err := stored(n.UUID)
			if err != nil {
				return nil, 0, err
			}
			if !found {
				merged[n.UUID], isNew[n.UUID] = n, true
				order = append(order, n.UUID)
				continue
			}
			old, merged[n.UUID] = s, s
			order = append(order, n.UUID)
		}
		if !sameNotice(old, n) {
			return nil, 0, fmt.Errorf("notice %s: %w", n.UUID, ErrNoticeConflict)
		}
		m := old
		for _, org := range n.AssociatedOrgNos {
			if !slices.Contains(m.AssociatedOrgNos, org) {
				m.AssociatedOrgNos = append(slices.Clone(m.AssociatedOrgNos), org)
			}
		}
		merged[n.UUID] = m
	}
	for _, id := range order {
		n := merged[id]
		if isNew[id] {
			added++
			changes = append(changes, Change{Notice: n, New: true})
			continue
		}
		if s, _, err := stored(id); err != nil {
			return nil, 0, err
		} else if !slices.Equal(s.AssociatedOrgNos, n.AssociatedOrgNos) {
			changes = append(changes, Change{Notice: n})
		}
	}
	return changes, added, nil
}

// sameNotice compares what a notice says; associated units may be added later (enrichment).
func sameNotice(a, b Notice) bool {
	return a.Type == b.Type && a.Debitor == b.Debitor && a.Kjennelsesdato == b.Kjennelsesdato &&
		a.Registreringstidspunkt.Equal(b.Registreringstidspunkt)
}
