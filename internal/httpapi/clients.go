package httpapi

import (
	"context"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dsop-bank/dsop-bank/internal/audit"
)

// ClientAdmission bounds what callers without a valid token can cost (issue #25): the token
// check, a record each, and disk. Per client address, the requests that end refused before a
// valid token of an allowed consumer draw from a token bucket (Rate a second, Burst at once).
// While an address's bucket is empty, its requests are refused with 429 ACC-022 before anything
// else is read — except those that carry a token, which are still checked in one of two reserved
// slots, so that an allowed consumer behind the same address (an egress proxy BRREG shares with
// others) is served through someone else's flood. A request that is served never draws from the
// bucket.
//
// The refusals of a throttled address are recorded as the standard asks (kontrollinformasjon-api.md
// §10) but not one by one: the first of each second is written before its answer leaves, and the
// others of that second are counted into one record with their number and the time of the last
// (audit.Record.Count, Until), written when the second is over.
type ClientAdmission struct {
	Rate  float64 // refused requests a second one address may send before it is throttled; 0 = off
	Burst float64
	Now   func() time.Time

	mu       sync.Mutex
	buckets  map[string]*bucket
	reserved chan struct{}
}

// maxTracked bounds the addresses kept; full buckets are dropped first.
const maxTracked = 100_000

func (c *ClientAdmission) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// refill brings key's bucket up to date; under mu.
func (c *ClientAdmission) refill(key string, now time.Time) *bucket {
	if c.buckets == nil {
		c.buckets = map[string]*bucket{}
	}
	b, ok := c.buckets[key]
	if !ok {
		if len(c.buckets) >= maxTracked {
			c.prune(now)
		}
		b = &bucket{tokens: c.Burst, at: now}
		c.buckets[key] = b
	}
	b.tokens = math.Min(c.Burst, b.tokens+now.Sub(b.at).Seconds()*c.Rate)
	b.at = now
	return b
}

// prune forgets the addresses whose buckets have refilled; under mu.
func (c *ClientAdmission) prune(now time.Time) {
	for k, b := range c.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*c.Rate >= c.Burst {
			delete(c.buckets, k)
		}
	}
}

// throttled reports whether key has used up its refusals.
func (c *ClientAdmission) throttled(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refill(key, c.now()).tokens < 1
}

// charge takes one refusal from key's bucket.
func (c *ClientAdmission) charge(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.refill(key, c.now())
	b.tokens = math.Max(b.tokens-1, -c.Burst) // a debt of at most one burst
}

// reserve takes one of the two slots in which a throttled address's tokens are still checked.
func (c *ClientAdmission) reserve(ctx context.Context) (func(), bool) {
	c.mu.Lock()
	if c.reserved == nil {
		c.reserved = make(chan struct{}, 2)
	}
	sem := c.reserved
	c.mu.Unlock()
	t := time.NewTimer(100 * time.Millisecond) // a token check takes well under a millisecond
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

// clientAddr is the caller's address: the value of ClientHeader when the gateway sets one (its
// last element, the one the gateway itself appended), else the connection's host.
func (a *api) clientAddr(r *http.Request) string {
	if h := a.ClientHeader; h != "" {
		if v := r.Header.Values(h); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if s := strings.TrimSpace(last); s != "" {
				return hostOnly(s)
			}
		}
	}
	return hostOnly(r.RemoteAddr)
}

func hostOnly(s string) string {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
		return ip.String()
	}
	return s
}

// admitClient applies ClientAdmission before the token is read.
func (a *api) admitClient(next http.Handler) http.Handler {
	cl := a.Clients
	if cl == nil || cl.Rate <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callOf(r.Context())
		addr := c.client
		if cl.throttled(addr) {
			release, ok := func() (func(), bool) {
				if r.Header.Get("Authorization") == "" {
					return nil, false
				}
				return cl.reserve(r.Context())
			}()
			if !ok {
				markCoalesced(w)
				w.Header().Set("Retry-After", "1")
				a.fail(w, r, errClientRate)
				return
			}
			defer release()
		}
		next.ServeHTTP(w, r)
		if !c.authenticated {
			cl.charge(addr)
		}
	})
}

// guardDisk refuses new requests with 503 while the audit volume is nearly full
// (DSOP_AUDIT_MIN_FREE): better a clean refusal than a record half written (issue #25). The
// refusals are recorded like a throttled address's, a second at a time, from the space the
// threshold keeps free.
func (a *api) guardDisk(next http.Handler) http.Handler {
	if a.AuditSpace == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.AuditSpace(); err != nil {
			markCoalesced(w)
			w.Header().Set("Retry-After", "60")
			a.fail(w, r, errAuditFull)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// markCoalesced marks the refusal being written as one recorded a second at a time.
func markCoalesced(w http.ResponseWriter) {
	if bw, ok := w.(*bufferedWriter); ok {
		bw.coalesce = true
	}
}

// coalescer counts identical refusals (same address, status and reason) into one record a
// second.
type coalescer struct {
	mu     sync.Mutex
	open   map[string]*refusals
	append func(ctx context.Context, r *audit.Record) error
	log    func(msg string, args ...any)
	writes sync.WaitGroup
}

type refusals struct {
	opened time.Time
	first  audit.Record // the first refusal counted (not the one recorded when the window opened)
	count  uint64
	last   time.Time
	timer  *time.Timer
}

// admit reports whether the refusal key (address, code, reason) at must be recorded now (the
// first of its second); otherwise it is counted into the record written at the end of the
// second, which build makes from the first one counted.
func (c *coalescer) admit(key string, at time.Time, build func() audit.Record) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		c.open = map[string]*refusals{}
	}
	now := time.Now() // windows are a second of the machine's clock, whatever the records' clock
	w, ok := c.open[key]
	if !ok || now.Sub(w.opened) >= time.Second {
		if ok {
			c.flushLocked(key) // a window whose timer has not fired yet
		}
		// Every window closes at the end of its second, counted or not, so that the windows of
		// addresses that stopped do not stay behind.
		nw := &refusals{opened: now}
		nw.timer = time.AfterFunc(time.Second, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.open[key] == nw {
				c.flushLocked(key)
			}
		})
		c.open[key] = nw
		return true
	}
	if w.count == 0 {
		w.first = build()
	}
	w.count++
	w.last = at
	return false
}

// flushLocked writes the count of key's window, if it counted any, and closes it; under mu. The
// write runs outside the caller's request, under its own deadline.
func (c *coalescer) flushLocked(key string) {
	w, ok := c.open[key]
	if !ok {
		return
	}
	delete(c.open, key)
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.count == 0 {
		return
	}
	rec := w.first
	rec.Count, rec.Until = w.count, w.last
	audit.Compact(&rec)
	c.writes.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.append(ctx, &rec); err != nil {
			c.log("the record counting refused requests could not be written", "error", err.Error(), "client", rec.Client, "count", rec.Count)
		}
	})
}

// flush writes every open window's count (at shutdown).
func (c *coalescer) flush(ctx context.Context) error {
	c.mu.Lock()
	var pending []audit.Record
	for key, w := range c.open {
		delete(c.open, key)
		if w.timer != nil {
			w.timer.Stop()
		}
		if w.count > 0 {
			rec := w.first
			rec.Count, rec.Until = w.count, w.last
			audit.Compact(&rec)
			pending = append(pending, rec)
		}
	}
	c.mu.Unlock()
	c.writes.Wait()
	for i := range pending {
		if err := c.append(ctx, &pending[i]); err != nil {
			return err
		}
	}
	return nil
}
