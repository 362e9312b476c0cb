// Package bankcore is the live connector to a bank's core system (issue #28): an accounts.Store
// that reads what each request needs from the bank's own API (openapi/bank-core.yaml) instead of
// a copy, and the mock core that serves that contract for the demo and the tests.
//
// The decision (window, ownership clipping, field delivery) stays in dsop-bank and applies to
// this source exactly as to the copies: the connector only fetches. Everything it reads is
// checked as strictly as a bank data file (unknown fields, the file's rules for an account, the
// order and period of a page); a core that breaks the contract, is down, is too slow or has
// tripped the circuit breaker makes the request fail with accounts.SourceError, which the API
// answers with 503 ACC-100 and Retry-After and records.
package bankcore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sony/gobreaker/v2"

	"github.com/dsop-bank/dsop-bank/internal/accounts"
	"github.com/dsop-bank/dsop-bank/internal/dsop"
)

// Options configure a Client.
type Options struct {
	// URL is the base URL of the core's API (DSOP_BANK_CORE_URL), without a trailing slash.
	URL string
	// HTTP is the client the calls go through: its transport carries the mutual TLS and the
	// OAuth2 token when the bank asks for them. Its own Timeout should be 0: Timeout below bounds
	// each call, and the request's deadline all of them.
	HTTP *http.Client
	// Timeout bounds one call to the core (DSOP_BANK_CORE_TIMEOUT); the request's own deadline
	// is never exceeded.
	Timeout time.Duration
	// Tries is how many times a call that got no answer (a refused connection, 502, 503, 504, a
	// timeout) is made while the deadline allows: every call is a GET, so trying again is safe.
	Tries uint
	// BreakAfter is how many calls in a row may fail before the circuit opens: while it is open
	// (for OpenFor) requests fail at once instead of waiting for a core that is down.
	BreakAfter uint32
	OpenFor    time.Duration
	// Refs makes and opens the accountReference values (the core is asked by account number).
	Refs accounts.SealedReferencer
	// MaxBody bounds an answer's size (a page of transactions is about 1 KB each).
	MaxBody int64
	// RequestID, when set, names the DSOP request a call is made for (X-Request-ID).
	RequestID func(context.Context) string
}

// Client is an accounts.Store on the core's API.
type Client struct {
	o       Options
	base    *url.URL
	breaker *gobreaker.CircuitBreaker[[]byte]

	mu       sync.Mutex
	servicer *accounts.Servicer
	fetched  time.Time
}

var _ accounts.Store = (*Client)(nil)

// New checks the options and makes a client.
func New(o Options) (*Client, error) {
	base, err := url.Parse(o.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("bank core URL %q: must be an http(s) URL", o.URL)
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{}
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Tries == 0 {
		o.Tries = 3
	}
	if o.BreakAfter == 0 {
		o.BreakAfter = 5
	}
	if o.OpenFor <= 0 {
		o.OpenFor = 30 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 64 << 20
	}
	c := &Client{o: o, base: base}
	c.breaker = gobreaker.NewCircuitBreaker[[]byte](gobreaker.Settings{
		Name:        "bank core",
		MaxRequests: 1, // half-open: one call tries the core again
		Timeout:     o.OpenFor,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= o.BreakAfter },
		// An answer the caller asked wrongly (404) is the core working.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, errNotFound) },
	})
	return c, nil
}

var errNotFound = errors.New("not found")

// fault is a call the core did not answer properly.
func fault(reason string, err error) error {
	return &accounts.SourceError{Source: "bank core", Reason: reason, Err: err}
}

// get fetches path and returns the body of a 200; errNotFound for a 404.
func (c *Client) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := c.base.JoinPath(path)
	u.RawQuery = q.Encode()
	body, err := c.breaker.Execute(func() ([]byte, error) {
		return backoff.Retry(ctx, func() ([]byte, error) { return c.once(ctx, u.String()) },
			backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: time.Second}),
			backoff.WithMaxTries(c.o.Tries))
	})
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return nil, fault("circuit-open", fmt.Errorf("the core failed %d calls in a row; calls resume after %s: %w", c.o.BreakAfter, c.o.OpenFor, err))
	case err != nil && ctx.Err() != nil:
		return nil, fault("timeout", ctx.Err())
	}
	return body, err
}

