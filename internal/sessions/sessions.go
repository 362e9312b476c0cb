// Package sessions keeps the compliance console's sign-in sessions and pending sign-ins on the
// server (issue #26): a session is a random id in an HttpOnly cookie and a row here, so that
// signing out ends it everywhere (a copied cookie is worth nothing afterwards), it ends after
// an idle time and an absolute time, and a role removed at the identity provider is noticed at
// the next re-check. A pending sign-in (the OpenID Connect state) is taken once: a replayed
// callback finds nothing. The memory store serves the embedded default (one process); the
// PostgreSQL store (internal/postgres) is shared by every replica. Only a hash of each id is
// kept, so that reading the store does not give anyone a session.
package sessions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// Session is one signed-in user.
type Session struct {
	ID      string // the hash of the cookie's value (Key)
	Sub     string
	Name    string
	Role    string
	CSRF    string // the token every form of the session carries
	Created time.Time
	Seen    time.Time // the last request, for the idle timeout
	// RoleChecked is when the role was last read from the identity provider; RefreshToken, when
	// the provider gave one, is what re-reads it.
	RoleChecked  time.Time
	RefreshToken string
	Expires      time.Time // the absolute end
}

// Login is a sign-in under way: what the callback needs, stored under the state.
type Login struct {
	State    string
	Nonce    string
	Verifier string
	Return   string
	Expires  time.Time
}

// ErrNotFound is a session or login that does not exist (any more).
var ErrNotFound = errors.New("no such session")

// Store keeps sessions and logins.
type Store interface {
	Create(ctx context.Context, s Session) error
	Get(ctx context.Context, id string) (Session, error)
	Update(ctx context.Context, s Session) error
	Delete(ctx context.Context, id string) error
	// DeleteUser ends every session of sub (sign-out everywhere).
	DeleteUser(ctx context.Context, sub string) (int, error)
	PutLogin(ctx context.Context, l Login) error
	// TakeLogin returns the login of state and removes it: a state is used once.
	TakeLogin(ctx context.Context, state string) (Login, error)
}

// Key is the stored id of a cookie value.
func Key(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// Memory is the Store of one process.
type Memory struct {
	mu       sync.Mutex
	sessions map[string]Session
	logins   map[string]Login
	// Now, when set, is the clock expired entries are dropped by.
	Now func() time.Time
}

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Create implements Store.
func (m *Memory) Create(_ context.Context, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions == nil {
		m.sessions = map[string]Session{}
	}
	now := m.now()
	for k, v := range m.sessions { // expired sessions go as new ones come
		if now.After(v.Expires) {
			delete(m.sessions, k)
		}
	}
	m.sessions[s.ID] = s
	return nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return Session{}, ErrNotFound
	}
	return s, nil
}

// Update implements Store.
func (m *Memory) Update(_ context.Context, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[s.ID]; !ok {
		return ErrNotFound
	}
	m.sessions[s.ID] = s
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	return nil
}

// DeleteUser implements Store.
func (m *Memory) DeleteUser(_ context.Context, sub string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, v := range m.sessions {
		if v.Sub == sub {
			delete(m.sessions, k)
			n++
		}
	}
	return n, nil
}

// PutLogin implements Store.
func (m *Memory) PutLogin(_ context.Context, l Login) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.logins == nil {
		m.logins = map[string]Login{}
	}
	now := m.now()
	for k, v := range m.logins {
		if now.After(v.Expires) {
			delete(m.logins, k)
		}
	}
	m.logins[Key(l.State)] = l
	return nil
}

// TakeLogin implements Store.
func (m *Memory) TakeLogin(_ context.Context, state string) (Login, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.logins[Key(state)]
	if !ok {
		return Login{}, ErrNotFound
	}
	delete(m.logins, Key(state))
	return l, nil
}
