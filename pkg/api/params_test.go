package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// padding is n extra query parameters.
func padding(n int) string { return strings.Repeat("&x=1", n) }

// TestBadQuery: a query or form that does not parse is a 400 saying why,
// on every route that reads parameters, not "missing host parameter".
func TestBadQuery(t *testing.T) {
	st := backends()[0].open(t)
	seed(t, st, []string{"example.org"}, []store.Result{{Host: "example.org", Slot: slot(1), Up: true}})
	e := newEnv(t, st, Options{Checker: fakeChecker{up: true}})
	tooMany := "bad query: too many parameters (limit 10000)"
	paths := []string{
		"/", "/api/hosts", "/api/checks", "/api/checks/last", "/api/check", "/web/checks",
		"/web/checks/svg", "/web/view", "/web/hosts", "/web/notifications_params",
	}
	for _, p := range paths {
		// 9,999 extra parameters and host: 10,000 in all, the limit.
		if p != "/api/check" && p != "/" {
			if w := e.get(p + "?host=example.org" + padding(9999)); w.Code != http.StatusOK {
				t.Errorf("%s with 10000 parameters: %d %q", p, w.Code, w.Body.String())
			}
		}
		expect(t, e.get(p+"?host=example.org"+padding(10000)), http.StatusBadRequest, tooMany)
		expect(t, e.get(p+"?host=example.org&x=%zz"), http.StatusBadRequest, `bad query: invalid URL escape "%zz"`)
		expect(t, e.get(p+"?host=example.org;x=1"), http.StatusBadRequest, "bad query: invalid semicolon separator")
	}

	form := func(path, body, ct string) request {
		return request{method: "POST", target: path, body: body, header: http.Header{"Content-Type": {ct}}}
	}
	const urlencoded = "application/x-www-form-urlencoded"
	for _, p := range []string{"/web/hosts", "/web/notifications_params"} {
		expect(t, e.serve(form(p, "action=del&host=example.org"+padding(10000), urlencoded)), http.StatusBadRequest, "bad form: too many parameters (limit 10000)")
		expect(t, e.serve(form(p, "action=del&host=%zz", urlencoded)), http.StatusBadRequest, `bad form: invalid URL escape "%zz"`)
		expect(t, e.serve(form(p, `{"action":"del"}`, "application/json")), http.StatusBadRequest, `bad form: Content-Type "application/json"`)
	}
	// A form without a Content-Type is still read as one (curl -X POST --data-binary).
	w := e.serve(request{method: "POST", target: "/web/hosts", body: "action=add&host=" + url.QueryEscape("new.example")})
	expect(t, w, http.StatusSeeOther, "")
}

// FuzzQueryParams: whatever the query, queryParams gives the values
// url.ParseQuery gives, or a one-line 400.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{"", "host=a", "host=a&start=1", "a=%zz", "a;b", "&&&", "host=xxxxx", strings.Repeat("&", maxParams)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, _ := http.NewRequest("GET", "http://127.0.0.1/api/checks", nil)
		r.URL.RawQuery = raw
		got, err := queryParams(r)
		want, werr := url.ParseQuery(raw)
		if err != nil {
			he, ok := err.(*httpError)
			if !ok || he.code != http.StatusBadRequest || strings.ContainsAny(he.msg, "\r\n") {
				t.Fatalf("%q: error %#v", raw, err)
			}
			if werr == nil && strings.Count(raw, "&") < maxParams {
				t.Fatalf("%q: %v, yet url.ParseQuery accepts it", raw, err)
			}
			return
		}
		if werr != nil || len(got) != len(want) {
			t.Fatalf("%q: %v, url.ParseQuery: %v %v", raw, got, want, werr)
		}
	})
}

// queryParam answers what queryParams(r).Get does, errors included,
// whether it reads the query where it lies or parses it.
func TestQueryParam(t *testing.T) {
	tests := []struct {
		raw, want string
		wantErr   bool
	}{
		{"", "", false},
		{"host=a.example", "a.example", false},
		{"start=1&host=a.example&end=2", "a.example", false},
		{"host=first&host=second", "first", false},
		{"host", "", false},
		{"host=", "", false},
		{"hostx=a&xhost=b", "", false},
		{"&&host=a&&", "a", false},
		{"host=a=b", "a=b", false},
		{"host=a%3A443", "a:443", false},
		{"host=a+b", "a b", false},
		{"ho%73t=a", "a", false},
		{"host=a&x=%zz", "", true},
		{"host=a;x=1", "", true},
		{"host=a" + padding(maxParams-1), "a", false},
		{"host=a" + padding(maxParams), "", true},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "http://127.0.0.1/api/checks/last", nil)
		r.URL.RawQuery = tc.raw
		got, err := queryParam(r, "host")
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("queryParam(%.40q) = %q, %v; want %q, error %v", tc.raw, got, err, tc.want, tc.wantErr)
		}
		q, qerr := queryParams(r)
		if (qerr == nil) != (err == nil) || (qerr == nil && q.Get("host") != got) {
			t.Errorf("queryParam(%.40q) = %q, %v; queryParams gives %q, %v", tc.raw, got, err, q.Get("host"), qerr)
		}
	}
}

