package console

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDC is how the console signs users in: the bank's single sign-on, through OpenID Connect's
// authorization code flow with PKCE (README "Compliance console").
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string // may be empty for a public client
	// RoleClaim is the ID token claim that carries the user's roles or groups (a string or an
	// array of strings); ViewerValue and OfficerValue are the values that grant each role.
	RoleClaim    string
	ViewerValue  string
	OfficerValue string
	// Client is the HTTP client for the provider (discovery, keys, token endpoint).
	Client *http.Client
}

// provider is discovered on first use and kept: the API must not wait for, or fail with, the
// identity provider at start.
type provider struct {
	cfg OIDC
	mu  sync.Mutex
	p   *oidc.Provider
}

func (p *provider) get(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p != nil {
		return p.p, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.client()), 10*time.Second)
	defer cancel()
	pr, err := oidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("identity provider %s: %w", p.cfg.Issuer, err)
	}
	p.p = pr
	return pr, nil
}

func (p *provider) client() *http.Client {
	if p.cfg.Client != nil {
		return p.cfg.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (c *Console) oauth(pr *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: c.oidc.cfg.ClientID, ClientSecret: c.oidc.cfg.ClientSecret,
		Endpoint: pr.Endpoint(), RedirectURL: c.base + "/callback",
		Scopes: []string{oidc.ScopeOpenID, "profile"},
	}
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// login sends the browser to the identity provider.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	pr, err := c.oidc.get(r.Context())
	if err != nil {
		c.logger.Warn("console sign-in: identity provider unavailable", "error", err)
		c.page(w, r, http.StatusBadGateway, "error", pageData{Title: "Sign-in unavailable", Error: "The bank's sign-in service cannot be reached. Try again in a minute; if it persists, tell the platform team."})
		return
	}
	ret := returnPath(r.URL.Query().Get("return"))
	st := loginState{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Return: ret, Expires: c.now().Add(loginTTL)}
	v, err := c.cookies.seal(st)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.setCookie(w, loginCookie, v, loginTTL)
	http.Redirect(w, r, c.oauth(pr).AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusSeeOther)
}

// callback finishes the sign-in: the code is exchanged with the PKCE verifier, the ID token is
// verified (signature, issuer, audience, expiry, nonce), and the role is read from its claim.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	var st loginState
	ck, err := r.Cookie(loginCookie)
	if err == nil {
		err = c.cookies.open(ck.Value, &st)
	}
	c.clearCookie(w, loginCookie)
	if err != nil || c.now().After(st.Expires) || r.URL.Query().Get("state") != st.State {
		c.page(w, r, http.StatusBadRequest, "error", pageData{Title: "Sign-in failed", Error: "The sign-in could not be matched to this browser (it expired or was started elsewhere). Sign in again."})
		return
	}
	if e := r.URL.Query().Get("error"); e != "" {
		c.page(w, r, http.StatusForbidden, "error", pageData{Title: "Sign-in refused", Error: "The identity provider refused the sign-in: " + e})
		return
	}
	ctx := oidc.ClientContext(r.Context(), c.oidc.client())
	pr, err := c.oidc.get(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	tok, err := c.oauth(pr).Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		c.logger.Warn("console sign-in: code exchange failed", "error", err)
		c.page(w, r, http.StatusBadRequest, "error", pageData{Title: "Sign-in failed", Error: "The identity provider did not accept the sign-in code. Sign in again."})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := pr.Verifier(&oidc.Config{ClientID: c.oidc.cfg.ClientID, Now: c.now}).Verify(ctx, raw)
	if err == nil && idt.Nonce != st.Nonce {
		err = errors.New("nonce does not match")
	}
	if err != nil {
		c.logger.Warn("console sign-in: ID token refused", "error", err)
		c.page(w, r, http.StatusBadRequest, "error", pageData{Title: "Sign-in failed", Error: "The identity provider's ID token was not valid for this console."})
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		c.fail(w, r, err)
		return
	}
	u := User{Sub: idt.Subject, Name: displayName(claims, idt.Subject), Role: c.roleOf(claims[c.oidc.cfg.RoleClaim]), CSRF: random(), Expires: c.now().Add(sessionTTL)}
	if u.Role == "" {
		_, _ = c.record(r, u, "console.login", "refused: no console role in claim "+c.oidc.cfg.RoleClaim, "", "")
		c.page(w, r, http.StatusForbidden, "error", pageData{Title: "No access", Error: fmt.Sprintf("You are signed in as %s, but your account has no role for this console. Ask for the %q or %q role.", u.Name, c.oidc.cfg.ViewerValue, c.oidc.cfg.OfficerValue)})
		return
	}
	if _, err := c.record(r, u, "console.login", "signed in as "+string(u.Role), "", ""); err != nil {
		c.fail(w, r, err)
		return
	}
	v, err := c.cookies.seal(u)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.setCookie(w, sessionCookie, v, sessionTTL)
	http.Redirect(w, r, st.Return, http.StatusSeeOther)
}

// roleOf grants officer if any value of the claim is the officer value, else viewer if any is
// the viewer value.
func (c *Console) roleOf(claim any) Role {
	var values []string
	switch v := claim.(type) {
	case string:
		values = strings.Fields(v)
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				values = append(values, s)
			}
		}
	}
	role := Role("")
	for _, v := range values {
		switch v {
		case c.oidc.cfg.OfficerValue:
			return Officer
		case c.oidc.cfg.ViewerValue:
			role = Viewer
		}
	}
	return role
}

func displayName(claims map[string]any, sub string) string {
	for _, k := range []string{"name", "preferred_username", "email"} {
		if s, ok := claims[k].(string); ok && s != "" {
			return s
		}
	}
	return sub
}

// returnPath accepts a path to come back to after sign-in only if it is a path of the console
// once decoded: one leading "/", the next character neither "/" nor "\\", and no control
// character or white space anywhere (browsers drop a TAB, so "/\t/evil.example" would lead to
// //evil.example, issue #26). Anything else returns to the start page.
func returnPath(ret string) string {
	dec, err := url.PathUnescape(ret)
	if err != nil {
		return "/"
	}
	for _, s := range []string{ret, dec} {
		if !strings.HasPrefix(s, "/") || (len(s) > 1 && (s[1] == '/' || s[1] == '\\')) {
			return "/"
		}
		for _, r := range s {
			if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\\' {
				return "/"
			}
		}
	}
	u, err := url.Parse(ret)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return ret
}
