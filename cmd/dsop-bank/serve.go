package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/admin"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/certpub"
	"github.com/dsop-bank/dsop-bank/internal/civil"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/durable"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/telemetry"
	"github.com/dsop-bank/dsop-bank/internal/tracing"
	"github.com/dsop-bank/dsop-bank/internal/validation"
	"github.com/dsop-bank/dsop-bank/openapi"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load("serve", args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel, stderr)
	secret, err := loadSecret(cfg.SecretFile, cfg.Env != "production")
	if err != nil {
		return err
	}
	st, err := openStores(ctx, cfg, secret, logger)
	if err != nil {
		return err
	}
	// The stores close at the end: on an early return here, and bounded by the shutdown deadline
	// after a SIGTERM (closeWithin), so that a frozen database cannot hold the process.
	var storesClosing atomic.Bool
	defer func() {
		if !storesClosing.Swap(true) {
			st.close()
		}
	}()
	var draining atomic.Bool
	auditStore := st.audit
	go expireAudit(ctx, cfg, auditStore, audit.NewSigner(secret), logger)
	enc, err := newEncrypter(ctx, cfg, logger)
	if err != nil {
		return err
	}
	tel, err := telemetry.New(ctx, telemetry.TracingRequested(getenv))
	if err != nil {
		return err
	}
	defer func() {
		// Flush what telemetry still holds (spans in the batcher) before the process ends.
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(fctx)
	}()
	jwksClient, err := httpsClient(cfg.MaskinportenCA, 10*time.Second)
	if err != nil {
		return fmt.Errorf("DSOP_MASKINPORTEN_CA: %w", err)
	}
	keys := validation.NewJWKS(cfg.MaskinportenJWKSURL, jwksClient)
	svc := &accounts.Service{Store: st.bank, Loc: cfg.Timezone, PageSize: cfg.PageSize}

	var (
		servers   []*http.Server
		listeners []net.Listener
	)
	// listen opens a listener. aux marks the helpers of test mode (mock, development issuer,
	// admin): if their address is taken — another dsop-bank on the same machine — they move to a
	// free port rather than stop the server, and say so.
	listen := func(addr, what string, h http.Handler, aux bool) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil && aux && cfg.Env == "test" {
			if ln, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
				logger.Warn("address in use; listening on a free port instead", "listener", what, "wanted", addr, "addr", ln.Addr().String())
			}
		}
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return "", fmt.Errorf("listen %s (%s): %w", addr, what, err)
		}
		servers, listeners = append(servers, newHTTPServer(h)), append(listeners, ln)
		return ln.Addr().String(), nil
	}
	errc := make(chan error, 4)
	serveAll := func(from int) {
		for i := from; i < len(servers); i++ {
			srv, ln := servers[i], listeners[i] // the slices grow while these serve
			go func() { errc <- srv.Serve(ln) }()
		}
	}
	// Module A first: the built-in mock (test), the notice store, the poller and its first sync.
	if cfg.MockKonkursvarsel() {
		list, _, err := konkursvarsel.ParseList(demo.Konkursvarsler())
		if err != nil {
			return err
		}
		addr, err := listen(cfg.MockKonkursvarselAddr, "Konkursvarsel mock", konkursvarsel.NewMock(list).Handler(), true)
		if err != nil {
			return err
		}
		cfg.KonkursvarselURL = "http://" + addr
		serveAll(0)
	}
	gate, poller, err := startKonkursvarsel(ctx, cfg, st, svc, tel, logger)
	if err != nil {
		return err
	}
	h, dev, err := build(cfg, secret, auditStore, enc, gate, svc, keys, tel, logger)
	if err != nil {
		return err
	}
	if err := registerJWKSMetrics(tel, keys); err != nil {
		return err
	}
	if err := registerGauges(tel, cfg, poller, st.outbox, enc); err != nil {
		return err
	}
	first := len(servers)
	if _, err := listen(cfg.Addr, "API", h, false); err != nil {
		return err
	}
	apiLn := listeners[first]
	if dev != nil {
		addr, err := listen(cfg.DevIssuerAddr, "development issuer", dev.Handler(), true)
		if err != nil {
			return err
		}
		// The issuer's name (iss) stays as configured, so dev-token's tokens still match.
		keys.URL = "http://" + addr + "/jwks.json"
	}
	if cfg.AdminAddr != "" {
		if _, err := listen(cfg.AdminAddr, "admin", admin.Handler(tel.Metrics, readiness(cfg, st, keys, enc, poller, &draining), openapi.DSOPv2()), true); err != nil {
			return err
		}
	}
	serveAll(first)
	keys.Logger = logger
	go keys.Run(ctx) // load the token keys now, and refresh them in the background
	logger.Info("dsop-bank listening", "addr", apiLn.Addr().String(), "env", cfg.Env, "base_url", cfg.BaseURL)
	if dev != nil {
		printDemo(stdout, cfg, dev)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("server stopped: %w", err)
	}
	return shutdown(cfg, servers, st, &storesClosing, &draining, logger)
}

