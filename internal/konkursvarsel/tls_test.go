package konkursvarsel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dsop-bank/dsop-bank/internal/certpub/certpubtest"
)

// The real service authenticates the bank by its enterprise certificate (mutual TLS).
func TestClient_MutualTLSWithTheEnterpriseCertificate(t *testing.T) {
	ca, err := certpubtest.NewTestCA()
	require.NoError(t, err)
	cert, key, err := ca.Issue("910336819", time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), x509.KeyUsageDigitalSignature)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "bank.pem"), filepath.Join(dir, "bank.key"), filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600))

	srv := httptest.NewUnstartedServer(NewMock(nil).Handler())
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	hc, err := NewHTTPClient(certFile, keyFile, caFile, 5*time.Second)
	require.NoError(t, err)
	_, err = (&Client{BaseURL: srv.URL, HTTP: hc, Attempts: 1}).Updated(context.Background(), time.Time{})
	require.NoError(t, err)

	noCert, err := NewHTTPClient("", "", caFile, 5*time.Second)
	require.NoError(t, err)
	_, err = (&Client{BaseURL: srv.URL, HTTP: noCert, Attempts: 1}).Updated(context.Background(), time.Time{})
	require.Error(t, err, "without the certificate the service refuses the bank")
}
