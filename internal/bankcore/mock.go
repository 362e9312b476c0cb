package bankcore

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// Mock serves openapi/bank-core.yaml from a bank data file held in memory: `dsop-bank mock-core`
// for the demo, and the other side of the connector's tests.
type Mock struct {
	store *accounts.MemoryStore
	refs  accounts.Referencer
}

// NewMock indexes bd, which must have passed the bank data checks.
func NewMock(bd *accounts.BankData) *Mock {
	refs := accounts.NewReferencer([]byte("dsop-bank mock core: its own keys, never the server's"))
	return &Mock{store: accounts.NewMemoryStore(bd, refs), refs: refs}
}

// Handler is the mock's API.
func (m *Mock) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /servicer", func(w http.ResponseWriter, r *http.Request) {
		s, _ := m.store.Servicer(r.Context())
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("GET /parties/{id}", func(w http.ResponseWriter, r *http.Request) {
		p, ok, _ := m.store.Party(r.Context(), r.PathValue("id"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "no such party"})
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
	mux.HandleFunc("GET /parties/{id}/accounts", func(w http.ResponseWriter, r *http.Request) {
		held, _ := m.store.AccountsWithRole(r.Context(), r.PathValue("id"))
		out := make([]accounts.Account, 0, len(held))
		for _, a := range held {
			out = append(out, a.Account)
		}
		writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
	})
	mux.HandleFunc("GET /accounts/{number}", func(w http.ResponseWriter, r *http.Request) {
		a, err := m.store.AccountByReference(r.Context(), m.refs.Reference(r.PathValue("number")))
		if err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "no such account"})
			return
		}
		writeJSON(w, http.StatusOK, a.Account)
	})
	mux.HandleFunc("GET /accounts/{number}/transactions", func(w http.ResponseWriter, r *http.Request) {
		ref := m.refs.Reference(r.PathValue("number"))
		if _, err := m.store.AccountByReference(r.Context(), ref); err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "no such account"})
			return
		}
		q := r.URL.Query()
		from, err1 := time.Parse(time.RFC3339Nano, q.Get("from"))
		until, err2 := time.Parse(time.RFC3339Nano, q.Get("until"))
		limit, err3 := strconv.Atoi(q.Get("limit"))
		var after *accounts.Position
		var err4 error
		if q.Get("afterTime") != "" {
			var at time.Time
			at, err4 = time.Parse(time.RFC3339Nano, q.Get("afterTime"))
			after = &accounts.Position{Time: at, ID: q.Get("afterId")}
		}
		if err := errors.Join(err1, err2, err3, err4); err != nil || limit < 1 || limit > 10000 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "from, until (RFC 3339), limit (1 to 10000) and afterTime are required as openapi/bank-core.yaml says"})
			return
		}
		page := make([]dsop.Transaction, 0, min(limit, 1000))
		_ = m.store.Transactions(r.Context(), ref, from, until, after, limit, func(t dsop.Transaction) error {
			page = append(page, t)
			return nil
		})
		writeJSON(w, http.StatusOK, map[string]any{"transactions": page})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
