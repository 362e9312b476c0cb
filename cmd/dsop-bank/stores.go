package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/bankcore"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/demo"
	"github.com/dsop-bank/dsop-bank/internal/durable"
	"github.com/dsop-bank/dsop-bank/internal/httpapi"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
)

func loadBankData(path string) (*accounts.BankData, error) {
	if path == "" {
		bd, err := accounts.DecodeBankData(demo.BankData())
		if err != nil {
			return nil, fmt.Errorf("embedded demo bank: %w", err)
		}
		return bd, nil
	}
	// The same check as check-bank-data and import, with every problem located by line and
	// column: a file that import would refuse is not served from memory either.
	problems, _, err := accounts.CheckFile(path)
	if err != nil {
		return nil, fmt.Errorf("DSOP_BANK_DATA: %w", err)
	}
	if len(problems) > 0 {
		var b strings.Builder
		for _, p := range problems {
			fmt.Fprintf(&b, "%s:%s\n", path, p)
		}
		return nil, fmt.Errorf("DSOP_BANK_DATA %s: %d problems; fix them (dsop-bank check-bank-data lists the same):\n%s", path, len(problems), strings.TrimSuffix(b.String(), "\n"))
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
	// volume watches the file store's disk (nil on PostgreSQL, whose disk the database's
	// operators watch: docs/compliance.md "Audit log").
	volume *audit.Volume
}

func openStores(ctx context.Context, cfg *config.Config, secret []byte, logger *slog.Logger) (*stores, error) {
	st, err := openStateStores(ctx, cfg, secret, logger)
	if err != nil || cfg.BankCore.URL == "" {
		return st, err
	}
	// The bank data is read live from the bank's core; the copy (if any) is not used.
	core, err := openBankCore(ctx, cfg, secret)
	if err != nil {
		st.close()
		return nil, err
	}
	st.bank = core
	return st, nil
}

// openBankCore is the live connector (DSOP_BANK_CORE_URL, openapi/bank-core.yaml).
func openBankCore(ctx context.Context, cfg *config.Config, secret []byte) (*bankcore.Client, error) {
	b := cfg.BankCore
	hc, err := bankcore.Auth{Cert: b.Cert, Key: b.Key, CA: b.CA, TokenURL: b.TokenURL, ClientID: b.ClientID, ClientSecretFile: b.ClientSecretFile, Scopes: b.Scopes}.HTTPClient(ctx)
	if err != nil {
		return nil, err
	}
	return bankcore.New(bankcore.Options{URL: b.URL, HTTP: hc, Timeout: b.Timeout, Refs: accounts.NewSealedReferencer(secret), RequestID: httpapi.CorrelationID})
}

// openStateStores opens everything but a live bank core.
func openStateStores(ctx context.Context, cfg *config.Config, secret []byte, logger *slog.Logger) (*stores, error) {
	if cfg.DatabaseURL != "" {
		pool, err := openPool(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if cfg.BankData != "" && cfg.BankCore.URL == "" {
			logger.Warn("DSOP_BANK_DATA is ignored with DSOP_DATABASE_URL: load bank data with dsop-bank import")
		}
		if err := postgres.CheckSecret(ctx, pool, accounts.Fingerprint(secret)); err != nil {
			pool.Close()
			return nil, err
		}
		auditPool, err := openAuditPool(ctx, cfg)
		if err != nil {
			pool.Close()
			return nil, err
		}
		return &stores{
			audit: &postgres.AuditStore{Pool: auditPool}, notices: &postgres.NoticeStore{Pool: pool}, outbox: &postgres.Outbox{Pool: pool},
			bank: &postgres.AccountsStore{Pool: pool}, pool: pool, close: func() { auditPool.Close(); pool.Close() },
		}, nil
	}
	bd := &accounts.BankData{}
	if cfg.BankCore.URL == "" {
		var err error
		if bd, err = loadBankData(cfg.BankData); err != nil {
			return nil, err
		}
	}
	auditStore, err := audit.OpenFileStoreWith(cfg.AuditDir, audit.FileOptions{Logger: logger})
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
		bank:   accounts.NewMemoryStore(bd, accounts.NewReferencer(secret)),
		close:  func() { _ = notices.Close(); _ = auditStore.Close() },
		volume: &audit.Volume{Dir: cfg.AuditDir, MinFree: cfg.AuditMinFree},
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

// openAuditPool is the audit log's own pool (issue #28): under an import or a stuck bank-data
// query the main pool can be full of waiting queries, and a refusal must still be recorded.
func openAuditPool(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DSOP_DATABASE_URL: %w", err)
	}
	pc.MaxConns = int32(cfg.AuditPoolSize)
	pc.ConnConfig.RuntimeParams["application_name"] = "dsop-bank audit"
	return pgxpool.NewWithConfig(ctx, pc)
}

// openAudit opens the audit store: PostgreSQL when DSOP_DATABASE_URL is set, else the append-only
// files in DSOP_AUDIT_DIR (the server takes the writer's lock; the audit tools read without it).
// openOutbox is the block/reopen outbox the configuration selects, for the actions tools.
func openOutbox(ctx context.Context, cfg *config.Config, logger *slog.Logger) (konkursvarsel.Outbox, func(), error) {
	if cfg.DatabaseURL != "" {
		pool, err := openPool(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		return &postgres.Outbox{Pool: pool}, pool.Close, nil
	}
	return &konkursvarsel.FileOutbox{Dir: filepath.Join(cfg.StateDir, "actions"), Logger: logger}, func() {}, nil
}

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

// loadSecret reads the server secret; in test mode it is created on first start (create), and in
// production a weak one is refused (strict).
func loadSecret(path string, create, strict bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("secret file %s must hold at least 32 bytes", path)
		}
		if strict {
			// Production: a placeholder copied from a manifest, or a secret a person typed, would
			// let anyone who guesses it forge accountReferences and cursors (issue #27).
			if why := weakSecret(b); why != "" {
				return nil, fmt.Errorf("secret file %s: %s; write 32 or more random bytes, e.g. `openssl rand -base64 48 > %s`", path, why, path)
			}
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

// weakSecret says why a secret is not good enough for production, or "" when it is: it names a
// placeholder, or it holds fewer than 128 bits by its own byte statistics (a hex or base64
// string of 32 random bytes holds about 200).
func weakSecret(b []byte) string {
	text := strings.ToLower(string(b))
	for _, word := range []string{"replace", "change", "placeholder", "example", "secret", "password", "todo", "xxxx"} {
		if strings.Contains(text, word) {
			return fmt.Sprintf("it looks like a placeholder (it contains %q)", word)
		}
	}
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	bits := 0.0
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(len(b))
			bits -= float64(n) * math.Log2(p)
		}
	}
	if bits < 128 {
		return fmt.Sprintf("it holds about %.0f bits, fewer than 128 (too few different bytes)", bits)
	}
	return ""
}

// logDeliveredForms says whether transaction pages are read in delivered form: only when the
// import made the forms under the field policy this server delivers with. Otherwise pages are
// built from the stored transactions (the same answer, more CPU) until the next import.
func logDeliveredForms(ctx context.Context, pool *pgxpool.Pool, policy string, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stored, err := postgres.DeliveryPolicy(ctx, pool)
	switch {
	case err != nil:
		logger.Warn("could not read the field policy of the delivered forms", "error", err)
	case stored == policy:
		logger.Info("transaction pages are read in delivered form", "field_policy", policy)
	default:
		logger.Warn("the bank data's delivered forms were made under another field policy (or none): transaction pages are built from the stored transactions, which costs more CPU; run dsop-bank import with this DSOP_FIELD_POLICY to restore the fast path",
			"field_policy", policy, "delivered_forms_policy", stored)
	}
}
