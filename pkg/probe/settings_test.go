package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/probe/condition"
)

// withSettings returns the target s with settings, its conditions
// compiled from conds.
func withSettings(t testing.TB, s string, set Settings, conds ...string) Target {
	t.Helper()
	tg := mustParse(t, s)
	cs, err := condition.Compile(conds)
	if err != nil {
		t.Fatalf("conditions %q: %v", conds, err)
	}
	set.Conditions = cs
	tg.Settings = &set
	return tg
}

// checkReason fails unless r is up, or down with reason want; when
// failedCond is set, down with the reason of that condition failing
// instead.
func checkReason(t testing.TB, r Result, up bool, want, failedCond string) {
	t.Helper()
	if failedCond != "" {
		if r.Up || !strings.HasPrefix(r.Reason, "condition "+failedCond+" failed") {
			t.Errorf("%s: up=%v reason=%q; want down with condition %q failed", r.Target, r.Up, r.Reason, failedCond)
		}
		if r.RTT <= 0 {
			t.Errorf("%s: rtt %v, want > 0", r.Target, r.RTT)
		}
		return
	}
	checkResult(t, r, up, want)
}

// hugeBodyLen is the length of /huge's body: five times MaxBodyRead.
const hugeBodyLen = 5 * MaxBodyRead

