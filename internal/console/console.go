// Package console is the compliance console: a web page, served by dsop-bank on its own listener
// (DSOP_CONSOLE_ADDR), where the bank's compliance officers answer "what did we hand out, to whom,
// and why" without a shell on the server. It is server-rendered HTML (html/template) with one
// small stylesheet and no script, signs users in through the bank's OpenID Connect provider, and
// records every action of its users in the audit log. What it shows is computed by
// internal/compliance and internal/audit, as the CLI's reports are.
package console

import (
	"cmp"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/audit"
	"github.com/dsop-bank/dsop-bank/internal/compliance"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/sessions"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Deps are what the console reads and writes; there are no globals.
type Deps struct {
	Logger *slog.Logger
	// BaseURL is where browsers reach the console (scheme, host, port, no trailing slash): the
	// OpenID Connect redirect is BaseURL + "/callback". https makes the cookies Secure.
	BaseURL string
	OIDC    OIDC
	// Secret signs the session cookies (the server secret: every replica accepts them).
	Secret []byte
	Audit  audit.Store
	// Signer verifies the audit chain's signed checkpoints.
	Signer    *audit.Signer
	Retention time.Duration // DSOP_AUDIT_RETENTION; 0 = forever
	Notices   konkursvarsel.Store
	Outbox    konkursvarsel.Outbox
	// Sync is the Konkursvarsel poller's state in this process; nil when it polls nowhere.
	Sync func() konkursvarsel.SyncStatus
	Now  func() time.Time
	// Loc is where times are shown (default Europe/Oslo); exports are in UTC.
	Loc *time.Location
	// ReadTimeout bounds each page's reads of the audit log (DSOP_CONSOLE_READ_TIMEOUT, default
	// 10 s); VerifyTimeout the officer's "verify now" (default 10 min).
	ReadTimeout, VerifyTimeout time.Duration
	// SearchLimit is how many searches by party number one user may make an hour
	// (DSOP_CONSOLE_SEARCH_LIMIT, default 20); more are refused and flagged.
	SearchLimit int
	// Sessions keeps the sessions (default: in this process; PostgreSQL with several replicas).
	Sessions sessions.Store
	// IdleTimeout, SessionTimeout and RoleRecheck bound a session (defaults 30 min, 8 h, 10 min).
	IdleTimeout, SessionTimeout, RoleRecheck time.Duration
}

// Console serves the pages.
type Console struct {
	Deps
	logger   *slog.Logger
	base     string
	secure   bool
	sessions sessions.Store
	oidc     *provider
	pages    map[string]*template.Template
	present  *compliance.Presenter
	loc      *time.Location

	readTimeout, verifyTimeout time.Duration
	searchLimit                int
	idleTimeout                time.Duration
	sessionTimeout             time.Duration
	roleRecheck                time.Duration
	anomalyCache               anomalyCache
}

// New checks the configuration and parses the templates.
func New(d Deps) (*Console, error) {
	u, err := url.Parse(d.BaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("console base URL %q: must be an absolute http(s) URL", d.BaseURL)
	}
	if d.OIDC.Issuer == "" || d.OIDC.ClientID == "" {
		return nil, errors.New("console: an OpenID Connect issuer and client ID are required")
	}
	if d.OIDC.RoleClaim == "" || d.OIDC.ViewerValue == "" || d.OIDC.OfficerValue == "" {
		return nil, errors.New("console: the role claim and the values of both roles are required")
	}
	if len(d.Secret) < 32 {
		return nil, errors.New("console: the secret must be at least 32 bytes")
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	present, err := compliance.NewPresenter(d.Secret, d.Loc)
	if err != nil {
		return nil, err
	}
	c := &Console{
		Deps: d, logger: logger, base: strings.TrimRight(d.BaseURL, "/"), secure: u.Scheme == "https",
		sessions: d.Sessions, oidc: &provider{cfg: d.OIDC}, pages: pages, present: present,
		readTimeout: cmp.Or(d.ReadTimeout, 10*time.Second), verifyTimeout: cmp.Or(d.VerifyTimeout, 10*time.Minute),
		searchLimit: cmp.Or(d.SearchLimit, 20), idleTimeout: cmp.Or(d.IdleTimeout, DefaultIdleTimeout),
		sessionTimeout: cmp.Or(d.SessionTimeout, DefaultSessionTimeout), roleRecheck: cmp.Or(d.RoleRecheck, DefaultRoleRecheck),
	}
	if c.sessions == nil {
		c.sessions = &sessions.Memory{Now: c.now}
	}
	c.loc = d.Loc
	if c.loc == nil {
		c.loc, _ = time.LoadLocation("Europe/Oslo")
	}
	return c, nil
}

func (c *Console) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Handler is the console's HTTP handler.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", c.login)
	mux.HandleFunc("GET /callback", c.callback)
	mux.Handle("POST /logout", c.signedIn(false, c.logout))
	mux.Handle("GET /{$}", c.signedIn(false, c.cases))
	mux.Handle("POST /{$}", c.signedIn(false, c.search))
	mux.Handle("GET /cases/{id}", c.signedIn(false, c.caseReport))
	mux.Handle("POST /cases/{id}/reveal", c.signedIn(true, c.reveal))
	mux.Handle("GET /anomalies", c.signedIn(false, c.anomalies))
	mux.Handle("GET /health", c.signedIn(false, c.health))
	mux.Handle("POST /health/verify", c.signedIn(true, c.verify))
	mux.Handle("GET /konkursvarsel", c.signedIn(false, c.konkursvarsel))
	mux.Handle("POST /konkursvarsel", c.signedIn(false, c.konkursvarsel)) // the debtor lookup: no number in an address
	mux.Handle("POST /actions/{id}/ack", c.signedIn(true, c.ack))
	mux.Handle("GET /activity", c.signedIn(false, c.activity))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.page(w, r, http.StatusNotFound, "error", pageData{Title: "Not found", Error: "There is no such page in the console."})
	})
	return securityHeaders(mux)
}

