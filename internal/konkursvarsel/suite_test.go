package konkursvarsel_test

import (
	"testing"

	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel"
	"github.com/dsop-bank/dsop-bank/internal/konkursvarsel/kvtest"
)

func TestStores_Suite(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		kvtest.RunStore(t, func(t *testing.T) konkursvarsel.Store { return konkursvarsel.NewMemoryStore() })
	})
	t.Run("file", func(t *testing.T) {
		kvtest.RunStore(t, func(t *testing.T) konkursvarsel.Store {
			st, err := konkursvarsel.OpenFileStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

func TestFileOutbox_Suite(t *testing.T) {
	kvtest.RunOutbox(t, func(t *testing.T) konkursvarsel.Outbox { return &konkursvarsel.FileOutbox{Dir: t.TempDir()} })
}
