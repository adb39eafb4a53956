package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFrameDenial: no response may be shown in another site's frame:
// every answer says X-Frame-Options: DENY, and the pages' and the chart's
// policies say frame-ancestors 'none'.
func TestFrameDenial(t *testing.T) {
	e := newEnv(t, authStore(t), Options{})
	for _, target := range []string{"/", "/web/hosts", "/web/view?host=example.org", "/web/notifications_params",
		"/web/checks/svg?host=example.org", "/api/hosts", "/web/style.css", "/no/such/page"} {
		w := e.get(target)
		if got := w.Header().Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q, want DENY", target, got)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q lacks frame-ancestors 'none'", target, csp)
		}
	}
}

// TestAllowedHosts: against DNS rebinding, the routes that change data,
// read secrets or run checks refuse a Host that is a DNS name other than
// localhost and the AllowedHosts (403, nothing changed) when auth is
// off; IP literals always pass, reads pass under any name, and with auth
// on (the password guards them) so does every name.
func TestAllowedHosts(t *testing.T) {
	auth := Auth{Enable: true, User: "admin", Password: "s3cret"}
	for _, tt := range []struct {
		allowed []string
		host    string
		ok      bool
	}{
		{nil, "127.0.0.1:8000", true},
		{nil, "localhost:8000", true},
		{nil, "LocalHost.", true},
		{nil, "[::1]:8000", true},
		{nil, "192.168.1.5", true},
		{nil, "[fe80::1%25eth0]:8000", true},
		{nil, "rebind.attacker.example:8000", false},
		{nil, "monitor.lan", false},
		{nil, "localhost.attacker.example", false},
		{nil, "127.0.0.1.attacker.example", false},
		{[]string{"Monitor.LAN"}, "monitor.lan:8000", true},
		{[]string{"monitor.lan"}, "MONITOR.LAN.", true},
		{[]string{"monitor.lan"}, "rebind.attacker.example", false},
		{[]string{"monitor.lan:8000"}, "monitor.lan", true},
		{[]string{"*"}, "rebind.attacker.example", true},
	} {
		for _, a := range []Auth{{}, auth} {
			for _, req := range writeRoutes {
				st := authStore(t)
				e := newEnv(t, st, Options{Auth: a, AllowedHosts: tt.allowed, Checker: fakeChecker{up: true}})
				before := takeSnapshot(t, st)
				r := req
				r.host = tt.host
				r.user, r.pass = "admin", "s3cret"
				w := e.serve(r)
				ok := tt.ok || a.Enable
				if refused := w.Code == http.StatusForbidden; refused == ok {
					t.Errorf("AllowedHosts %q, auth %v: %s %s with Host %q: %d %q", tt.allowed, a.Enable, req.method, req.target, tt.host, w.Code, w.Body.String())
				}
				if !ok {
					expect(t, w, http.StatusForbidden, "Listen.AllowedHosts")
					if after := takeSnapshot(t, st); !equalSnapshots(before, after) {
						t.Errorf("%s %s with Host %q changed data", req.method, req.target, tt.host)
					}
				}
			}
		}
		e := newEnv(t, authStore(t), Options{AllowedHosts: tt.allowed})
		for _, req := range concat(readRoutes, publicRoutes) {
			r := req
			r.host = tt.host
			if w := e.serve(r); w.Code >= 400 {
				t.Errorf("read %s %s with Host %q: %d %q", req.method, req.target, tt.host, w.Code, w.Body.String())
			}
		}
	}
	// HTTP/1.0 sends no Host; a browser always does.
	if !newServer(Options{Store: authStore(t)}).hostAllowed(&http.Request{Host: ""}) {
		t.Error("an empty Host is refused")
	}
}

