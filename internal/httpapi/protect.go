package httpapi

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimiter is a token bucket per consumer: Rate requests per second on average, bursts of
// Burst. A consumer over its limit gets 429 ACC-022 with Retry-After.
type RateLimiter struct {
	Rate  float64
	Burst float64
	Now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Allow takes a token for key, or says how long until one is available.
func (l *RateLimiter) Allow(key string) (bool, time.Duration) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.Burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.Burst, b.tokens+now.Sub(b.at).Seconds()*l.Rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.Rate * float64(time.Second))
}

// rateLimit applies the per-consumer limit after the token is validated.
func (a *api) rateLimit(next http.Handler) http.Handler {
	if a.RateLimit == nil || a.RateLimit.Rate <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := a.RateLimit.Allow(exchangeOf(r.Context()).claims.ConsumerID)
		if !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			a.fail(w, r, errTooManyReqs)
			return
		}
		next.ServeHTTP(w, r)
	})
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
