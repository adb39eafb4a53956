package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

func TestHosts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, Options{})
		list := func() []string {
			t.Helper()
			w := e.get("/api/hosts")
			expect(t, w, http.StatusOK, "")
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var hosts []string
			if err := json.Unmarshal(w.Body.Bytes(), &hosts); err != nil || hosts == nil {
				t.Fatalf("hosts %q: %v (null is not a list)", w.Body.String(), err)
			}
			return hosts
		}
		if got := list(); len(got) != 0 {
			t.Fatalf("hosts %v, want none", got)
		}
		steps := []struct {
			name string
			req  request
			code int
			want string
		}{
			{"add", request{method: "POST", target: "/api/hosts", body: "example.org"}, http.StatusCreated, ""},
			{"add trims a trailing newline", request{method: "POST", target: "/api/hosts", body: "https://b.example/\n"}, http.StatusCreated, ""},
			{"add again", request{method: "POST", target: "/api/hosts", body: "example.org"}, http.StatusConflict, `host "example.org" already exists`},
			{"add a bad target", request{method: "POST", target: "/api/hosts", body: "bad host"}, http.StatusBadRequest, "is not acceptable"},
			{"add nothing", request{method: "POST", target: "/api/hosts"}, http.StatusBadRequest, "empty body"},
			{"add a huge body", request{method: "POST", target: "/api/hosts", body: strings.Repeat("a", smallBodyBytes+1)}, http.StatusRequestEntityTooLarge, "larger than the limit of 64 KiB"},
			{"old add", request{method: "GET", target: "/api/hosts?action=add&host=c.example:443"}, http.StatusSeeOther, ""},
			{"old add, bad", request{method: "GET", target: "/api/hosts?action=add&host=bad%20host"}, http.StatusBadRequest, "is not acceptable"},
			{"old add, missing host", request{method: "GET", target: "/api/hosts?action=add"}, http.StatusBadRequest, "missing host"},
			{"old, unknown action", request{method: "GET", target: "/api/hosts?action=nuke&host=x"}, http.StatusBadRequest, `unknown action "nuke"`},
			{"old add from another site", request{method: "GET", target: "/api/hosts?action=add&host=d.example", header: http.Header{"Sec-Fetch-Site": {"cross-site"}}}, http.StatusForbidden, "cross-site"},
			{"delete", request{method: "DELETE", target: "/api/hosts", body: "example.org"}, http.StatusOK, ""},
			{"delete again", request{method: "DELETE", target: "/api/hosts", body: "example.org"}, http.StatusNotFound, `unknown host "example.org"`},
			{"delete a bad target", request{method: "DELETE", target: "/api/hosts", body: "bad host"}, http.StatusBadRequest, "is not acceptable"},
			{"old del", request{method: "GET", target: "/api/hosts?action=del&host=c.example:443"}, http.StatusSeeOther, ""},
			{"old del, unknown", request{method: "GET", target: "/api/hosts?action=del&host=c.example:443"}, http.StatusNotFound, "unknown host"},
			{"cross-origin POST", request{method: "POST", target: "/api/hosts", body: "e.example", header: http.Header{"Sec-Fetch-Site": {"cross-site"}}}, http.StatusForbidden, ""},
		}
		for _, s := range steps {
			w := e.serve(s.req)
			if w.Code != s.code || !strings.Contains(w.Body.String(), s.want) {
				t.Errorf("%s: %d %q, want %d %q", s.name, w.Code, w.Body.String(), s.code, s.want)
			}
		}
		if got, want := list(), []string{"https://b.example/"}; !slices.Equal(got, want) {
			t.Errorf("hosts %v, want %v", got, want)
		}
	})
}

func TestOldActionRedirects(t *testing.T) {
	e := newEnv(t, backends()[0].open(t), Options{})
	w := e.get("/api/hosts?action=add&host=example.org")
	expect(t, w, http.StatusSeeOther, "")
	if loc := w.Header().Get("Location"); loc != "../web/hosts?action=created" {
		t.Errorf("Location %q", loc)
	}
}