// once is one call; an error that may pass by trying again is returned as is, any other as
// backoff.Permanent.
func (c *Client) once(ctx context.Context, u string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, backoff.Permanent(err)
	}
	req.Header.Set("Accept", "application/json")
	if c.o.RequestID != nil {
		if id := c.o.RequestID(ctx); id != "" {
			req.Header.Set("X-Request-ID", id)
		}
	}
	resp, err := c.o.HTTP.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return nil, fault("timeout", err)
		}
		return nil, fault("down", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, backoff.Permanent(errNotFound)
	case resp.StatusCode == http.StatusBadGateway, resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		return nil, fault("down", fmt.Errorf("the core answered %s", resp.Status))
	case resp.StatusCode != http.StatusOK:
		return nil, backoff.Permanent(fault("status", fmt.Errorf("the core answered %s", resp.Status)))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.o.MaxBody+1))
	if err != nil {
		if cctx.Err() != nil {
			return nil, fault("timeout", err)
		}
		return nil, fault("down", err)
	}
	if int64(len(body)) > c.o.MaxBody {
		return nil, backoff.Permanent(fault("garbage", fmt.Errorf("an answer of more than %d bytes", c.o.MaxBody)))
	}
	return body, nil
}

// decode reads an answer strictly: a field the contract does not have, or anything after the
// document, is the core breaking the contract.
func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fault("garbage", fmt.Errorf("the answer is not what openapi/bank-core.yaml describes: %w", err))
	}
	if dec.More() {
		return fault("garbage", errors.New("data after the answer's document"))
	}
	return nil
}

// checkAccount applies the bank data file's rules for one account to what the core sent.
func checkAccount(a accounts.Account, number string) error {
	if number != "" && a.AccountNumber != number {
		return fault("garbage", fmt.Errorf("asked for one account, the core sent another"))
	}
	if err := accounts.CheckAccount(a); err != nil {
		return fault("garbage", fmt.Errorf("an account that breaks the bank data rules: %w", err))
	}
	return nil
}

// servicerTTL is how long the bank's own record is kept: it is part of every answer and changes
// perhaps once a decade.
const servicerTTL = 5 * time.Minute

