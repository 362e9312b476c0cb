package main

// serve.go is the composition root: it reads the configuration, opens the stores (stores.go),
// starts module A and the encryption (modules.go), wires the API (build), serves, and shuts down
// within its deadline. Operations (readiness, metrics, retention, logging) are in operations.go.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/admin"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/buffers"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/dsopservice"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/filter"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/oed"
	"github.com/dsop-bank/dsop-bank/internal/telemetry"
	"github.com/dsop-bank/dsop-bank/internal/tracing"
	"github.com/dsop-bank/dsop-bank/internal/validation"
	"github.com/dsop-bank/dsop-bank/openapi"
)

// serve runs the server with cfg until ctx ends.
func serve(ctx context.Context, cfg *config.Config, c *cli) error {
	getenv, stdout, stderr := c.getenv, c.stdout, c.stderr
	logger := newLogger(cfg.LogLevel, stderr)
	if pct, ours := tuneGC(getenv); ours {
		logger.Info("garbage collector target set for serving (GOGC unset)", "gc_percent", pct)
	}
	secret, err := loadSecret(cfg.SecretFile, cfg.Env != "production", cfg.Env == "production")
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
	svc := &accounts.Service{Store: st.bank, Loc: cfg.Timezone, PageSize: cfg.PageSize, Pages: &buffers.Pool{}}

	var (
		servers   []*http.Server
		listeners []net.Listener
	)
	// listen opens a listener. aux marks the helpers of test mode (mock, development issuer,
	// admin): if their address is taken — another dsop-bank on the same machine — they move to a
	// free port rather than stop the server, and say so.
	apiTLS, adminTLS, err := listenerTLS(cfg, logger)
	if err != nil {
		return err
	}
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
		switch {
		case what == "API" && apiTLS != nil:
			ln = tls.NewListener(ln, apiTLS)
		case (what == "admin" || what == "console") && adminTLS != nil:
			// The console has no client certificate either: its users sign in (issue #27: TLS on
			// every listener, so the console's session cookie never crosses the network in clear).
			ln = tls.NewListener(ln, adminTLS)
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
	h, dev, err := build(cfg, secret, st, enc, gate, svc, keys, tel, logger)
	if err != nil {
		return err
	}
	if err := registerAuditMetrics(tel, st); err != nil {
		return err
	}
	if st.pool != nil {
		logDeliveredForms(ctx, st.pool, svc.DeliveryPolicy, logger)
	}
	if err := registerJWKSMetrics(tel, keys); err != nil {
		return err
	}
	if err := registerGauges(ctx, tel, cfg, poller, st.outbox, enc); err != nil {
		return err
	}
	first := len(servers)
	if _, err := listen(cfg.Addr, "API", h, false); err != nil {
		return err
	}
	apiLn := listeners[first]
	devAddr := ""
	if dev != nil {
		addr, err := listen(cfg.DevIssuerAddr, "development issuer", dev.Handler(), true)
		if err != nil {
			return err
		}
		devAddr = addr
		// The issuer's name (iss) stays as configured, so dev-token's tokens still match.
		keys.URL = "http://" + addr + "/jwks.json"
	}
	if cfg.AdminAddr != "" {
		if _, err := listen(cfg.AdminAddr, "admin", admin.Handler(tel.Metrics, readiness(cfg, st, keys, enc, poller, &draining), openapi.DSOPv2()), true); err != nil {
			return err
		}
	}
	consoleURL := ""
	if cfg.ConsoleAddr != "" {
		if consoleURL, err = startConsole(cfg, secret, st, poller, devAddr, listen, logger); err != nil {
			return err
		}
	}
	serveAll(first)
	keys.Logger = logger
	go keys.Run(ctx) // load the token keys now, and refresh them in the background
	logger.Info("dsop-bank listening", "addr", apiLn.Addr().String(), "env", cfg.Env, "base_url", cfg.BaseURL)
	if dev != nil {
		printDemo(stdout, cfg, dev, consoleURL)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("server stopped: %w", err)
	}
	return shutdown(cfg, servers, h, st, &storesClosing, &draining, logger)
}

// servingGCPercent is the collector's target of a serving process when GOGC is not set. Its live
// heap is a few MB, while a 1 000-transaction JWE page allocates about 2 MB, so Go's default of
// 100 collects about once per transactions page; at 400 the server spends about a quarter less CPU
// per request and its p99 drops (make load, issue #15), for a heap that stays in the tens of MB.
const servingGCPercent = 400

// tuneGC sets servingGCPercent unless GOGC is set, which wins as everywhere in Go (GOMEMLIMIT
// bounds the heap as usual). It says the target and whether it set it.
func tuneGC(getenv func(string) string) (int, bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	debug.SetGCPercent(servingGCPercent)
	return servingGCPercent, true
}

// shutdown ends the server within DSOP_SHUTDOWN_TIMEOUT whatever the dependencies do: /readyz
// turns 503 for DSOP_DRAIN_DELAY so that the load balancer stops routing here, then the listeners
// stop and in-flight requests finish (each writes its audit record before it answers); what has
// not finished by the deadline is cut off, and the stores close within what remains of it.
func shutdown(cfg *config.Config, servers []*http.Server, api *httpapi.Server, st *stores, storesClosing, draining *atomic.Bool, logger *slog.Logger) error {
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
	// The refusals still being counted (ClientAdmission) get their record before the stores close.
	if err := api.Close(shutdownCtx); err != nil {
		logger.Error("the records counting refused requests could not be written at shutdown", "error", err.Error())
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

// loadPolicy is the field policy of the first enabled service (DSOP_SERVICES): its delivery
// tables with the bank's overrides. Import makes the delivered forms of transaction pages with
// it, so that service's pages are read ready to send; another service's pages are filtered as
// they are read.
func loadPolicy(cfg *config.Config) (*filter.Policy, error) { return servicePolicy(cfg.Services[0]) }

// servicePolicy is one service's delivery tables with the bank's overrides from its
// DSOP_SERVICE_<NAME>_FIELD_POLICY (for Konkursbehandling also DSOP_FIELD_POLICY).
func servicePolicy(sc config.ServiceConfig) (*filter.Policy, error) {
	var overrides filter.Overrides
	if sc.FieldPolicy != "" {
		b, err := os.ReadFile(sc.FieldPolicy)
		if err != nil {
			return nil, fmt.Errorf("field policy of %s: %w", sc.Service.Name, err)
		}
		if err := json.Unmarshal(b, &overrides); err != nil {
			return nil, fmt.Errorf("field policy of %s, %s: %w", sc.Service.Name, sc.FieldPolicy, err)
		}
	}
	p, err := filter.NewTable(sc.Service.Delivery, overrides)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sc.Service.Name, err)
	}
	return p, nil
}

// build assembles the API from the configuration: the explicit wiring of every dependency.
func build(cfg *config.Config, secret []byte, st *stores, enc *encryption.Encrypter, gate *konkursbehandling.Gate, svc *accounts.Service,
	keys *validation.JWKS, tel *telemetry.Telemetry, logger *slog.Logger) (*httpapi.Server, *devissuer.Issuer, error) {
	policy, err := loadPolicy(cfg)
	if err != nil {
		return nil, nil, err
	}
	svc.DeliveryPolicy = policy.Fingerprint()
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
		Audiences:        cfg.Audiences,
		AllowedConsumers: cfg.AllowedConsumers,
		Skew:             cfg.TokenSkew,
	}
	// The request path's dependencies, each in a tracing decorator.
	store := tracing.AccountsStore{Next: svc.Store, Tracer: tel.Tracer}
	traced := *svc
	traced.Store = store
	decide := &konkursbehandling.Decider{Bankruptcies: tracing.Gate{Next: gate, Tracer: tel.Tracer}, Accounts: store}
	if on, ok := svc.Store.(konkursbehandling.OwnerNotices); ok {
		// PostgreSQL: step 2b reads its account and the owners' notices in one round trip.
		decide.OwnerNotices = tracing.OwnerNotices{Next: on, Tracer: tel.Tracer}
	}
	profiles, err := profilesOf(cfg, policy, &traced, decide, store)
	if err != nil {
		return nil, nil, err
	}
	var auditSpace func() error
	if st.volume != nil && st.volume.MinFree > 0 {
		auditSpace = st.volume.Room
	}
	var answers *httpapi.AnswerBudget
	if cfg.AnswerMemory > 0 {
		answers = httpapi.NewAnswerBudget(int64(cfg.AnswerMemory))
	}
	h := httpapi.NewServer(httpapi.Deps{
		Logger:    logger,
		Tokens:    tokens,
		Rules:     validation.Rules{ToDate: cfg.ToDatePolicy},
		Services:  profiles,
		Decide:    decide,
		Accounts:  &traced,
		Cursors:   accounts.NewCursorCodec(secret),
		Audit:     st.audit,
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
		Clients:        &httpapi.ClientAdmission{Rate: cfg.ClientRate, Burst: float64(cfg.ClientBurst)},
		ClientHeader:   cfg.ClientAddressHeader,
		AuditSpace:     auditSpace,
		Answers:        answers,
	})
	return h, dev, nil
}

