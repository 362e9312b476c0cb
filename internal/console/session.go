package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Sessions and the login's state are cookies the server signs (HMAC-SHA-256 with a key derived
// from DSOP_SECRET_FILE), so that every replica with the same secret accepts them and nothing is
// kept on the server. They hold no identity number.

// Role is what a console user may do.
type Role string

// Roles.
const (
	Viewer  Role = "viewer"  // read
	Officer Role = "officer" // also reveal identity numbers, acknowledge actions, run verify
)

// User is a signed-in user.
type User struct {
	Sub     string    `json:"sub"`
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	CSRF    string    `json:"csrf"` // the token every form of this session carries
	Expires time.Time `json:"exp"`
}

// Actor names the user in audit records.
func (u User) Actor() string { return u.Name + " <" + u.Sub + ">" }

// Officer reports whether the user may reveal, acknowledge and verify.
func (u User) Officer() bool { return u.Role == Officer }

// loginState is kept between the redirect to the identity provider and its callback.
type loginState struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	Return   string    `json:"return"`
	Expires  time.Time `json:"exp"`
}

const (
	sessionCookie = "dsop_console"
	loginCookie   = "dsop_console_login"
	sessionTTL    = 8 * time.Hour
	loginTTL      = 10 * time.Minute
)

type signer struct{ key []byte }

func newSigner(secret []byte) signer {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("dsop-bank console cookies v1"))
	return signer{key: m.Sum(nil)}
}

func (s signer) seal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + s.mac(payload), nil
}

func (s signer) mac(payload string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errBadCookie = errors.New("cookie missing, forged or expired")

func (s signer) open(value string, v any) error {
	payload, mac, ok := strings.Cut(value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.mac(payload))) {
		return errBadCookie
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return errBadCookie
	}
	return json.Unmarshal(b, v)
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(ttl.Seconds()), HttpOnly: true,
		// Lax: the identity provider's redirect back is a cross-site navigation that must carry
		// the login cookie. Forms are protected by their CSRF token, not by the cookie's scope.
		SameSite: http.SameSiteLaxMode, Secure: c.secure,
	})
}

func (c *Console) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.secure})
}

// user returns the session's user, if a valid unexpired session cookie came with r.
func (c *Console) user(r *http.Request) (User, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return User{}, false
	}
	var u User
	if c.cookies.open(ck.Value, &u) != nil || c.now().After(u.Expires) || (u.Role != Viewer && u.Role != Officer) {
		return User{}, false
	}
	return u, true
}
