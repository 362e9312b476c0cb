// Package admin is the operator's listener (DSOP_ADMIN_ADDR): /livez, /readyz and /metrics. It is
// meant for the cluster, not for the API gateway.
package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Check is one readiness condition.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Handler serves the admin endpoints. /livez answers 200 while the process serves at all;
// /readyz answers 200 only when every check passes, and 503 with the failures otherwise.
func Handler(metrics http.Handler, checks []Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		failed := map[string]string{}
		for _, c := range checks {
			if err := c.Func(ctx); err != nil {
				failed[c.Name] = err.Error()
			}
		}
		if len(failed) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failed": failed})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
