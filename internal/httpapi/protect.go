package httpapi

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Admission protects the bank from one consumer's excess without refusing the real consumer's
// legitimate bursts. Digdir's consumer asks for the details of every account of a debtor at once
// and silently drops an account whose request fails (kontrollinformasjon-api.md §7.1), so a
// burst over the limits waits briefly for its turn — within the consumer's 30 s budget — instead
// of being refused; only a consumer that keeps sending more than the sustained rate, or that has
// more requests waiting than could be served within MaxWait, gets 429 ACC-022 with Retry-After.
//
// Two limits, each per consumer (the token's consumer.ID):
//   - Rate: a token bucket of Rate requests per second on average and Burst at once. A request
//     that finds the bucket empty reserves the next token and waits for it, if that is at most
//     MaxWait away.
//   - Concurrency: at most Concurrency requests served at the same time (0 = unbounded); more
//     wait for a slot up to MaxWait.
type Admission struct {
	Rate        float64 // requests per second; 0 = no rate limit
	Burst       float64
	Concurrency int
	MaxWait     time.Duration
	Now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	slots   map[string]chan struct{}
}

type bucket struct {
	tokens float64
	at     time.Time
}

// reserve takes a token for key. It returns how long the caller must wait before using it; ok is
// false (and nothing is taken) when that wait would exceed MaxWait, and then retry says when a
// request would be admitted again.
func (l *Admission) reserve(key string) (wait time.Duration, ok bool, retry time.Duration) {
	if l.Rate <= 0 {
		return 0, true, 0
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, found := l.buckets[key]
	if !found {
		b = &bucket{tokens: l.Burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.Burst, b.tokens+now.Sub(b.at).Seconds()*l.Rate)
	b.at = now
	// Tokens may go below zero: each reservation queues behind the ones before it.
	wait = time.Duration(math.Max(0, 1-b.tokens) / l.Rate * float64(time.Second))
	if wait > l.MaxWait {
		return 0, false, wait - l.MaxWait
	}
	b.tokens--
	return wait, true, 0
}

// slot is key's semaphore of Concurrency slots.
func (l *Admission) slot(key string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slots == nil {
		l.slots = map[string]chan struct{}{}
	}
	sem, found := l.slots[key]
	if !found {
		sem = make(chan struct{}, l.Concurrency)
		l.slots[key] = sem
	}
	return sem
}

// acquire takes one of key's concurrency slots, waiting for one until ctx ends or MaxWait passes.
func (l *Admission) acquire(ctx context.Context, key string) (release func(), ok bool) {
	if l.Concurrency <= 0 {
		return func() {}, true
	}
	sem := l.slot(key)
	release = func() { <-sem }
	select {
	case sem <- struct{}{}:
		return release, true
	default:
	}
	t := time.NewTimer(l.MaxWait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return release, true
	case <-t.C:
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
}

// acquireUntilDeadline takes one of key's concurrency slots, waiting as long as ctx allows.
func (l *Admission) acquireUntilDeadline(ctx context.Context, key string) (release func(), ok bool) {
	if l.Concurrency <= 0 {
		return func() {}, true
	}
	sem := l.slot(key)
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, true
	case <-ctx.Done():
		return nil, false
	}
}

// admit applies the per-consumer admission after the token is validated.
//
// The budget is per service and consumer (issue #30): each service's own Admission (its
// DSOP_SERVICE_<NAME>_RATE_LIMIT) or the global one, keyed by both, so that one agency's run
// never spends another's.
func (a *api) admit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callOf(r.Context())
		l := a.Admission
		if c.profile != nil && c.profile.Admission != nil {
			l = c.profile.Admission
		}
		if l == nil || (l.Rate <= 0 && l.Concurrency <= 0) {
			next.ServeHTTP(w, r)
			return
		}
		consumer := c.claims.ConsumerID
		if c.profile != nil {
			consumer = c.profile.Service.Name + " " + consumer
		}
		if c.operation == "listTransactions" {
			// A transactions page is never refused for rate (issue #29): the real client reads an
			// account's pages one after another and, after a refused page, starts the debtor over
			// and then drops its accounts (kontrollinformasjon-api.md §7.2). The pages of one
			// account come one at a time, so they cannot flood; they take a concurrency slot, and
			// wait for one as long as the request's deadline allows.
			release, ok := l.acquireUntilDeadline(r.Context(), consumer)
			if !ok {
				a.fail(w, r, r.Context().Err())
				return
			}
			defer release()
			next.ServeHTTP(w, r)
			return
		}
		wait, ok, retry := l.reserve(consumer)
		if !ok {
			a.tooMany(w, r, retry)
			return
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				a.fail(w, r, r.Context().Err())
				return
			}
		}
		release, ok := l.acquire(r.Context(), consumer)
		if !ok {
			// Every slot is held by a request still being served: the bank is slow (a frozen
			// database), not the consumer too fast. That is 503 with Retry-After, never a rate
			// refusal (issue #29: 240 × 429 ACC-022 for a database fault).
			w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(l.MaxWait.Seconds())), 1)))
			a.fail(w, r, errOverloaded)
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}

func (a *api) tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(retry.Seconds())), 1)))
	a.fail(w, r, errTooManyReqs)
}

// limitRequest bounds what one request may cost: the number of header lines, and the time
// it may take (the deadline cancels store queries).
func (a *api) limitRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 0
		for _, v := range r.Header {
			n += len(v)
		}
		if limit := a.MaxHeaders; limit > 0 && n > limit {
			a.fail(w, r, errTooManyHeaders)
			return
		}
		if a.RequestTimeout > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), a.RequestTimeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// shed caps the requests served at once (MaxInFlight). Above the cap a request is answered at
// once with 503 ACC-100 and Retry-After, and recorded: when a dependency freezes, requests would
// otherwise pile up without bound, each holding memory and a connection.
func (a *api) shed(next http.Handler) http.Handler {
	if a.inFlight == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.inFlight <- struct{}{}:
			defer func() { <-a.inFlight }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			a.fail(w, r, errOverloaded)
		}
	})
}