// conditionServer serves what the HTTP condition tests check.
func conditionServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Version", "2")
		io.WriteString(w, `{"status":"ok","items":[{"id":1},{"id":2}],"load":0.25}`)
	})
	mux.HandleFunc("/degraded", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"degraded"}`)
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<!doctype html>\n<html><head><title>Shop open</title></head><body>welcome</body></html>\n")
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("a"), hugeBodyLen))
	})
	mux.HandleFunc("/404", http.NotFound)
	mux.Handle("/redirect", http.RedirectHandler("/json", http.StatusFound))
	mux.Handle("/redirect-307", http.RedirectHandler("/echo", http.StatusTemporaryRedirect))
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"method": r.Method, "host": r.Host, "token": r.Header.Get("X-Token"),
			"agent": r.Header.Get("User-Agent"), "body": string(body), "type": r.Header.Get("Content-Type"),
		})
	})
	mux.HandleFunc("/slow", blockingHandler(t, nil))
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) {
		// Promises 100 bytes, sends 10, hangs up.
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "0123456789")
		w.(http.Flusher).Flush()
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPConditions(t *testing.T) {
	srv := conditionServer(t)
	closed := proctest.ClosedAddr(t)
	p := newTestProber(t, Options{Timeout: 5 * time.Second}, nil)
	for _, tc := range []struct {
		name       string
		target     string
		set        Settings
		conds      []string
		up         bool
		reason     string
		failedCond string
	}{
		{name: "status 200", target: "/json", conds: []string{"[STATUS] == 200"}, up: true},
		{name: "status 404 wanted", target: "/404", conds: []string{"[STATUS] == 404"}, up: true},
		{name: "status 404 unwanted", target: "/404", conds: []string{"[STATUS] < 400"}, failedCond: "[STATUS] < 400"},
		{name: "status 503 accepted", target: "/degraded", conds: []string{"[STATUS] == 503"}, up: true},
		{name: "JSON path", target: "/json", conds: []string{"[STATUS] == 200", "[BODY].status == ok", "[RESPONSE_TIME] < 5000"}, up: true},
		{name: "JSON path fails", target: "/degraded", conds: []string{"[BODY].status == ok"}, failedCond: "[BODY].status == ok"},
		{name: "JSON array path", target: "/json", conds: []string{"[BODY].items.1.id == 2"}, up: true},
		{name: "JSON number", target: "/json", conds: []string{"[BODY].load < 0.5"}, up: true},
		{name: "second condition fails", target: "/json", conds: []string{"[STATUS] == 200", "[BODY].status == down"}, failedCond: "[BODY].status == down"},
		{name: "HTML pattern", target: "/html", conds: []string{"[BODY] == pat(*<title>Shop open</title>*)"}, up: true},
		{name: "HTML pattern fails", target: "/html", conds: []string{"[BODY] == pat(*closed*)"}, failedCond: "[BODY] == pat(*closed*)"},
		{name: "header", target: "/json", conds: []string{"[HEADER].X-Version == 2"}, up: true},
		{name: "header fails", target: "/json", conds: []string{"[HEADER].Content-Type == text/html"}, failedCond: "[HEADER].Content-Type == text/html"},
		{name: "IP", target: "/json", conds: []string{"[IP] == 127.0.0.1"}, up: true},
		{name: "IP fails", target: "/json", conds: []string{"[IP] == 127.0.0.2"}, failedCond: "[IP] == 127.0.0.2"},
		{name: "response time fails", target: "/json", conds: []string{"[RESPONSE_TIME] < 0"}, failedCond: "[RESPONSE_TIME] < 0"},
		{name: "connected", target: "/json", conds: []string{"[CONNECTED] == true"}, up: true},
		{name: "huge body capped", target: "/huge", conds: []string{"len([BODY]) == 1048576"}, up: true},
		{name: "huge body, status only", target: "/huge", conds: []string{"[STATUS] == 200"}, up: true},
		{name: "cut body read", target: "/cut", conds: []string{"[BODY] == pat(*0123*)"}, reason: "reading the body: unexpected EOF"},
		{name: "cut body unread", target: "/cut", conds: []string{"[STATUS] == 200"}, up: true},
		{name: "cut body, no conditions", target: "/cut", up: true},
		{name: "timeout", target: "/slow", conds: []string{"[STATUS] == 200"}, set: Settings{Timeout: 100 * time.Millisecond}, reason: "timeout after 100ms"},
		{name: "refused", target: "http://" + closed + "/", conds: []string{"[STATUS] == 200"}, reason: "connection refused"},
		{name: "refused, connected wanted", target: "http://" + closed + "/", conds: []string{"[CONNECTED] == true"}, reason: "connection refused"},
		{name: "refused, not connected wanted", target: "http://" + closed + "/", conds: []string{"[CONNECTED] == false"}, up: true},
		{name: "redirect followed", target: "/redirect", conds: []string{"[STATUS] == 200", "[BODY].status == ok"}, up: true},
		{name: "redirect not followed", target: "/redirect", set: Settings{NoFollowRedirects: true}, conds: []string{"[STATUS] == 302", "[HEADER].Location == /json"}, up: true},
		{name: "redirect not followed, no conditions", target: "/redirect", set: Settings{NoFollowRedirects: true}, up: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if strings.HasPrefix(target, "/") {
				target = srv.URL + target
			}
			r := p.Check(context.Background(), withSettings(t, target, tc.set, tc.conds...))
			checkReason(t, r, tc.up, tc.reason, tc.failedCond)
			if !r.CertExpiry.IsZero() {
				t.Errorf("CertExpiry %v on http://", r.CertExpiry)
			}
		})
	}
}

// TestHTTPRequestSettings: the method, headers and body are sent as set,
// also on through a 307 redirect; the Host header sets the host; without
// them the request is today's (GET, srvmon's User-Agent).
func TestHTTPRequestSettings(t *testing.T) {
	srv := conditionServer(t)
	p := newTestProber(t, Options{}, nil)
	for _, tc := range []struct {
		name   string
		path   string
		set    Settings
		conds  []string
		failed string
	}{
		{"defaults", "/echo", Settings{}, []string{"[BODY].method == GET", "[BODY].agent == " + userAgent, "len([BODY].body) == 0", "len([BODY].token) == 0"}, ""},
		{"POST with body and headers", "/echo", Settings{
			Method: http.MethodPost,
			Header: http.Header{"X-Token": {"s3cret"}, "Content-Type": {"application/json"}, "Host": {"monitor.test"}},
			Body:   `{"ping":1}`,
		}, []string{"[BODY].method == POST", "[BODY].token == s3cret", "[BODY].host == monitor.test", `[BODY].body == {"ping":1}`, "[BODY].type == application/json", "[BODY].agent == " + userAgent}, ""},
		{"PUT through a 307", "/redirect-307", Settings{Method: http.MethodPut, Body: "again"}, []string{"[BODY].method == PUT", "[BODY].body == again"}, ""},
		{"own User-Agent", "/echo", Settings{Header: http.Header{"user-agent": {"probe-test"}}}, []string{"[BODY].agent == probe-test"}, ""},
		{"wrong method seen", "/echo", Settings{Method: http.MethodDelete}, []string{"[BODY].method == GET"}, "[BODY].method == GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := tc.set
			r := p.Check(context.Background(), withSettings(t, srv.URL+tc.path, set, tc.conds...))
			checkReason(t, r, tc.failed == "", "", tc.failed)
		})
	}
	// HEAD: the server's GET handler runs, the body is not sent.
	r := p.Check(context.Background(), withSettings(t, srv.URL+"/json", Settings{Method: http.MethodHead}, "[STATUS] == 200", "len([BODY]) == 0"))
	checkReason(t, r, true, "", "")
}

// TestHTTPTimeoutClamped: a monitor's Timeout longer than the Prober's is
// cut to it; a shorter one is its own.
func TestHTTPTimeoutClamped(t *testing.T) {
	srv := conditionServer(t)
	p := newTestProber(t, Options{Timeout: 200 * time.Millisecond}, nil)
	for _, tc := range []struct {
		set  Settings
		want string
	}{
		{Settings{Timeout: time.Hour}, "timeout after 200ms"},
		{Settings{Timeout: 50 * time.Millisecond}, "timeout after 50ms"},
		{Settings{}, "timeout after 200ms"},
	} {
		r := p.Check(context.Background(), withSettings(t, srv.URL+"/slow", tc.set))
		checkResult(t, r, false, tc.want)
	}
}

// TestHTTPRTTExcludesBody: the rtt is the time to the response headers,
// not to the end of a body the conditions read.
func TestHTTPRTTExcludesBody(t *testing.T) {
	const bodyDelay = 500 * time.Millisecond
	var bodySent time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		time.Sleep(bodyDelay)
		bodySent = time.Now()
		io.WriteString(w, "done")
	}))
	defer srv.Close()
	p := newTestProber(t, Options{}, nil)
	start := time.Now()
	r := p.Check(context.Background(), withSettings(t, srv.URL+"/", Settings{}, "[BODY] == done"))
	checkResult(t, r, true, "")
	if r.RTT >= bodySent.Sub(start) {
		t.Errorf("rtt %v includes the body, sent %v after the start", r.RTT, bodySent.Sub(start))
	}
}

func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		n         int
		wantLen   int
		truncated bool
	}{
		{0, 0, false},
		{2048, 2048, false},
		{MaxBodyRead, MaxBodyRead, false},
		{MaxBodyRead + 1, MaxBodyRead, true},
		{hugeBodyLen, MaxBodyRead, true},
	} {
		for _, size := range []int64{-1, int64(tc.n)} {
			b, truncated, err := readBody(bytes.NewReader(make([]byte, tc.n)), size)
			if err != nil || len(b) != tc.wantLen || truncated != tc.truncated {
				t.Errorf("readBody(%d bytes, size %d) = %d bytes, truncated %v, %v; want %d, %v", tc.n, size, len(b), truncated, err, tc.wantLen, tc.truncated)
			}
		}
	}
}

// TestPushNotProbed: Check and Round give push targets their result at
// once, without probing anything, also among other targets.
func TestPushNotProbed(t *testing.T) {
	p := newTestProber(t, Options{}, nil)
	var probed atomic.Int32
	for k := range p.probes {
		p.probes[k] = func(context.Context, Target) outcome {
			probed.Add(1)
			return outcome{rtt: time.Microsecond}
		}
	}
	push := withSettings(t, "push://nightly-backup", Settings{Grace: time.Hour}, "[CONNECTED] == false")
	r := p.Check(context.Background(), push)
	if r.Up || r.Reason != ReasonPushNotProbed || r.Target != push {
		t.Errorf("Check(push) = %+v", r)
	}
	res := p.Round(context.Background(), []Target{mustParse(t, "push://a"), mustParse(t, "127.0.0.1:9"), push})
	for i, r := range res {
		if up := i == 1; r.Up != up || !up && r.Reason != ReasonPushNotProbed {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if probed.Load() != 1 {
		t.Errorf("%d probes, want 1: the TCP target's", probed.Load())
	}
}

// TestTCPConditions: a TCP check's response is the open connection.
func TestTCPConditions(t *testing.T) {
	ln := acceptingListener(t, "tcp4", "127.0.0.1:0")
	closed := proctest.ClosedAddr(t)
	p := newTestProber(t, Options{}, nil)
	for _, tc := range []struct {
		addr       string
		conds      []string
		up         bool
		reason     string
		failedCond string
	}{
		{addr: ln.Addr().String(), conds: []string{"[CONNECTED] == true", "[IP] == 127.0.0.1", "[RESPONSE_TIME] < 10000"}, up: true},
		{addr: ln.Addr().String(), conds: []string{"[CONNECTED] == false"}, failedCond: "[CONNECTED] == false"},
		{addr: closed, conds: []string{"[CONNECTED] == false"}, up: true},
		{addr: closed, conds: []string{"[CONNECTED] == true"}, reason: "connection refused"},
		{addr: closed, conds: []string{"[RESPONSE_TIME] < 10000"}, reason: "connection refused"},
	} {
		r := p.Check(context.Background(), withSettings(t, tc.addr, Settings{}, tc.conds...))
		checkReason(t, r, tc.up, tc.reason, tc.failedCond)
	}
}

// TestConditionsCancelled: a check with conditions whose context ends is
// cancelled, whatever its conditions would say.
func TestConditionsCancelled(t *testing.T) {
	srv := conditionServer(t)
	p := newTestProber(t, Options{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tg := range []Target{
		withSettings(t, srv.URL+"/json", Settings{}, "[STATUS] == 200"),
		withSettings(t, proctest.ClosedAddr(t), Settings{}, "[CONNECTED] == false"),
	} {
		if r := p.Check(ctx, tg); r.Up || r.Reason != ReasonCancelled {
			t.Errorf("%s with a cancelled context: %+v", tg, r)
		}
	}
	// Cancelled while the probe runs.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	tg := withSettings(t, srv.URL+"/slow", Settings{}, "[CONNECTED] == false")
	if r := p.Check(ctx, tg); r.Up || r.Reason != ReasonCancelled {
		t.Errorf("%s cancelled while it runs: %+v", tg, r)
	}
}
