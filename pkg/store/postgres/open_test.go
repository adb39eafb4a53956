package postgres_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// hangBound is how long a call may take before the test calls it hung:
// far above the timeouts under test, so that a loaded machine never
// fails the test, and far below forever.
const hangBound = 20 * time.Second

// closedPort returns a loopback port on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return port
}

// silentServer listens on loopback, accepts connections and never says a
// word, like a server that is stuck or a firewall that swallows packets
// after the handshake. It returns the port.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestOpenUnreachable opens servers that cannot be reached: each must give
// an error naming the server, after about the connect timeout, never hang.
func TestOpenUnreachable(t *testing.T) {
	pgtest.ClearLibpqEnv(t)
	const timeout = 300 * time.Millisecond
	closed, silent := closedPort(t), silentServer(t)
	for _, tc := range []struct {
		name     string
		cfg      postgres.Config
		port     string
		wantText string
	}{
		{"ClosedPortURL", postgres.Config{URL: "postgres://srvmon@127.0.0.1:" + closed + "/srvmon?sslmode=disable", ConnectTimeout: timeout}, closed, "refused"},
		{"ClosedPortFields", postgres.Config{Host: "127.0.0.1", Port: closed, User: "srvmon", Password: "secret", Database: "srvmon", ConnectTimeout: timeout}, closed, "refused"},
		{"SilentURL", postgres.Config{URL: "postgres://srvmon@127.0.0.1:" + silent + "/srvmon?sslmode=disable", ConnectTimeout: timeout}, silent, "timed out"},
		// sslmode=prefer: the client waits for the answer to its TLS request.
		{"SilentFields", postgres.Config{Host: "127.0.0.1", Port: silent, User: "srvmon", Password: "secret", Database: "srvmon", ConnectTimeout: timeout}, silent, "timed out"},
		// The URL's own connect_timeout, when Config has none.
		{"SilentURLConnectTimeout", postgres.Config{URL: "postgres://srvmon@127.0.0.1:" + silent + "/srvmon?sslmode=disable&connect_timeout=1"}, silent, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := postgres.Open(t.Context(), tc.cfg)
			elapsed := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			t.Logf("after %v: %v", elapsed, err)
			if elapsed > hangBound {
				t.Errorf("Open took %v with a connect timeout of %v", elapsed, timeout)
			}
			msg := err.Error()
			if !strings.Contains(msg, "127.0.0.1:"+tc.port) || !strings.Contains(msg, tc.wantText) {
				t.Errorf("error %q does not name the server 127.0.0.1:%s and say %q", msg, tc.port, tc.wantText)
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}

	t.Run("CallerDeadlineFirst", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := postgres.Open(ctx, postgres.Config{URL: "postgres://srvmon@127.0.0.1:" + silent + "/srvmon?sslmode=disable", ConnectTimeout: time.Hour})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open with a 200ms context: %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > hangBound {
			t.Errorf("Open took %v with a 200ms context", elapsed)
		}
	})
}

// stallProxy forwards loopback connections to target until stall is
// called; then it stops forwarding, keeping every connection open, as a
// server that hangs mid-session does.
type stallProxy struct {
	port    string
	stalled atomic.Bool
	close   func() // closes the listener and every connection
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{port: strconv.Itoa(l.Addr().(*net.TCPAddr).Port)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	// pipe forwards src to dst; once stalled, it reads and drops
	// everything until the connection closes.
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && !p.stalled.Load() {
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			track(c)
			track(s)
			wg.Go(func() { pipe(s, c) })
			wg.Go(func() { pipe(c, s) })
		}
	})
	p.close = sync.OnceFunc(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) stall() { p.stalled.Store(true) }

// TestServerStallsMidSession opens a store through a proxy that then
// stops forwarding: calls must end with their context's deadline.
func TestServerStallsMidSession(t *testing.T) {
	u := pgtest.NewDatabase(t)
	target := hostPort(t, u)
	p := newStallProxy(t, target)
	proxied := strings.Replace(u, target, "127.0.0.1:"+p.port, 1)
	s, err := postgres.Open(t.Context(), postgres.Config{URL: proxied, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatalf("Open through the proxy: %v", err)
	}
	if err := s.AddHost(t.Context(), "a.test"); err != nil {
		t.Fatalf("AddHost before the stall: %v", err)
	}
	// pgx closes a connection whose call timed out by sending the server
	// a cancel request, waiting up to 15 s for it: close the proxy first.
	defer s.Close()
	defer p.close()
	p.stall()
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"HostExists", func(ctx context.Context) error { _, err := s.HostExists(ctx, "a.test"); return err }},
		// A new connection: the pool's first one may be broken by now.
		{"Hosts", func(ctx context.Context) error { _, err := s.Hosts(ctx); return err }},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		start := time.Now()
		err := tc.call(ctx)
		cancel()
		if err == nil {
			t.Errorf("%s on a stalled server: no error", tc.name)
		}
		if elapsed := time.Since(start); elapsed > hangBound {
			t.Errorf("%s on a stalled server took %v with a 300ms deadline", tc.name, elapsed)
		}
		t.Logf("%s after %v: %v", tc.name, time.Since(start), err)
	}
}

