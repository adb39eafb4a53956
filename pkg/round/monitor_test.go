package round_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// putMonitors stores ms as the API would, but without validating them:
// the round must cope with what an older or laxer writer stored.
func putMonitors(t *testing.T, st store.Store, ms ...monitor.Monitor) {
	t.Helper()
	for _, m := range ms {
		if _, err := st.PutMonitor(context.Background(), m); err != nil {
			t.Fatalf("put %q: %v", m.Host, err)
		}
	}
}

// lastCheck returns the host's newest merged check, as /api/checks and
// the web pages show it.
func lastCheck(t *testing.T, st store.Store, host string) store.Check {
	t.Helper()
	c, ok, err := st.LastCheck(context.Background(), host)
	if err != nil || !ok {
		t.Fatalf("last check of %s: %v, %v", host, ok, err)
	}
	return c
}

// tlsServer starts a loopback HTTPS server whose self-signed certificate,
// for the names given, expires at notAfter; it returns the server and the
// roots that trust its certificate.
func tlsServer(t *testing.T, notAfter time.Time, names ...string) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		DNSNames: names, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes the checks refuse
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return srv, roots
}

// localhostURL is srv's URL with localhost, the name its certificate
// holds, for 127.0.0.1.
func localhostURL(srv *httptest.Server) string {
	return "https://localhost:" + srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
}

// A round checks each monitor with its settings: method, headers,
// redirects, conditions. A failed condition is down with the condition's
// reason, which readers see as the check's error; a monitor whose stored
// settings do not compile stays visible, down with the reason. On every
// backend.
func TestRunChecksMonitorsWithSettings(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testRunChecksMonitorsWithSettings(t, b.open(t)) })
	}
}

