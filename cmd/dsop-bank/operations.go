package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/admin"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/certpub"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/telemetry"
	"github.com/dsop-bank/dsop-bank/internal/tlsfiles"
	"github.com/dsop-bank/dsop-bank/internal/validation"
)

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}

// readiness lists what must hold before the gateway may send traffic — the server can answer:
// not shutting down, bank data present (embedded, or imported into the database), the notice store
// readable, the token keys loaded, a usable encryption certificate for every allowed consumer,
// and the audit store writable. A Konkursvarsel sync that has not succeeded for
// DSOP_KONKURSVARSEL_STALE_AFTER is reported as a warning only: the notices already held still
// decide correctly, and refusing every request because BRREG is down would stop the estates' work
// for no gain (the staleness is counted and visible to operators).
func readiness(cfg *config.Config, st *stores, keys *validation.JWKS, enc *encryption.Encrypter, p *konkursvarsel.Poller, draining *atomic.Bool) []admin.Check {
	checks := []admin.Check{
		{Name: "shutdown", Decisive: true, Func: func(context.Context) error {
			if draining.Load() {
				return errors.New("shutting down: draining")
			}
			return nil
		}},
		{Name: "bank-data", Func: func(ctx context.Context) error {
			_, err := st.bank.Servicer(ctx)
			return err
		}},
		{Name: "notices", Func: func(ctx context.Context) error {
			_, err := st.notices.Cursor(ctx)
			return err
		}},
		{Name: "jwks", Func: keys.Ensure},
		{Name: "jwks-refresh", Advisory: true, Func: func(context.Context) error {
			if st := keys.Status(); st.Loaded && st.Failures > 0 {
				return fmt.Errorf("%d refreshes failed, the keys of %s are in use: %s", st.Failures, st.FetchedAt.UTC().Format(time.RFC3339), st.LastError)
			}
			return nil
		}},
		{Name: "consumer-certificate", Func: func(ctx context.Context) error {
			for _, c := range cfg.AllowedConsumers {
				if _, err := enc.Certs.Certificate(ctx, c); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	if pinger, ok := st.audit.(interface{ Ping(context.Context) error }); ok {
		// The file store refuses every record after a failed fsync until a restart reads what
		// is on disk: then the process is not alive in any useful sense, and /livez says so.
		// (A PostgreSQL that does not answer is not mended by a restart: readiness only.)
		checks = append(checks, admin.Check{Name: "audit", Func: pinger.Ping, Live: st.volume != nil})
	}
	if st.volume != nil && st.volume.MinFree > 0 {
		checks = append(checks, admin.Check{Name: "audit-volume", Func: func(context.Context) error { return st.volume.Room() }})
	}
	if p != nil {
		checks = append(checks, admin.Check{Name: "konkursvarsel-sync", Advisory: true, Func: func(context.Context) error {
			s := p.Status()
			if since := time.Since(s.LastSuccess); s.LastSuccess.IsZero() || since > cfg.KonkursvarselStaleAfter {
				return fmt.Errorf("no successful Konkursvarsel sync for more than %s (last error: %s)", cfg.KonkursvarselStaleAfter, dash(s.LastError))
			}
			return nil
		}})
	}
	return checks
}

// registerAuditMetrics exposes the audit log's growth and, for the file store, the free space of
// its volume (docs/compliance.md "Audit log", disk: the alert rule).
func registerAuditMetrics(tel *telemetry.Telemetry, st *stores) error {
	if st.volume == nil {
		return nil
	}
	if err := tel.Gauge("dsop_audit_volume_free", "By", "Free space of the audit log's volume (file store)", func() (float64, bool) {
		free, err := st.volume.Free()
		return float64(free), err == nil
	}); err != nil {
		return err
	}
	return tel.Gauge("dsop_audit_volume_min_free", "By", "DSOP_AUDIT_MIN_FREE: below it new requests are refused", func() (float64, bool) {
		return float64(st.volume.MinFree), true
	})
}

// registerJWKSMetrics exposes the token key cache: its age and its failed fetches.
func registerJWKSMetrics(tel *telemetry.Telemetry, keys *validation.JWKS) error {
	if err := tel.Gauge("dsop_jwks_age", "s", "Time since the token signing keys were last fetched", func() (float64, bool) {
		st := keys.Status()
		return time.Since(st.FetchedAt).Seconds(), st.Loaded
	}); err != nil {
		return err
	}
	return tel.Counter("dsop_jwks_fetch_failures", "Failed fetches of the token signing keys (JWKS)", func() int64 {
		return int64(keys.Status().FailTotal)
	})
}

// registerGauges exposes the state of module A and of CertPub as metrics.
func registerGauges(ctx context.Context, tel *telemetry.Telemetry, cfg *config.Config, p *konkursvarsel.Poller, out konkursvarsel.Outbox, enc *encryption.Encrypter) error {
	if p != nil {
		if err := tel.Gauge("dsop_konkursvarsel_sync_age", "s", "Time since the last successful Konkursvarsel sync", func() (float64, bool) {
			st := p.Status()
			return time.Since(st.LastSuccess).Seconds(), !st.LastSuccess.IsZero()
		}); err != nil {
			return err
		}
		if err := tel.Gauge("dsop_konkursvarsel_lag", "s", "How far behind BRREG the newest notice applied was registered", func() (float64, bool) {
			st := p.Status()
			return st.Lag.Seconds(), !st.LastSuccess.IsZero()
		}); err != nil {
			return err
		}
		if err := tel.Counter("dsop_konkursvarsel_notices_rejected", "Malformed or conflicting notices rejected since start", func() int64 {
			return int64(p.Status().Rejected)
		}); err != nil {
			return err
		}
		if err := tel.Counter("dsop_konkursvarsel_future_notices", "Notices registered later than this server's clock allows (stored and applied; they do not move the cursor)", func() int64 {
			return int64(p.Status().FutureDated)
		}); err != nil {
			return err
		}
		// /metrics never touches the database (issue #29: no answer for 20 s while PostgreSQL
		// was frozen): the backlog is counted in the background, and a scrape reads the count.
		backlog := &outboxBacklog{out: out}
		go backlog.run(ctx, 30*time.Second)
		if err := tel.Gauge("dsop_outbox_backlog", "", "Block/reopen actions not yet acknowledged (counted every 30 s)", backlog.read); err != nil {
			return err
		}
	}
	if cs, ok := enc.Certs.(*certpub.CachedSource); ok {
		return tel.Gauge("dsop_certpub_cache_age", "s", "Age of the cached CertPub certificate of the first allowed consumer", func() (float64, bool) {
			age, ok := cs.Age(cfg.AllowedConsumers[0])
			return age.Seconds(), ok
		})
	}
	return nil
}

// expireAudit applies the retention period at start and then daily.
func expireAudit(ctx context.Context, cfg *config.Config, st audit.Store, signer *audit.Signer, logger *slog.Logger) {
	if cfg.AuditRetention == 0 {
		return
	}
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		n, err := audit.Expire(ctx, st, cfg.AuditRetention, time.Now(), signer)
		if err != nil {
			logger.Error("audit retention", "error", err.Error())
		} else if n > 0 {
			logger.Info("audit retention removed old records", "records", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// httpsClient is an HTTP client that trusts the system roots and, when caFile is set, the CAs in
// that PEM bundle too.
func httpsClient(caFile string, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// listenerTLS is the TLS of our own listeners, for banks that run TLS from the gateway to the
// service: the API listener (with mutual TLS when DSOP_TLS_CLIENT_CA is set) and the admin
// listener (server certificate only: the cluster's probes carry no client certificate). Plain
// HTTP stays the default behind a gateway; production says so when it listens beyond loopback.
func listenerTLS(cfg *config.Config, logger *slog.Logger) (api, admin *tls.Config, err error) {
	if cfg.TLSCert == "" {
		if cfg.Env == "production" && !loopback(cfg.Addr) {
			logger.Warn("serving plain HTTP on a non-loopback address: run it behind the gateway only, or set DSOP_TLS_CERT and DSOP_TLS_KEY", "addr", cfg.Addr)
		}
		return nil, nil, nil
	}
	if api, err = (tlsfiles.Files{Cert: cfg.TLSCert, Key: cfg.TLSKey, ClientCA: cfg.TLSClientCA}).Config(); err != nil {
		return nil, nil, err
	}
	if admin, err = (tlsfiles.Files{Cert: cfg.TLSCert, Key: cfg.TLSKey}).Config(); err != nil {
		return nil, nil, err
	}
	return api, admin, nil
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// outboxBacklog counts the unacknowledged actions in the background, each count under its own
// deadline, so that a scrape of /metrics never waits for the database.
type outboxBacklog struct {
	out     konkursvarsel.Outbox
	mu      sync.Mutex
	n       int
	counted time.Time
}

func (b *outboxBacklog) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		b.count(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *outboxBacklog) count(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	acts, err := b.out.List(cctx)
	if err != nil {
		return // the last count stays until it is too old to report (read)
	}
	n := 0
	for _, a := range acts {
		if a.AckedAt == nil {
			n++
		}
	}
	b.mu.Lock()
	b.n, b.counted = n, time.Now()
	b.mu.Unlock()
}

// read is the gauge's value: the last count, absent when it is older than two minutes.
func (b *outboxBacklog) read() (float64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return float64(b.n), !b.counted.IsZero() && time.Since(b.counted) < 2*time.Minute
}
