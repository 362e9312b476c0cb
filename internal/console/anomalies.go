package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/compliance"
)

// The anomalies of a period are counted over every call in it: on a large log that takes longer
// than a page may (bench-audit: seconds over millions of calls in PostgreSQL). So the page shows
// the findings of the latest computation, at most anomaliesFresh old, and a computation runs in
// the background under its own deadline (the verification's): a page never waits for more than
// DSOP_CONSOLE_READ_TIMEOUT, and says when its findings were computed.

// anomaliesFresh is how old the findings on the page may be before they are computed again.
const anomaliesFresh = 5 * time.Minute

// maxAnomalyPeriods bounds the periods kept (the page offers 90 days, a year, ten years).
const maxAnomalyPeriods = 8

type anomalyResult struct {
	at        time.Time
	findings  []compliance.Finding
	truncated bool
	err       error
}

type anomalyPeriod struct {
	last    *anomalyResult
	running chan struct{} // closed when the computation under way ends; nil when none runs
	used    time.Time
}

type anomalyCache struct {
	mu      sync.Mutex
	periods map[int]*anomalyPeriod
}

// findings returns the latest findings of the last days days, starting a computation when they
// are missing or stale, and waiting for it up to ctx's end when there are none yet.
func (c *Console) findings(ctx context.Context, days int) *anomalyResult {
	ac := &c.anomalyCache
	ac.mu.Lock()
	if ac.periods == nil {
		ac.periods = map[int]*anomalyPeriod{}
	}
	p, ok := ac.periods[days]
	if !ok {
		if len(ac.periods) >= maxAnomalyPeriods {
			oldest := -1
			for d, q := range ac.periods {
				if q.running == nil && (oldest < 0 || q.used.Before(ac.periods[oldest].used)) {
					oldest = d
				}
			}
			if oldest < 0 {
				// Every period kept is being computed: no more computations at once (a user
				// asking for many periods must not start one each).
				ac.mu.Unlock()
				return nil
			}
			delete(ac.periods, oldest)
		}
		p = &anomalyPeriod{}
		ac.periods[days] = p
	}
	now := c.now()
	p.used = now
	if p.running == nil && (p.last == nil || now.Sub(p.last.at) > anomaliesFresh) {
		p.running = make(chan struct{})
		go c.computeAnomalies(p, days)
	}
	last, running := p.last, p.running
	ac.mu.Unlock()
	if last != nil || running == nil {
		return last
	}
	select {
	case <-running:
	case <-ctx.Done():
		return nil
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return p.last
}

func (c *Console) computeAnomalies(p *anomalyPeriod, days int) {
	ctx, cancel := context.WithTimeout(context.Background(), c.verifyTimeout)
	defer cancel()
	t := compliance.DefaultThresholds()
	t.Since = c.now().AddDate(0, 0, -days)
	res := &anomalyResult{}
	errFull := errors.New("page full")
	err := compliance.Anomalies(ctx, c.Audit, t, func(f compliance.Finding) error {
		if len(res.findings) == maxFindings {
			res.truncated = true
			return errFull
		}
		res.findings = append(res.findings, f)
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		res.err = err
		c.logger.Error("console: anomalies could not be computed", "days", days, "error", err.Error())
	}
	res.at = c.now()
	c.anomalyCache.mu.Lock()
	defer c.anomalyCache.mu.Unlock()
	p.last = res
	close(p.running)
	p.running = nil
}

func (c *Console) anomalies(w http.ResponseWriter, r *http.Request, u User) {
	ctx, cancel := c.readCtx(r)
	defer cancel()
	d := pageData{User: &u, Title: "Anomalies", Nav: "anomalies", Query: r.URL.Query()}
	// The page looks at the last 90 days unless asked for more (?days=N): what an officer follows
	// up is recent (the CLI looks at the whole log by default).
	days := 90
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 36500 {
			d.Error = "days must be a number of days from 1"
			c.page(w, r, http.StatusBadRequest, "anomalies", d)
			return
		}
		days = n
	}
	d.Days = days
	// Wait for a first computation at most half the page's time: the rest is the page's own.
	wait, stop := context.WithTimeout(ctx, c.readTimeout/2)
	res := c.findings(wait, days)
	stop()
	switch {
	case res == nil:
		d.Computing = true
		d.Return, d.RefreshAfter = r.URL.RequestURI(), 5
	case res.err != nil:
		c.readFailed(w, r, u, res.err)
		return
	default:
		d.AsOf = c.ts(res.at)
		t := compliance.DefaultThresholds()
		for _, f := range res.findings {
			d.Findings = append(d.Findings, c.finding(f, t))
		}
		if res.truncated {
			d.Error = fmt.Sprintf("More than %d findings: the first %d are shown; `dsop-bank audit anomalies` lists them all.", maxFindings, maxFindings)
		}
	}
	// Searches by party number above the hourly limit are anomalies of the bank's own users
	// (few records: read now).
	if err := c.searchFindings(ctx, &d); err != nil {
		c.readFailed(w, r, u, err)
		return
	}
	c.page(w, r, http.StatusOK, "anomalies", d)
}
