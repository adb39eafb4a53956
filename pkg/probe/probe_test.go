package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// newTestProber returns a Prober whose lookups go only to a loopback DNS
// stub (testResolver with zone) unless opts has a Resolver.
func newTestProber(t testing.TB, opts Options, zone map[string][]netip.Addr) *Prober {
	t.Helper()
	if opts.Resolver == nil {
		opts.Resolver = testResolver(t, zone)
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	p := New(opts)
	t.Cleanup(p.Close)
	return p
}

func mustParse(t testing.TB, s string) Target {
	t.Helper()
	tg, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// checkResult fails unless r is up, or down with reason want.
func checkResult(t testing.TB, r Result, up bool, want string) {
	t.Helper()
	if r.Up != up || r.Reason != want {
		t.Errorf("%s: up=%v reason=%q rtt=%v; want up=%v reason=%q", r.Target, r.Up, r.Reason, r.RTT, up, want)
	}
	if r.RTT <= 0 {
		t.Errorf("%s: rtt %v, want > 0", r.Target, r.RTT)
	}
}

// blockingHandler blocks every request until the test ends (or the client
// goes away) and reports each arrival on arrived.
func blockingHandler(t testing.TB, arrived chan<- struct{}) http.HandlerFunc {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return func(w http.ResponseWriter, r *http.Request) {
		if arrived != nil {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func TestHTTP(t *testing.T) {
	var (
		mu      sync.Mutex
		methods []string
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/200", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("/301", http.RedirectHandler("/200", http.StatusMovedPermanently))
	mux.Handle("/302-500", http.RedirectHandler("/500", http.StatusFound))
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) })
	mux.Handle("/loop", http.RedirectHandler("/loop", http.StatusFound))
	mux.HandleFunc("/404", http.NotFound)
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	mux.HandleFunc("/slow", blockingHandler(t, nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	p := newTestProber(t, Options{Timeout: 300 * time.Millisecond}, nil)
	for _, tc := range []struct {
		path   string
		up     bool
		reason string
	}{
		{"/200", true, ""},
		{"/204", true, ""},
		{"/301", true, ""},
		{"/304", true, ""},
		{"/404", false, "HTTP 404"},
		{"/500", false, "HTTP 500"},
		{"/302-500", false, "HTTP 500"},
		{"/loop", false, "stopped after 10 redirects"},
		{"/slow", false, "timeout after 300ms"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := p.Check(context.Background(), mustParse(t, srv.URL+tc.path))
			checkResult(t, r, tc.up, tc.reason)
			if tc.path == "/slow" && r.RTT < 300*time.Millisecond {
				t.Errorf("timed out after %v, before the 300ms timeout", r.RTT)
			}
		})
	}
	if len(methods) != 2 || methods[0] != "GET" || methods[1] != "GET" {
		t.Errorf("methods seen by /200: %v, want GET twice (direct and after the 301)", methods)
	}
}

func TestHTTPHead(t *testing.T) {
	var method string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { method = r.Method }))
	defer srv.Close()
	p := newTestProber(t, Options{HTTPMethod: "head"}, nil)
	checkResult(t, p.Check(context.Background(), mustParse(t, srv.URL+"/")), true, "")
	if method != http.MethodHead {
		t.Errorf("server saw %q, want HEAD", method)
	}
}

// TestHTTPTargetURL: an HTTP probe requests the Target's URL, also when
// the Target was built by hand rather than by Parse.
func TestHTTPTargetURL(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI())
		mu.Unlock()
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL + "/by/hand?q=1")
	if err != nil {
		t.Fatal(err)
	}
	p := newTestProber(t, Options{}, nil)
	checkResult(t, p.Check(context.Background(), Target{Kind: KindHTTP, Host: u.Hostname(), URL: u}), true, "")
	checkResult(t, p.Check(context.Background(), mustParse(t, srv.URL+"/parsed#frag")), true, "")
	if want := []string{"/by/hand?q=1", "/parsed"}; !slices.Equal(seen, want) {
		t.Errorf("server saw %q, want %q", seen, want)
	}
	if u.String() != srv.URL+"/by/hand?q=1" {
		t.Errorf("the probe changed the target's URL to %s", u)
	}
}

func TestHTTPFreshConnectionEachCheck(t *testing.T) {
	var (
		mu    sync.Mutex
		conns = map[string]bool{}
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
	}))
	srv.Start()
	defer srv.Close()
	p := newTestProber(t, Options{}, nil)
	for range 3 {
		checkResult(t, p.Check(context.Background(), mustParse(t, srv.URL+"/")), true, "")
	}
	if len(conns) != 3 {
		t.Errorf("3 checks came over %d connections, want 3 (keep-alives off)", len(conns))
	}
}

