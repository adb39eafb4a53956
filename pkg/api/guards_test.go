package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// countingChecker counts the probes it runs; they are all up.
type countingChecker struct{ n *atomic.Int64 }

func (c countingChecker) Check(ctx context.Context, t probe.Target) probe.Result {
	c.n.Add(1)
	return probe.Result{Target: t, Up: true, RTT: time.Millisecond}
}

// countingStore serves many rows from Checks and Results and counts the
// rows its callers took.
type countingStore struct {
	store.Store
	rows *atomic.Int64
}

const countingRows = 10000

func (s countingStore) Checks(ctx context.Context, host string, start, end time.Time, fn func(store.Check) error) error {
	for i := range countingRows {
		if err := fn(store.Check{Time: start.Add(time.Duration(i) * time.Second), Up: true}); err != nil {
			return err
		}
		s.rows.Add(1)
	}
	return nil
}

func (s countingStore) Results(ctx context.Context, host string, start, end time.Time, fn func(store.Result) error) error {
	for i := range countingRows {
		if err := fn(store.Result{Host: host, Slot: slot(i), Up: true}); err != nil {
			return err
		}
		s.rows.Add(1)
	}
	return nil
}

// TestHead: HEAD never runs a probe or a change (405), and a streamed
// answer stops at its headers instead of reading a whole range or backup.
func TestHead(t *testing.T) {
	for _, tt := range []struct {
		target      string
		code        int
		allow, ct   string
		disposition string
		streamed    bool // else net/http drops the body (not the recorder)
	}{
		{target: "/api/hosts?action=add&host=new.example", code: 405, allow: "GET"},
		{target: "/api/hosts?action=del&host=example.org", code: 405, allow: "GET"},
		{target: "/api/check?host=example.org", code: 405, allow: "GET, POST"},
		{target: "/?host=example.org", code: 405, allow: "GET"},
		{target: "/index.html?host=example.org", code: 405, allow: "GET"},
		{target: "/", code: 200, ct: "text/html; charset=utf-8"},
		{target: "/api/hosts", code: 200, ct: "application/json"},
		{target: "/api/backup", code: 200, ct: "application/json", disposition: `attachment; filename="backup.json"`, streamed: true},
		{target: "/api/backup_full", code: 200, ct: "application/json", disposition: `attachment; filename="backup_full.json"`, streamed: true},
		{target: "/api/checks?host=example.org", code: 200, ct: "application/json", streamed: true},
		{target: "/web/checks?host=example.org", code: 200, ct: "text/html; charset=utf-8", streamed: true},
	} {
		st := authStore(t)
		var probes, rows atomic.Int64
		e := newEnv(t, countingStore{Store: st, rows: &rows}, Options{Checker: countingChecker{&probes}})
		before := takeSnapshot(t, st)
		w := e.serve(request{method: "HEAD", target: tt.target})
		if w.Code != tt.code || w.Header().Get("Allow") != tt.allow {
			t.Errorf("HEAD %s: %d, Allow %q; want %d, Allow %q", tt.target, w.Code, w.Header().Get("Allow"), tt.code, tt.allow)
		}
		if tt.code == 200 {
			if ct, cd := w.Header().Get("Content-Type"), w.Header().Get("Content-Disposition"); ct != tt.ct || cd != tt.disposition {
				t.Errorf("HEAD %s: Content-Type %q, Content-Disposition %q; want %q, %q", tt.target, ct, cd, tt.ct, tt.disposition)
			}
			if tt.streamed && w.Body.Len() != 0 {
				t.Errorf("HEAD %s: a body of %d bytes", tt.target, w.Body.Len())
			}
		}
		if n := probes.Load(); n != 0 {
			t.Errorf("HEAD %s ran %d probes", tt.target, n)
		}
		if n := rows.Load(); n != 0 {
			t.Errorf("HEAD %s read %d rows after its headers", tt.target, n)
		}
		if after := takeSnapshot(t, st); !equalSnapshots(before, after) {
			t.Errorf("HEAD %s changed data", tt.target)
		}
	}
}