// securityHeaders are on every answer: no script may run, no other site may frame or embed the
// console, nothing is cached (pages hold personal data), and no referrer leaves.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

type handler func(w http.ResponseWriter, r *http.Request, u User)

// signedIn admits a request with a valid session: a GET without one goes to sign-in (and back
// afterwards); a POST without one, or without the session's CSRF token, is refused, as is an
// officer's action by a viewer.
func (c *Console) signedIn(officer bool, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := c.user(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.page(w, r, http.StatusForbidden, "error", pageData{Title: "Signed out", Error: "Your session has ended. Sign in again and repeat the action."})
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(u.CSRF)) != 1 {
				c.page(w, r, http.StatusForbidden, "error", pageData{User: &u, Title: "Refused", Error: "The form's security token is missing or wrong (CSRF protection). Reload the page and try again."})
				return
			}
		}
		if officer && !u.Officer() {
			_, _ = c.record(r, u, "console.refused", "officer action refused to a viewer: "+r.Method+" "+r.URL.Path, "", "")
			c.page(w, r, http.StatusForbidden, "error", pageData{User: &u, Title: "Officers only", Error: "Only compliance officers may do this. Your role is viewer."})
			return
		}
		h(w, r, u)
	})
}

// logout ends every session of the user, on every replica (the store is shared): a copy of the
// cookie taken before is worth nothing afterwards.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, u User) {
	n, err := c.sessions.DeleteUser(r.Context(), u.Sub)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.clearCookie(w, sessionCookie)
	_, _ = c.record(r, u, "console.logout", fmt.Sprintf("signed out (%d sessions ended)", n), "", "")
	c.page(w, r, http.StatusOK, "signedout", pageData{Title: "Signed out"})
}

// record writes an audit record of a console action (who, what, when) and returns it as stored.
// A sensitive action — a reveal, an acknowledgement — is only done once its record is durable.
func (c *Console) record(r *http.Request, u User, op, detail, caseID, party string) (audit.Record, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	rec := &audit.Record{
		Time: c.now().UTC(), Operation: op, Method: "CONSOLE", Path: audit.Field(r.URL.Path), Status: http.StatusOK,
		Actor: audit.Field(u.Actor()), Detail: audit.Field(detail), AccountInfoRequestID: audit.Field(caseID), PartyID: audit.Field(party),
	}
	if err := c.Audit.Append(ctx, rec); err != nil {
		return audit.Record{}, fmt.Errorf("record %s in the audit log: %w", op, err)
	}
	return *rec, nil
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	c.logger.Error("console", "path", r.URL.Path, "error", err)
	u, _ := c.user(r)
	c.page(w, r, http.StatusInternalServerError, "error", pageData{User: &u, Title: "Something went wrong", Error: "The console could not complete this (details are in the server log). Nothing was changed unless the page says so."})
}