// checkJSON is a check as a client decodes it.
type checkJSON struct {
	Time  time.Time `json:"time"`
	RTT   int64     `json:"rtt"`
	Up    bool      `json:"up"`
	Error *string   `json:"error"`
}

func TestChecks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seed(t, st, []string{"example.org", "idle.example"}, []store.Result{
			{Host: "example.org", Slot: slot(3), RTT: 3 * time.Millisecond, Up: true},
			{Host: "example.org", Slot: slot(2), RTT: time.Second, Up: false, Reason: "timeout after 1s"},
			{Host: "example.org", Slot: slot(1), RTT: time.Millisecond, Up: true},
			{Host: "example.org", Location: "eu", Slot: slot(1), RTT: 500 * time.Microsecond, Up: true},
			{Host: "example.org", Slot: slot(24 * 60), RTT: time.Millisecond, Up: true}, // just outside 24 h
		})
		e := newEnv(t, st, Options{})
		all := []checkJSON{
			{Time: slot(3), RTT: 3e6, Up: true},
			{Time: slot(2), RTT: 1e9, Up: false, Error: ptr("timeout after 1s")},
			{Time: slot(1), RTT: 5e5, Up: true}, // the lowest rtt of the locations
		}
		q := func(host string, start, end time.Time) string {
			return "/api/checks?" + url.Values{"host": {host}, "start": {itoa(start.Unix())}, "end": {itoa(end.Unix())}}.Encode()
		}
		body := func(host, start, end string) string {
			b, _ := json.Marshal(map[string]string{"host": host, "start": start, "end": end})
			return string(b)
		}
		tests := []struct {
			name string
			req  request
			want []checkJSON
		}{
			{"default range is the last 24 hours", request{method: "GET", target: "/api/checks?host=example.org"}, all},
			{"unix seconds, end included", request{method: "GET", target: q("example.org", slot(2), slot(1))}, all[1:]},
			{"end only: the 24 hours before it", request{method: "GET", target: "/api/checks?host=example.org&end=" + itoa(slot(2).Unix())}, []checkJSON{{Time: slot(24 * 60), RTT: 1e6, Up: true}, all[0], all[1]}},
			{"start == end: the check at that time", request{method: "GET", target: q("example.org", slot(2), slot(2))}, all[1:2]},
			{"end a second before a check", request{method: "GET", target: q("example.org", slot(3), slot(2).Add(-time.Second))}, all[:1]},
			{"empty range", request{method: "GET", target: q("example.org", slot(5), slot(4))}, []checkJSON{}},
			{"host without checks", request{method: "GET", target: "/api/checks?host=idle.example"}, []checkJSON{}},
			{"POST with RFC 3339, end included", request{method: "POST", target: "/api/checks", body: body("example.org", slot(3).Format(time.RFC3339), slot(1).Format(time.RFC3339))}, all},
			{"POST, start == end", request{method: "POST", target: "/api/checks", body: body("example.org", slot(1).Format(time.RFC3339), slot(1).Format(time.RFC3339))}, all[2:]},
			{"POST, end a nanosecond before a check", request{method: "POST", target: "/api/checks", body: body("example.org", slot(3).Format(time.RFC3339), slot(1).Add(-1).Format(time.RFC3339Nano))}, all[:2]},
			{"POST, end at the last time there is", request{method: "POST", target: "/api/checks", body: body("example.org", slot(1).Format(time.RFC3339), "2262-01-01T00:00:00Z")}, all[2:]},
			{"POST with defaults", request{method: "POST", target: "/api/checks", body: `{"host":"example.org"}`}, all},
			{"POST, other zone", request{method: "POST", target: "/api/checks", body: body("example.org", slot(2).In(time.FixedZone("X", 3600)).Format(time.RFC3339), slot(0).Format(time.RFC3339))}, all[1:]},
		}
		for _, tt := range tests {
			w := e.serve(tt.req)
			expect(t, w, http.StatusOK, "")
			var got []checkJSON
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got == nil {
				t.Fatalf("%s: %q: %v", tt.name, w.Body.String(), err)
			}
			if !slices.EqualFunc(got, tt.want, equalCheck) {
				t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
			}
		}

		errs := []struct {
			name string
			req  request
			code int
			want string
		}{
			{"missing host", request{method: "GET", target: "/api/checks"}, 400, "missing host parameter"},
			{"unknown host", request{method: "GET", target: "/api/checks?host=nope.example"}, 404, `unknown host "nope.example"`},
			{"bad host", request{method: "GET", target: "/api/checks?host=bad%20host"}, 400, "is not acceptable"},
			{"bad start", request{method: "GET", target: "/api/checks?host=example.org&start=yesterday"}, 400, `start "yesterday" is not a time`},
			{"end before start", request{method: "GET", target: q("example.org", slot(1), slot(2))}, 400, "end is before start"},
			{"start before 1970", request{method: "GET", target: "/api/checks?host=example.org&start=-1"}, 400, "outside 1970-01-01..2262-01-01"},
			{"end far away", request{method: "GET", target: "/api/checks?host=example.org&end=99999999999"}, 400, "outside"},
			{"bad JSON", request{method: "POST", target: "/api/checks", body: `{"host":`}, 400, "bad JSON body"},
			{"bad JSON time", request{method: "POST", target: "/api/checks", body: `{"host":"example.org","start":"soon"}`}, 400, "bad JSON body"},
			{"two JSON values", request{method: "POST", target: "/api/checks", body: `{"host":"example.org"} {}`}, 400, "more than one value"},
			{"POST unknown host", request{method: "POST", target: "/api/checks", body: `{"host":"nope.example"}`}, 404, "unknown host"},
		}
		for _, tt := range errs {
			w := e.serve(tt.req)
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("%s: %d %q, want %d %q", tt.name, w.Code, w.Body.String(), tt.code, tt.want)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

func equalCheck(a, b checkJSON) bool {
	return a.Time.Equal(b.Time) && a.RTT == b.RTT && a.Up == b.Up && (a.Error == nil) == (b.Error == nil) && (a.Error == nil || *a.Error == *b.Error)
}

// TestCheckJSON: the hand-written JSON is what encoding/json writes for
// store.Check, with the time in UTC.
func TestCheckJSON(t *testing.T) {
	for _, c := range []store.Check{
		{Time: now, RTT: 1234, Up: true},
		{Time: now.Add(123456789), RTT: 0, Up: false, Error: `dial tcp: "x" <refused> & more` + "\n\x00\u2028\xff"},
		{Time: time.Date(2262, 1, 1, 0, 0, 0, 1, time.FixedZone("X", -7200))},
	} {
		utc := c
		utc.Time = c.Time.UTC()
		want, err := json.Marshal(utc)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendCheck(nil, c); string(got) != string(want) {
			t.Errorf("appendCheck\n got %s\nwant %s", got, want)
		}
	}
}

func TestChecksLast(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seed(t, st, []string{"example.org", "idle.example"}, []store.Result{
			{Host: "example.org", Slot: slot(2), RTT: time.Millisecond, Up: true},
			{Host: "example.org", Slot: slot(1), RTT: 2 * time.Second, Up: false, Reason: "connection refused"},
		})
		e := newEnv(t, st, Options{})
		for _, req := range []request{
			{method: "GET", target: "/api/checks/last?host=example.org"},
			{method: "POST", target: "/api/checks/last", body: "example.org"},
		} {
			w := e.serve(req)
			expect(t, w, http.StatusOK, "")
			want := `{"time":"` + slot(1).Format(time.RFC3339) + `","rtt":2000000000,"up":false,"error":"connection refused"}` + "\n"
			if w.Body.String() != want {
				t.Errorf("%s: %q, want %q", req.method, w.Body.String(), want)
			}
		}
		for _, tt := range []struct {
			req  request
			code int
			want string
		}{
			{request{method: "GET", target: "/api/checks/last"}, 400, "missing host parameter"},
			{request{method: "POST", target: "/api/checks/last"}, 400, "empty body"},
			{request{method: "GET", target: "/api/checks/last?host=nope.example"}, 404, `unknown host "nope.example"`},
			{request{method: "GET", target: "/api/checks/last?host=bad%20host"}, 400, "is not acceptable"},
			{request{method: "GET", target: "/api/checks/last?host=idle.example"}, 404, `host "idle.example" has no checks yet`},
		} {
			w := e.serve(tt.req)
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("%s %s: %d %q, want %d %q", tt.req.method, tt.req.target, w.Code, w.Body.String(), tt.code, tt.want)
			}
		}
	})
}