// profilesOf wires each enabled service (DSOP_SERVICES): its decision (Konkursbehandling's gate
// is Konkursvarsel; OED's the bank data's date of death), its delivery tables and, when its
// settings say so, its own rate budget. The first service delivers with policy (whose delivered
// forms import made); the others with their own.
func profilesOf(cfg *config.Config, policy *filter.Policy, svc *accounts.Service, kb httpapi.Decider, store tracing.AccountsStore) ([]httpapi.Profile, error) {
	var out []httpapi.Profile
	for i, sc := range cfg.Services {
		p := httpapi.Profile{Service: sc.Service, Policy: policy, Accounts: svc}
		if i > 0 {
			own, err := servicePolicy(sc)
			if err != nil {
				return nil, err
			}
			other := *svc
			other.DeliveryPolicy = own.Fingerprint()
			p.Policy, p.Accounts = own, &other
		}
		switch sc.Service.Gate {
		case dsopservice.GateBankruptcy:
			p.Decide = kb
		case dsopservice.GateDeceased:
			p.Decide = &oed.Decider{Deaths: oed.BankDeaths{Parties: store}, Accounts: store, Service: sc.Service}
		default:
			return nil, fmt.Errorf("DSOP_SERVICES: %s has no gate this server can check", sc.Service.Name)
		}
		if sc.RateLimit >= 0 || sc.RateBurst > 0 {
			rate, burst := cfg.RateLimit, cfg.RateBurst
			if sc.RateLimit >= 0 {
				rate = sc.RateLimit
			}
			if sc.RateBurst > 0 {
				burst = sc.RateBurst
			}
			p.Admission = &httpapi.Admission{Rate: rate, Burst: float64(burst), Concurrency: cfg.ConsumerConcurrency, MaxWait: cfg.RateWait}
		}
		out = append(out, p)
	}
	return out, nil
}
