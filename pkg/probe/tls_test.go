package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"
)

// testCA is a certificate authority of a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t testing.TB) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "srvmon probe test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert, key}
}

// issue makes a server certificate for name valid from notBefore to
// notAfter, signed by ca, or self-signed when ca is nil.
func issue(t testing.TB, ca *testCA, name string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{name},
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestTLSCertificates checks https:// and tls:// targets against servers
// with certificates valid, expiring soon, expired, for another name and
// self-signed: the reason, the certificate's expiry (read whether or not
// it verified) and [CERTIFICATE_EXPIRATION] conditions.
func TestTLSCertificates(t *testing.T) {
	const day = 24 * time.Hour
	now := time.Now().Truncate(time.Second)
	ca := newTestCA(t)
	certs := map[string]tls.Certificate{
		"valid":       issue(t, &ca, "monitor.test", now.Add(-day), now.Add(90*day)),
		"expiring":    issue(t, &ca, "monitor.test", now.Add(-day), now.Add(5*day)),
		"expired":     issue(t, &ca, "monitor.test", now.Add(-10*day), now.Add(-day)),
		"wrong name":  issue(t, &ca, "other.test", now.Add(-day), now.Add(90*day)),
		"self-signed": issue(t, nil, "monitor.test", now.Add(-day), now.Add(90*day)),
	}
	ports := map[string]string{}
	for name, c := range certs {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		s.TLS = &tls.Config{Certificates: []tls.Certificate{c}}
		s.Config.ErrorLog = log.New(testWriter{t}, "tls server: ", 0) // "bad certificate" is expected
		s.StartTLS()
		t.Cleanup(s.Close)
		u, _ := url.Parse(s.URL)
		ports[name] = u.Port()
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	zone := map[string][]netip.Addr{"monitor.test": {netip.MustParseAddr("127.0.0.1")}}
	p := newTestProber(t, Options{TLSConfig: &tls.Config{RootCAs: roots}}, zone)

	for _, tc := range []struct {
		name       string
		cert       string
		insecure   bool
		conds      []string
		up         bool
		reason     string
		failedCond string
	}{
		{name: "valid", cert: "valid", up: true},
		{name: "valid, 48h left wanted", cert: "valid", conds: []string{"[CERTIFICATE_EXPIRATION] > 48h"}, up: true},
		{name: "expiring, 48h left wanted", cert: "expiring", conds: []string{"[CERTIFICATE_EXPIRATION] > 48h"}, up: true},
		{name: "expiring, 7d left wanted", cert: "expiring", conds: []string{"[CERTIFICATE_EXPIRATION] > 7d"}, failedCond: "[CERTIFICATE_EXPIRATION] > 7d"},
		{name: "expiring, connected", cert: "expiring", conds: []string{"[CONNECTED] == true"}, up: true},
		{name: "expired", cert: "expired", reason: "x509: certificate has expired"},
		{name: "expired, with conditions", cert: "expired", conds: []string{"[CERTIFICATE_EXPIRATION] > 48h"}, reason: "x509: certificate has expired"},
		{name: "expired, insecure", cert: "expired", insecure: true, up: true},
		{name: "expired, insecure, 48h left wanted", cert: "expired", insecure: true, conds: []string{"[CERTIFICATE_EXPIRATION] > 48h"}, failedCond: "[CERTIFICATE_EXPIRATION] > 48h"},
		{name: "wrong name", cert: "wrong name", reason: "x509: certificate is valid for other.test, not monitor.test"},
		{name: "wrong name, insecure", cert: "wrong name", insecure: true, up: true},
		{name: "self-signed", cert: "self-signed", reason: "x509: certificate signed by unknown authority"},
		{name: "self-signed, insecure", cert: "self-signed", insecure: true, conds: []string{"[CERTIFICATE_EXPIRATION] > 7d"}, up: true},
	} {
		for _, scheme := range []string{"https", "tls"} {
			t.Run(scheme+"/"+tc.name, func(t *testing.T) {
				target := scheme + "://monitor.test:" + ports[tc.cert]
				if scheme == "https" {
					target += "/"
				}
				r := p.Check(context.Background(), withSettings(t, target, Settings{InsecureSkipVerify: tc.insecure}, tc.conds...))
				checkReason(t, r, tc.up, tc.reason, tc.failedCond)
				if want := certs[tc.cert].Leaf.NotAfter; !r.CertExpiry.Equal(want) {
					t.Errorf("CertExpiry %v, want %v", r.CertExpiry, want)
				}
				// Without settings: the same check, today's way.
				if len(tc.conds) == 0 && !tc.insecure {
					r := p.Check(context.Background(), mustParse(t, target))
					checkResult(t, r, tc.up, tc.reason)
					if want := certs[tc.cert].Leaf.NotAfter; !r.CertExpiry.Equal(want) {
						t.Errorf("without settings: CertExpiry %v, want %v", r.CertExpiry, want)
					}
				}
			})
		}
	}
}

// TestTLSNoCertificate: no handshake, no expiry: a closed port, a server
// that does not speak TLS, plain HTTP.
func TestTLSNoCertificate(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()
	u, _ := url.Parse(plain.URL)
	p := newTestProber(t, Options{Timeout: time.Second}, nil)
	for _, tc := range []struct {
		target string
		up     bool
	}{
		{"tls://" + u.Host, false},
		{"https://" + u.Host + "/", false},
		{plain.URL + "/", true},
	} {
		r := p.Check(context.Background(), mustParse(t, tc.target))
		if r.Up != tc.up || !r.CertExpiry.IsZero() {
			t.Errorf("%s: up=%v %q CertExpiry %v; want up=%v and no expiry", tc.target, r.Up, r.Reason, r.CertExpiry, tc.up)
		}
	}
}