func TestSingleCheck(t *testing.T) {
	st := backends()[0].open(t)
	off := newEnv(t, st, Options{})
	expect(t, off.get("/api/check?host=example.org"), http.StatusNotFound, "404 page not found")

	e := newEnv(t, st, Options{Checker: fakeChecker{up: false, rtt: 10 * time.Second, reason: "timeout after 10s"}})
	for _, req := range []request{
		{method: "GET", target: "/api/check?host=example.org:443"},
		{method: "POST", target: "/api/check", body: "example.org:443"},
	} {
		w := e.serve(req)
		expect(t, w, http.StatusOK, "")
		want := `{"time":"` + now.Format(time.RFC3339) + `","rtt":10000000000,"up":false,"error":"timeout after 10s"}` + "\n"
		if w.Body.String() != want {
			t.Errorf("%s: %q, want %q", req.method, w.Body.String(), want)
		}
	}
	expect(t, e.get("/api/check?host=bad%20host"), http.StatusBadRequest, "is not acceptable")
	expect(t, e.get("/api/check"), http.StatusBadRequest, "missing host parameter")
	up := newEnv(t, st, Options{Checker: fakeChecker{up: true, rtt: time.Millisecond, reason: "ignored when up"}})
	expect(t, up.get("/api/check?host=example.org"), http.StatusOK, `"rtt":1000000,"up":true}`)
}

func TestRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seed(t, st, []string{"example.org"}, nil)
		e := newEnv(t, st, Options{})
		expect(t, e.get("/api/notifications_params"), http.StatusOK, "[]")
		steps := []struct {
			name string
			req  request
			code int
			want string
		}{
			{"add", request{method: "POST", target: "/api/notifications_params", body: `{"host":"example.org","threshold":3,"action":"https://hook.example/?h={HOST}&s={STATE}"}`}, 201, ""},
			{"replace", request{method: "POST", target: "/api/notifications_params", body: `{"host":"example.org","threshold":2,"action":"https://hook.example/{HOST}","extra":1}`}, 201, ""},
			{"unknown host", request{method: "POST", target: "/api/notifications_params", body: `{"host":"nope.example","threshold":1,"action":""}`}, 404, "unknown host"},
			{"negative threshold", request{method: "POST", target: "/api/notifications_params", body: `{"host":"example.org","threshold":-1}`}, 400, "threshold -1 is negative"},
			{"bad action", request{method: "POST", target: "/api/notifications_params", body: `{"host":"example.org","threshold":1,"action":"ftp://x"}`}, 400, "action must be an http or https URL"},
			{"no host", request{method: "POST", target: "/api/notifications_params", body: `{"threshold":1}`}, 400, "rule without a host"},
			{"bad JSON", request{method: "POST", target: "/api/notifications_params", body: `{"host":1}`}, 400, "bad JSON body"},
			{"old name", request{method: "GET", target: "/api/state_change_params"}, 200, `"threshold":2`},
		}
		for _, s := range steps {
			w := e.serve(s.req)
			if w.Code != s.code || !strings.Contains(w.Body.String(), s.want) {
				t.Errorf("%s: %d %q, want %d %q", s.name, w.Code, w.Body.String(), s.code, s.want)
			}
		}
		w := e.get("/api/notifications_params")
		var rules []store.Rule
		if err := json.Unmarshal(w.Body.Bytes(), &rules); err != nil {
			t.Fatal(err)
		}
		want := []store.Rule{{Host: "example.org", Threshold: 2, Action: "https://hook.example/{HOST}"}}
		if !reflect.DeepEqual(rules, want) {
			t.Errorf("rules %+v, want %+v", rules, want)
		}
		expect(t, e.serve(request{method: "DELETE", target: "/api/notifications_params", body: "example.org"}), 200, "")
		expect(t, e.serve(request{method: "DELETE", target: "/api/notifications_params", body: "example.org"}), 404, `host "example.org" has no notification rule`)
		expect(t, e.serve(request{method: "DELETE", target: "/api/state_change_params"}), 400, "empty body")
		if rules, _ := st.Rules(context.Background()); len(rules) != 0 {
			t.Errorf("rules left: %v", rules)
		}
	})
}

