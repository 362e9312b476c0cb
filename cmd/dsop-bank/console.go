package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/config"
	"github.com/dsop-bank/dsop-bank/internal/console"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/postgres"
)

// startConsole opens the compliance console's listener (DSOP_CONSOLE_ADDR) and returns the
// address browsers reach it at. In test mode without DSOP_CONSOLE_OIDC_ISSUER the development
// issuer signs users in; production has refused that already (config).
func startConsole(cfg *config.Config, secret []byte, st *stores, poller *konkursvarsel.Poller, devAddr string,
	listen func(addr, what string, h http.Handler, aux bool) (string, error), logger *slog.Logger) (string, error) {
	var h http.Handler
	// The handler needs the address the listener got (port 0), so it is set once the listener is
	// open, before anything is served.
	addr, err := listen(cfg.ConsoleAddr, "console", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }), false)
	if err != nil {
		return "", err
	}
	base := cfg.ConsoleURL
	if base == "" {
		base = "http://" + addr
	}
	oidc := console.OIDC{Issuer: cfg.ConsoleOIDCIssuer, ClientID: cfg.ConsoleOIDCClientID,
		RoleClaim: cfg.ConsoleRoleClaim, ViewerValue: cfg.ConsoleViewer, OfficerValue: cfg.ConsoleOfficer}
	if cfg.ConsoleDevIssuer() {
		if devAddr == "" {
			return "", fmt.Errorf("DSOP_CONSOLE_OIDC_ISSUER: required without the development issuer")
		}
		oidc.Issuer = "http://" + devAddr + "/" // where it listens, even if it moved to a free port
	}
	if cfg.ConsoleOIDCClientSecret != "" {
		b, err := os.ReadFile(cfg.ConsoleOIDCClientSecret)
		if err != nil {
			return "", fmt.Errorf("DSOP_CONSOLE_OIDC_CLIENT_SECRET_FILE: %w", err)
		}
		oidc.ClientSecret = strings.TrimSpace(string(b))
	}
	d := console.Deps{
		Logger: logger, BaseURL: base, OIDC: oidc, Secret: secret,
		Audit: st.audit, Signer: audit.NewSigner(secret), Retention: cfg.AuditRetention,
		Notices: st.notices, Outbox: st.outbox, Loc: cfg.Timezone,
		ReadTimeout: cfg.ConsoleReadTimeout, SearchLimit: cfg.ConsoleSearchLimit,
		IdleTimeout: cfg.ConsoleIdleTimeout, SessionTimeout: cfg.ConsoleSessionTimeout, RoleRecheck: cfg.ConsoleRoleRecheck,
	}
	if st.pool != nil {
		d.Sessions = &postgres.Sessions{Pool: st.pool} // every replica knows every session
	}
	if poller != nil {
		d.Sync = poller.Status
	}
	c, err := console.New(d)
	if err != nil {
		return "", err
	}
	h = c.Handler()
	logger.Info("compliance console listening", "addr", addr, "url", base, "oidc_issuer", oidc.Issuer)
	return base, nil
}
