package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/audit/audittest"
)

// pgTamper acts as a database superuser who disables the append-only trigger.
type pgTamper struct{ pool *pgxpool.Pool }

func (p pgTamper) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := p.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET session_replication_role = replica")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SET session_replication_role = origin")
	require.NoError(t, err)
}

func (p pgTamper) Edit(t *testing.T, seq uint64) {
	p.exec(t, `UPDATE audit_records SET record = replace(record, '"party_id":"910336819"', '"party_id":"910000000"') WHERE seq = $1`, int64(seq))
}

func (p pgTamper) Delete(t *testing.T, seq uint64) {
	p.exec(t, "DELETE FROM audit_records WHERE seq = $1", int64(seq))
}

func (p pgTamper) Swap(t *testing.T, a, b uint64) {
	p.exec(t, `UPDATE audit_records SET record = CASE seq WHEN $1 THEN (SELECT record FROM audit_records WHERE seq = $2)
		ELSE (SELECT record FROM audit_records WHERE seq = $1) END WHERE seq IN ($1, $2)`, int64(a), int64(b))
}

func TestAuditStore(t *testing.T) {
	audittest.Run(t, func(t *testing.T) (audit.Store, audittest.Tamperer) {
		pool := testPool(t)
		return &AuditStore{Pool: pool}, pgTamper{pool}
	})
}

func TestAuditStore_AppendOnlyForTheApplication(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	st := &AuditStore{Pool: pool}
	require.NoError(t, st.Append(ctx, &audit.Record{Status: 200}))
	_, err := pool.Exec(ctx, "UPDATE audit_records SET status = 500")
	require.ErrorContains(t, err, "append-only")
	_, err = pool.Exec(ctx, "DELETE FROM audit_records")
	require.ErrorContains(t, err, "append-only")
}

// Appends from many connections at once (as from several replicas) still form one chain.
func TestAuditStore_ConcurrentAppendsFormOneChain(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	st := &AuditStore{Pool: pool}
	errs := make(chan error, 40)
	for range 40 {
		go func() { errs <- st.Append(ctx, &audit.Record{Status: 200}) }()
	}
	for range 40 {
		require.NoError(t, <-errs)
	}
	rep, err := audit.Verify(ctx, st, audit.NewSigner([]byte("0123456789abcdef0123456789abcdef")))
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, 40, rep.Records)
}

// Two replicas (two stores, each group-committing) appending at once still form one chain, and
// every caller gets back its own record's place in it.
func TestAuditStore_GroupCommitAcrossReplicas(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	replicas := []*AuditStore{{Pool: pool}, {Pool: pool}}
	type result struct {
		rec audit.Record
		err error
	}
	results := make(chan result, 200)
	for i := range 200 {
		go func() {
			r := audit.Record{Status: 200, CorrelationID: fmt.Sprintf("c-%03d", i)}
			err := replicas[i%2].Append(ctx, &r)
			results <- result{r, err}
		}()
	}
	seen := map[uint64]string{}
	for range 200 {
		res := <-results
		require.NoError(t, res.err)
		require.NotZero(t, res.rec.Seq)
		require.NotEmpty(t, res.rec.Hash)
		require.NotContains(t, seen, res.rec.Seq, "two callers were given the same record")
		seen[res.rec.Seq] = res.rec.CorrelationID
	}
	for _, st := range replicas {
		require.NoError(t, st.Close())
	}
	n := 0
	require.NoError(t, replicas[0].Scan(ctx, func(r audit.Record) error {
		n++
		require.Equal(t, seen[r.Seq], r.CorrelationID, "seq %d holds another caller's record", r.Seq)
		return nil
	}))
	require.Equal(t, 200, n)
	rep, err := audit.Verify(ctx, replicas[1], signer())
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
}

// A caller that gives up (its context ends) does not take the others of its group down with it.
func TestAuditStore_AGivenUpCallerDoesNotFailItsGroup(t *testing.T) {
	pool := testPool(t)
	st := &AuditStore{Pool: pool}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			ctx := context.Background()
			if i == 0 {
				ctx = gone
			}
			errs <- st.Append(ctx, &audit.Record{Status: 200})
		}()
	}
	failed := 0
	for range 20 {
		if err := <-errs; err != nil {
			failed++
			require.ErrorIs(t, err, context.Canceled)
		}
	}
	require.LessOrEqual(t, failed, 1)
	require.NoError(t, st.Close())
	rep, err := audit.Verify(context.Background(), st, signer())
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
	require.GreaterOrEqual(t, rep.Records, uint64(19))
}

func TestMigrate_IsIdempotent(t *testing.T) {
	pool := testPool(t)
	require.NoError(t, Migrate(context.Background(), pool))
}

// Readiness asks the store; a database that cannot be reached makes the server not ready.
func TestAuditStore_PingFailsWhenTheDatabaseIsGone(t *testing.T) {
	pool := testPool(t)
	st := &AuditStore{Pool: pool}
	require.NoError(t, st.Ping(context.Background()))
	pool.Close()
	require.Error(t, st.Ping(context.Background()))
}

// Records written by dsop-bank before the versioned encoding (audit/testdata/v1-records.jsonl)
// verify in PostgreSQL too, and the chain goes on after them in the current version.
func TestAuditStore_GoldenV1RecordsVerify(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	b, err := os.ReadFile("../audit/testdata/v1-records.jsonl")
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		r, err := audit.Decode([]byte(line))
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `INSERT INTO audit_records (seq, recorded_at, account_info_request_id, correlation_id, party_id, consumer, status, record, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, int64(r.Seq), r.Time, r.AccountInfoRequestID, r.CorrelationID, r.PartyID, r.Consumer, r.Status, line, r.Hash)
		require.NoError(t, err)
	}
	st := &AuditStore{Pool: pool}
	signer := audit.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	rep, err := audit.Verify(ctx, st, signer)
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, 5, rep.Records)
	require.NoError(t, st.Append(ctx, &audit.Record{Time: time.Now(), Operation: "listAccounts", Status: 200, Consumer: "0192:974760673"}))
	rep, err = audit.Verify(ctx, st, signer)
	require.NoError(t, err)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, 6, rep.Records)
	// The derived columns of migration 0006 read the v1 records too.
	p, err := st.Query(ctx, audit.Query{Kind: audit.KindAccess})
	require.NoError(t, err)
	require.Len(t, p.Records, 1)
	require.Equal(t, "audit.reveal", p.Records[0].Operation)
}