// shutdown ends the server within DSOP_SHUTDOWN_TIMEOUT whatever the dependencies do: /readyz
// turns 503 for DSOP_DRAIN_DELAY so that the load balancer stops routing here, then the listeners
// stop and in-flight requests finish (each writes its audit record before it answers); what has
// not finished by the deadline is cut off, and the stores close within what remains of it.
func shutdown(cfg *config.Config, servers []*http.Server, st *stores, storesClosing, draining *atomic.Bool, logger *slog.Logger) error {
	deadline := time.Now().Add(cfg.ShutdownTimeout)
	draining.Store(true)
	logger.Info("dsop-bank shutting down", "deadline", cfg.ShutdownTimeout.String(), "drain", cfg.DrainDelay.String())
	time.Sleep(cfg.DrainDelay)
	shutdownCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var shutdownErr error
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil {
			_ = s.Close()
			shutdownErr = fmt.Errorf("in-flight requests did not finish within %s: %w", cfg.ShutdownTimeout, err)
		}
	}
	if !storesClosing.Swap(true) {
		closed := make(chan struct{})
		go func() { st.close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(max(time.Until(deadline), 0) + 500*time.Millisecond):
			logger.Warn("stores did not close before the shutdown deadline; leaving them to the operating system")
		}
	}
	logger.Info("dsop-bank stopped")
	return shutdownErr
}

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

// build assembles the API from the configuration: the explicit wiring of every dependency.
// newEncrypter finds the consumer certificates: a PEM file, CertPub (refreshed in the
// background), or in test mode a development certificate in the state directory.
func newEncrypter(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*encryption.Encrypter, error) {
	checker := certpub.Checker{}
	if cfg.CertPubCA != "" {
		b, err := os.ReadFile(cfg.CertPubCA)
		if err != nil {
			return nil, fmt.Errorf("DSOP_CERTPUB_CA: %w", err)
		}
		checker.Roots = x509.NewCertPool()
		if !checker.Roots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("DSOP_CERTPUB_CA %s: no certificates", cfg.CertPubCA)
		}
	}
	var src certpub.Source
	switch {
	case cfg.CertPubURL != "":
		cs := &certpub.CachedSource{Client: &certpub.Client{LocatorURL: cfg.CertPubURL}, Checker: checker, TTL: cfg.CertPubTTL, Logger: logger}
		go cs.Run(ctx, cfg.AllowedConsumers)
		src = cs
	case cfg.ConsumerCert != "":
		fs, err := certpub.LoadFile(cfg.ConsumerCert, checker)
		if err != nil {
			return nil, err
		}
		src = fs
	default:
		org := strings.TrimPrefix(cfg.AllowedConsumers[0], "0192:")
		certPath, _, err := devissuer.ConsumerCertificate(cfg.StateDir, org)
		if err != nil {
			return nil, err
		}
		fs, err := certpub.LoadFile(certPath, checker)
		if err != nil {
			return nil, err
		}
		src = fs
	}
	return &encryption.Encrypter{Certs: src, Enc: cfg.JWEEnc}, nil
}