func TestRouting(t *testing.T) {
	e := newEnv(t, backends()[0].open(t), Options{Checker: fakeChecker{}})
	for _, tt := range []struct {
		method, target string
		code           int
		allow          string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/api/hosts/", 404, ""},
		{"GET", "/web/", 404, ""},
		{"GET", "/index.htm", 404, ""},
		{"PUT", "/api/hosts", 405, "DELETE, GET, HEAD, POST"},
		{"DELETE", "/api/checks", 405, "GET, HEAD, POST"},
		{"PATCH", "/api/check", 405, "GET, HEAD, POST"},
		{"DELETE", "/api/backup_full", 405, "GET, HEAD, POST, PUT"},
		{"POST", "/", 405, "GET, HEAD"},
		{"POST", "/web/view", 405, "GET, HEAD"},
		{"GET", "/favicon.ico", 204, ""},
		{"HEAD", "/api/hosts", 200, ""},
	} {
		w := e.serve(request{method: tt.method, target: tt.target})
		if w.Code != tt.code {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.target, w.Code, tt.code)
		}
		if got := w.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.target, got, tt.allow)
		}
	}
}

func TestNilStorePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New without a store did not panic")
		}
	}()
	New(Options{})
}

// failingStore fails Checks and Results after some rows.
type failingStore struct {
	store.Store
	after int
}

var errDisk = errors.New("disk on fire")

func (s failingStore) Checks(ctx context.Context, host string, start, end time.Time, fn func(store.Check) error) error {
	for i := range s.after {
		if err := fn(store.Check{Time: slot(s.after - i), Up: true}); err != nil {
			return err
		}
	}
	return errDisk
}

func (s failingStore) Results(ctx context.Context, host string, start, end time.Time, fn func(store.Result) error) error {
	for i := range s.after {
		if err := fn(store.Result{Host: host, Slot: slot(s.after - i), Up: true}); err != nil {
			return err
		}
	}
	return errDisk
}

// TestStreamFailure: a store error before anything was sent is a 500 (the
// error logged, not shown); after the 200 went out, the response is
// aborted so the client cannot take it for complete.
func TestStreamFailure(t *testing.T) {
	mem := backends()[0].open(t)
	seed(t, mem, []string{"example.org"}, nil)
	for _, tt := range []struct {
		target string
		early  bool // a failure at the start can still be answered
	}{
		{"/api/checks?host=example.org", true},
		{"/web/checks?host=example.org", true},
		{"/api/backup_full", false}, // its first bytes leave at once
	} {
		if tt.early {
			e := newEnv(t, failingStore{Store: mem, after: 10}, Options{})
			expect(t, e.get(tt.target), http.StatusInternalServerError, "internal server error (logged)")
			if !strings.Contains(e.log.String(), `error="disk on fire"`) { // the key of errors is "error"
				t.Errorf("%s: error not logged: %s", tt.target, e.log.String())
			}
		}
		e := newEnv(t, failingStore{Store: mem, after: 5000}, Options{})
		func() {
			defer func() {
				if p := recover(); p != http.ErrAbortHandler {
					t.Errorf("%s: panic %v, want http.ErrAbortHandler", tt.target, p)
				}
			}()
			e.get(tt.target)
		}()
		if !strings.Contains(e.log.String(), "streamed response failed") || !strings.Contains(e.log.String(), `error="disk on fire"`) {
			t.Errorf("%s: failure not logged: %s", tt.target, e.log.String())
		}
	}
}

