package devissuer

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// ConsumerCertificate returns the paths of a development stand-in for the data consumer's
// enterprise certificate (organisation number org in serialNumber, usable for key encipherment)
// and its private key, creating them in dir on first use. The embedded default encrypts test
// responses with it, and `dsop-bank decrypt --key <key>` opens them.
func ConsumerCertificate(dir, org string) (certPath, keyPath string, err error) {
	certPath = filepath.Join(dir, "dev-consumer-cert.pem")
	keyPath = filepath.Join(dir, "dev-consumer-key.pem")
	if _, err := os.Stat(certPath); err == nil {
		return certPath, keyPath, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	der, err := devCertificate(key, org)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return "", "", err
	}
	tmp := certPath + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return certPath, keyPath, os.Rename(tmp, certPath)
}

// ConsumerCertificateFor is ConsumerCertificate for another consumer organisation of the same
// development key (a second DSOP service's consumer in test mode): dev-consumer-cert-<org>.pem,
// made once with the key of dev-consumer-key.pem, so that one development key decrypts the
// answers to every enabled service.
func ConsumerCertificateFor(dir, org string) (string, error) {
	certPath := filepath.Join(dir, "dev-consumer-cert-"+org+".pem")
	if _, err := os.Stat(certPath); err == nil {
		return certPath, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, "dev-consumer-key.pem"))
	if err != nil {
		return "", fmt.Errorf("development consumer key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return "", errors.New("development consumer key: no PEM block")
	}
	key, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return "", fmt.Errorf("development consumer key: %w", err)
	}
	der, err := devCertificate(key, org)
	if err != nil {
		return "", err
	}
	tmp := certPath + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", err
	}
	return certPath, os.Rename(tmp, certPath)
}

// devCertificate is a self-signed stand-in for a consumer's enterprise certificate: the
// organisation number in serialNumber, usable for key encipherment, valid two years.
func devCertificate(key *rsa.PrivateKey, org string) ([]byte, error) {
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Development consumer " + org, Organization: []string{"dsop-bank development"}, SerialNumber: org, Country: []string{"NO"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("development consumer certificate: %w", err)
	}
	return der, nil
}
