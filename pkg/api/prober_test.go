package api

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
)

// TestSingleCheckWithProber runs /api/check with the real prober against
// HTTP servers and a closed port on loopback.
func TestSingleCheckWithProber(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer broken.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	p := probe.New(probe.Options{Timeout: 5 * time.Second})
	defer p.Close()
	e := newEnv(t, backends()[0].open(t), Options{Checker: p, Auth: Auth{Enable: true, User: "u", Password: "p"}})
	tests := []struct {
		req    request
		up     bool
		reason string
	}{
		{request{method: "GET", target: "/api/check?host=" + ok.URL + "/"}, true, ""},
		{request{method: "POST", target: "/api/check", body: ok.URL + "/"}, true, ""},
		{request{method: "GET", target: "/api/check?host=" + broken.URL + "/"}, false, "500"},
		{request{method: "POST", target: "/api/check", body: closed}, false, "refused"},
	}
	for _, tt := range tests {
		tt.req.user, tt.req.pass = "u", "p"
		w := e.serve(tt.req)
		expect(t, w, http.StatusOK, "")
		var c checkJSON
		if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if c.Up != tt.up || (c.Error != nil) == tt.up || (c.Error != nil && !strings.Contains(*c.Error, tt.reason)) {
			t.Errorf("%s %s: %s, want up %v %q", tt.req.method, tt.req.target, w.Body.String(), tt.up, tt.reason)
		}
		if c.Up && c.RTT <= 0 {
			t.Errorf("up with rtt %d", c.RTT)
		}
	}
	expect(t, e.serve(request{method: "GET", target: "/api/check?host=" + ok.URL + "/"}), http.StatusUnauthorized, "unauthorized")
	expect(t, e.get("/?host="+closed), http.StatusUnauthorized, "unauthorized")
	w := e.serve(request{method: "GET", target: "/?host=" + closed, user: "u", pass: "p"})
	expect(t, w, http.StatusOK, "")
	if got := textOf(singleResultOf(t, parsePage(t, w.Body.Bytes()))); !strings.HasPrefix(got, closed+" is down, rtt ") || !strings.Contains(got, "refused") {
		t.Errorf("index result %q", got)
	}
}
