package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/sessions"
)

// Sessions and sign-ins under way are kept on the server (internal/sessions): the cookie holds
// only a random id. Every replica that shares the store (PostgreSQL) knows every session, and
// signing out ends it everywhere.

// Role is what a console user may do.
type Role string

// Roles.
const (
	Viewer  Role = "viewer"  // read
	Officer Role = "officer" // also reveal identity numbers, acknowledge actions, run verify
)

// User is a signed-in user.
type User struct {
	Sub     string
	Name    string
	Role    Role
	CSRF    string // the token every form of this session carries
	Expires time.Time
	session string // the store's id of the session
}

// Actor names the user in audit records.
func (u User) Actor() string { return u.Name + " <" + u.Sub + ">" }

// Officer reports whether the user may reveal, acknowledge and verify.
func (u User) Officer() bool { return u.Role == Officer }

const (
	sessionCookie = "dsop_console"
	loginCookie   = "dsop_console_login"
	loginTTL      = 10 * time.Minute
	// seenEvery is how often a session's last use is written (the idle timeout's resolution).
	seenEvery = time.Minute
)

// Session timeouts (docs/compliance.md "Compliance console", sessions; DSOP_CONSOLE_IDLE_TIMEOUT,
// DSOP_CONSOLE_SESSION_TIMEOUT, DSOP_CONSOLE_ROLE_RECHECK).
const (
	DefaultIdleTimeout    = 30 * time.Minute
	DefaultSessionTimeout = 8 * time.Hour
	DefaultRoleRecheck    = 10 * time.Minute
)

// setCookie sets the session cookie: HttpOnly, Secure behind https, SameSite=Strict (a request
// from another site never carries it: no side effect can be caused from elsewhere).
func (c *Console) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(ttl.Seconds()), HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure})
}

// setLoginCookie binds a sign-in to the browser that started it. It is Lax: the identity
// provider's redirect back is a navigation from another site, and must carry it.
func (c *Console) setLoginCookie(w http.ResponseWriter, value string) {
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: value, Path: "/callback", MaxAge: int(loginTTL.Seconds()), HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.secure})
}

func (c *Console) clearCookie(w http.ResponseWriter, name string) {
	path := "/"
	if name == loginCookie {
		path = "/callback"
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.secure})
}

// user returns the user of the request's session, if it has a live one: known to the store (not
// signed out), used within the idle timeout, younger than the absolute timeout, and with a role
// the identity provider still grants (re-read every DSOP_CONSOLE_ROLE_RECHECK). A session that
// fails any of these is ended.
func (c *Console) user(r *http.Request) (User, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return User{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.readTimeout)
	defer cancel()
	s, err := c.sessions.Get(ctx, sessions.Key(ck.Value))
	if err != nil {
		if !errors.Is(err, sessions.ErrNotFound) {
			c.logger.Error("console session store", "error", err.Error())
		}
		return User{}, false
	}
	now := c.now()
	end := func(why string) (User, bool) {
		_ = c.sessions.Delete(ctx, s.ID)
		u := User{Sub: s.Sub, Name: s.Name, Role: Role(s.Role)}
		_, _ = c.record(r, u, "console.logout", "session ended: "+why, "", "")
		return User{}, false
	}
	switch {
	case now.After(s.Expires):
		return end("absolute timeout")
	case now.Sub(s.Seen) > c.idleTimeout:
		return end("idle timeout")
	}
	changed := false
	if s.RefreshToken != "" && now.Sub(s.RoleChecked) >= c.roleRecheck {
		role, refresh, err := c.recheckRole(ctx, s.RefreshToken)
		if err != nil {
			c.logger.Warn("console: the role could not be re-read; the session ends", "error", err.Error())
			return end("the role could not be re-read from the identity provider")
		}
		if role == "" {
			return end("the identity provider no longer grants a console role")
		}
		s.Role, s.RefreshToken, s.RoleChecked, changed = string(role), refresh, now, true
	}
	if changed || now.Sub(s.Seen) >= seenEvery {
		s.Seen = now
		if err := c.sessions.Update(ctx, s); err != nil {
			return User{}, false
		}
	}
	u := User{Sub: s.Sub, Name: s.Name, Role: Role(s.Role), CSRF: s.CSRF, Expires: s.Expires, session: s.ID}
	if u.Role != Viewer && u.Role != Officer {
		return User{}, false
	}
	return u, true
}
