package postgres

import (
	"testing"

	"github.com/dsop-bank/dsop-bank/internal/sessions"
	"github.com/dsop-bank/dsop-bank/internal/sessions/sessionstest"
)

func TestSessions(t *testing.T) {
	sessionstest.Run(t, func(t *testing.T) sessions.Store { return &Sessions{Pool: testPool(t)} })
}
