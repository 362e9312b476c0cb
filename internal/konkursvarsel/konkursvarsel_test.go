package konkursvarsel

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/demo"
)

// test-cases.md §2: the end state of every debtor of BRREG's published test notices.
func TestDerive_PublishedTestNoticesEndInTheStateTheHistoryImplies(t *testing.T) {
	list, rejected, err := ParseList(demo.Konkursvarsler())
	require.NoError(t, err)
	require.Empty(t, rejected)
	require.Len(t, list, 15)
	s := NewMemoryStore()
	n, err := s.Apply(context.Background(), list)
	require.NoError(t, err)
	require.Equal(t, 15, n)
	for debitor, want := range map[string]Status{
		"910336819": StatusOpen, "910491482": StatusOpen, "08086001471": StatusOpen, "20020101351": StatusOpen, "21097400153": StatusOpen,
		"910375237": StatusClosed, "910425463": StatusAnnulled, "08086002265": StatusAnnulled,
		"19020101140": StatusReversed, "910018469": StatusReversed, "974760673": StatusNone,
	} {
		t.Run(debitor, func(t *testing.T) {
			ns, err := s.NoticesFor(context.Background(), debitor)
			require.NoError(t, err)
			st := Derive(debitor, ns)
			require.Equal(t, want, st.Status)
			if want != StatusNone {
				require.False(t, st.Kjennelsesdato.IsZero())
			}
		})
	}
}

func notice(uuid string, typ Type, at string, debitor string, k string) Notice {
	ts, _ := time.Parse(time.RFC3339, at)
	n := Notice{UUID: uuid, Type: typ, Registreringstidspunkt: ts, Debitor: debitor}
	if k != "" {
		n.Kjennelsesdato = civil.MustParse(k)
	}
	return n
}

func TestDerive_ANewOpeningAfterAClosedOneGovernsAndOrderOfArrivalDoesNotMatter(t *testing.T) {
	ns := []Notice{
		notice("00000000-0000-4000-8000-000000000001", Aapning, "2019-01-01T10:00:00Z", "910336819", "2019-01-01"),
		notice("00000000-0000-4000-8000-000000000002", Avslutning, "2020-01-01T10:00:00Z", "910336819", ""),
		notice("00000000-0000-4000-8000-000000000003", Aapning, "2025-05-05T10:00:00Z", "910336819", "2025-05-05"),
	}
	for range 10 {
		rand.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
		st := Derive("910336819", ns)
		require.Equal(t, StatusOpen, st.Status)
		require.Equal(t, "2025-05-05", st.Kjennelsesdato.String())
		require.Equal(t, "00000000-0000-4000-8000-000000000003", st.OpeningUUID)
	}
}

func TestDerive_EndingWithoutOpeningChangesNothing(t *testing.T) {
	st := Derive("910336819", []Notice{notice("00000000-0000-4000-8000-000000000009", Sletting, "2019-01-01T10:00:00Z", "910336819", "")})
	require.Equal(t, StatusNone, st.Status)
}

