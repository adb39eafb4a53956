package api

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// bodyKind is how an endpoint reads its body.
type bodyKind int

const (
	textBody  bodyKind = iota // the body is one value: a target or a host
	ruleJSON                  // a notification rule
	rangeJSON                 // a checks request
	formBody                  // an HTML form
)

// TestHostileBodies: every endpoint that takes a body, except the backup
// restore, answers a hostile one (deep nesting, over the size limit,
// invalid UTF-8, control characters, wrong types) with a 4xx and a
// one-line reason, and the store is unchanged.
func TestHostileBodies(t *testing.T) {
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	big := strings.Repeat("a", smallBodyBytes+1)
	endpoints := []struct {
		method, target string
		kind           bodyKind
	}{
		{"POST", "/api/hosts", textBody},
		{"DELETE", "/api/hosts", textBody},
		{"POST", "/api/notifications_params", ruleJSON},
		{"POST", "/api/state_change_params", ruleJSON},
		{"DELETE", "/api/notifications_params", textBody},
		{"POST", "/api/checks", rangeJSON},
		{"POST", "/api/checks/last", textBody},
		{"POST", "/web/checks", rangeJSON},
		{"POST", "/web/checks/svg", rangeJSON},
		{"POST", "/api/check", textBody},
		{"POST", "/web/hosts", formBody},
		{"POST", "/web/notifications_params", formBody},
		{"POST", "/web/state_change_params", formBody},
	}
	bodies := []struct {
		name                   string
		text, rule, rang, form []string
	}{
		{"nesting",
			[]string{deep, `{"host":` + deep + `}`},
			[]string{`{"host":"example.org","threshold":2,"x":` + deep + `}`, `{"host":"example.org","threshold":2,"x":{"y":` + deep + `}}`, deep},
			[]string{`{"host":"example.org","x":` + deep + `}`, deep},
			[]string{"action=add&threshold=2&host=" + url.QueryEscape(deep)}},
		{"over the limit",
			[]string{big, "example.org " + big},
			[]string{`{"host":"example.org","threshold":2,"x":"` + big + `"}`},
			[]string{`{"host":"example.org","x":"` + big + `"}`},
			[]string{"action=add&threshold=2&host=example.org&x=" + big}},
		{"invalid UTF-8",
			[]string{"new\xff.example", "example.org\xc0"},
			[]string{`{"host":"example.org\xff","threshold":2}`, "{\"host\":\"example.org\",\"threshold\":2,\"action\":\"http://127.0.0.1/\xfe\"}"},
			[]string{`{"host":"example.org\xff"}`, "{\"host\":\"example.org\",\"x\":\"\xfe\"}"},
			[]string{"action=add&threshold=2&host=example.org%FF", "action=add&threshold=2&host=example.org&state_action=http://127.0.0.1/%FE"}},
		{"control characters",
			[]string{"new\x01.example", "example.org\x00", "http://127.0.0.1/\x7f"},
			[]string{`{"host":"example.org\u0000","threshold":2}`, "{\"host\":\"example.org\x01\",\"threshold\":2}",
				`{"host":"example.org","threshold":2,"action":"http://127.0.0.1/\u0007"}`},
			[]string{`{"host":"example.org\u0000"}`, "{\"host\":\"example.org\x01\"}"},
			[]string{"action=add&threshold=2&host=example.org%00", "action=add&threshold=2&host=example.org&state_action=http://127.0.0.1/a%0Ab"}},
		{"wrong types",
			[]string{`{"host":"new.example"}`, `["example.org"]`},
			[]string{`{"host":["example.org"],"threshold":2}`, `{"host":"example.org","threshold":"2"}`, `{"host":"example.org","threshold":2.5}`, `["example.org"]`, `"example.org"`, `null`},
			[]string{`{"host":["example.org"]}`, `{"host":"example.org","start":1}`, `{"host":"example.org","end":"yesterday"}`, `["example.org"]`, `null`},
			[]string{"action=true&threshold=2&host=new.example", "action=add&threshold=two&host=example.org"}},
	}
	for _, b := range bodies {
		for _, ep := range endpoints {
			list := map[bodyKind][]string{textBody: b.text, ruleJSON: b.rule, rangeJSON: b.rang, formBody: b.form}[ep.kind]
			for _, body := range list {
				st := authStore(t)
				e := newEnv(t, st, Options{Checker: fakeChecker{up: true}})
				before := takeSnapshot(t, st)
				req := request{method: ep.method, target: ep.target, body: body}
				if ep.kind == formBody {
					req.header = formHeader
				}
				w := e.serve(req)
				reason := strings.TrimSuffix(w.Body.String(), "\n")
				if w.Code < 400 || w.Code >= 500 || reason == "" || strings.Contains(reason, "\n") {
					t.Errorf("%s: %s %s %.60q: %d %.200q; want a 4xx with a one-line reason", b.name, ep.method, ep.target, body, w.Code, w.Body.String())
				}
				if after := takeSnapshot(t, st); !equalSnapshots(before, after) {
					t.Errorf("%s: %s %s %.60q changed the store: %+v", b.name, ep.method, ep.target, body, after)
				}
			}
		}
	}
}

// TestJSONDepth: nesting up to maxJSONDepth is accepted, one level more is
// not, and brackets inside strings (escaped quotes too) do not count.
func TestJSONDepth(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	brackets := strings.Repeat("[", 2*maxJSONDepth)
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{`{"host":"example.org","x":` + nest(maxJSONDepth-1) + `}`, true},
		{`{"host":"example.org","x":` + nest(maxJSONDepth) + `}`, false},
		{`{"host":"example.org","x":"` + brackets + `"}`, true},
		{`{"host":"example.org","x":"\"` + brackets + `\\"}`, true},
		{`{"host":"example.org","x":["\\",` + nest(maxJSONDepth) + `]}`, false},
	} {
		e := newEnv(t, authStore(t), Options{})
		w := e.serve(request{method: "POST", target: "/api/checks", body: tt.body})
		if ok := w.Code == 200; ok != tt.ok {
			t.Errorf("%.80q…: %d %q", tt.body, w.Code, w.Body.String())
		}
		if !tt.ok {
			expect(t, w, 400, fmt.Sprintf("nested deeper than %d levels", maxJSONDepth))
		}
	}
}