func TestHTTPS(t *testing.T) {
	now := time.Now()
	good, goodCert := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	expired, expiredCert := selfSigned(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	notYet, notYetCert := selfSigned(t, now.Add(24*time.Hour), now.Add(48*time.Hour))
	start := func(c tls.Certificate) *httptest.Server {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		s.TLS = &tls.Config{Certificates: []tls.Certificate{c}}
		s.Config.ErrorLog = log.New(testWriter{t}, "tls server: ", 0) // "bad certificate" is expected
		s.StartTLS()
		t.Cleanup(s.Close)
		return s
	}
	goodSrv, expiredSrv, notYetSrv := start(good), start(expired), start(notYet)
	roots := x509.NewCertPool()
	for _, c := range []*x509.Certificate{goodCert, expiredCert, notYetCert} {
		roots.AddCert(c)
	}
	zone := map[string][]netip.Addr{"other.srvmon.test": {netip.MustParseAddr("127.0.0.1")}}
	trusting := newTestProber(t, Options{TLSConfig: &tls.Config{RootCAs: roots}}, zone)
	system := newTestProber(t, Options{}, zone)
	insecure := &tls.Config{InsecureSkipVerify: true}
	skipVerify := newTestProber(t, Options{TLSConfig: insecure}, zone)
	if !insecure.InsecureSkipVerify {
		t.Error("New changed the caller's tls.Config")
	}
	otherName := func(s *httptest.Server) string {
		u, _ := url.Parse(s.URL)
		return "https://other.srvmon.test:" + u.Port() + "/"
	}

	for _, tc := range []struct {
		name   string
		p      *Prober
		target string
		up     bool
		reason string
	}{
		{"trusted self-signed", trusting, goodSrv.URL + "/", true, ""},
		{"untrusted", system, goodSrv.URL + "/", false, "x509: certificate signed by unknown authority"},
		{"untrusted, InsecureSkipVerify ignored", skipVerify, goodSrv.URL + "/", false, "x509: certificate signed by unknown authority"},
		{"expired, InsecureSkipVerify ignored", skipVerify, expiredSrv.URL + "/", false, "x509: certificate has expired"},
		{"expired", trusting, expiredSrv.URL + "/", false, "x509: certificate has expired"},
		{"not yet valid", trusting, notYetSrv.URL + "/", false, "x509: certificate is not yet valid"},
		{"wrong name", trusting, otherName(goodSrv), false, "x509: certificate is valid for localhost, not other.srvmon.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, tc.p.Check(context.Background(), mustParse(t, tc.target)), tc.up, tc.reason)
		})
	}
}

func TestTCP(t *testing.T) {
	open, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		c, err := open.Accept()
		if err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	p := newTestProber(t, Options{}, nil)
	checkResult(t, p.Check(context.Background(), mustParse(t, open.Addr().String())), true, "")
	<-accepted
	checkResult(t, p.Check(context.Background(), mustParse(t, closedAddr)), false, "connection refused")
}

func TestTCPIPv6(t *testing.T) {
	requireIPv6Loopback(t)
	ln := acceptingListener(t, "tcp6", "[::1]:0")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	var err error
	srv.Listener.Close()
	if srv.Listener, err = net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer srv.Close()

	p := newTestProber(t, Options{}, nil)
	port := ln.Addr().(*net.TCPAddr).Port
	checkResult(t, p.Check(context.Background(), mustParse(t, fmt.Sprintf("[::1]:%d", port))), true, "")
	if !strings.HasPrefix(srv.URL, "http://[::1]:") {
		t.Fatalf("server URL %s", srv.URL)
	}
	checkResult(t, p.Check(context.Background(), mustParse(t, srv.URL+"/")), true, "")
}

func TestNoSuchHost(t *testing.T) {
	p := newTestProber(t, Options{}, nil)
	for _, s := range []string{"nosuch.invalid:80", "http://nosuch.invalid/", "https://nosuch.invalid:8443/x"} {
		checkResult(t, p.Check(context.Background(), mustParse(t, s)), false, ReasonNoSuchHost)
	}
}

func TestCheckHangingProbe(t *testing.T) {
	p := newTestProber(t, Options{Timeout: 100 * time.Millisecond}, nil)
	release := make(chan struct{})
	defer close(release)
	p.probes[KindTCP] = func(context.Context, Target) outcome {
		<-release // ignores its context
		return outcome{rtt: time.Millisecond}
	}
	p.honoursContext[KindTCP] = false
	r := p.Check(context.Background(), mustParse(t, "127.0.0.1:9"))
	checkResult(t, r, false, "timeout after 100ms")
	if r.RTT < 100*time.Millisecond {
		t.Errorf("rtt %v, want the timeout at least", r.RTT)
	}
}

func TestCheckPanickingProbe(t *testing.T) {
	p := newTestProber(t, Options{}, nil)
	p.probes[KindHTTP] = func(context.Context, Target) outcome { panic("boom") }
	r := p.Check(context.Background(), mustParse(t, "http://127.0.0.1:9/"))
	checkResult(t, r, false, "internal error: probe panicked: boom")
}