func build(cfg *config.Config, secret []byte, auditStore audit.Store, enc *encryption.Encrypter, gate *konkursbehandling.Gate, svc *accounts.Service,
	keys *validation.JWKS, tel *telemetry.Telemetry, logger *slog.Logger) (http.Handler, *devissuer.Issuer, error) {
	var overrides filter.Overrides
	if cfg.FieldPolicy != "" {
		b, err := os.ReadFile(cfg.FieldPolicy)
		if err != nil {
			return nil, nil, fmt.Errorf("DSOP_FIELD_POLICY: %w", err)
		}
		if err := json.Unmarshal(b, &overrides); err != nil {
			return nil, nil, fmt.Errorf("DSOP_FIELD_POLICY %s: %w", cfg.FieldPolicy, err)
		}
	}
	policy, err := filter.New(overrides)
	if err != nil {
		return nil, nil, err
	}
	var dev *devissuer.Issuer
	if cfg.DevIssuer() {
		if dev, err = devissuer.Open(cfg.StateDir, cfg.MaskinportenIssuer, cfg.BaseURL); err != nil {
			return nil, nil, err
		}
	}
	tokens := &validation.TokenValidator{
		Keys:             keys,
		Issuer:           cfg.MaskinportenIssuer,
		Audience:         cfg.BaseURL,
		AllowedConsumers: cfg.AllowedConsumers,
		Skew:             cfg.TokenSkew,
	}
	// The request path's dependencies, each in a tracing decorator.
	store := tracing.AccountsStore{Next: svc.Store, Tracer: tel.Tracer}
	traced := *svc
	traced.Store = store
	h := httpapi.NewServer(httpapi.Deps{
		Logger:    logger,
		Tokens:    tokens,
		Rules:     validation.Rules{ToDate: cfg.ToDatePolicy},
		Decide:    &konkursbehandling.Decider{Bankruptcies: tracing.Gate{Next: gate, Tracer: tel.Tracer}, Accounts: store},
		Accounts:  &traced,
		Cursors:   accounts.NewCursorCodec(secret),
		Audit:     auditStore,
		Encrypter: tracing.Encryption{Next: enc, Tracer: tel.Tracer},
		Policy:    policy,
		Mode:      httpapi.Mode(cfg.Env),
		LinkBase:  cfg.LinkBase,
		Loc:       cfg.Timezone,

		Tracer:     tel.Tracer,
		Propagator: tel.Propagator,
		Observer:   tel,
		Admission: &httpapi.Admission{Rate: cfg.RateLimit, Burst: float64(cfg.RateBurst),
			Concurrency: cfg.ConsumerConcurrency, MaxWait: cfg.RateWait},
		RequestTimeout: cfg.RequestTimeout,
		MaxHeaders:     cfg.MaxHeaders,
		MaxInFlight:    cfg.MaxInFlight,
		AuditTimeout:   cfg.AuditTimeout,
	})
	return h, dev, nil
}

func loadBankData(path string) (*accounts.BankData, error) {
	if path == "" {
		bd, err := accounts.DecodeBankData(demo.BankData())
		if err != nil {
			return nil, fmt.Errorf("embedded demo bank: %w", err)
		}
		return bd, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("DSOP_BANK_DATA: %w", err)
	}
	defer f.Close()
	bd, err := accounts.DecodeBankData(f)
	if err != nil {
		return nil, fmt.Errorf("DSOP_BANK_DATA %s:\n%w", path, err)
	}
	return bd, nil
}

// stores are where the server keeps its data: PostgreSQL when DSOP_DATABASE_URL is set (shared by
// replicas; bank data loaded with `dsop-bank import`), else files in the state directory and the
// bank data file (or the embedded demo bank) in memory.
type stores struct {
	audit   audit.Store
	notices konkursvarsel.Store
	outbox  konkursvarsel.Outbox
	bank    accounts.Store
	pool    *pgxpool.Pool
	close   func()
}

