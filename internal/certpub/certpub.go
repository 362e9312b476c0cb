// Package certpub finds the encryption certificate of a DSOP data consumer: from a PEM file, or
// from CertPub — the locator (BCL) says which publisher (BCP) holds the consumer's certificate for
// the DSOP process, and the publisher returns it (kontrollinformasjon-api.md §9.2). Certificates
// are checked before use (validity, the consumer's organisation number, key usage, and the chain
// to a configured CA bundle) and cached; while CertPub is down the cached certificate is used
// until it expires.
package certpub

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// ProcessID is the CertPub process identifier of DSOP.
const ProcessID = "bdx-procid-dsop::urn:fdc:bits.no:2018:dsop:account:1.0"

// Source gives the certificate to encrypt for a consumer ("0192:<organisation number>").
type Source interface {
	Certificate(ctx context.Context, consumerID string) (*x509.Certificate, error)
}

// Checker decides whether a certificate may be used for a consumer.
type Checker struct {
	Roots *x509.CertPool // optional CA bundle the certificate must chain to
	Now   func() time.Time
}

var oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// Check refuses a certificate that is expired, not yet valid, not issued to the consumer's
// organisation number, not usable for key encipherment, not RSA, or (with Roots) not chained to
// the CA bundle.
func (c Checker) Check(cert *x509.Certificate, consumerID string) error {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("certificate for %s is not valid before %s", consumerID, cert.NotBefore.Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("certificate for %s expired %s", consumerID, cert.NotAfter.Format(time.RFC3339))
	}
	org, _ := strings.CutPrefix(consumerID, "0192:")
	if !issuedTo(cert, org) {
		return fmt.Errorf("certificate %q is not issued to organisation number %s", cert.Subject.String(), org)
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return fmt.Errorf("certificate for %s has no RSA key (RSA-OAEP-256 needs one)", consumerID)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		return fmt.Errorf("certificate for %s does not allow key encipherment", consumerID)
	}
	if c.Roots != nil {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: c.Roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fmt.Errorf("certificate for %s is not issued by the configured CA: %w", consumerID, err)
		}
	}
	return nil
}

// issuedTo reads the organisation number from the subject the way Norwegian enterprise
// certificates carry it: serialNumber (Buypass, Commfides) or organizationIdentifier "NTRNO-…".
func issuedTo(cert *x509.Certificate, org string) bool {
	if org == "" {
		return false
	}
	if cert.Subject.SerialNumber == org {
		return true
	}
	for _, n := range cert.Subject.Names {
		if n.Type.Equal(oidOrganizationIdentifier) {
			if s, ok := n.Value.(string); ok && (s == org || s == "NTRNO-"+org) {
				return true
			}
		}
	}
	return false
}

// FileSource is one consumer certificate from a PEM file (DSOP_CONSUMER_CERT).
type FileSource struct {
	Cert    *x509.Certificate
	Checker Checker
}

// LoadFile reads a PEM certificate.
func LoadFile(path string, ch Checker) (*FileSource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("consumer certificate: %w", err)
	}
	cert, err := ParsePEM(b)
	if err != nil {
		return nil, fmt.Errorf("consumer certificate %s: %w", path, err)
	}
	return &FileSource{Cert: cert, Checker: ch}, nil
}

