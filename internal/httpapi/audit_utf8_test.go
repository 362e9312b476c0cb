package httpapi_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/postgres/pgtest"
)

// rawRequest sends header lines exactly as given (bytes that Go's client would refuse to send)
// and returns the status.
func rawRequest(t *testing.T, addr, target string, headers []string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	msg := "GET " + target + " HTTP/1.1\r\nHost: bank\r\nConnection: close\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n"
	_, err = io.WriteString(conn, msg)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// Every request leaves a record in every store, whatever bytes its headers carry: invalid UTF-8
// is stored replaced (U+FFFD marks where), and a long value is cut on a character boundary.
func TestAudit_ByteSoupInHeadersIsRecordedInEveryStore(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) audit.Store{
		"file": func(t *testing.T) audit.Store {
			st, err := audit.OpenFileStore(t.TempDir(), 0)
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		},
		"postgres": func(t *testing.T) audit.Store {
			pool := pgtest.Pool(t)
			require.NoError(t, postgres.Migrate(context.Background(), pool))
			return &postgres.AuditStore{Pool: pool}
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			h := newHarness(t, func(d *httpapi.Deps) { d.Audit = st })
			srv := httptest.NewServer(h.handler)
			defer srv.Close()
			addr := srv.Listener.Addr().String()
			hd := h.headers(openOrg)
			var base []string
			for _, k := range []string{"Authorization", "AccountInfoRequestID", "Legal-Mandate", "Accept"} {
				base = append(base, k+": "+hd.Get(k))
			}
			target := accountsURL(earliest, today)
			long := strings.Repeat("a", 511) + "é" // the 512-byte cut falls inside é
			for i, c := range []struct {
				headers []string
				status  int
			}{
				{[]string{"CorrelationID: \xff\xfe", "PartyID: 910336819"}, 400},
				{[]string{"CorrelationID: " + long, "PartyID: 910336819"}, 400},
				{[]string{"CorrelationID: 14fbc062-aacb-4449-93c1-85c352d387a4", "PartyID: 9103\xff36819"}, 400},
				// RequesterID carries nothing for Konkursbehandling: served, and recorded as sent.
				{[]string{"CorrelationID: 14fbc062-aacb-4449-93c1-85c352d387a4", "PartyID: 910336819", "RequesterID: \xc3"}, 200},
			} {
				require.Equal(t, c.status, rawRequest(t, addr, target, append(append([]string{}, base...), c.headers...)), "request %d", i)
			}
			require.Equal(t, 200, rawRequest(t, addr, target, append(base, "CorrelationID: 14fbc062-aacb-4449-93c1-85c352d387a4", "PartyID: 910336819")))
			var recs []audit.Record
			require.NoError(t, st.Scan(context.Background(), func(r audit.Record) error { recs = append(recs, r); return nil }))
			require.Len(t, recs, 5, "every request has its record")
			require.Contains(t, recs[0].CorrelationID, "\uFFFD", "replaced bytes are marked")
			require.True(t, utf8.ValidString(recs[1].CorrelationID))
			require.True(t, strings.HasSuffix(recs[1].CorrelationID, "…"))
			require.LessOrEqual(t, len(recs[1].CorrelationID), audit.MaxField+len("…"))
			require.Contains(t, recs[2].PartyID, "\uFFFD")
			require.Contains(t, recs[3].RequesterID, "\uFFFD")
			rep, err := audit.Verify(context.Background(), st, audit.NewSigner([]byte("x")))
			require.NoError(t, err)
			require.True(t, rep.OK(), rep.Problem)
		})
	}
}