func TestParseList_RejectsMalformedNoticesAndKeepsTheRest(t *testing.T) {
	doc := `{"_embedded":{"konkursvarsler":[
	 {"uuid":"37f86010-2163-43e8-95a9-c9721e8da769","type":"aapning","registreringstidspunkt":"2018-06-08T11:32:40.200Z","kjennelsesdato":"2018-06-08","debitor":"910375237"},
	 {"uuid":"not-a-uuid","type":"aapning","registreringstidspunkt":"2018-06-08T11:32:40.200Z","kjennelsesdato":"2018-06-08","debitor":"910375237"},
	 {"uuid":"a2141fbb-812e-4550-8cc3-2a907a841261","type":"konkurs","registreringstidspunkt":"2018-06-08T11:33:28.210Z","debitor":"910336819"},
	 {"uuid":"a2141fbb-812e-4550-8cc3-2a907a841262","type":"aapning","registreringstidspunkt":"08.06.2018","kjennelsesdato":"2018-06-08","debitor":"910336819"},
	 {"uuid":"a2141fbb-812e-4550-8cc3-2a907a841263","type":"aapning","registreringstidspunkt":"2018-06-08T11:33:28.210Z","kjennelsesdato":"2018-13-08","debitor":"910336819"},
	 {"uuid":"a2141fbb-812e-4550-8cc3-2a907a841264","type":"aapning","registreringstidspunkt":"2018-06-08T11:33:28.210Z","kjennelsesdato":"2018-06-08","debitor":"1234"},
	 {"uuid":"a2141fbb-812e-4550-8cc3-2a907a841265","type":"aapning","registreringstidspunkt":"2018-06-08T11:33:28.210Z","debitor":"910336819"},
	 {"uuid":"a2141fbb-812e-4550-8cc3-2a907a841266","type":"sletting","registreringstidspunkt":"2018-06-09T11:33:28.210Z","debitor":"910336819"},
	 "not an object"
	]}}`
	list, rejected, err := ParseList(strings.NewReader(doc))
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Len(t, rejected, 7)
}

func TestMemoryStore_AppliesEachNoticeOnceAndRefusesConflicts(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	n1 := notice("37f86010-2163-43e8-95a9-c9721e8da769", Aapning, "2018-06-08T11:32:40Z", "910375237", "2018-06-08")
	added, err := s.Apply(ctx, []Notice{n1, n1})
	require.NoError(t, err)
	require.Equal(t, 1, added)
	added, err = s.Apply(ctx, []Notice{n1})
	require.NoError(t, err)
	require.Zero(t, added)
	got, _ := s.NoticesFor(ctx, "910375237")
	require.Len(t, got, 1)
	changed := n1
	changed.Type = Sletting
	other := notice("37f86010-2163-43e8-95a9-c9721e8da770", Aapning, "2018-06-08T11:32:40Z", "910336819", "2018-06-08")
	added, err = s.Apply(ctx, []Notice{other, changed})
	require.True(t, errors.Is(err, ErrNoticeConflict))
	require.Zero(t, added)
	got, _ = s.NoticesFor(ctx, "910336819")
	require.Empty(t, got, "a rejected batch is not half-applied")
}

func FuzzParseList(f *testing.F) {
	f.Add(`{"_embedded":{"konkursvarsler":[{"uuid":"37f86010-2163-43e8-95a9-c9721e8da769","type":"aapning","registreringstidspunkt":"2018-06-08T11:32:40.200Z","kjennelsesdato":"2018-06-08","debitor":"910375237"}]}}`)
	f.Add(`{"_embedded":{"konkursvarsler":[null, 1, "x", {}]}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, doc string) {
		list, _, err := ParseList(strings.NewReader(doc))
		if err != nil {
			return
		}
		// Whatever is accepted can be applied and derived.
		s := NewMemoryStore()
		if _, err := s.Apply(context.Background(), list); err != nil {
			require.ErrorIs(t, err, ErrNoticeConflict)
			return
		}
		for _, n := range list {
			require.NoError(t, n.Validate())
			ns, _ := s.NoticesFor(context.Background(), n.Debitor)
			Derive(n.Debitor, ns)
		}
	})
}

// The one table of notice types answers both ways: a type's rule, and the type that leaves a
// debtor in a status (what the audit record names as the notice in force).
func TestTypes_OneTableBothWays(t *testing.T) {
	require.Len(t, Types(), 4)
	for _, r := range Types() {
		got, ok := RuleOf(r.Type)
		require.True(t, ok)
		require.Equal(t, r, got)
		typ, ok := TypeFor(r.Status)
		require.True(t, ok, r.Type)
		require.Equal(t, r.Type, typ)
	}
	_, ok := RuleOf("konkursåpning")
	require.False(t, ok)
	_, ok = TypeFor(StatusNone)
	require.False(t, ok, "no notice, no type")
}