// Servicer implements accounts.Store.
func (c *Client) Servicer(ctx context.Context) (accounts.Servicer, error) {
	c.mu.Lock()
	if c.servicer != nil && time.Since(c.fetched) < servicerTTL {
		s := *c.servicer
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()
	body, err := c.get(ctx, "servicer", nil)
	if err != nil {
		if errors.Is(err, errNotFound) {
			return accounts.Servicer{}, fault("status", errors.New("the core has no /servicer"))
		}
		return accounts.Servicer{}, err
	}
	var s accounts.Servicer
	if err := decode(body, &s); err != nil {
		return s, err
	}
	c.mu.Lock()
	c.servicer, c.fetched = &s, time.Now()
	c.mu.Unlock()
	return s, nil
}

// Party implements accounts.Store.
func (c *Client) Party(ctx context.Context, id string) (accounts.Party, bool, error) {
	body, err := c.get(ctx, "parties/"+url.PathEscape(id), nil)
	if errors.Is(err, errNotFound) {
		return accounts.Party{}, false, nil
	}
	if err != nil {
		return accounts.Party{}, false, err
	}
	var p accounts.Party
	if err := decode(body, &p); err != nil {
		return p, false, err
	}
	if p.ID != id {
		return p, false, fault("garbage", errors.New("asked for one party, the core sent another"))
	}
	return p, true, nil
}

// AccountsWithRole implements accounts.Store.
func (c *Client) AccountsWithRole(ctx context.Context, party string) ([]accounts.StoredAccount, error) {
	body, err := c.get(ctx, "parties/"+url.PathEscape(party)+"/accounts", nil)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var page struct {
		Accounts []accounts.Account `json:"accounts"`
	}
	if err := decode(body, &page); err != nil {
		return nil, err
	}
	out := make([]accounts.StoredAccount, 0, len(page.Accounts))
	for _, a := range page.Accounts {
		if err := checkAccount(a, ""); err != nil {
			return nil, err
		}
		if len(a.Transactions) > 0 {
			return nil, fault("garbage", errors.New("an account listed with its transactions: they are read page by page"))
		}
		out = append(out, accounts.StoredAccount{Account: a, Reference: c.o.Refs.Reference(a.AccountNumber)})
	}
	return out, nil
}

// AccountByReference implements accounts.Store.
func (c *Client) AccountByReference(ctx context.Context, ref string) (accounts.StoredAccount, error) {
	number, ok := c.o.Refs.Open(ref)
	if !ok {
		return accounts.StoredAccount{}, accounts.ErrAccountNotFound
	}
	body, err := c.get(ctx, "accounts/"+url.PathEscape(number), nil)
	if errors.Is(err, errNotFound) {
		return accounts.StoredAccount{}, accounts.ErrAccountNotFound
	}
	if err != nil {
		return accounts.StoredAccount{}, err
	}
	var a accounts.Account
	if err := decode(body, &a); err != nil {
		return accounts.StoredAccount{}, err
	}
	if err := checkAccount(a, number); err != nil {
		return accounts.StoredAccount{}, err
	}
	a.Transactions = nil
	return accounts.StoredAccount{Account: a, Reference: ref}, nil
}

// Transactions implements accounts.Store: one call per page, the position kept by the caller.
// A page out of order or outside the period would make the keyset paging skip or repeat
// transactions, so it is refused.
func (c *Client) Transactions(ctx context.Context, ref string, from, until time.Time, after *accounts.Position, limit int, fn func(dsop.Transaction) error) error {
	number, ok := c.o.Refs.Open(ref)
	if !ok {
		return accounts.ErrAccountNotFound
	}
	q := url.Values{"from": {from.UTC().Format(time.RFC3339Nano)}, "until": {until.UTC().Format(time.RFC3339Nano)}, "limit": {strconv.Itoa(limit)}}
	if after != nil {
		q.Set("afterTime", after.Time.UTC().Format(time.RFC3339Nano))
		q.Set("afterId", after.ID)
	}
	body, err := c.get(ctx, "accounts/"+url.PathEscape(number)+"/transactions", q)
	if errors.Is(err, errNotFound) {
		return accounts.ErrAccountNotFound
	}
	if err != nil {
		return err
	}
	var page struct {
		Transactions []dsop.Transaction `json:"transactions"`
	}
	if err := decode(body, &page); err != nil {
		return err
	}
	if len(page.Transactions) > limit {
		return fault("garbage", fmt.Errorf("a page of %d transactions, asked for at most %d", len(page.Transactions), limit))
	}
	var prev *accounts.Position
	if after != nil {
		prev = &accounts.Position{Time: after.Time.UTC(), ID: after.ID}
	}
	for i, t := range page.Transactions {
		at, ok := accounts.EffectiveTime(t)
		switch {
		case !ok || t.TransactionIdentifier == "":
			return fault("garbage", fmt.Errorf("transaction %d of the page has no identifier or no effective time", i))
		case at.Before(from) || !at.Before(until):
			return fault("garbage", fmt.Errorf("transaction %d of the page is outside the period asked for", i))
		case prev != nil && !prev.Before(at, t.TransactionIdentifier):
			return fault("garbage", fmt.Errorf("transaction %d of the page is out of order (by effective time, then transactionIdentifier)", i))
		}
		prev = &accounts.Position{Time: at, ID: t.TransactionIdentifier}
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}
