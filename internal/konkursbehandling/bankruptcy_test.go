package konkursbehandling

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

func notice(uuid string, typ konkursvarsel.Type, at string, debitor string, k string) konkursvarsel.Notice {
	ts, _ := time.Parse(time.RFC3339, at)
	n := konkursvarsel.Notice{UUID: uuid, Type: typ, Registreringstidspunkt: ts, Debitor: debitor}
	if k != "" {
		n.Kjennelsesdato = civil.MustParse(k)
	}
	return n
}

func TestGate_RefusesEverythingButOpenAndJudgesAssociatedUnitsByTheOwner(t *testing.T) {
	ctx := context.Background()
	s := konkursvarsel.NewMemoryStore()
	person := notice("00000000-0000-4000-8000-000000000001", konkursvarsel.Aapning, "2025-01-01T10:00:00Z", "08086001471", "2025-01-01")
	person.AssociatedOrgNos = []string{"910491482"}
	closed := notice("00000000-0000-4000-8000-000000000002", konkursvarsel.Aapning, "2019-01-01T10:00:00Z", "910336819", "2019-01-01")
	closedEnd := notice("00000000-0000-4000-8000-000000000003", konkursvarsel.Avslutning, "2020-01-01T10:00:00Z", "910336819", "")
	_, err := s.Apply(ctx, []konkursvarsel.Notice{person, closed, closedEnd})
	require.NoError(t, err)

	g := &Gate{Store: s}
	st, err := g.Check(ctx, "910491482") // the person's ENK
	require.NoError(t, err)
	require.Equal(t, "08086001471", st.Debitor)
	require.Equal(t, "2025-01-01", st.Kjennelsesdato.String())

	_, err = g.Check(ctx, "910336819")
	var re *RefusedError
	require.True(t, errors.As(err, &re))
	require.Equal(t, konkursvarsel.StatusClosed, re.State.Status)
	require.Contains(t, re.Error(), "avslutning")

	_, err = g.Check(ctx, "974760673")
	require.True(t, errors.As(err, &re))
	require.Equal(t, konkursvarsel.StatusNone, re.State.Status)

	g.AllowClosed = true
	st, err = g.Check(ctx, "910336819")
	require.NoError(t, err)
	require.Equal(t, konkursvarsel.StatusClosed, st.Status)
}

// TestGate_OnDemandSyncBeforeRefusingAnUnknownParty is test-cases.md K-09: a notice published
// since the last poll is fetched before the party is refused, at most once per OnDemandEvery.
func TestGate_OnDemandSyncBeforeRefusingAnUnknownParty(t *testing.T) {
	ctx := context.Background()
	st := konkursvarsel.NewMemoryStore()
	var published []konkursvarsel.Notice // what BRREG has and the poller has not fetched yet
	var syncs atomic.Int32
	g := &Gate{Store: st, OnDemandEvery: time.Hour, OnDemand: func(ctx context.Context) error {
		syncs.Add(1)
		_, err := st.Apply(ctx, published)
		return err
	}}
	published = append(published, notice("00000000-0000-4000-8000-000000000011", konkursvarsel.Aapning, "2026-11-23T09:00:00Z", "910336819", "2026-11-23"))
	_, err := g.Check(ctx, "910336819")
	require.NoError(t, err, "the on-demand sync found the notice")
	require.EqualValues(t, 1, syncs.Load())
	published = append(published, notice("00000000-0000-4000-8000-000000000012", konkursvarsel.Aapning, "2026-11-23T09:05:00Z", "910491482", "2026-11-23"))
	_, err = g.Check(ctx, "910491482")
	require.Error(t, err, "rate limited: at most one on-demand sync per OnDemandEvery")
	require.EqualValues(t, 1, syncs.Load())
}

// An unknown party's on-demand sync that outlasts the request gives up at the request's
// deadline with the deadline's error (a 503), not a refusal (issue #29).
func TestGate_TheOnDemandSyncIsBoundedByTheRequestsDeadline(t *testing.T) {
	g := &Gate{Store: konkursvarsel.NewMemoryStore(), OnDemandEvery: time.Hour, OnDemand: func(ctx context.Context) error {
		<-ctx.Done() // a stuck sync, or one waiting behind another
		return ctx.Err()
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := g.Check(ctx, "910000001")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var re *RefusedError
	require.False(t, errors.As(err, &re), "not refused as not bankrupt: the sync never finished")
	require.Less(t, time.Since(start), 2*time.Second)
}
