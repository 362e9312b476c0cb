// Package tlsfiles serves TLS from certificate files that the bank rotates: the server
// certificate and key, and optionally a client CA bundle that the gateway's certificate must chain
// to (mutual TLS). The files are read again when they change, without a restart.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Files names the PEM files.
type Files struct {
	Cert, Key string
	// ClientCA, when set, makes a client certificate chaining to it mandatory.
	ClientCA string
}

// Config returns a TLS configuration (TLS 1.2 and up, Go's modern defaults) that reloads the files
// when they change. It fails at once if they cannot be read now.
func (f Files) Config() (*tls.Config, error) {
	r := &reloader{files: f}
	if err := r.load(); err != nil {
		return nil, err
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, pool, err := r.current()
		if err != nil {
			return nil, err
		}
		c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
		if pool != nil {
			c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		return c, nil
	}
	return base, nil
}

type reloader struct {
	files Files

	mu      sync.Mutex
	stamp   string // modification times and sizes of the files loaded
	checked time.Time
	cert    *tls.Certificate
	pool    *x509.CertPool
}

// current returns the loaded certificate, reloading it when a file changed (checked at most once
// a second, so a handshake costs no more than a stat now and then). A file that cannot be read
// during a rotation keeps the previous certificate in use.
func (r *reloader) current() (*tls.Certificate, *x509.CertPool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= time.Second {
		r.checked = time.Now()
		if r.stampNow() != r.stamp {
			_ = r.loadLocked()
		}
	}
	if r.cert == nil {
		return nil, nil, errors.New("no server certificate loaded")
	}
	return r.cert, r.pool, nil
}

func (r *reloader) stampNow() string {
	s := ""
	for _, p := range []string{r.files.Cert, r.files.Key, r.files.ClientCA} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", p, fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return s
}

func (r *reloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked()
}

func (r *reloader) loadLocked() error {
	stamp := r.stampNow()
	cert, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", r.files.Cert, r.files.Key, err)
	}
	var pool *x509.CertPool
	if r.files.ClientCA != "" {
		b, err := os.ReadFile(r.files.ClientCA)
		if err != nil {
			return fmt.Errorf("TLS client CA: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("TLS client CA %s holds no PEM certificate", r.files.ClientCA)
		}
	}
	r.cert, r.pool, r.stamp = &cert, pool, stamp
	return nil
}
