package accounts_test

import (
	"testing"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/accounts/accountstest"
)

func TestMemoryStore_Suite(t *testing.T) {
	accountstest.Run(t, func(t *testing.T, bd *accounts.BankData, refs accounts.Referencer) accounts.Store {
		return accounts.NewMemoryStore(bd, refs)
	})
}