// hostPort returns the host:port of a postgres URL.
func hostPort(t *testing.T, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil || pu.Port() == "" {
		t.Fatalf("%s: want a postgres:// URL with a port (%v)", pgtest.EnvURL, err)
	}
	return pu.Host
}

// TestOpenErrorsHidePasswords opens settings that cannot work, the
// password given in every form pgx reads: no error shows it, or any part
// of it.
func TestOpenErrorsHidePasswords(t *testing.T) {
	pgtest.ClearLibpqEnv(t)
	closed := closedPort(t)
	const pw = "Pw1"
	for _, tc := range []struct {
		name string
		cfg  postgres.Config
	}{
		{"URL userinfo", postgres.Config{URL: "postgres://u:" + pw + "@127.0.0.1:" + closed + "/db"}},
		{"URL query", postgres.Config{URL: "postgres://u@127.0.0.1:" + closed + "/db?password=" + pw}},
		{"URL sslpassword", postgres.Config{URL: "postgresql://u@127.0.0.1:" + closed + "/db?sslmode=disable&sslpassword=" + pw}},
		{"URL unparsable", postgres.Config{URL: "postgres://u:" + pw + "@127.0.0.1:" + closed + "/db?password=" + pw + "&sslmode=bogus"}},
		{"URL bad key file", postgres.Config{URL: "postgres://u:" + pw + "@127.0.0.1:" + closed + "/db?sslmode=require&sslkey=/nonexistent&sslcert=/nonexistent&sslpassword=" + pw}},
		{"keyword/value", postgres.Config{URL: "host=127.0.0.1 port=" + closed + " user=u password=" + pw + " dbname=db"}},
		{"keyword/value quoted", postgres.Config{URL: "host=127.0.0.1 port=" + closed + ` password='` + pw + ` \'Pw2 Pw3'`}},
		{"keyword/value unparsable", postgres.Config{URL: `host=127.0.0.1 port=x password='` + pw + ` \'Pw2 Pw3'`}},
		{"keyword/value unparsable, sslpassword", postgres.Config{URL: `host=127.0.0.1 sslpassword = '` + pw + ` \'Pw2 Pw3' port=x`}},
		{"fields", postgres.Config{Host: "127.0.0.1", Port: closed, User: "u", Password: pw + " /@'Pw2", Database: "db"}},
		{"fields without a user", postgres.Config{Host: "127.0.0.1", Port: closed, Password: pw + " &Pw2", Database: "db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.ConnectTimeout = 5 * time.Second
			s, err := postgres.Open(t.Context(), tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			for _, leak := range []string{pw, "Pw2", "Pw3"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error shows %q: %v", leak, err)
				}
			}
		})
	}
}
