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

// Client looks certificates up in CertPub.
type Client struct {
	LocatorURL string // e.g. https://bcl.difi.blufo.net
	HTTP       *http.Client
}

// Fetch returns the consumer's DSOP certificate from its publisher.
func (c *Client) Fetch(ctx context.Context, consumerID string) (*x509.Certificate, error) {
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
	var der []byte
	if err := c.get(ctx, strings.TrimRight(publisher, "/")+"/api/v1/"+participant+"/"+ProcessID, func(r io.Reader) error {
		var err error
		der, err = certificateFromXML(r)
		return err
	}); err != nil {
		return nil, fmt.Errorf("CertPub publisher: %w", err)
	}
	return x509.ParseCertificate(der)
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

// certificateFromXML finds the base64 DER of the Certificate element inside the DSOP Process
// element of a publisher answer (element names are matched without namespace).
func certificateFromXML(r io.Reader) ([]byte, error) {
	dec := xml.NewDecoder(r)
	var stack []string
	var process, ident string
	var found []byte
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
				found = der
			}
		}
	}
	if found == nil {
		return nil, errors.New("publisher XML has no Certificate for the DSOP process")
	}
	return found, nil
}

// CachedSource serves certificates from CertPub through a cache: fresh for TTL, then fetched
// again; if CertPub cannot be reached, a cached certificate is used until it expires. Refresh runs
// in the background (Run) so that requests rarely wait for CertPub.
type CachedSource struct {
	Client  *Client
	Checker Checker
	TTL     time.Duration
	Logger  *slog.Logger
	Now     func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	cert      *x509.Certificate
	fetchedAt time.Time
}

// ErrNoCertificate means no usable certificate for the consumer is known (500 ACC-100).
var ErrNoCertificate = errors.New("no usable encryption certificate for the consumer")

func (s *CachedSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Certificate implements Source.
func (s *CachedSource) Certificate(ctx context.Context, consumerID string) (*x509.Certificate, error) {
	s.mu.Lock()
	entry, ok := s.cache[consumerID]
	s.mu.Unlock()
	if ok && s.now().Sub(entry.fetchedAt) < s.TTL {
		if err := s.Checker.Check(entry.cert, consumerID); err == nil {
			return entry.cert, nil
		}
	}
	cert, err := s.refresh(ctx, consumerID)
	if err == nil {
		return cert, nil
	}
	if ok && s.Checker.Check(entry.cert, consumerID) == nil {
		s.logger().Warn("CertPub unavailable; using the cached certificate", "consumer", consumerID, "error", err.Error(), "cached_at", entry.fetchedAt)
		return entry.cert, nil
	}
	return nil, fmt.Errorf("%w %s: %w", ErrNoCertificate, consumerID, err)
}

func (s *CachedSource) refresh(ctx context.Context, consumerID string) (*x509.Certificate, error) {
	cert, err := s.Client.Fetch(ctx, consumerID)
	if err != nil {
		return nil, err
	}
	if err := s.Checker.Check(cert, consumerID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]cached{}
	}
	s.cache[consumerID] = cached{cert: cert, fetchedAt: s.now()}
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
	return s.now().Sub(e.fetchedAt), ok
}

func (s *CachedSource) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s.Logger
}