// FuzzChecksQuery: whatever the range parameters, /api/checks and the
// chart answer 200 or a 400 with a one-line reason.
func FuzzChecksQuery(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"1614686400", "1614772800"}, {"yesterday", ""}, {"-1", ""}, {"", "99999999999"},
		{"2021-03-02T12:00:00Z", "2021-03-02T13:00:00+01:00"}, {"2021-03-02T12:00", "2021-03-02T12:00:59"},
		{"1614772800", "1614686400"}, {"0", "9214646400"},
	} {
		f.Add(s[0], s[1])
	}
	st := backends()[0].open(f)
	seed(f, st, []string{"example.org"}, []store.Result{{Host: "example.org", Slot: slot(1), Up: true}})
	e := newEnv(f, st, Options{})
	f.Fuzz(func(t *testing.T, start, end string) {
		e.t = t
		q := url.Values{"host": {"example.org"}, "start": {start}, "end": {end}}.Encode()
		for _, path := range []string{"/api/checks?", "/web/checks/svg?"} {
			w := e.get(path + q)
			if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
				t.Fatalf("%s%s: %d %q", path, q, w.Code, w.Body.String())
			}
			if w.Code == http.StatusBadRequest && strings.Count(strings.TrimSuffix(w.Body.String(), "\n"), "\n") > 0 {
				t.Fatalf("reason is not one line: %q", w.Body.String())
			}
		}
	})
}

// nilListStore returns nil lists, which the contract forbids but a
// backend might still do.
type nilListStore struct{ store.Store }

func (nilListStore) Hosts(context.Context) ([]string, error)     { return nil, nil }
func (nilListStore) Rules(context.Context) ([]store.Rule, error) { return nil, nil }

func TestEmptyListsAreNotNull(t *testing.T) {
	e := newEnv(t, nilListStore{backends()[0].open(t)}, Options{})
	expect(t, e.get("/api/hosts"), http.StatusOK, "[]\n")
	expect(t, e.get("/api/notifications_params"), http.StatusOK, "[]\n")
	expect(t, e.get("/api/backup"), http.StatusOK, `{"hosts":[],"notifications":[]}`)
	expect(t, e.get("/api/backup_full"), http.StatusOK, `{"hosts":[],"notifications":[],"checks":{}}`)
}

// TestChecksLastConcurrent: answers written at the same time, of
// different lengths (the buffers they are written from are reused),
// each hold their own host's check.
func TestChecksLastConcurrent(t *testing.T) {
	st := backends()[0].open(t)
	const hosts = 8
	var names []string
	var results []store.Result
	want := map[string]string{}
	for i := range hosts {
		h := fmt.Sprintf("h%d.example", i)
		reason := strings.Repeat("x", i*60) // 0 to 420 bytes: longer than a fresh buffer
		names = append(names, h)
		results = append(results, store.Result{Host: h, Slot: slot(i + 1), RTT: time.Duration(i+1) * time.Millisecond, Up: reason == "", Reason: reason})
		want[h] = `{"time":"` + slot(i+1).Format(time.RFC3339) + `","rtt":` + strconv.Itoa((i+1)*1e6) + `,"up":` + strconv.FormatBool(reason == "")
		if reason != "" {
			want[h] += `,"error":"` + reason + `"`
		}
		want[h] += "}\n"
	}
	seed(t, st, names, results)
	e := newEnv(t, st, Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				h := names[(g+i)%hosts]
				w := e.get("/api/checks/last?host=" + h)
				if w.Code != http.StatusOK || w.Body.String() != want[h] {
					t.Errorf("%s: %d %q, want %q", h, w.Code, w.Body.String(), want[h])
					return
				}
			}
		})
	}
	wg.Wait()
}