// TestCheckICMPSlotWait: a single ICMP check waits for a slot no longer
// than its own Timeout (or its context) when every slot is taken, as by a
// round of silent pings.
func TestCheckICMPSlotWait(t *testing.T) {
	p := newTestProber(t, Options{Timeout: 200 * time.Millisecond, ICMPConcurrency: 2}, nil)
	var probed atomic.Int32
	p.probes[KindICMP] = func(context.Context, Target) outcome {
		probed.Add(1)
		return outcome{rtt: time.Microsecond}
	}
	tg := mustParse(t, "127.0.0.1")
	checkResult(t, p.Check(context.Background(), tg), true, "")
	for range cap(p.icmpSlots) {
		p.icmpSlots <- struct{}{} // what a round holding every slot does
	}
	r := p.Check(context.Background(), tg)
	checkResult(t, r, false, "timeout after 200ms waiting for one of the 2 ICMP slots")
	if r.RTT < 200*time.Millisecond {
		t.Errorf("gave up after %v, before the 200ms timeout", r.RTT)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	r = p.Check(ctx, tg)
	checkResult(t, r, false, ReasonCancelled)
	if probed.Load() != 1 {
		t.Errorf("probed %d times, want once (only while a slot was free)", probed.Load())
	}
	<-p.icmpSlots
	checkResult(t, p.Check(context.Background(), tg), true, "")
}

func TestCheckCancelled(t *testing.T) {
	p := newTestProber(t, Options{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, s := range []string{"127.0.0.1:9", "http://127.0.0.1:9/", "127.0.0.1"} {
		r := p.Check(ctx, mustParse(t, s))
		if r.Up || r.Reason != ReasonCancelled {
			t.Errorf("%s with a cancelled context: %+v", s, r)
		}
	}
}

func TestCheckInvalidTarget(t *testing.T) {
	p := newTestProber(t, Options{}, nil)
	for _, tg := range []Target{{}, {Kind: KindHTTP, Host: "x"}, {Kind: 9, Host: "x"}, {Kind: KindPush}, {Kind: KindDNS, Host: "127.0.0.1", Port: 53}} {
		r := p.Check(context.Background(), tg)
		if r.Up || !strings.HasPrefix(r.Reason, "invalid target") {
			t.Errorf("Check(%+v) = %+v", tg, r)
		}
	}
}

func TestReason(t *testing.T) {
	cert := &x509.Certificate{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}
	for _, tc := range []struct {
		err, parent error
		want        string
	}{
		{context.DeadlineExceeded, nil, "timeout after 10s"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), nil, "timeout after 10s"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}, nil, "timeout after 10s"},
		{context.Canceled, nil, "cancelled"},
		{errors.New("anything"), context.Canceled, "cancelled"},
		{statusError(503), nil, "HTTP 503"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}}, nil, "no such host"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: &netSyscallError{syscall.ECONNREFUSED}}, nil, "connection refused"},
		{&url.Error{Op: "Get", URL: "https://x/", Err: &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired}}}, nil, "x509: certificate has expired"},
		{&url.Error{Op: "Get", URL: "https://x/", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, nil, "x509: certificate signed by unknown authority"},
		{&url.Error{Op: "Get", URL: "http://x/", Err: &net.OpError{Op: "read", Net: "tcp", Err: errors.New("weird")}}, nil, "weird"},
		{fmt.Errorf("%w: do this", ErrICMPNotPermitted), nil, "ICMP is not permitted: do this"},
		{fmt.Errorf("%w (raw socket: %w): do this", ErrICMPNotPermitted, syscall.EPERM), nil, "ICMP is not permitted (raw socket: operation not permitted): do this"},
	} {
		if got := reason(tc.err, tc.parent, 10*time.Second); got != tc.want {
			t.Errorf("reason(%v, %v) = %q, want %q", tc.err, tc.parent, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// netSyscallError wraps an errno as os.SyscallError does.
type netSyscallError struct{ errno syscall.Errno }

func (e *netSyscallError) Error() string { return "connect: " + e.errno.Error() }
func (e *netSyscallError) Unwrap() error { return e.errno }

func TestOptions(t *testing.T) {
	got := New(Options{}).Options()
	if got.Timeout != DefaultTimeout || got.PingCount != DefaultPingCount || got.HTTPMethod != "GET" ||
		got.Concurrency < 1 || got.ICMPConcurrency < 1 || got.Resolver == nil || got.Logger == nil {
		t.Errorf("defaults: %+v", got)
	}
	for _, tc := range []struct {
		o  Options
		ok bool
	}{
		{Options{}, true},
		{Options{HTTPMethod: "head", Timeout: time.Second, PingCount: 1}, true},
		{Options{HTTPMethod: "POST"}, false},
		{Options{Timeout: -1}, false},
		{Options{PingCount: -1}, false},
		{Options{Concurrency: -1}, false},
		{Options{ICMPConcurrency: -1}, false},
	} {
		if err := tc.o.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v", tc.o, err)
		}
	}
}

func TestConcurrencyFitsOpenFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < 1024 {
		t.Fatalf("open-file limit %d is below 1024", lim.Cur)
	}
	low := lim
	low.Cur = 1024
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	o := New(Options{Logger: testLogger(t)}).Options()
	if o.Concurrency+o.ICMPConcurrency > 1024-reservedFiles || o.Concurrency < 1 || o.ICMPConcurrency < 1 {
		t.Errorf("with 1024 open files: concurrency %d + ICMP %d", o.Concurrency, o.ICMPConcurrency)
	}
}