// ParsePEM reads the first certificate of a PEM document.
func ParsePEM(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no CERTIFICATE block")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

// Certificate implements Source.
func (f *FileSource) Certificate(_ context.Context, consumerID string) (*x509.Certificate, error) {
	if err := f.Checker.Check(f.Cert, consumerID); err != nil {
		return nil, err
	}
	return f.Cert, nil
}

// FileSources are several certificate files (test mode: one development certificate per
// enabled service's consumer): the first that is valid for the consumer is used.
type FileSources []*FileSource

// Certificate implements Source.
func (fs FileSources) Certificate(ctx context.Context, consumerID string) (*x509.Certificate, error) {
	var first error
	for _, f := range fs {
		c, err := f.Certificate(ctx, consumerID)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("%w %s", ErrNoCertificate, consumerID)
	}
	return nil, first
}

// Client looks certificates up in CertPub.
type Client struct {
	LocatorURL string // e.g. https://bcl.difi.blufo.net
	HTTP       *http.Client
}

// Fetch returns the consumer's DSOP certificate from its publisher: of the several a publisher
// may list during a rollover, the one with the latest expiry among those valid now.
func (c *Client) Fetch(ctx context.Context, consumerID string) (*x509.Certificate, error) {
	certs, err := c.FetchAll(ctx, consumerID)
	if err != nil {
		return nil, err
	}
	return Best(certs, Checker{}, consumerID)
}

// Best picks, of several certificates, the one with the latest expiry among those ch accepts
// for consumerID (issue #29: CertPub may publish several during a rollover).
func Best(certs []*x509.Certificate, ch Checker, consumerID string) (*x509.Certificate, error) {
	var best *x509.Certificate
	var firstErr error
	for _, c := range certs {
		if err := ch.Check(c, consumerID); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if best == nil || c.NotAfter.After(best.NotAfter) {
			best = c
		}
	}
	if best == nil {
		if firstErr == nil {
			firstErr = errors.New("no certificate")
		}
		return nil, firstErr
	}
	return best, nil
}

// FetchAll returns every certificate the consumer's publisher lists for the DSOP process.
func (c *Client) FetchAll(ctx context.Context, consumerID string) ([]*x509.Certificate, error) {
	participant := "iso6523-actorid-upis::" + consumerID
	var loc map[string]any
	if err := c.get(ctx, strings.TrimRight(c.LocatorURL, "/")+"/lookup/v2/"+participant, func(r io.Reader) error {
		return json.NewDecoder(r).Decode(&loc)
	}); err != nil {
		return nil, fmt.Errorf("CertPub locator: %w", err)
	}
	publisher, _ := loc["difi-bcp-v1"].(string)
	if publisher == "" {
		return nil, fmt.Errorf("CertPub locator has no publisher (difi-bcp-v1) for %s", consumerID)
	}
	var ders [][]byte
	if err := c.get(ctx, strings.TrimRight(publisher, "/")+"/api/v1/"+participant+"/"+ProcessID, func(r io.Reader) error {
		var err error
		ders, err = certificatesFromXML(r)
		return err
	}); err != nil {
		return nil, fmt.Errorf("CertPub publisher: %w", err)
	}
	var out []*x509.Certificate
	for _, der := range ders {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("CertPub publisher: %w", err)
		}
		out = append(out, cert)
	}
	return out, nil
}

func (c *Client) get(ctx context.Context, url string, read func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return read(io.LimitReader(resp.Body, 1<<20))
}

// certificatesFromXML finds the base64 DER of every Certificate element inside the DSOP Process
// element of a publisher answer (element names are matched without namespace).
func certificatesFromXML(r io.Reader) ([][]byte, error) {
	dec := xml.NewDecoder(r)
	var stack []string
	var process, ident string
	var found [][]byte
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("publisher XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			if t.Name.Local == "Process" {
				process, ident = "in", ""
			}
		case xml.EndElement:
			if t.Name.Local == "Process" {
				process = ""
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if process == "" || len(stack) == 0 {
				continue
			}
			switch stack[len(stack)-1] {
			case "ProcessIdentifier", "Identifier":
				ident += strings.TrimSpace(string(t))
			case "Certificate":
				if ident != "" && !strings.Contains(ProcessID, ident) && !strings.Contains(ident, "dsop") {
					continue // another process's certificate
				}
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(t)), ""))
				if err != nil {
					return nil, fmt.Errorf("publisher XML: certificate is not base64: %w", err)
				}
				found = append(found, der)
			}
		}
	}
	if found == nil {
		return nil, errors.New("publisher XML has no Certificate for the DSOP process")
	}
	return found, nil
}

// CachedSource serves certificates from CertPub through a cache (issue #29):
//   - a usable cached certificate is served at once, also past TTL: a stale one starts a refresh
//     in the background, and the request does not wait for it (CertPub hung past the TTL made every
//     request refetch: 15–17 s, and 429s);
//   - a request waits only when no usable certificate is cached, and all such requests for a
//     consumer share one fetch (single flight);
//   - after a failed fetch the next is tried only after a back-off (1 s doubling to 5 min);
//   - a certificate is never used past its own validity (Checker).
type CachedSource struct {
	Client  *Client
	Checker Checker
	TTL     time.Duration
	Logger  *slog.Logger
	Now     func() time.Time

	mu    sync.Mutex
	cache map[string]*cached
}

