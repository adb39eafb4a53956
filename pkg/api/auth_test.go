package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// routeRequests is one request to every route, valid enough to pass auth.
var (
	writeRoutes = []request{
		{method: "POST", target: "/api/hosts", body: "new.example"},
		{method: "DELETE", target: "/api/hosts", body: "example.org"},
		{method: "GET", target: "/api/hosts?action=add&host=new.example"},
		{method: "GET", target: "/api/hosts?action=del&host=example.org"},
		{method: "GET", target: "/api/check?host=example.org"},
		{method: "POST", target: "/api/check", body: "example.org"},
		{method: "GET", target: "/?host=example.org"},
		{method: "GET", target: "/api/notifications_params"},
		{method: "POST", target: "/api/notifications_params", body: `{"host":"example.org","threshold":1,"action":""}`},
		{method: "DELETE", target: "/api/notifications_params", body: "example.org"},
		{method: "POST", target: "/api/notifications_params/test", body: `{"host":"example.org"}`},
		{method: "GET", target: "/api/state_change_params"},
		{method: "POST", target: "/api/state_change_params", body: `{"host":"example.org","threshold":1,"action":""}`},
		{method: "DELETE", target: "/api/state_change_params", body: "example.org"},
		{method: "GET", target: "/web/notifications_params"},
		{method: "POST", target: "/web/notifications_params", body: "action=del&host=example.org", header: formHeader},
		{method: "GET", target: "/web/state_change_params"},
		{method: "POST", target: "/web/state_change_params", body: "action=del&host=example.org", header: formHeader},
		{method: "GET", target: "/api/backup"},
		{method: "POST", target: "/api/backup", body: `{"hosts":[]}`},
		{method: "PUT", target: "/api/backup", body: `{"hosts":[]}`},
		{method: "GET", target: "/api/backup_full"},
		{method: "POST", target: "/api/backup_full", body: `{"hosts":[]}`},
		{method: "PUT", target: "/api/backup_full", body: `{"hosts":[]}`},
		{method: "POST", target: "/web/hosts", body: "action=add&host=new.example", header: formHeader},
		{method: "PUT", target: "/api/monitor", body: `{"host":"new.example","name":"New"}`},
		{method: "DELETE", target: "/api/monitor?host=example.org"},
		{method: "POST", target: "/web/monitor", body: "mode=add&host=new.example&name=New", header: formHeader},
		{method: "GET", target: "/web/monitor/edit?host=example.org"},
		{method: "POST", target: "/api/maintenance", body: `{"cron":"@daily","duration":"1h"}`},
		{method: "PUT", target: "/api/maintenance?id=1", body: `{"cron":"@daily","duration":"2h"}`},
		{method: "DELETE", target: "/api/maintenance?id=1"},
		{method: "POST", target: "/web/maintenance", body: "action=del&id=1", header: formHeader},
	}
	readRoutes = []request{
		{method: "GET", target: "/"},
		{method: "GET", target: "/index.html"},
		{method: "GET", target: "/api/hosts"},
		{method: "GET", target: "/api/checks?host=example.org"},
		{method: "POST", target: "/api/checks", body: `{"host":"example.org"}`},
		{method: "GET", target: "/api/checks/last?host=example.org"},
		{method: "POST", target: "/api/checks/last", body: "example.org"},
		{method: "GET", target: "/web/hosts"},
		{method: "GET", target: "/web/view?host=example.org"},
		{method: "GET", target: "/web/view"},
		{method: "GET", target: "/web/checks?host=example.org"},
		{method: "POST", target: "/web/checks", body: `{"host":"example.org"}`},
		{method: "GET", target: "/web/checks/svg?host=example.org"},
		{method: "POST", target: "/web/checks/svg", body: `{"host":"example.org"}`},
		{method: "GET", target: "/api/monitors"},
		{method: "GET", target: "/api/monitor?host=example.org"},
		{method: "GET", target: "/web/monitor?host=example.org"},
		{method: "GET", target: "/api/maintenance"},
		{method: "GET", target: "/web/maintenance"},
		{method: "GET", target: "/api/report?host=example.org"},
		{method: "GET", target: "/web/report"},
		{method: "GET", target: "/status"},
		{method: "GET", target: "/status/g"},
		{method: "GET", target: "/api/dashboard"},
		// Open to all only with Status.Public (TestBadgeAuth).
		{method: "GET", target: "/api/badge/status?host=example.org"},
		{method: "GET", target: "/api/badge/uptime?host=example.org&period=7d"},
		{method: "GET", target: "/api/badge/response-time?host=example.org"},
		{method: "GET", target: "/api/badge/shields?host=example.org&kind=uptime"},
		// Its own bearer token with Metrics.Token (TestMetricsAuth).
		{method: "GET", target: "/metrics"},
	}
	publicRoutes = []request{
		{method: "GET", target: "/web/style.css"},
		{method: "GET", target: "/web/dashboard.js"},
		{method: "GET", target: "/favicon.ico"},
		// the token is the secret
		{method: "GET", target: "/api/push/" + pushToken},
		{method: "POST", target: "/api/push/" + pushToken + "?status=down"},
	}
	formHeader = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
)

