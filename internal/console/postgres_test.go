package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// On PostgreSQL (any replica) the console reveals, acknowledges and verifies as on the embedded
// default, through the shared tables.
func TestConsole_OnPostgreSQL(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	require.NoError(t, postgres.Migrate(ctx, pool))
	w := newWorldOn(t, stores{audit: &postgres.AuditStore{Pool: pool}, notices: &postgres.NoticeStore{Pool: pool}, outbox: &postgres.Outbox{Pool: pool}})
	officer := w.login(t, "dev-officer")

	_, page := get(t, officer, w.url+"/cases/"+caseID)
	require.NotContains(t, page, person)
	seq := regexp.MustCompile(`name="seq" value="(\d+)"`).FindStringSubmatch(page)[1]
	res, err := officer.PostForm(w.url+"/cases/"+caseID+"/reveal", url.Values{"csrf": {csrf(t, page)}, "seq": {seq}})
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(body), person)
	var ops []string
	require.NoError(t, w.log.Scan(ctx, func(r audit.Record) error { ops = append(ops, r.Operation); return nil }))
	require.Contains(t, ops, "console.reveal")

	_, page = get(t, officer, w.url+"/konkursvarsel")
	res, err = officer.PostForm(w.url+"/actions/37f86010-2163-43e8-95a9-c9721e8da769/ack", url.Values{"csrf": {csrf(t, page)}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, page = get(t, officer, w.url+"/konkursvarsel")
	require.Contains(t, page, "Olivia Officer")

	_, page = get(t, officer, w.url+"/health")
	_, err = officer.PostForm(w.url+"/health/verify", url.Values{"csrf": {csrf(t, page)}})
	require.NoError(t, err)
	_, page = get(t, officer, w.url+"/health")
	require.Regexp(t, `class="ok">OK: \d+ records`, page)

	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	for _, q := range []string{"SET session_replication_role = replica",
		`UPDATE audit_records SET record = replace(record, '"status":200', '"status":404') WHERE seq = 1`,
		"SET session_replication_role = origin"} {
		_, err = conn.Exec(ctx, q)
		require.NoError(t, err)
	}
	_, err = officer.PostForm(w.url+"/health/verify", url.Values{"csrf": {csrf(t, page)}})
	require.NoError(t, err)
	_, page = get(t, officer, w.url+"/health")
	require.Regexp(t, `class="bad">BROKEN at record 1`, page)
}
