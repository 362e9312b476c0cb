package konkursvarsel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Client reads BRREG's Konkursvarsel API (konkursvarsel.md §2): the list of notices registered
// after a point in time, following HAL next links, and a notice's detail data set. Server errors
// and network failures are retried with exponential backoff and jitter; 4xx answers are not.
type Client struct {
	BaseURL  string
	HTTP     *http.Client
	Attempts int           // per request, default 4
	Backoff  time.Duration // first wait, doubled each time, default 500 ms
	// Bearer, when set, authenticates each request with a Maskinporten access token
	// (DSOP_KONKURSVARSEL_AUTH=maskinporten) instead of the TLS client certificate.
	Bearer Bearer
}

// Bearer hands out access tokens (maskinporten.Source).
type Bearer interface {
	Token(ctx context.Context) (string, error)
	// Forget drops a token the service refused, so that the next request gets a new one.
	Forget()
}

// NewHTTPClient returns an HTTP client for the service: timeouts and, when certFile is set, the
// bank's enterprise certificate for mutual TLS (and caFile as the trusted roots).
func NewHTTPClient(certFile, keyFile, caFile string, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("konkursvarsel client certificate: %w", err)
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("konkursvarsel CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("konkursvarsel CA %s: no certificates", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// TimeFormat is how registreringstidspunkt goes into the path: UTC with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Updated returns the raw list items registered after since (all of them when since is zero),
// across every page.
func (c *Client) Updated(ctx context.Context, since time.Time) ([]json.RawMessage, error) {
	u := strings.TrimRight(c.BaseURL, "/") + "/konkursvarsler"
	if !since.IsZero() {
		u += "/oppdatert/" + url.PathEscape(since.UTC().Format(TimeFormat))
	}
	var all []json.RawMessage
	// A next link to a page already read is a loop (issue #29: a page whose next link was itself
	// made 47 679 requests in 10 s): the sync stops with an error, and the cursor stays.
	seen := map[string]bool{}
	for page := 0; u != ""; page++ {
		if page > 10000 {
			return nil, errors.New("konkursvarsel: too many pages")
		}
		if seen[u] {
			return nil, fmt.Errorf("konkursvarsel: the next link loops back to %s, a page already read; the sync stops and its cursor stays", u)
		}
		seen[u] = true
		b, err := c.get(ctx, u)
		if err != nil {
			return nil, err
		}
		items, next, err := parsePage(b)
		if err != nil {
			return nil, fmt.Errorf("konkursvarsel %s: %w", u, err)
		}
		all = append(all, items...)
		u = ""
		if next != "" {
			ref, err := url.Parse(next)
			if err != nil {
				return nil, fmt.Errorf("konkursvarsel next link: %w", err)
			}
			base, _ := url.Parse(c.BaseURL)
			u = base.ResolveReference(ref).String()
		}
	}
	return all, nil
}

// Detail returns a notice's detail data set.
func (c *Client) Detail(ctx context.Context, n Notice) (json.RawMessage, error) {
	u := n.SelfHref
	if u == "" {
		u = strings.TrimRight(c.BaseURL, "/") + "/konkursvarsler/" + url.PathEscape(n.UUID)
	}
	return c.get(ctx, u)
}

func parsePage(b []byte) (items []json.RawMessage, next string, err error) {
	var doc struct {
		Embedded struct {
			Konkursvarsler []json.RawMessage `json:"konkursvarsler"`
		} `json:"_embedded"`
		Links struct {
			Next struct {
				Href string `json:"href"`
			} `json:"next"`
		} `json:"_links"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, "", err
	}
	return doc.Embedded.Konkursvarsler, doc.Links.Next.Href, nil
}

type statusError struct{ code int }

func (e statusError) Error() string { return fmt.Sprintf("HTTP %d", e.code) }

func (c *Client) get(ctx context.Context, u string) ([]byte, error) {
	attempts, wait := c.Attempts, c.Backoff
	if attempts <= 0 {
		attempts = 4
	}
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	var last error
	refreshed := false
	for i := range attempts {
		if i > 0 {
			// Full jitter: spread retries of many banks, never hammer a failing service.
			d := wait/2 + rand.N(wait/2+1)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(d):
			}
			wait *= 2
		}
		b, err := c.once(ctx, u)
		if err == nil {
			return b, nil
		}
		last = err
		var se statusError
		if errors.As(err, &se) && se.code == http.StatusUnauthorized && c.Bearer != nil && !refreshed {
			// A token revoked or expired early: one more try with a new one.
			c.Bearer.Forget()
			refreshed = true
			continue
		}
		if errors.As(err, &se) && se.code < 500 && se.code != http.StatusTooManyRequests {
			break // the request itself is wrong: retrying cannot help
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("konkursvarsel GET %s: %w", u, last)
}

func (c *Client) once(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if c.Bearer != nil {
		tok, err := c.Bearer.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("konkursvarsel access token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError{resp.StatusCode}
	}
	return b, nil
}

// AssociatedUnits reads the organisation numbers of the units tied to a personal bankruptcy
// (ENK, TVAM) from a detail data set. The detail schema is not published (sources.md §3 item 3):
// every string field named organisasjonsnummer (any case), at any depth, that is a valid
// organisation number other than the debitor counts.
func AssociatedUnits(detail json.RawMessage, debitor string) []string {
	var v any
	if json.Unmarshal(detail, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && strings.EqualFold(k, "organisasjonsnummer") && s != debitor && isOrgNo(s) && !slices.Contains(out, s) {
					out = append(out, s)
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return out
}