// TestCrossSiteGET: gosrvmon's GET /api/hosts?action= and a GET single
// check work from curl and scripts and from srvmon's own pages, and are
// refused (403, nothing changed, no probe) when a browser sends them from
// another site's page, also a browser that sends no Sec-Fetch-Site and
// whose Referer the page stripped.
func TestCrossSiteGET(t *testing.T) {
	const (
		firefox60 = "Mozilla/5.0 (X11; Linux x86_64; rv:60.0) Gecko/20100101 Firefox/60.0"
		imgAccept = "image/webp,*/*"
		self      = "http://127.0.0.1:8000"
	)
	for _, tt := range []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"no headers (Go, scripts)", nil, true},
		{"curl", http.Header{"User-Agent": {"curl/8.5.0"}, "Accept": {"*/*"}}, true},
		{"wget", http.Header{"User-Agent": {"Wget/1.21.4"}, "Accept": {"*/*"}}, true},
		{"python", http.Header{"User-Agent": {"python-requests/2.31"}, "Accept": {"*/*"}}, true},
		{"modern browser, own page", http.Header{"User-Agent": {firefox60}, "Sec-Fetch-Site": {"same-origin"}}, true},
		{"modern browser, typed in", http.Header{"User-Agent": {firefox60}, "Sec-Fetch-Site": {"none"}, "Accept": {"text/html"}}, true},
		{"modern browser, other site", http.Header{"User-Agent": {firefox60}, "Sec-Fetch-Site": {"cross-site"}, "Accept": {imgAccept}}, false},
		{"modern browser, same site", http.Header{"User-Agent": {firefox60}, "Sec-Fetch-Site": {"same-site"}}, false},
		{"old browser, own page", http.Header{"User-Agent": {firefox60}, "Referer": {self + "/web/hosts"}, "Accept": {"text/html"}}, true},
		{"old browser, own origin", http.Header{"User-Agent": {firefox60}, "Origin": {self}}, true},
		{"old browser, img on other site", http.Header{"User-Agent": {firefox60}, "Referer": {"http://evil.example/"}, "Accept": {imgAccept}}, false},
		{"old browser, img, Referer stripped", http.Header{"User-Agent": {firefox60}, "Accept": {imgAccept}}, false},
		{"old browser, link, Referer stripped", http.Header{"User-Agent": {firefox60}, "Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}, false},
		{"old browser, script tag, Referer stripped", http.Header{"User-Agent": {firefox60}, "Accept": {"*/*"}}, false},
		{"img without User-Agent", http.Header{"Accept": {"image/png,image/*;q=0.8"}}, false},
		{"other port's page", http.Header{"Referer": {"http://127.0.0.1:8080/"}}, false},
		{"Origin null", http.Header{"Origin": {"null"}}, false},
		{"own Referer, other Origin", http.Header{"Referer": {self + "/"}, "Origin": {"http://evil.example"}}, false},
	} {
		for _, target := range []string{"/api/hosts?action=add&host=new.example", "/api/check?host=example.org", "/?host=example.org"} {
			probes := countingChecker{new(atomic.Int64)}
			st := authStore(t)
			e := newEnv(t, st, Options{Checker: probes, Auth: Auth{Enable: true, User: "u", Password: "p"}})
			before := takeSnapshot(t, st)
			w := e.serve(request{method: "GET", target: target, header: tt.header, user: "u", pass: "p"})
			changed := !equalSnapshots(before, takeSnapshot(t, st)) || probes.n.Load() > 0
			if tt.ok && (w.Code >= 400 || !changed) {
				t.Errorf("%s: GET %s: %d %q, acted %v; want it done", tt.name, target, w.Code, w.Body.String(), changed)
			}
			if !tt.ok {
				if w.Code != http.StatusForbidden || changed || !strings.Contains(w.Body.String(), "cross-site") {
					t.Errorf("%s: GET %s: %d %q, acted %v; want 403", tt.name, target, w.Code, w.Body.String(), changed)
				}
			}
		}
	}
}

// sleepLog records the delays a handler asks for, without waiting.
type sleepLog struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepLog) sleep(ctx context.Context, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays = append(s.delays, d)
}

func (s *sleepLog) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.delays
	s.delays = nil
	return d
}

