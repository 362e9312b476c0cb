// Package admin is the operator's listener (DSOP_ADMIN_ADDR): /livez, /readyz and /metrics. It is
// meant for the cluster, not for the API gateway.
package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Check is one readiness condition.
type Check struct {
	Name string
	Func func(ctx context.Context) error
	// Advisory checks are reported under "warnings" and do not make the server unready.
	Advisory bool
	// Decisive checks run first; if one fails the answer is 503 at once, without the others
	// (shutting down: the load balancer must hear it now, not after a slow dependency).
	Decisive bool
	// Live checks also decide /livez: a failure that only a restart mends (the file audit log
	// after a failed fsync, issue #29), so that the orchestrator restarts the process.
	Live bool
}

// CheckTimeout bounds each check, so that a frozen dependency makes /readyz say so instead of
// hanging the probe.
const CheckTimeout = 2 * time.Second

// Handler serves the admin endpoints. /livez answers 200 while the process serves at all;
// /readyz answers 200 only when every check passes, and 503 with the failures otherwise.
func Handler(metrics http.Handler, checks []Check, spec ...[]byte) http.Handler {
	mux := http.NewServeMux()
	if len(spec) > 0 && spec[0] != nil {
		// The OpenAPI document the server is generated from, for the bank's testers and gateway.
		mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/yaml")
			_, _ = w.Write(spec[0])
		})
	}
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		for _, c := range checks {
			if !c.Live {
				continue
			}
			ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
			err := run(ctx, c.Func)
			cancel()
			if err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "dead", "failed": map[string]string{c.Name: err.Error()}})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		for _, c := range checks {
			if c.Decisive {
				if err := c.Func(r.Context()); err != nil {
					writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failed": map[string]string{c.Name: err.Error()}})
					return
				}
			}
		}
		failed, warnings := map[string]string{}, map[string]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range checks {
			if c.Decisive {
				continue
			}
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
				defer cancel()
				err := run(ctx, c.Func)
				if err == nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if c.Advisory {
					warnings[c.Name] = err.Error()
				} else {
					failed[c.Name] = err.Error()
				}
			})
		}
		wg.Wait()
		body := map[string]any{"status": "ready"}
		if len(warnings) > 0 {
			body["warnings"] = warnings
		}
		if len(failed) > 0 {
			body["status"], body["failed"] = "not ready", failed
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
		writeJSON(w, http.StatusOK, body)
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

// run calls fn, but returns when ctx ends even if fn does not (a check stuck in a driver).
func run(ctx context.Context, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s", CheckTimeout)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
