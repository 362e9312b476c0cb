package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
)

// frozenOutbox answers once, then never again (a frozen database).
type frozenOutbox struct {
	konkursvarsel.Outbox
	calls int
}

func (f *frozenOutbox) List(ctx context.Context) ([]konkursvarsel.Action, error) {
	f.calls++
	if f.calls == 1 {
		return []konkursvarsel.Action{{ID: "a"}, {ID: "b"}}, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// A scrape of /metrics reads the backlog counted in the background and never waits for the
// database (issue #29); a count too old to trust is left out rather than reported.
func TestOutboxBacklog_AScrapeNeverWaitsForTheDatabase(t *testing.T) {
	b := &outboxBacklog{out: &frozenOutbox{}}
	b.count(context.Background())
	start := time.Now()
	n, ok := b.read()
	require.True(t, ok)
	require.EqualValues(t, 2, n)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	go b.count(ctx) // frozen
	n, ok = b.read()
	require.True(t, ok)
	require.EqualValues(t, 2, n)
	require.Less(t, time.Since(start), time.Second)
	b.counted = time.Now().Add(-3 * time.Minute)
	_, ok = b.read()
	require.False(t, ok, "a stale count is not reported")
}