// TestSingleCheckFromOtherSites: a single check is refused (403, no
// probe) when a browser sends it from another site's page, where an <img>
// carries the browser's cached credentials.
func TestSingleCheckFromOtherSites(t *testing.T) {
	for _, target := range []string{"/api/check?host=example.org", "/?host=example.org"} {
		for _, tt := range []struct {
			site string
			ok   bool
		}{
			{"", true}, // not a browser, or an old one
			{"none", true},
			{"same-origin", true},
			{"same-site", false},
			{"cross-site", false},
		} {
			var probes atomic.Int64
			e := newEnv(t, authStore(t), Options{Checker: countingChecker{&probes}, Auth: Auth{Enable: true, User: "u", Password: "p"}})
			req := request{method: "GET", target: target, user: "u", pass: "p"}
			if tt.site != "" {
				req.header = http.Header{"Sec-Fetch-Site": {tt.site}}
			}
			w := e.serve(req)
			if ok := w.Code == http.StatusOK; ok != tt.ok || (!ok && w.Code != http.StatusForbidden) {
				t.Errorf("%s from %q: %d %q", target, tt.site, w.Code, w.Body.String())
			}
			if ran := probes.Load() == 1; ran != tt.ok {
				t.Errorf("%s from %q: %d probes", target, tt.site, probes.Load())
			}
		}
	}
}

// TestContentSecurityPolicy: pages may load only this server's stylesheet
// and images and run no script; the chart only its own <style>.
func TestContentSecurityPolicy(t *testing.T) {
	e := newEnv(t, authStore(t), Options{})
	for _, tt := range []struct{ target, policy string }{
		{"/", pageCSP},
		{"/web/hosts", pageCSP},
		{"/web/view?host=example.org", pageCSP},
		{"/web/checks?host=example.org", pageCSP},
		{"/web/notifications_params", pageCSP},
		{"/web/checks/svg?host=example.org", svgCSP},
	} {
		w := e.get(tt.target)
		expect(t, w, http.StatusOK, "")
		if got := w.Header().Values("Content-Security-Policy"); len(got) != 1 || got[0] != tt.policy {
			t.Errorf("%s: Content-Security-Policy %q, want %q", tt.target, got, tt.policy)
		}
	}
	if !strings.Contains(pageCSP, "style-src 'self'") || strings.Contains(pageCSP, "script") {
		t.Errorf("page policy %q", pageCSP)
	}
}

// TestEnsureStatus: a handler that writes nothing still answers (500, and
// the bug is logged), since the Lambda adapter fails on no status; one
// that writes is passed through untouched.
func TestEnsureStatus(t *testing.T) {
	for _, tt := range []struct {
		name    string
		h       http.HandlerFunc
		code    int
		body    string
		logged  bool
		flushed bool
	}{
		{"writes nothing", func(w http.ResponseWriter, r *http.Request) {}, 500, "internal server error: no response\n", true, false},
		{"status only", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, 204, "", false, false},
		{"body only", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }, 200, "hi", false, false},
		{"flush", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush through ensureStatus: %v", err)
			}
		}, 202, "", false, true},
	} {
		log := &testLog{}
		h := ensureStatus(slog.New(slog.NewTextHandler(log, nil)), tt.h)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
		if w.Code != tt.code || w.Body.String() != tt.body || w.Flushed != tt.flushed {
			t.Errorf("%s: %d %q flushed %v, want %d %q flushed %v", tt.name, w.Code, w.Body.String(), w.Flushed, tt.code, tt.body, tt.flushed)
		}
		if logged := strings.Contains(log.String(), "handler wrote no response"); logged != tt.logged {
			t.Errorf("%s: logged %v: %s", tt.name, logged, log)
		}
	}
}
