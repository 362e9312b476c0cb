package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
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

	"github.com/dsop-bank/dsop-bank/internal/sessions"
)

// OIDC is how the console signs users in: the bank's single sign-on, through OpenID Connect's
// authorization code flow with PKCE (docs/compliance.md "Compliance console").
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
		// offline_access asks for the refresh token the role re-check uses; a provider that gives
		// none leaves the role as read at sign-in until the session's absolute timeout.
		Scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess},
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
	st := sessions.Login{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Return: returnPath(r.URL.Query().Get("return")), Expires: c.now().Add(loginTTL)}
	if err := c.sessions.PutLogin(r.Context(), st); err != nil {
		c.fail(w, r, err)
		return
	}
	c.setLoginCookie(w, st.State)
	http.Redirect(w, r, c.oauth(pr).AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusSeeOther)
}

// callback finishes the sign-in: the state must be this browser's (its login cookie) and unused
// (taken from the store once: a replayed callback finds nothing, whatever the identity provider
// does with codes), the code is exchanged with the PKCE verifier, the ID token is verified
// (signature, issuer, audience, expiry, nonce, and as the API checks tokens: a numeric exp, and
// azp when aud has several values), and the role is read from its claim.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(loginCookie)
	c.clearCookie(w, loginCookie)
	state := r.URL.Query().Get("state")
	var st sessions.Login
	if err == nil && state != "" && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) == 1 {
		st, err = c.sessions.TakeLogin(r.Context(), state)
	} else if err == nil {
		err = errors.New("state does not match")
	}
	if err != nil || c.now().After(st.Expires) {
		c.page(w, r, http.StatusBadRequest, "error", pageData{Title: "Sign-in failed", Error: "The sign-in could not be matched to this browser (it expired, was used already, or was started elsewhere). Sign in again."})
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
	claims, err := c.verifyIDToken(ctx, pr, tok, st.Nonce)
	if err != nil {
		c.logger.Warn("console sign-in: ID token refused", "error", err)
		c.page(w, r, http.StatusBadRequest, "error", pageData{Title: "Sign-in failed", Error: "The identity provider's ID token was not valid for this console."})
		return
	}
	sub, _ := claims["sub"].(string)
	now := c.now()
	u := User{Sub: sub, Name: displayName(claims, sub), Role: c.roleOf(claims[c.oidc.cfg.RoleClaim]), CSRF: random(), Expires: now.Add(c.sessionTimeout)}
	if u.Role == "" {
		_, _ = c.record(r, u, "console.login", "refused: no console role in claim "+c.oidc.cfg.RoleClaim, "", "")
		c.page(w, r, http.StatusForbidden, "error", pageData{Title: "No access", Error: fmt.Sprintf("You are signed in as %s, but your account has no role for this console. Ask for the %q or %q role.", u.Name, c.oidc.cfg.ViewerValue, c.oidc.cfg.OfficerValue)})
		return
	}
	if _, err := c.record(r, u, "console.login", "signed in as "+string(u.Role), "", ""); err != nil {
		c.fail(w, r, err)
		return
	}
	cookie := random() + random()
	if err := c.sessions.Create(r.Context(), sessions.Session{ID: sessions.Key(cookie), Sub: u.Sub, Name: u.Name, Role: string(u.Role), CSRF: u.CSRF,
		Created: now, Seen: now, RoleChecked: now, RefreshToken: tok.RefreshToken, Expires: u.Expires}); err != nil {
		c.fail(w, r, err)
		return
	}
	c.setCookie(w, sessionCookie, cookie, c.sessionTimeout)
	// The browser arrived from the identity provider's site: a redirect from here would still
	// be that site's navigation, and a SameSite=Strict cookie would not go with it. A page of
	// our own that moves on (no script: a meta refresh, and a link) makes the next request ours.
	c.page(w, r, http.StatusOK, "signedin", pageData{Title: "Signed in", Return: st.Return})
}

// verifyIDToken checks an ID token as the API checks access tokens, beyond go-oidc's checks
// (signature, issuer, audience, expiry): exp and iat must be JSON numbers, and an aud with
// several values needs azp naming this console. It returns the token's claims.
func (c *Console) verifyIDToken(ctx context.Context, pr *oidc.Provider, tok *oauth2.Token, nonce string) (map[string]any, error) {
	raw, _ := tok.Extra("id_token").(string)
	idt, err := pr.Verifier(&oidc.Config{ClientID: c.oidc.cfg.ClientID, Now: c.now}).Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if nonce != "" && idt.Nonce != nonce {
		return nil, errors.New("nonce does not match")
	}
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(payloadOf(raw)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("ID token claims: %w", err)
	}
	for _, k := range []string{"exp", "iat"} {
		if _, ok := claims[k].(json.Number); !ok {
			return nil, fmt.Errorf("ID token claim %s must be a number", k)
		}
	}
	if aud, ok := claims["aud"].([]any); ok && len(aud) > 1 {
		if azp, _ := claims["azp"].(string); azp != c.oidc.cfg.ClientID {
			return nil, errors.New("ID token with several audiences and no azp naming this console")
		}
	}
	if sub, _ := claims["sub"].(string); sub == "" {
		return nil, errors.New("ID token without sub")
	}
	return claims, nil
}

// payloadOf is the decoded payload of a compact JWT (already verified by the caller).
func payloadOf(raw string) []byte {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	return b
}

// recheckRole asks the identity provider for a new ID token with the session's refresh token
// and returns the role it grants now ("" for none) and the refresh token to keep.
func (c *Console) recheckRole(ctx context.Context, refresh string) (Role, string, error) {
	ctx = oidc.ClientContext(ctx, c.oidc.client())
	pr, err := c.oidc.get(ctx)
	if err != nil {
		return "", "", err
	}
	tok, err := c.oauth(pr).TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	if err != nil {
		return "", "", fmt.Errorf("refresh: %w", err)
	}
	claims, err := c.verifyIDToken(ctx, pr, tok, "")
	if err != nil {
		return "", "", err
	}
	next := tok.RefreshToken
	if next == "" {
		next = refresh
	}
	return c.roleOf(claims[c.oidc.cfg.RoleClaim]), next, nil
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
