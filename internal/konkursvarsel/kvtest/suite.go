// Package kvtest is the one test suite every konkursvarsel.Store and Outbox implementation passes.
package kvtest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

func notice(id string, typ konkursvarsel.Type, at, debitor, k string, units ...string) konkursvarsel.Notice {
	ts, _ := time.Parse(time.RFC3339, at)
	n := konkursvarsel.Notice{UUID: id, Type: typ, Registreringstidspunkt: ts, Debitor: debitor, AssociatedOrgNos: units}
	if k != "" {
		n.Kjennelsesdato = civil.MustParse(k)
	}
	return n
}

// RunStore runs the notice store suite.
func RunStore(t *testing.T, open func(t *testing.T) konkursvarsel.Store) {
	ctx := context.Background()
	t.Run("idempotent, enrichment, conflicts, cursor", func(t *testing.T) {
		st := open(t)
		a := notice("37f86010-2163-43e8-95a9-c9721e8da769", konkursvarsel.Aapning, "2018-06-08T11:32:40Z", "08086001471", "2018-06-08")
		b := notice("a2141fbb-812e-4550-8cc3-2a907a841261", konkursvarsel.Sletting, "2018-06-09T11:32:40Z", "08086001471", "")
		n, err := st.Apply(ctx, []konkursvarsel.Notice{a, a, b})
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = st.Apply(ctx, []konkursvarsel.Notice{a})
		require.NoError(t, err)
		require.Zero(t, n)

		enriched := a
		enriched.AssociatedOrgNos = []string{"910491482"}
		n, err = st.Apply(ctx, []konkursvarsel.Notice{enriched})
		require.NoError(t, err)
		require.Zero(t, n)
		got, err := st.NoticesFor(ctx, "910491482")
		require.NoError(t, err)
		require.Len(t, got, 1, "the ENK now finds the owner's notice")

		got, err = st.NoticesFor(ctx, "08086001471")
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, konkursvarsel.StatusAnnulled, konkursvarsel.Derive("08086001471", got).Status)

		conflict := a
		conflict.Type = konkursvarsel.Avslutning
		other := notice("b45ae651-e6c0-4137-ae6d-75eb819ed7e4", konkursvarsel.Aapning, "2018-07-03T12:05:06Z", "21097400153", "2018-07-03")
		_, err = st.Apply(ctx, []konkursvarsel.Notice{other, conflict})
		require.ErrorIs(t, err, konkursvarsel.ErrNoticeConflict)
		got, _ = st.NoticesFor(ctx, "21097400153")
		require.Empty(t, got, "a refused batch is not half-applied")

		cur, err := st.Cursor(ctx)
		require.NoError(t, err)
		require.True(t, cur.IsZero())
		at := time.Date(2018, 6, 9, 11, 32, 40, 200_000_000, time.UTC)
		require.NoError(t, st.SetCursor(ctx, at))
		cur, err = st.Cursor(ctx)
		require.NoError(t, err)
		require.True(t, cur.Equal(at))
	})
}

// RunOutbox runs the outbox suite.
func RunOutbox(t *testing.T, open func(t *testing.T) konkursvarsel.Outbox) {
	ctx := context.Background()
	o := open(t)
	a := konkursvarsel.Action{ID: "37f86010-2163-43e8-95a9-c9721e8da769", Type: konkursvarsel.ActionBlock, NoticeUUID: "37f86010-2163-43e8-95a9-c9721e8da769",
		Debitor: "910336819", Accounts: []konkursvarsel.ActionAccount{{AccountNumber: "1", PartyID: "910336819"}}}
	b := a
	b.ID, b.Type = "a2141fbb-812e-4550-8cc3-2a907a841261", konkursvarsel.ActionReopen
	n, err := o.Add(ctx, []konkursvarsel.Action{a, b, a})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.NoError(t, o.Ack(ctx, a.ID, "ops"))
	require.ErrorIs(t, o.Ack(ctx, a.ID, "ops"), konkursvarsel.ErrAlreadyAcked)
	require.ErrorIs(t, o.Ack(ctx, "nope", "ops"), konkursvarsel.ErrUnknownAction)
	n, err = o.Add(ctx, []konkursvarsel.Action{a})
	require.NoError(t, err)
	require.Zero(t, n)
	list, err := o.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, a.ID, list[0].ID, "in the order recorded")
	require.NotNil(t, list[0].AckedAt)
	require.Equal(t, "ops", list[0].AckedBy)
	require.Nil(t, list[1].AckedAt)
	require.Equal(t, a.Accounts, list[0].Accounts)
}