func testRunChecksMonitorsWithSettings(t *testing.T, st store.Store) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"ok","items":[1,2]}`))
		case "/degraded":
			w.Write([]byte(`{"status":"degraded"}`))
		case "/post":
			if r.Method != http.MethodPost || r.Header.Get("X-Api-Key") != "secret" {
				w.WriteHeader(http.StatusForbidden)
			}
		case "/moved":
			http.Redirect(w, r, "/gone", http.StatusFound)
		case "/gone":
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	no := false
	json := []string{"[STATUS] == 200", "[BODY].status == ok", "[RESPONSE_TIME] < 2s"}
	closed, closed2 := proctest.ClosedAddr(t), proctest.ClosedAddr(t)
	ms := []struct {
		monitor.Monitor
		up      bool
		reason  string // the stored reason, exactly; "*" for any
		invalid bool
	}{
		{monitor.Monitor{Host: srv.URL + "/ok", Settings: monitor.Settings{Conditions: json}}, true, "", false},
		{monitor.Monitor{Host: srv.URL + "/ok?more", Settings: monitor.Settings{Conditions: []string{
			"len([BODY].items) == 2", "[HEADER].Content-Type == pat(*json*)", "[BODY] == re(\"ok\")"}}}, true, "", false},
		{monitor.Monitor{Host: srv.URL + "/degraded", Settings: monitor.Settings{Conditions: json}}, false,
			`condition [BODY].status == ok failed: "degraded"`, false},
		{monitor.Monitor{Host: srv.URL + "/post", Settings: monitor.Settings{Method: "post", Headers: map[string]string{"x-api-key": "secret"}}}, true, "", false},
		{monitor.Monitor{Host: srv.URL + "/post?no-key"}, false, "HTTP 403", false},
		{monitor.Monitor{Host: srv.URL + "/moved"}, false, "HTTP 404", false},
		{monitor.Monitor{Host: srv.URL + "/moved?stay", Settings: monitor.Settings{FollowRedirects: &no, Conditions: []string{"[STATUS] == 302"}}}, true, "", false},
		{monitor.Monitor{Host: closed, Settings: monitor.Settings{Conditions: []string{"[CONNECTED] == false"}}}, true, "", false},
		{monitor.Monitor{Host: closed2, Settings: monitor.Settings{Name: "db"}}, false, "*", false},
		// Stored by a laxer writer: settings no check of the kind uses.
		{monitor.Monitor{Host: "127.0.0.1:1", Settings: monitor.Settings{Conditions: []string{"[STATUS] == 200"}}}, false,
			"conditions[0]: [STATUS] does not apply to tcp monitors, which yield [CONNECTED], [RESPONSE_TIME], [IP]", true},
		{monitor.Monitor{Host: srv.URL + "/bad", Settings: monitor.Settings{Conditions: []string{"[STATUS] = 200"}}}, false,
			`conditions[0]: position 10: expected an operator (==, !=, <, <=, >, >=) after [STATUS], got "= 200"`, true},
		{monitor.Monitor{Host: "foo bar"}, false, "*", true},
	}
	wantUp, wantInvalid := 0, 0
	for _, m := range ms {
		putMonitors(t, st, m.Monitor)
		if m.up {
			wantUp++
		}
		if m.invalid {
			wantInvalid++
		}
	}
	sum, err := newRunner(t, st).Run(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Targets != len(ms) || sum.Up != wantUp || sum.Down != len(ms)-wantUp || sum.Invalid != wantInvalid || sum.Push != 0 {
		t.Errorf("summary %+v: want %d targets, %d up, %d invalid", sum, len(ms), wantUp, wantInvalid)
	}
	for _, m := range ms {
		rs := results(t, st, m.Host)
		if len(rs) != 1 || rs[0].Location != "test" || !rs[0].Slot.Equal(sum.Slot) {
			t.Errorf("%s: results %+v, want one of this round", m.Host, rs)
			continue
		}
		c := lastCheck(t, st, m.Host)
		wrongReason := c.Error != m.reason
		if m.reason == "*" {
			wrongReason = c.Error == ""
		}
		if c.Up != m.up || wrongReason {
			t.Errorf("%s: check up %v, error %q; want up %v, error %q", m.Host, c.Up, c.Error, m.up, m.reason)
		}
	}
}

// Every https:// and tls:// check records the expiry of the certificate
// it saw in the host's facts, up or down, and [CERTIFICATE_EXPIRATION]
// judges it. On every backend.
func TestRunRecordsCertificateExpiry(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testRunRecordsCertificateExpiry(t, b.open(t)) })
	}
}

func testRunRecordsCertificateExpiry(t *testing.T, st store.Store) {
	notAfter := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	srv, roots := tlsServer(t, notAfter, "localhost")
	other, _ := tlsServer(t, notAfter.Add(time.Hour), "localhost") // not trusted
	base := localhostURL(srv)
	hosts := map[string]bool{ // host: up
		base + "/":                        true,
		base + "/soon":                    false,
		"tls://" + base[len("https://"):]: true,
		localhostURL(other) + "/":         false, // unknown authority: the expiry is still recorded
		srv.URL + "/":                     false, // 127.0.0.1 is not in the certificate
	}
	putMonitors(t, st,
		monitor.Monitor{Host: base + "/", Settings: monitor.Settings{Conditions: []string{"[CERTIFICATE_EXPIRATION] > 48h"}}},
		monitor.Monitor{Host: base + "/soon", Settings: monitor.Settings{Conditions: []string{"[CERTIFICATE_EXPIRATION] > 30d"}}},
		monitor.Monitor{Host: "tls://" + base[len("https://"):], Settings: monitor.Settings{Conditions: []string{"[CERTIFICATE_EXPIRATION] > 7d"}}},
		monitor.Monitor{Host: localhostURL(other) + "/"},
		monitor.Monitor{Host: srv.URL + "/"},
	)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	addHosts(t, st, plain.URL)

	r := newRunner(t, st)
	p := probe.New(probe.Options{Timeout: 2 * time.Second, TLSConfig: &tls.Config{RootCAs: roots}})
	defer p.Close()
	r.Prober = p
	if _, err := r.Run(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	for h, up := range hosts {
		if c := lastCheck(t, st, h); c.Up != up {
			t.Errorf("%s: %+v, want up %v", h, c, up)
		}
	}
	if c := lastCheck(t, st, base+"/soon"); !strings.HasPrefix(c.Error, "condition [CERTIFICATE_EXPIRATION] > 30d failed: ") {
		t.Errorf("error %q", c.Error)
	}
	facts, err := st.Facts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, f := range facts {
		if !f.CertExpiry.IsZero() { // every host has facts: when it was added
			got[f.Host] = f.CertExpiry
		}
	}
	if len(got) != len(hosts) {
		t.Errorf("certificate expiries of %d hosts, want the %d TLS ones: %+v", len(got), len(hosts), facts)
	}
	for h := range hosts {
		want := notAfter
		if strings.HasPrefix(h, localhostURL(other)) {
			want = notAfter.Add(time.Hour)
		}
		if !got[h].Equal(want) {
			t.Errorf("%s: certificate expiry %v, want %v", h, got[h], want)
		}
	}
}
