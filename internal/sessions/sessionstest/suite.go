// Package sessionstest is the one test suite every sessions.Store passes.
package sessionstest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/sessions"
)

// Run runs the suite on a fresh store from open.
func Run(t *testing.T, open func(t *testing.T) sessions.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	s := sessions.Session{ID: sessions.Key("cookie-1"), Sub: "u1", Name: "Olivia", Role: "officer", CSRF: "c", Created: now, Seen: now,
		RoleChecked: now, RefreshToken: "rt", Expires: now.Add(8 * time.Hour)}
	t.Run("a session is created, read, updated and deleted", func(t *testing.T) {
		st := open(t)
		require.NoError(t, st.Create(ctx, s))
		got, err := st.Get(ctx, s.ID)
		require.NoError(t, err)
		require.Equal(t, s, got)
		s2 := s
		s2.Seen, s2.Role = now.Add(time.Minute), "viewer"
		require.NoError(t, st.Update(ctx, s2))
		got, err = st.Get(ctx, s.ID)
		require.NoError(t, err)
		require.Equal(t, s2, got)
		require.NoError(t, st.Delete(ctx, s.ID))
		_, err = st.Get(ctx, s.ID)
		require.ErrorIs(t, err, sessions.ErrNotFound)
		require.ErrorIs(t, st.Update(ctx, s2), sessions.ErrNotFound, "a deleted session is not brought back")
	})
	t.Run("sign-out everywhere ends every session of the user and no other", func(t *testing.T) {
		st := open(t)
		other := s
		other.ID, other.Sub = sessions.Key("cookie-3"), "u2"
		second := s
		second.ID = sessions.Key("cookie-2")
		for _, x := range []sessions.Session{s, second, other} {
			require.NoError(t, st.Create(ctx, x))
		}
		n, err := st.DeleteUser(ctx, "u1")
		require.NoError(t, err)
		require.Equal(t, 2, n)
		_, err = st.Get(ctx, second.ID)
		require.ErrorIs(t, err, sessions.ErrNotFound)
		_, err = st.Get(ctx, other.ID)
		require.NoError(t, err)
	})
	t.Run("a login is taken once", func(t *testing.T) {
		st := open(t)
		l := sessions.Login{State: "state-1", Nonce: "n", Verifier: "v", Return: "/cases/x", Expires: now.Add(10 * time.Minute)}
		require.NoError(t, st.PutLogin(ctx, l))
		got, err := st.TakeLogin(ctx, "state-1")
		require.NoError(t, err)
		require.Equal(t, l, got)
		_, err = st.TakeLogin(ctx, "state-1")
		require.ErrorIs(t, err, sessions.ErrNotFound, "a replayed callback finds nothing")
	})
}
