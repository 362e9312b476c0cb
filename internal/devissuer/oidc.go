package devissuer

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// The development issuer is also an OpenID Connect provider for the compliance console in test
// mode (authorization code flow with PKCE), so that `make run` signs an officer in with one
// click. Its users are fixed: a compliance officer and a viewer, whose ID tokens carry
// "roles": ["dsop.officer"] or ["dsop.viewer"] (the console's default role values). Production
// refuses it, as it refuses the issuer itself.

type devUser struct{ Sub, Name, Role string }

// devUsers are the development identities and the role value each one's token carries.
func devUsers() []devUser {
	return []devUser{
		{"dev-officer", "Olivia Officer (development)", "dsop.officer"},
		{"dev-viewer", "Viktor Viewer (development)", "dsop.viewer"},
	}
}

type grant struct {
	clientID, redirect, nonce, challenge string
	sub, name, role                      string
	expires                              time.Time
}

type oidcState struct {
	mu      sync.Mutex
	grants  map[string]grant  // code → grant
	refresh map[string]grant  // refresh token → the grant it renews
	roles   map[string]string // sub → role value, where SetRole changed it
}

// SetRole changes the role value a development user's tokens carry from now on ("" removes it):
// what an administrator does at the bank's identity provider. The console notices it at its next
// role re-check (issue #26).
func (is *Issuer) SetRole(sub, role string) {
	is.oidc.mu.Lock()
	defer is.oidc.mu.Unlock()
	if is.oidc.roles == nil {
		is.oidc.roles = map[string]string{}
	}
	is.oidc.roles[sub] = role
}

// role is sub's current role value.
func (o *oidcState) role(g grant) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r, ok := o.roles[g.sub]; ok {
		return r
	}
	return g.role
}

func (o *oidcState) putRefresh(g grant) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refresh == nil {
		o.refresh = map[string]grant{}
	}
	t := randomString()
	o.refresh[t] = g
	return t
}

func (o *oidcState) takeRefresh(t string) (grant, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	g, ok := o.refresh[t]
	delete(o.refresh, t) // rotated: a refresh token is used once
	return g, ok
}

func (o *oidcState) put(g grant) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.grants == nil {
		o.grants = map[string]grant{}
	}
	for c, old := range o.grants {
		if time.Now().After(old.expires) {
			delete(o.grants, c)
		}
	}
	code := randomString()
	o.grants[code] = g
	return code
}

// take returns a code's grant once.
func (o *oidcState) take(code string) (grant, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	g, ok := o.grants[code]
	delete(o.grants, code)
	return g, ok && time.Now().Before(g.expires)
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Development sign-in</title>
<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;color:#1b2733}
button{display:block;width:100%;margin:.6rem 0;padding:.8rem;font-size:1rem;border:1px solid #1d4e89;background:#1d4e89;color:#fff;border-radius:4px;cursor:pointer}
button.viewer{background:#fff;color:#1d4e89}</style></head>
<body><h1>Development sign-in</h1>
<p>The development issuer of dsop-bank stands in for the bank's single sign-on in test mode.</p>
{{range .Users}}<form method="post" action="authorize">
{{range $k, $v := $.Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<input type="hidden" name="user" value="{{.Sub}}">
<button type="submit" class="{{if eq .Role "dsop.viewer"}}viewer{{end}}" id="signin-{{.Sub}}">Sign in as {{.Name}}</button>
</form>{{end}}
</body></html>`))

// oidcIssuer is the provider's issuer as its caller reached it: the listener of a test-mode
// helper may have moved to a free port, and discovery, endpoints and ID tokens must agree on it.
func oidcIssuer(r *http.Request) string { return "http://" + r.Host + "/" }

func (is *Issuer) oidcHandlers(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := oidcIssuer(r)
		writeJSON(w, map[string]any{
			"issuer": iss, "jwks_uri": iss + "jwks.json",
			"authorization_endpoint": iss + "authorize", "token_endpoint": iss + "oidc/token",
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
			"scopes_supported": []string{"openid", "profile", "offline_access"}, "grant_types_supported": []string{"authorization_code", "refresh_token"},
		})
	})
	params := []string{"response_type", "client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method", "scope"}
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("redirect_uri") == "" {
			http.Error(w, "authorization code flow with PKCE (S256) only", http.StatusBadRequest)
			return
		}
		p := map[string]string{}
		for _, k := range params {
			p[k] = q.Get(k)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'")
		_ = signInPage.Execute(w, map[string]any{"Users": devUsers(), "Params": p})
	})
	mux.HandleFunc("POST /authorize", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		var g grant
		for _, u := range devUsers() {
			if u.Sub == r.PostForm.Get("user") {
				g = grant{sub: u.Sub, name: u.Name, role: u.Role}
			}
		}
		redirect, err := url.Parse(r.PostForm.Get("redirect_uri"))
		if g.sub == "" || err != nil || !redirect.IsAbs() {
			http.Error(w, "unknown user or redirect_uri", http.StatusBadRequest)
			return
		}
		g.clientID, g.redirect, g.nonce, g.challenge = r.PostForm.Get("client_id"), redirect.String(), r.PostForm.Get("nonce"), r.PostForm.Get("code_challenge")
		g.expires = time.Now().Add(time.Minute)
		q := redirect.Query()
		q.Set("code", is.oidc.put(g))
		q.Set("state", r.PostForm.Get("state"))
		redirect.RawQuery = q.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /oidc/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		clientID := r.PostForm.Get("client_id")
		if id, _, ok := r.BasicAuth(); ok {
			clientID, _ = url.QueryUnescape(id)
		}
		var (
			g  grant
			ok bool
		)
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			g, ok = is.oidc.take(r.PostForm.Get("code"))
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			challenge := base64.RawURLEncoding.EncodeToString(sum[:])
			ok = ok && g.clientID == clientID && g.redirect == r.PostForm.Get("redirect_uri") && subtle.ConstantTimeCompare([]byte(challenge), []byte(g.challenge)) == 1
		case "refresh_token":
			// The console re-reads the role with it (issue #26): the new ID token carries the
			// user's role as it is now.
			g, ok = is.oidc.takeRefresh(r.PostForm.Get("refresh_token"))
			ok = ok && g.clientID == clientID
			g.nonce = ""
		}
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		now := time.Now()
		c := map[string]any{
			"iss": oidcIssuer(r), "aud": g.clientID, "sub": g.sub, "name": g.name, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		}
		if role := is.oidc.role(g); role != "" {
			c["roles"] = []string{role}
		}
		if g.nonce != "" {
			c["nonce"] = g.nonce
		}
		if is.EditIDToken != nil {
			is.EditIDToken(c)
		}
		claims, _ := json.Marshal(c)
		hdr := jws.NewHeaders()
		kid, _ := is.key.KeyID()
		_ = hdr.Set(jws.KeyIDKey, kid)
		_ = hdr.Set(jws.TypeKey, "JWT")
		signKey, err := is.key.Clone()
		if err == nil {
			_ = signKey.Remove(jwk.KeyIDKey)
		}
		idToken, err := jws.Sign(claims, jws.WithKey(jwa.RS256(), signKey, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"access_token": randomString(), "token_type": "Bearer", "expires_in": 600, "id_token": string(idToken),
			"refresh_token": is.oidc.putRefresh(g)})
	})
}
