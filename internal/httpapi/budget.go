package httpapi

import (
	"context"
	"time"

	"golang.org/x/sync/semaphore"
)

// AnswerBudget bounds the memory that answers hold between being built and having been written
// to their callers (issue #29: 400 stalled readers of 1 000-transaction pages held 310–325 MB for
// up to the write timeout). An answer takes its share before its record is written; one that
// cannot have it within MaxWait is answered 503 ACC-100 with Retry-After instead, and recorded
// as such — never an out-of-memory kill of every request at once.
type AnswerBudget struct {
	sem   *semaphore.Weighted
	total int64
	// MaxWait is how long an answer waits for its share (default 1 s, and never past the
	// request's deadline).
	MaxWait time.Duration
}

// NewAnswerBudget makes a budget of bytes (DSOP_ANSWER_MEMORY).
func NewAnswerBudget(bytes int64) *AnswerBudget {
	return &AnswerBudget{sem: semaphore.NewWeighted(bytes), total: bytes}
}

// Acquire takes n bytes of the budget (an answer larger than the whole budget takes all of it,
// so that it is served when nothing else is), waiting up to MaxWait. It returns the release.
func (b *AnswerBudget) Acquire(ctx context.Context, n int64) (func(), bool) {
	n = min(max(n, 1), b.total)
	wait := b.MaxWait
	if wait <= 0 {
		wait = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, false
	}
	return func() { b.sem.Release(n) }, true
}

// answerWeight is what an answer of body bytes holds while it is written: the JSON body, and
// its JWE (base64 of the ciphertext: about 4/3 of it) when it is encrypted.
func answerWeight(body int, sealed bool) int64 {
	if sealed {
		return int64(body) + int64(body)*4/3 + 4096
	}
	return int64(body)
}
