package sessions_test

import (
	"testing"

	"github.com/dsop-bank/dsop-bank/internal/sessions"
	"github.com/dsop-bank/dsop-bank/internal/sessions/sessionstest"
)

func TestMemory(t *testing.T) {
	sessionstest.Run(t, func(*testing.T) sessions.Store { return &sessions.Memory{} })
}