// FuzzQueryParam: whatever the query, queryParam gives what
// queryParams(r).Get gives, and fails where it fails.
func FuzzQueryParam(f *testing.F) {
	for _, s := range []string{"", "host=a", "start=1&host=a", "host", "a=%zz&host=b", "host=a;b", "&&&", "host=a+b", "host=%61"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, _ := http.NewRequest("GET", "http://127.0.0.1/api/checks/last", nil)
		r.URL.RawQuery = raw
		got, err := queryParam(r, "host")
		q, qerr := queryParams(r)
		if (err == nil) != (qerr == nil) {
			t.Fatalf("%q: queryParam error %v, queryParams error %v", raw, err, qerr)
		}
		if err == nil && got != q.Get("host") {
			t.Fatalf("%q: queryParam = %q, queryParams gives %q", raw, got, q.Get("host"))
		}
	})
}

// FuzzParseRange: whatever the query, parseRange gives a 400 with a
// one-line reason, or a range within 1970..2262 whose end is not before
// its start and whose store end (end included) is a nanosecond later; a
// masked name comes back as the stored host it names.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"", "host=example.org", "host=example.org&start=0&end=9214646400", "host=example.org&start=9214646400&end=9214646400",
		"host=example.org&end=0", "host=example.org&start=2021-03-02T12:00&end=2021-03-02T12:00:59",
		"host=example.org&start=2262-01-01T00:00:00.000000001Z", "host=example.org&start=1&end=-1",
		"host=" + url.QueryEscape(secretMasked), "host=" + url.QueryEscape(secretMasked) + "&start=1614686400",
		"host=x&start=%zz", "host=x;start=1", "host=example.org&end=9223372036",
	} {
		f.Add(s)
	}
	st := backends()[0].open(f)
	seed(f, st, []string{"example.org", secretHost}, nil)
	s := newServer(Options{Store: st, Now: func() time.Time { return now }})
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/api/checks", nil)
		r.URL.RawQuery = raw
		req, err := s.parseRange(httptest.NewRecorder(), r)
		if err != nil {
			he, ok := err.(*httpError)
			if !ok || he.code != http.StatusBadRequest || strings.ContainsAny(he.msg, "\r\n") {
				t.Fatalf("%q: error %#v", raw, err)
			}
			return
		}
		if req.Start.Before(store.MinTime()) || req.End.After(store.MaxTime()) || req.End.Before(req.Start) {
			t.Fatalf("%q: range %v..%v", raw, req.Start, req.End)
		}
		if !req.storeEnd().After(req.End) || req.storeEnd().Sub(req.End) != time.Nanosecond {
			t.Fatalf("%q: store end %v for end %v", raw, req.storeEnd(), req.End)
		}
		if req.Name == secretMasked && req.Host != secretHost {
			t.Fatalf("%q: masked name resolved to %q", raw, req.Host)
		}
	})
}

// FuzzParseTime: a time parameter is a time in 1970..2262 when it is unix
// seconds, or a one-line 400 naming the parameter.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"0", "9214646400", "9214646401", "-1", "1614686400", "2021-03-02T12:00:00Z",
		"2021-03-02T12:00:00.123456789+01:00", "2021-03-02T12:00", "2021-03-02T12:00:05", "yesterday", "", "+5", "1e9"} {
		f.Add(s)
	}
	s := newServer(Options{Store: backends()[0].open(f)})
	f.Fuzz(func(t *testing.T, v string) {
		got, err := s.parseTime("start", v)
		if err != nil {
			he, ok := err.(*httpError)
			if !ok || he.code != http.StatusBadRequest || !strings.HasPrefix(he.msg, "start ") || strings.ContainsAny(he.msg, "\r\n") {
				t.Fatalf("%q: error %#v", v, err)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("%q: %v is not in UTC", v, got)
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && (n < store.MinUnix || n > store.MaxUnix || got.Unix() != n) {
			t.Fatalf("%q: %v", v, got)
		}
	})
}

// FuzzSizeParams: width and height are numbers or a one-line 400.
func FuzzSizeParams(f *testing.F) {
	for _, s := range [][2]string{{"", ""}, {"1280", "720"}, {"wide", ""}, {"-1", "99999999999999999999"}, {"0x10", " 5"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, width, height string) {
		r := httptest.NewRequest("GET", "/web/checks/svg", nil)
		r.URL.RawQuery = url.Values{"width": {width}, "height": {height}}.Encode()
		w, h, err := sizeParams(r)
		if err != nil {
			he, ok := err.(*httpError)
			if !ok || he.code != http.StatusBadRequest || strings.ContainsAny(he.msg, "\r\n") {
				t.Fatalf("%q, %q: error %#v", width, height, err)
			}
			return
		}
		for _, p := range []struct {
			v string
			n int
		}{{width, w}, {height, h}} {
			if n, err := strconv.Atoi(p.v); p.v == "" && p.n != 0 || p.v != "" && (err != nil || n != p.n) {
				t.Fatalf("%q, %q: %d×%d", width, height, w, h)
			}
		}
	})
}