type cached struct {
	cert      *x509.Certificate
	fetchedAt time.Time
	inflight  chan struct{} // closed when the fetch under way ends
	lastErr   error
	failures  int
	nextTry   time.Time
}

// ErrNoCertificate means no usable certificate for the consumer is known (500 ACC-100).
var ErrNoCertificate = errors.New("no usable encryption certificate for the consumer")

func (s *CachedSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *CachedSource) entry(consumerID string) *cached {
	if s.cache == nil {
		s.cache = map[string]*cached{}
	}
	e, ok := s.cache[consumerID]
	if !ok {
		e = &cached{}
		s.cache[consumerID] = e
	}
	return e
}

// Certificate implements Source.
func (s *CachedSource) Certificate(ctx context.Context, consumerID string) (*x509.Certificate, error) {
	s.mu.Lock()
	e := s.entry(consumerID)
	usable := e.cert != nil && s.Checker.Check(e.cert, consumerID) == nil
	now := s.now()
	if usable && now.Sub(e.fetchedAt) < s.TTL {
		cert := e.cert
		s.mu.Unlock()
		return cert, nil
	}
	done := s.startLocked(consumerID, e, now)
	if usable {
		cert := e.cert
		s.mu.Unlock()
		return cert, nil // stale: served while it is fetched again
	}
	s.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w %s: %w", ErrNoCertificate, consumerID, ctx.Err())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.cert != nil && s.Checker.Check(e.cert, consumerID) == nil {
		return e.cert, nil
	}
	err := e.lastErr
	if err == nil {
		err = errors.New("not fetched yet")
	}
	return nil, fmt.Errorf("%w %s: %w", ErrNoCertificate, consumerID, err)
}

// startLocked starts a fetch for consumerID unless one runs or the back-off holds; it returns
// the channel of the fetch under way, if any. Under mu.
func (s *CachedSource) startLocked(consumerID string, e *cached, now time.Time) chan struct{} {
	if e.inflight != nil {
		return e.inflight
	}
	if now.Before(e.nextTry) {
		return nil
	}
	done := make(chan struct{})
	e.inflight = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := s.refresh(ctx, consumerID)
		s.mu.Lock()
		defer s.mu.Unlock()
		e.inflight = nil
		close(done)
		if err != nil {
			e.lastErr, e.failures = err, e.failures+1
			backoff := min(time.Second<<min(e.failures-1, 20), 5*time.Minute)
			e.nextTry = s.now().Add(backoff)
			s.logger().Warn("CertPub fetch failed; a usable cached certificate stays in use", "consumer", consumerID, "error", err.Error(),
				"retry_in", backoff.String(), "cached", e.cert != nil)
		}
	}()
	return done
}

// refresh fetches consumerID's certificates and keeps the best usable one.
func (s *CachedSource) refresh(ctx context.Context, consumerID string) (*x509.Certificate, error) {
	certs, err := s.Client.FetchAll(ctx, consumerID)
	if err != nil {
		return nil, err
	}
	cert, err := Best(certs, s.Checker, consumerID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	e := s.entry(consumerID)
	e.cert, e.fetchedAt, e.lastErr, e.failures, e.nextTry = cert, s.now(), nil, 0, time.Time{}
	s.mu.Unlock()
	return cert, nil
}

// Warm fetches the certificates of consumers before the first request needs them.
func (s *CachedSource) Warm(ctx context.Context, consumers []string) {
	for _, c := range consumers {
		if _, err := s.refresh(ctx, c); err != nil {
			s.logger().Warn("CertPub lookup failed", "consumer", c, "error", err.Error())
		}
	}
}

// Run refreshes every cached certificate at half its TTL until ctx ends.
func (s *CachedSource) Run(ctx context.Context, consumers []string) {
	s.Warm(ctx, consumers)
	t := time.NewTicker(max(s.TTL/2, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Warm(ctx, consumers)
		}
	}
}

// Age is how old the cached certificate of a consumer is (for metrics); ok is false if none.
func (s *CachedSource) Age(consumerID string) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cache[consumerID]
	if !ok || e.cert == nil {
		return 0, false
	}
	return s.now().Sub(e.fetchedAt), true
}

func (s *CachedSource) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s.Logger
}
