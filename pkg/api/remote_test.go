package api

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// checksRows GETs the checks page and returns its rows.
func checksRows(t *testing.T, e *env, target string) []string {
	t.Helper()
	w := e.get(target)
	expect(t, w, http.StatusOK, "")
	var rows []string
	for _, tr := range findAll(parsePage(t, w.Body.Bytes()), atom.Tr)[1:] {
		rows = append(rows, textOf(tr))
	}
	return rows
}

// TestRemoteFaults: a remote whose answer goes wrong part way adds the
// checks it sent before and is logged with the reason; one that answers
// null (gosrvmon, no checks) adds nothing and is fine.
func TestRemoteFaults(t *testing.T) {
	check := func(i int, rtt string) string {
		return fmt.Sprintf(`{"time":%q,"rtt":%s,"up":true}`, slot(i).Format(time.RFC3339), rtt)
	}
	local := []string{"2021-03-02 11:57:00 UTC 10ms up", "2021-03-02 11:58:00 UTC 1s down timeout"}
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		limit  int64
		rows   []string
		log    string // "" for none
	}{
		{
			name:   "unsorted",
			answer: answer("[" + check(3, "5000000") + "," + check(1, "7000000") + "," + check(2, "1") + "]"),
			rows:   []string{"2021-03-02 11:57:00 UTC 5ms up", "2021-03-02 11:58:00 UTC 1s down timeout", "2021-03-02 11:59:00 UTC 7ms up"},
			log:    "answer is not sorted by time: 2021-03-02T11:58:00Z after 2021-03-02T11:59:00Z",
		},
		{
			name:   "cut short",
			answer: answer("[" + check(3, "5000000") + ","),
			rows:   []string{"2021-03-02 11:57:00 UTC 5ms up", local[1]},
			log:    "answer is cut short",
		},
		{
			name:   "bad check part way",
			answer: answer("[" + check(3, "5000000") + `,{"time":"soon"}]`),
			rows:   []string{"2021-03-02 11:57:00 UTC 5ms up", local[1]},
			log:    "bad check in answer",
		},
		{
			name:   "larger than the limit",
			answer: answer("[" + check(3, "5000000") + "," + check(1, "7000000") + "]"),
			limit:  80, // the first check, not the second
			rows:   []string{"2021-03-02 11:57:00 UTC 5ms up", local[1]},
			log:    "answer is larger than the limit of 80 bytes",
		},
		{
			name: "stalls part way",
			answer: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "["+check(3, "5000000")+",")
				http.NewResponseController(w).Flush()
				<-r.Context().Done()
			},
			rows: []string{"2021-03-02 11:57:00 UTC 5ms up", local[1]},
			log:  "remote stalled: nothing within 200ms",
		},
		{name: "null", answer: answer("null"), rows: local},
		{name: "empty", answer: answer("[]"), rows: local},
		{name: "not an array", answer: answer(`{"checks":[]}`), rows: local, log: "answer is not a JSON array: it starts with {"},
		{name: "not JSON", answer: answer(`<html>`), rows: local, log: "answer is not a JSON array: invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := httptest.NewServer(http.HandlerFunc(tt.answer))
			defer remote.Close()
			st := backends()[0].open(t)
			seed(t, st, []string{"example.org"}, []store.Result{
				{Host: "example.org", Slot: slot(3), RTT: 10 * time.Millisecond, Up: true},
				{Host: "example.org", Slot: slot(2), RTT: time.Second, Up: false, Reason: "timeout"},
			})
			e := newEnv(t, st, Options{RemoteChecksURLs: []string{remote.URL + "/api/checks"}, RemoteTimeout: 200 * time.Millisecond, MaxRemoteBytes: tt.limit})
			rows := checksRows(t, e, "/web/checks?host=example.org&start="+itoa(slot(4).Unix())+"&end="+itoa(slot(0).Unix()))
			if !slices.Equal(rows, tt.rows) {
				t.Errorf("rows %q, want %q", rows, tt.rows)
			}
			logged := e.log.String()
			switch {
			case tt.log == "" && logged != "":
				t.Errorf("logged %s", logged)
			case tt.log != "" && (!strings.Contains(logged, "remote checks skipped") || !strings.Contains(logged, tt.log) || !strings.Contains(logged, "error=")):
				t.Errorf("log %q does not say %q", logged, tt.log)
			}
		})
	}
}