// TestFailedLoginsSlowed: wrong basic auth credentials are logged with
// the user and the client address, never the password, and after three
// failures from one address each answer is delayed, twice as long each
// time up to 10 s; other addresses are not slowed, a correct login is
// never delayed and clears its address's failures, and a request with no
// credentials at all (a browser's first) counts for nothing.
func TestFailedLoginsSlowed(t *testing.T) {
	var slept sleepLog
	const password = "correct horse battery staple"
	e := newEnv(t, authStore(t), Options{Auth: Auth{Enable: true, User: "admin", Password: password}, Sleep: slept.sleep})
	guess := func(remote, user, pass string) int {
		t.Helper()
		return e.serve(request{method: "GET", target: "/api/backup", remote: remote, user: user, pass: pass}).Code
	}
	const attacker, other = "198.51.100.7:40000", "[2001:db8::1]:5555"
	for i := range 300 {
		if code := guess(attacker, "admin", fmt.Sprintf("guess-%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	delays := slept.take()
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for len(want) < 297 {
		want = append(want, 10*time.Second)
	}
	if !slices.Equal(delays, want) {
		t.Errorf("300 wrong guesses asked for delays %v…, want %v…", delays[:min(len(delays), 8)], want[:8])
	}
	var total time.Duration
	for _, d := range delays {
		total += d
	}
	if total < 45*time.Minute {
		t.Errorf("300 wrong guesses would take %s", total)
	}

	for _, c := range []struct {
		name, remote, user, pass string
		code                     int
		delays                   int
	}{
		{"no credentials", attacker, "", "", http.StatusUnauthorized, 0},
		{"other address", other, "admin", "wrong", http.StatusUnauthorized, 0},
		{"correct login after failures", attacker, "admin", password, http.StatusOK, 0},
		{"failures cleared by it", attacker, "admin", "wrong", http.StatusUnauthorized, 0},
		{"long user name", other, strings.Repeat("u", 5000), "wrong", http.StatusUnauthorized, 0},
	} {
		if code := guess(c.remote, c.user, c.pass); code != c.code {
			t.Errorf("%s: %d, want %d", c.name, code, c.code)
		}
		if d := slept.take(); len(d) != c.delays {
			t.Errorf("%s: delays %v", c.name, d)
		}
	}

	log := e.log.String()
	if strings.Contains(log, "guess-") || strings.Contains(log, password) || strings.Contains(log, "wrong") {
		t.Errorf("the log shows a password:\n%.500s", log)
	}
	for _, want := range []string{`msg="basic auth failed" user=admin addr=198.51.100.7 method=GET path=/api/backup failures=300 delay=10s`, "addr=2001:db8::1 "} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%.500s", want, log)
		}
	}
	if n := strings.Count(log, "basic auth failed"); n != 303 {
		t.Errorf("%d failures logged, want 303", n)
	}
	if !strings.Contains(log, "user="+strings.Repeat("u", maxLoggedUser)+"…") || strings.Contains(log, strings.Repeat("u", maxLoggedUser+1)) {
		t.Errorf("a long user name is not cut to %d bytes in the log", maxLoggedUser)
	}
}

// TestFailedLoginMemoryBounded: the failure counts forget an address
// failureMemory after its last failure, and hold at most maxTrackedAddrs
// addresses, forgetting the oldest first.
func TestFailedLoginMemoryBounded(t *testing.T) {
	var f authFailures
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		f.fail("a", t0.Add(time.Duration(i)*time.Minute))
	}
	if n, _ := f.fail("a", t0.Add(4*time.Minute+failureMemory+time.Second)); n != 1 {
		t.Errorf("after %s without failures: count %d, want 1", failureMemory, n)
	}
	for i := range maxTrackedAddrs + 500 {
		f.fail(fmt.Sprint("10.", i/65536, ".", i/256%256, ".", i%256), t0.Add(time.Hour+time.Duration(i)*time.Millisecond))
	}
	if n := f.tracked(); n > maxTrackedAddrs {
		t.Errorf("%d addresses tracked, more than %d", n, maxTrackedAddrs)
	}
	if n, _ := f.fail("10.0.0.0", t0.Add(time.Hour+time.Minute)); n != 1 {
		t.Errorf("the oldest address was kept: count %d", n)
	}
	last := fmt.Sprint("10.", (maxTrackedAddrs+499)/65536, ".", (maxTrackedAddrs+499)/256%256, ".", (maxTrackedAddrs+499)%256)
	if n, _ := f.fail(last, t0.Add(time.Hour+time.Minute)); n != 2 {
		t.Errorf("the newest address was forgotten: count %d", n)
	}
}

// The default Sleep ends with the request.
func TestSleepEndsWithTheRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	sleep(ctx, time.Hour)
	if time.Since(start) > time.Minute {
		t.Error("sleep did not end with its context")
	}
}
