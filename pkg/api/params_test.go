package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

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