func openStores(ctx context.Context, cfg *config.Config, secret []byte, logger *slog.Logger) (*stores, error) {
	if cfg.DatabaseURL != "" {
		pool, err := openPool(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if cfg.BankData != "" {
			logger.Warn("DSOP_BANK_DATA is ignored with DSOP_DATABASE_URL: load bank data with dsop-bank import")
		}
		if err := postgres.CheckSecret(ctx, pool, accounts.Fingerprint(secret)); err != nil {
			pool.Close()
			return nil, err
		}
		return &stores{
			audit: &postgres.AuditStore{Pool: pool}, notices: &postgres.NoticeStore{Pool: pool}, outbox: &postgres.Outbox{Pool: pool},
			bank: &postgres.AccountsStore{Pool: pool}, pool: pool, close: pool.Close,
		}, nil
	}
	bd, err := loadBankData(cfg.BankData)
	if err != nil {
		return nil, err
	}
	auditStore, err := audit.OpenFileStore(cfg.AuditDir, 0)
	if err != nil {
		return nil, err
	}
	notices, err := konkursvarsel.OpenFileStore(filepath.Join(cfg.StateDir, "konkursvarsel"))
	if err != nil {
		auditStore.Close()
		return nil, err
	}
	outbox := &konkursvarsel.FileOutbox{Dir: filepath.Join(cfg.StateDir, "actions"), Logger: logger}
	// Every state file is read once at start by the same rule (durable.ReadLines): a torn last
	// record is cut and reported here; damage anywhere else stops start-up with the file and line.
	if _, err := outbox.List(ctx); err != nil {
		_ = notices.Close()
		auditStore.Close()
		return nil, err
	}
	for _, torn := range []*durable.Torn{auditStore.Repaired, notices.Repaired} {
		if torn != nil {
			logger.Warn("torn last record cut after a crash", "file", torn.Path, "offset", torn.Offset, "bytes", torn.Bytes)
		}
	}
	return &stores{
		audit: auditStore, notices: notices, outbox: outbox,
		bank:  accounts.NewMemoryStore(bd, accounts.NewReferencer(secret)),
		close: func() { _ = notices.Close(); _ = auditStore.Close() },
	}, nil
}

func openPool(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DSOP_DATABASE_URL: %w", err)
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// startKonkursvarsel applies DSOP_KONKURSVARSEL_SEED and starts polling Konkursvarsel (a first
// sync before the API opens, then every poll interval). With PostgreSQL only the replica that
// holds the poller lock polls; another takes over when it dies. The gate runs an on-demand sync
// (on the polling replica) before it refuses a party without any notice.
func startKonkursvarsel(ctx context.Context, cfg *config.Config, st *stores, svc *accounts.Service, tel *telemetry.Telemetry, logger *slog.Logger) (*konkursbehandling.Gate, *konkursvarsel.Poller, error) {
	if cfg.KonkursvarselSeed != "" {
		n, rejected, err := konkursvarsel.SeedFromFile(ctx, st.notices, cfg.KonkursvarselSeed)
		if err != nil {
			return nil, nil, fmt.Errorf("DSOP_KONKURSVARSEL_SEED: %w", err)
		}
		for _, e := range rejected {
			logger.Warn("rejected notice", "source", cfg.KonkursvarselSeed, "error", e.Error())
		}
		logger.Info("notices loaded", "source", cfg.KonkursvarselSeed, "new", n, "rejected", len(rejected))
	}
	gate := &konkursbehandling.Gate{Store: st.notices, AllowClosed: cfg.AllowClosed, OnDemandEvery: cfg.OnDemandSyncEvery}
	if cfg.KonkursvarselURL == "" {
		logger.Warn("DSOP_KONKURSVARSEL_URL is not set: no Konkursvarsel polling")
		return gate, nil, nil
	}
	hc, err := konkursvarsel.NewHTTPClient(cfg.KonkursvarselCert, cfg.KonkursvarselKey, cfg.KonkursvarselCA, 30*time.Second)
	if err != nil {
		return nil, nil, err
	}
	p := &konkursvarsel.Poller{
		Tracer:    tel.Tracer,
		Client:    &konkursvarsel.Client{BaseURL: cfg.KonkursvarselURL, HTTP: hc},
		Store:     st.notices,
		Outbox:    st.outbox,
		Customers: svc,
		Start:     cfg.KonkursvarselSince,
		Interval:  cfg.KonkursvarselPollInterval,
		Logger:    logger,
	}
	poll := func(ctx context.Context) {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, _ = p.Sync(sctx) // a failure is logged; the poller tries again
		cancel()
		p.Run(ctx)
	}
	sync := func(ctx context.Context) error { _, err := p.Sync(ctx); return err }
	if st.pool == nil {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, _ = p.Sync(sctx)
		cancel()
		go p.Run(ctx)
		gate.OnDemand = sync
		return gate, p, nil
	}
	leader := &postgres.Leader{Pool: st.pool, Key: postgres.LockPoller, Check: cfg.LeaderCheck, Logger: logger}
	go leader.Run(ctx, poll)
	gate.OnDemand = func(ctx context.Context) error {
		if !leader.IsLeader() {
			return errors.New("not the polling replica")
		}
		return sync(ctx)
	}
	return gate, p, nil
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
		checks = append(checks, admin.Check{Name: "audit", Func: pinger.Ping})
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
func registerGauges(tel *telemetry.Telemetry, cfg *config.Config, p *konkursvarsel.Poller, out konkursvarsel.Outbox, enc *encryption.Encrypter) error {
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
		if err := tel.Gauge("dsop_outbox_backlog", "", "Block/reopen actions not yet acknowledged", func() (float64, bool) {
			acts, err := out.List(context.Background())
			n := 0
			for _, a := range acts {
				if a.AckedAt == nil {
					n++
				}
			}
			return float64(n), err == nil
		}); err != nil {
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

// openAudit opens the audit store: PostgreSQL when DSOP_DATABASE_URL is set, else the append-only
// files in DSOP_AUDIT_DIR (the server takes the writer's lock; the audit tools read without it).
func openAudit(ctx context.Context, cfg *config.Config, readOnly bool) (audit.Store, func(), error) {
	if cfg.DatabaseURL != "" {
		pool, err := openPool(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		return &postgres.AuditStore{Pool: pool}, pool.Close, nil
	}
	var (
		st  *audit.FileStore
		err error
	)
	if readOnly {
		st, err = audit.OpenFileStoreReadOnly(cfg.AuditDir)
	} else {
		st, err = audit.OpenFileStore(cfg.AuditDir, 0)
	}
	if err != nil {
		return nil, nil, err
	}
	return st, func() { _ = st.Close() }, nil
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

// loadSecret reads the server secret; in test mode it is created on first start.
func loadSecret(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("secret file %s must hold at least 32 bytes", path)
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return b, nil
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func devKeyHint(cfg *config.Config) string {
	if !cfg.DevConsumerCert() {
		return "<the consumer's private key>"
	}
	return filepath.Join(cfg.StateDir, "dev-consumer-key.pem")
}

// printDemo tells the user how to call the server, with a token that lasts an hour.
func printDemo(w io.Writer, cfg *config.Config, dev *devissuer.Issuer) {
	tok, err := dev.Mint(devissuer.Options{TTL: time.Hour})
	if err != nil {
		return
	}
	today := civil.Today(time.Now(), cfg.Timezone)
	// 910336819 is an open bankruptcy in the demo notices, kjennelsesdato 2018-06-08.
	from := konkursbehandling.EarliestFromDate(civil.MustParse("2018-06-08"))
	fmt.Fprintf(w, `
dsop-bank is running in test mode on http://%[1]s with the embedded demo bank.
Development Maskinporten issuer: %[2]s (JWKS %[3]s)

Step 2a (accounts of the bankrupt demo company 910336819), token valid for one hour:

curl -s 'http://%[1]s/v2/accounts?OnlyPrimaryOwner=true&fromDate=%[4]s&toDate=%[5]s' \
  -H 'Accept: application/json' \
  -H 'Authorization: Bearer %[6]s' \
  -H 'AccountInfoRequestID: d4a820ca-ddde-11ed-b5ea-0242ac120002' \
  -H 'CorrelationID: 14fbc062-aacb-4449-93c1-85c352d387a4' \
  -H 'Legal-Mandate: kkl.%%20%%C2%%A7156%%20(3)%%20og%%20(4)%%2C%%20jf.%%20kkfor.%%C2%%A721' \
  -H 'PartyID: 910336819'

Step 2b: GET /v2/accounts/{accountReference} and .../transactions with the same headers (no PartyID)
and fromDate/toDate. New token: go run ./cmd/dsop-bank dev-token (or GET %[2]stoken).

Encrypted, as in production: replace the Accept header by 'Accept: application/jose' and pipe the
answer to: go run ./cmd/dsop-bank decrypt --key %[7]s
`, cfg.Addr, cfg.MaskinportenIssuer, cfg.MaskinportenJWKSURL, from, today, tok, devKeyHint(cfg))
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
