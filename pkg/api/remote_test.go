package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html/atom"

	"github.com/srvmon/srvmon/pkg/store"
)

// TestRemoteChecks merges other instances' /api/checks, served by real
// HTTP servers on loopback, into the chart and the checks page; remotes
// that fail, hang, answer garbage or cannot be reached are logged and
// skipped.
func TestRemoteChecks(t *testing.T) {
	var mu sync.Mutex
	var asked []url.Values
	var auth []string
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Query())
		u, p, _ := r.BasicAuth()
		auth = append(auth, u+":"+p)
		mu.Unlock()
		if r.URL.Path != "/api/checks" || r.Method != "GET" {
			http.Error(w, "wrong endpoint", 404)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[{"time":%q,"rtt":20000000,"up":true},{"time":%q,"rtt":5000000,"up":true},`+
			`{"time":%q,"rtt":9000000,"up":true},{"time":%q,"rtt":7000000,"up":true},{"time":%q,"rtt":1,"up":true}]`,
			slot(3).Format(time.RFC3339), slot(2).Format(time.RFC3339),
			slot(1).Add(15*time.Second).Format(time.RFC3339), slot(1).Format(time.RFC3339),
			slot(10).Format(time.RFC3339)) // the last is outside the range
	}))
	defer good.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", 500)
	}))
	defer failing.Close()
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(release)
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"time":"x"}`)
	}))
	defer garbage.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()

	remotes := []string{good.URL + "/api/checks", failing.URL + "/api/checks", hanging.URL + "/api/checks", garbage.URL + "/api/checks", goneURL + "/api/checks"}
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seed(t, st, []string{"example.org"}, []store.Result{
			{Host: "example.org", Slot: slot(3), RTT: 10 * time.Millisecond, Up: true},
			{Host: "example.org", Slot: slot(2), RTT: time.Second, Up: false, Reason: "timeout"},
		})
		e := newEnv(t, st, Options{
			RemoteChecksURLs: remotes,
			RemoteTimeout:    200 * time.Millisecond,
			Auth:             Auth{Enable: true, User: "u", Password: "p"},
		})
		rng := "host=example.org&start=" + itoa(slot(4).Unix()) + "&end=" + itoa(slot(0).Unix())

		w := e.get("/web/checks/svg?" + rng)
		expect(t, w, http.StatusOK, "")
		if header, want := parseSVG(t, w.Body.Bytes()), "Host: example.org Up 75.00% Down 0.00% Unknown 25.00% Average RTT 7.333ms"; header != want {
			t.Errorf("chart header %q, want %q", header, want)
		}

		w = e.get("/web/checks?" + rng)
		expect(t, w, http.StatusOK, "")
		var rows []string
		for _, tr := range findAll(parsePage(t, w.Body.Bytes()), atom.Tr)[1:] {
			rows = append(rows, textOf(tr))
		}
		want := []string{"2021-03-02 11:57:00 UTC 10ms up", "2021-03-02 11:58:00 UTC 5ms up", "2021-03-02 11:59:00 UTC 7ms up"}
		if !slices.Equal(rows, want) {
			t.Errorf("rows %q, want %q", rows, want)
		}

		// /api/checks serves local data only, so instances can list each other.
		expect(t, e.get("/api/checks?"+rng), http.StatusOK, `[{"time":"2021-03-02T11:57:00Z","rtt":10000000,"up":true},{"time":"2021-03-02T11:58:00Z","rtt":1000000000,"up":false,"error":"timeout"}]`)

		// An unknown host is 404 without asking anyone.
		mu.Lock()
		n := len(asked)
		mu.Unlock()
		expect(t, e.get("/web/checks/svg?host=nope.example"), http.StatusNotFound, "unknown host")
		mu.Lock()
		defer mu.Unlock()
		if len(asked) != n {
			t.Error("remotes asked about an unknown host")
		}
		for i, q := range asked {
			if q.Get("host") != "example.org" || q.Get("start") != itoa(slot(4).Unix()) || q.Get("end") != itoa(slot(0).Unix()) || auth[i] != "u:p" {
				t.Errorf("remote asked %v with %q", q, auth[i])
			}
		}
		asked, auth = nil, nil
		if got := strings.Count(e.log.String(), "remote checks skipped"); got != 8 {
			t.Errorf("%d skipped remotes logged, want 8 (4 per request):\n%s", got, e.log.String())
		}
		if strings.Contains(e.log.String(), "u:p") {
			t.Error("credentials in the log")
		}
	})
}

func TestMergeSorted(t *testing.T) {
	at := func(i int, rtt time.Duration, up bool) store.Check {
		return store.Check{Time: slot(10 - i), RTT: rtt, Up: up}
	}
	remote := []store.Check{at(0, 5, true), at(2, 3, true), at(3, 9, false), at(6, 1, true)}
	local := []store.Check{at(1, 4, true), at(2, 7, true), at(3, 2, false), at(4, 8, false)}
	var got []store.Check
	add, rest := mergeSorted(remote, func(c store.Check) error { got = append(got, c); return nil })
	for _, c := range local {
		if err := add(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := rest(); err != nil {
		t.Fatal(err)
	}
	want := []store.Check{at(0, 5, true), at(1, 4, true), at(2, 3, true), at(3, 2, false), at(4, 8, false), at(6, 1, true)}
	if !slices.EqualFunc(got, want, func(a, b store.Check) bool { return a.Time.Equal(b.Time) && a.RTT == b.RTT && a.Up == b.Up }) {
		t.Errorf("merged %v\nwant %v", got, want)
	}
}