// answer is a remote that answers body.
func answer(body string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

// TestRemoteLongAnswer: RemoteTimeout bounds each wait for a remote, not
// its whole answer: one that keeps sending for longer is merged whole.
func TestRemoteLongAnswer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	var sent atomic.Int64
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		start := time.Now()
		io.WriteString(w, "[")
		for i := 59; i > 0 && time.Since(start) < 3*timeout; i-- {
			if i < 59 {
				io.WriteString(w, ",")
			}
			fmt.Fprintf(w, `{"time":%q,"rtt":%d,"up":true}`, slot(i).Format(time.RFC3339), i)
			sent.Add(1)
			rc.Flush()
			time.Sleep(timeout / 6)
		}
		io.WriteString(w, "]")
	}))
	defer remote.Close()
	st := backends()[0].open(t)
	seed(t, st, []string{"example.org"}, nil)
	e := newEnv(t, st, Options{RemoteChecksURLs: []string{remote.URL}, RemoteTimeout: timeout})
	rows := checksRows(t, e, "/web/checks?host=example.org&start="+itoa(slot(60).Unix())+"&end="+itoa(slot(0).Unix()))
	if n := sent.Load(); len(rows) != int(n) || n < 2 {
		t.Errorf("%d rows, the remote sent %d", len(rows), n)
	}
	if strings.Contains(e.log.String(), "skipped") {
		t.Errorf("remote skipped: %s", e.log)
	}
}

// TestRemoteChecksEndIncluded: a check at the range's end, stored locally
// and served by a remote (asked with that end, which it includes), is in
// the checks page once; the chart keeps its buckets, which end before it.
func TestRemoteChecksEndIncluded(t *testing.T) {
	var mu sync.Mutex
	var asked []url.Values
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Query())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[{"time":%q,"rtt":4000000,"up":true},{"time":%q,"rtt":3000000,"up":true}]`,
			slot(2).Format(time.RFC3339), slot(1).Format(time.RFC3339))
	}))
	defer remote.Close()
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seed(t, st, []string{"example.org"}, []store.Result{
			{Host: "example.org", Slot: slot(2), RTT: 5 * time.Millisecond, Up: true},
			{Host: "example.org", Slot: slot(1), RTT: 9 * time.Millisecond, Up: false, Reason: "refused"},
		})
		e := newEnv(t, st, Options{RemoteChecksURLs: []string{remote.URL + "/api/checks"}})
		rng := "host=example.org&start=" + itoa(slot(2).Unix()) + "&end=" + itoa(slot(1).Unix())
		w := e.get("/web/checks?" + rng)
		expect(t, w, http.StatusOK, "")
		var rows []string
		for _, tr := range findAll(parsePage(t, w.Body.Bytes()), atom.Tr)[1:] {
			rows = append(rows, textOf(tr))
		}
		want := []string{"2021-03-02 11:58:00 UTC 4ms up", "2021-03-02 11:59:00 UTC 3ms up"}
		if !slices.Equal(rows, want) {
			t.Errorf("rows %q, want %q", rows, want)
		}
		w = e.get("/web/checks/svg?" + rng)
		expect(t, w, http.StatusOK, "")
		if header, want := parseSVG(t, w.Body.Bytes()), "Host: example.org Up 100.00% Down 0.00% Unknown 0.00% Average RTT 4ms"; header != want {
			t.Errorf("chart header %q, want %q", header, want)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, q := range asked {
			if q.Get("end") != itoa(slot(1).Unix()) {
				t.Errorf("remote asked %v", q)
			}
		}
		asked = nil
	})
}
