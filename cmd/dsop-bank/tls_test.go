package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert, key}
}

// issue writes a certificate and key signed by the CA; server certificates are for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, dir, name string, serial int64, server bool) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	require.NoError(t, os.WriteFile(certFile+".tmp", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile+".tmp", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600))
	require.NoError(t, os.Rename(keyFile+".tmp", keyFile))
	require.NoError(t, os.Rename(certFile+".tmp", certFile))
	return certFile, keyFile
}

// TLS on our own listeners: the API requires the gateway's client certificate when a client CA
// is set; the admin and console listeners serve TLS without one; a rotated server certificate is picked up
// without a restart.
func TestTLS_MutualTLSOnTheAPIAndCertificateReload(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.issue(t, dir, "server", 10, true)
	clientCert, clientKey := ca.issue(t, dir, "gateway", 20, false)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600))
	env := map[string]string{"DSOP_TLS_CERT": certFile, "DSOP_TLS_KEY": keyFile, "DSOP_TLS_CLIENT_CA": caFile, "DSOP_CONSOLE_ADDR": freeAddr(t)}
	env["DSOP_CONSOLE_URL"] = "https://" + env["DSOP_CONSOLE_ADDR"]
	addr := serveTest(t, env)

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	require.NoError(t, err)
	client := func(withCert bool) *http.Client {
		c := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if withCert {
			c.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: c, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	}
	var tok bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"dev-token"}, func(k string) string { return env[k] }, &tok, io.Discard))
	get := func(c *http.Client, url string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
		req.Header.Set("AccountInfoRequestID", "d4a820ca-ddde-11ed-b5ea-0242ac120002")
		req.Header.Set("CorrelationID", "14fbc062-aacb-4449-93c1-85c352d387a4")
		req.Header.Set("Legal-Mandate", "kkl.%20%C2%A7156%20(3)%20og%20(4)%2C%20jf.%20kkfor.%C2%A721")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("PartyID", "910336819")
		return c.Do(req)
	}
	api := "https://" + addr + "/v2/accounts?OnlyPrimaryOwner=true&fromDate=2017-06-08&toDate=" + time.Now().In(mustOslo(t)).Format(time.DateOnly)
	resp, err := get(client(true), api)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.EqualValues(t, 10, resp.TLS.PeerCertificates[0].SerialNumber.Int64())
	_, err = get(client(false), api)
	require.Error(t, err, "no client certificate: the handshake is refused")

	resp, err = client(false).Get("https://" + env["DSOP_ADMIN_ADDR"] + "/livez")
	require.NoError(t, err, "the admin listener needs no client certificate")
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	noFollow := client(false)
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = noFollow.Get("https://" + env["DSOP_CONSOLE_ADDR"] + "/")
	require.NoError(t, err, "the console serves TLS, without a client certificate")
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 500)
	resp, err = http.Get("http://" + env["DSOP_CONSOLE_ADDR"] + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "no plain HTTP on the console when TLS is set (Go's TLS server answers 400)")

	ca.issue(t, dir, "server", 11, true) // the bank rotates the certificate
	require.Eventually(t, func() bool {
		resp, err := get(client(true), api)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64() == 11
	}, 10*time.Second, 200*time.Millisecond, "the new certificate is served without a restart")
}