func TestAuth(t *testing.T) {
	auth := Auth{Enable: true, User: "admin", Password: "s3cret"}
	readsToo := auth
	readsToo.ProtectReads = true
	tests := []struct {
		name      string
		auth      Auth
		protected []request
		open      []request
	}{
		{"auth off", Auth{User: "admin", Password: "s3cret"}, nil, concat(writeRoutes, readRoutes, publicRoutes)},
		{"changes protected", auth, writeRoutes, concat(readRoutes, publicRoutes)},
		{"reads protected too", readsToo, concat(writeRoutes, readRoutes), publicRoutes},
	}
	wrong := []struct{ user, pass string }{
		{"", ""}, {"admin", ""}, {"admin", "s3cre"}, {"admin", "s3cret!"}, {"Admin", "s3cret"}, {"", "s3cret"}, {"admin\x00", "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, req := range tt.protected {
				for _, c := range wrong {
					st := authStore(t)
					e := newEnv(t, st, Options{Auth: tt.auth, Checker: fakeChecker{up: true}})
					r := req
					r.user, r.pass = c.user, c.pass
					if c.user == "" && c.pass == "" {
						r.user = "" // no Authorization header at all
					}
					w := e.serve(r)
					if w.Code != http.StatusUnauthorized {
						t.Errorf("%s %s as %q:%q: %d, want 401", req.method, req.target, c.user, c.pass, w.Code)
						continue
					}
					if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="srvmon", charset="UTF-8"` {
						t.Errorf("%s %s: WWW-Authenticate %q", req.method, req.target, got)
					}
					if before, after := takeSnapshot(t, st), authSnapshot(t); !equalSnapshots(before, after) {
						t.Errorf("%s %s changed data without auth", req.method, req.target)
					}
				}
			}
			for _, req := range concat(tt.protected, tt.open) {
				e := newEnv(t, authStore(t), Options{Auth: tt.auth, Checker: fakeChecker{up: true}})
				r := req
				if contains(tt.protected, req) {
					r.user, r.pass = "admin", "s3cret"
				}
				w := e.serve(r)
				if w.Code == http.StatusUnauthorized || w.Code >= 400 {
					t.Errorf("%s %s (user %q): %d %q", req.method, req.target, r.user, w.Code, w.Body.String())
				}
			}
		})
	}
}

// TestAuthListsEveryRoute: every route the handler registers is in one of
// the lists above, so a new route cannot go without its auth test.
// (TestAuth fails on a listed request that no route serves.)
func TestAuthListsEveryRoute(t *testing.T) {
	s := newServer(Options{Store: backends()[0].open(t), Checker: fakeChecker{}})
	listed := concat(writeRoutes, readRoutes, publicRoutes)
	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		path = strings.TrimSuffix(path, "{$}")
		path = strings.Replace(path, "{token}", pushToken, 1) // the push route's wildcard
		path = strings.Replace(path, "{group}", "g", 1)       // the status page's
		if !slices.ContainsFunc(listed, func(r request) bool {
			p, _, _ := strings.Cut(r.target, "?")
			return r.method == method && p == path
		}) {
			t.Errorf("route %q is in none of writeRoutes, readRoutes and publicRoutes", rt.pattern)
		}
	}
}

// authStore is a store with example.org, a rule and a check, and the
// push monitor push://job (pushToken).
func authStore(t *testing.T) store.Store {
	st := backends()[0].open(t)
	seed(t, st, []string{"example.org"}, []store.Result{{Host: "example.org", Slot: slot(1), RTT: time.Millisecond, Up: true}})
	putMonitor(t, st, monitor.Monitor{Host: "push://job", Settings: monitor.Settings{PushToken: pushToken}})
	putMonitor(t, st, monitor.Monitor{Host: "example.org", Settings: monitor.Settings{Name: "Example", Group: "g"}})
	if err := st.SetRule(t.Context(), store.Rule{Host: "example.org", Threshold: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutMaintenance(t.Context(), monitor.Maintenance{Cron: "@weekly", Duration: monitor.Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return st
}

func authSnapshot(t *testing.T) snapshot { return takeSnapshot(t, authStore(t)) }

func concat(lists ...[]request) []request {
	var out []request
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func contains(list []request, r request) bool {
	for _, x := range list {
		if x.method == r.method && x.target == r.target {
			return true
		}
	}
	return false
}

// TestAuthComparesWholeCredentials: equal prefixes and different lengths
// never pass (the comparison is over SHA-256 sums, in constant time).
func TestAuthComparesWholeCredentials(t *testing.T) {
	for _, tt := range []struct {
		user, pass string
		ok         bool
	}{
		{"admin", strings.Repeat("x", 100), true},
		{"admin", strings.Repeat("x", 99), false},
		{"admin", strings.Repeat("x", 101), false},
		{"admi", strings.Repeat("x", 100), false},
	} {
		opts := Options{Store: backends()[0].open(t), Auth: Auth{Enable: true, User: "admin", Password: strings.Repeat("x", 100)}}
		h := New(opts)
		req, _ := http.NewRequest("GET", "/api/backup", nil)
		req.SetBasicAuth(tt.user, tt.pass)
		w := &strictWriter{ResponseRecorder: httptest.NewRecorder(), t: t}
		h.ServeHTTP(w, req)
		if (w.Code != http.StatusUnauthorized) != tt.ok {
			t.Errorf("%q:%d chars: %d", tt.user, len(tt.pass), w.Code)
		}
	}
}
