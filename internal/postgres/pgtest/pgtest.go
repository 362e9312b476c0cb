// Package pgtest gives each PostgreSQL test a schema of its own on DSOP_TEST_DATABASE_URL, so
// tests can run side by side and leave nothing behind. Without the variable the test is skipped,
// visibly, unless DSOP_REQUIRE_POSTGRES=1.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// URL creates a fresh schema (dropped after the test) and returns a connection URL using it.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("DSOP_TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("DSOP_REQUIRE_POSTGRES") == "1" {
			tb.Fatal("DSOP_REQUIRE_POSTGRES=1 but DSOP_TEST_DATABASE_URL is not set")
		}
		tb.Skip("SKIP PostgreSQL: DSOP_TEST_DATABASE_URL is not set")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := pgxpool.New(context.Background(), url)
	require.NoError(tb, err)
	_, err = admin.Exec(context.Background(), "CREATE SCHEMA "+schema)
	if isMissingDatabase(err) {
		// The database the URL names does not exist yet (a fresh cluster has only postgres):
		// create it once, through the cluster's maintenance database, rather than fail every test.
		require.NoError(tb, createDatabase(url), "create the database of DSOP_TEST_DATABASE_URL")
		_, err = admin.Exec(context.Background(), "CREATE SCHEMA "+schema)
	}
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

func isMissingDatabase(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "3D000" // invalid_catalog_name
}

// createDatabase creates the database raw names, connected to the cluster's postgres database;
// another test creating it at the same time is no failure.
func createDatabase(raw string) error {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return err
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42P04" || pe.Code == "23505") { // duplicate_database, or a race on the catalog
		return nil
	}
	return err
}

// Pool connects to a fresh schema (not migrated: pgtest cannot import the package it tests).
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), URL(tb))
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	return pool
}

// Freezer is a TCP proxy in front of the test database that can stop forwarding, as a frozen
// database server (SIGSTOP) looks to its clients: connections stay open, nothing answers.
type Freezer struct {
	URL    string // like URL's, through the proxy
	frozen atomic.Bool
	// repliesOnly, while frozen, still forwards what clients send: the server does the work
	// (a COMMIT commits) and its answers are held, as when the network drops the replies.
	repliesOnly atomic.Bool
	thaw        chan struct{}
	mu          sync.Mutex
}

// Freeze stops forwarding.
func (f *Freezer) Freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.frozen.Swap(true) {
		f.thaw = make(chan struct{})
	}
}

// FreezeReplies holds the server's answers only: what clients send still reaches it.
func (f *Freezer) FreezeReplies() {
	f.repliesOnly.Store(true)
	f.Freeze()
}

// Thaw resumes forwarding.
func (f *Freezer) Thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen.Swap(false) {
		close(f.thaw)
	}
	f.repliesOnly.Store(false)
}

func (f *Freezer) wait(toServer bool) {
	if toServer && f.repliesOnly.Load() {
		return
	}
	f.mu.Lock()
	ch, frozen := f.thaw, f.frozen.Load()
	f.mu.Unlock()
	if frozen {
		<-ch
	}
}

// FreezableURL creates a fresh schema (as URL does) and returns a Freezer whose URL reaches it
// through a proxy on the loopback interface.
func FreezableURL(tb testing.TB) *Freezer {
	tb.Helper()
	direct := URL(tb)
	u, err := url.Parse(direct)
	require.NoError(tb, err)
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	f := &Freezer{}
	tb.Cleanup(func() { f.Thaw(); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				d, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer d.Close()
				pipe := func(dst, src net.Conn, toServer bool) {
					buf := make([]byte, 32<<10)
					for {
						n, err := src.Read(buf)
						f.wait(toServer) // frozen: hold what arrived, answer nothing
						if n > 0 {
							if _, werr := dst.Write(buf[:n]); werr != nil {
								return
							}
						}
						if err != nil {
							dst.Close()
							return
						}
					}
				}
				go pipe(d, c, true)
				pipe(c, d, false)
			}()
		}
	}()
	u.Host = ln.Addr().String()
	f.URL = u.String()
	return f
}
