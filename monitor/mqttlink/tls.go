package mqttlink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsConfig builds the client's TLS settings from the PEM files, so that a
// wrong path or a file of the wrong kind is reported by New, naming the file,
// rather than as a handshake failure minutes later.
func tlsConfig(c Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		if _, err := os.Stat(c.CertFile); err != nil {
			return nil, fmt.Errorf("cert_file: %w", err)
		}
		if _, err := os.Stat(c.KeyFile); err != nil {
			return nil, fmt.Errorf("key_file: %w", err)
		}
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file %s with key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// explainTLS turns a handshake error into a sentence that says what to fix.
// It returns nil when err is not a TLS problem it knows.
func explainTLS(c Config, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		alert     tls.AlertError
	)
	switch {
	case errors.As(err, &unknownCA):
		if c.CAFile == "" {
			return fmt.Errorf("TLS: the broker's certificate is not signed by a CA this system trusts; set ca_file: %w", err)
		}
		return fmt.Errorf("TLS: the broker's certificate is not signed by the CA in ca_file %s: %w", c.CAFile, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("TLS: the broker's certificate does not name the host in broker %s: %w", c.Broker, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("TLS: the broker's certificate is not valid now (expired, or this clock is wrong: a Pi has no RTC): %w", err)
	case errors.As(err, &header):
		return fmt.Errorf("TLS: the broker did not answer with TLS (is %s a plain tcp:// port?): %w", c.Broker, err)
	case errors.As(err, &alert):
		return fmt.Errorf("TLS: the broker refused the handshake (client certificate from cert_file %q?): %w", c.CertFile, err)
	}
	return nil
}
