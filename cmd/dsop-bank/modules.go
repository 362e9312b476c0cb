package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/certpub"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/devissuer"
	"github.com/dsop-bank/dsop-bank/internal/encryption"
	"github.com/dsop-bank/dsop-bank/internal/konkursbehandling"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/maskinporten"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
	"github.com/dsop-bank/dsop-bank/internal/telemetry"
)

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
		// Test mode: a development certificate for each accepted consumer, all of one key, so
		// that the development key decrypts the answers of every enabled service.
		var all certpub.FileSources
		for i, consumer := range cfg.AllowedConsumers {
			org := strings.TrimPrefix(consumer, "0192:")
			certPath, _, err := devissuer.ConsumerCertificate(cfg.StateDir, org)
			if i > 0 {
				certPath, err = devissuer.ConsumerCertificateFor(cfg.StateDir, org)
			}
			if err != nil {
				return nil, err
			}
			fs, err := certpub.LoadFile(certPath, checker)
			if err != nil {
				return nil, err
			}
			all = append(all, fs)
		}
		src = all
	}
	return &encryption.Encrypter{Certs: src, Enc: cfg.JWEEnc}, nil
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
	client, err := konkursvarselClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	p := &konkursvarsel.Poller{
		Tracer:    tel.Tracer,
		Client:    client,
		Store:     st.notices,
		Outbox:    st.outbox,
		Customers: svc,
		// Targeted extraction: a party the copy does not know may be a customer (issue #28).
		ExportUnknown: cfg.TargetedExtraction,
		Start:         cfg.KonkursvarselSince,
		Overlap:       cfg.KonkursvarselOverlap,
		Interval:      cfg.KonkursvarselPollInterval,
		Logger:        logger,
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

// konkursvarselClient authenticates the poller as DSOP_KONKURSVARSEL_AUTH says: the enterprise
// certificate in the TLS handshake, or a Maskinporten token obtained with it (konkursvarsel.md §3
// leaves this open until BRREG confirms).
func konkursvarselClient(cfg *config.Config) (*konkursvarsel.Client, error) {
	if cfg.KonkursvarselAuth != "maskinporten" {
		hc, err := konkursvarsel.NewHTTPClient(cfg.KonkursvarselCert, cfg.KonkursvarselKey, cfg.KonkursvarselCA, 30*time.Second)
		if err != nil {
			return nil, err
		}
		return &konkursvarsel.Client{BaseURL: cfg.KonkursvarselURL, HTTP: hc}, nil
	}
	hc, err := konkursvarsel.NewHTTPClient("", "", cfg.KonkursvarselCA, 30*time.Second)
	if err != nil {
		return nil, err
	}
	key, err := tls.LoadX509KeyPair(cfg.KonkursvarselCert, cfg.KonkursvarselKey)
	if err != nil {
		return nil, fmt.Errorf("DSOP_KONKURSVARSEL_CERT: %w", err)
	}
	tokens := &maskinporten.Source{Issuer: cfg.KonkursvarselMaskinporten, ClientID: cfg.KonkursvarselClientID,
		Scope: cfg.KonkursvarselScope, Key: key, KeyID: cfg.KonkursvarselKeyID, HTTP: &http.Client{Timeout: 10 * time.Second}}
	return &konkursvarsel.Client{BaseURL: cfg.KonkursvarselURL, HTTP: hc, Bearer: tokens}, nil
}
