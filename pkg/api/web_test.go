package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin on any machine

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/srvmon/srvmon/pkg/chart"
	"github.com/srvmon/srvmon/pkg/store"
)

// page GETs target, expects code and returns the parsed page.
func (e *env) page(target string, code int) *html.Node {
	e.t.Helper()
	w := e.get(target)
	if w.Code != code {
		e.t.Fatalf("%s: status %d, want %d: %q", target, w.Code, code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		e.t.Fatalf("%s: Content-Type %q", target, ct)
	}
	return parsePage(e.t, w.Body.Bytes())
}

// links are the hrefs of a page, their queries re-encoded the way
// url.Values does (html/template writes lower-case escapes).
func links(doc *html.Node) []string {
	var out []string
	for _, a := range findAll(doc, atom.A) {
		href := attrOf(a, "href")
		if u, err := url.Parse(href); err == nil && u.RawQuery != "" {
			href = u.Path + "?" + u.Query().Encode()
		}
		out = append(out, href)
	}
	return out
}

// resolve resolves a link of the page at path as a browser does.
func resolve(t testing.TB, path, ref string) string {
	t.Helper()
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatalf("link %q: %v", ref, err)
	}
	return (&url.URL{Path: path}).ResolveReference(r).String()
}

// ampHost is a valid target whose name needs escaping in HTML and XML.
const ampHost = "https://amp.example/?a=1&b=2"

func TestIndexPage(t *testing.T) {
	st := backends()[0].open(t)
	doc := newEnv(t, st, Options{}).page("/", http.StatusOK)
	if forms := findAll(doc, atom.Form); len(forms) != 1 || attrOf(forms[0], "id") != "dash-filter" {
		t.Errorf("single checks are off, yet the index has %d forms besides the dashboard's filter", len(forms)-1)
	}
	newEnv(t, st, Options{}).page("/index.html", http.StatusOK)

	e := newEnv(t, st, Options{Checker: fakeChecker{up: false, rtt: time.Second, reason: "connection refused"}})
	doc = e.page("/?host=example.org:22", http.StatusOK)
	if got := textOf(singleResultOf(t, doc)); got != "example.org:22 is down, rtt 1s (connection refused)." {
		t.Errorf("result %q", got)
	}
	doc = e.page("/?host=bad%20host", http.StatusBadRequest)
	if !strings.Contains(textOf(doc), "is not acceptable") {
		t.Errorf("no error shown: %q", textOf(doc))
	}
}

// singleResultOf is the index page's answer to a single check.
func singleResultOf(t testing.TB, doc *html.Node) *html.Node {
	t.Helper()
	for _, p := range findAll(doc, atom.P) {
		if attrOf(p, "class") == "result" {
			return p
		}
	}
	t.Fatal("no single check result on the page")
	return nil
}

func TestHostsPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seed(t, st, []string{"up.example", "down.example:22", "new.example", ampHost}, []store.Result{
			{Host: "up.example", Slot: slot(3), RTT: 2 * time.Millisecond, Up: true},
			{Host: "up.example", Slot: slot(2), RTT: time.Second, Up: false},
			{Host: "up.example", Slot: slot(1), RTT: 1234567, Up: true},
			{Host: "down.example:22", Slot: slot(1), RTT: time.Second, Up: false, Reason: "refused"},
			{Host: ampHost, Slot: slot(24*60 + 1), RTT: time.Millisecond, Up: true}, // older than 24 h
		})
		berlin, _ := time.LoadLocation("Europe/Berlin")
		e := newEnv(t, st, Options{Chart: chart.Options{TimeZone: berlin}})
		doc := e.page("/web/hosts", http.StatusOK)
		var rows []string
		for _, tr := range findAll(doc, atom.Tr)[1:] {
			rows = append(rows, textOf(tr))
		}
		want := []string{
			"down.example:22 down 2021-03-02 12:59:00 CET – refused 0.00% Last day Delete",
			ampHost + " up 2021-03-01 12:59:00 CET 1ms – Last day Delete",
			"new.example unknown never – – Last day Delete",
			"up.example up 2021-03-02 12:59:00 CET 1.235ms 66.67% Last day Delete",
		}
		if !slices.Equal(rows, want) {
			t.Errorf("rows\n%q\nwant\n%q", rows, want)
		}
		// Links carry the host query-escaped.
		if !slices.Contains(links(doc), "../web/view?host="+url.QueryEscape(ampHost)) {
			t.Errorf("no escaped link to %s in %q", ampHost, links(doc))
		}
		// Every form posts.
		for _, f := range findAll(doc, atom.Form) {
			if attrOf(f, "method") != "post" {
				t.Errorf("a form does not post")
			}
		}
	})
}

func TestHostsForms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, Options{})
		form := func(v url.Values) request {
			return request{method: "POST", target: "/web/hosts", body: v.Encode(),
				header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}
		}
		w := e.serve(form(url.Values{"action": {"add"}, "host": {ampHost}}))
		expect(t, w, http.StatusSeeOther, "")
		if loc := w.Header().Get("Location"); loc != "../web/hosts?action=created" {
			t.Errorf("Location %q", loc)
		}
		doc := e.page("/web/hosts?action=created", http.StatusOK)
		if !strings.Contains(textOf(doc), "Monitor added.") || !strings.Contains(textOf(doc), ampHost) {
			t.Errorf("page after adding: %q", textOf(doc))
		}
		expect(t, e.serve(form(url.Values{"action": {"add"}, "host": {ampHost}})), http.StatusConflict, "already exists")
		expect(t, e.serve(form(url.Values{"action": {"add"}, "host": {"bad host"}})), http.StatusBadRequest, "is not acceptable")
		expect(t, e.serve(form(url.Values{"action": {"add"}})), http.StatusBadRequest, "missing host")
		expect(t, e.serve(form(url.Values{"action": {"drop"}, "host": {ampHost}})), http.StatusBadRequest, `unknown action "drop"`)
		expect(t, e.serve(form(url.Values{"action": {"del"}, "host": {"nope.example"}})), http.StatusNotFound, "unknown host")
		w = e.serve(form(url.Values{"action": {"del"}, "host": {ampHost}}))
		expect(t, w, http.StatusSeeOther, "")
		if loc := w.Header().Get("Location"); loc != "../web/hosts?action=deleted" {
			t.Errorf("Location %q", loc)
		}
		if hosts, _ := st.Hosts(context.Background()); len(hosts) != 0 {
			t.Errorf("hosts left: %v", hosts)
		}
		if doc := e.page("/web/hosts?action=deleted", http.StatusOK); !strings.Contains(textOf(doc), "Host deleted. Monitors No monitors yet.") {
			t.Errorf("page after deleting: %q", textOf(doc))
		}
	})
}

func TestViewPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seed(t, st, []string{ampHost}, nil)
		berlin, _ := time.LoadLocation("Europe/Berlin")
		e := newEnv(t, st, Options{Chart: chart.Options{TimeZone: berlin}})
		h := url.QueryEscape(ampHost)

		doc := e.page("/web/view?host="+h+"&start=2021-03-01T10:00&end=2021-03-01T12:30", http.StatusOK)
		inputs := map[string]string{}
		for _, in := range findAll(doc, atom.Input) {
			inputs[attrOf(in, "name")+"/"+attrOf(in, "type")] = attrOf(in, "value")
		}
		wantInputs := map[string]string{"host/hidden": ampHost, "start/datetime-local": "2021-03-01T10:00", "end/datetime-local": "2021-03-01T12:30"}
		for k, v := range wantInputs {
			if inputs[k] != v {
				t.Errorf("input %s = %q, want %q", k, inputs[k], v)
			}
		}
		// 10:00 and 12:30 in Berlin are 09:00 and 11:30 UTC.
		start, end := time.Date(2021, 3, 1, 9, 0, 0, 0, time.UTC).Unix(), time.Date(2021, 3, 1, 11, 30, 0, 0, time.UTC).Unix()
		span := end - start
		link := func(path string, s, e int64) string {
			return ".." + path + "?" + url.Values{"host": {ampHost}, "start": {itoa(s)}, "end": {itoa(e)}}.Encode()
		}
		img := findAll(doc, atom.Img)
		if len(img) != 1 || attrOf(img[0], "src") != link("/web/checks/svg", start, end) {
			t.Fatalf("chart image %v", img)
		}
		hrefs := links(doc)
		for _, want := range []string{
			link("/web/view", start-span, start), link("/web/view", end, end+span),
			link("/web/checks", start, end), link("/api/checks", start, end),
			link("/web/view", now.Add(-time.Hour).Unix(), now.Unix()),
		} {
			if !slices.Contains(hrefs, want) {
				t.Errorf("no link %s", want)
			}
		}
		// The image it links to is a valid chart.
		if header := parseSVG(t, e.get(resolve(t, "/web/view", attrOf(img[0], "src"))).Body.Bytes()); !strings.HasPrefix(header, "Host: "+ampHost+" Up 0.00% Down 0.00% Unknown 100.00%") {
			t.Errorf("chart header %q", header)
		}

		e.page("/web/view?host="+h, http.StatusOK) // the last 24 hours
		doc = e.page("/web/view", http.StatusOK)   // a list of hosts to pick
		if l := links(doc); l[len(l)-1] != "../web/view?host="+h {
			t.Errorf("pick list links to %q", l[len(l)-1])
		}
		expect(t, e.get("/web/view?host=nope.example"), http.StatusNotFound, "unknown host")
		expect(t, e.get("/web/view?host="+h+"&start=tomorrow"), http.StatusBadRequest, `start "tomorrow" is not a time`)
	})
}

func TestChecksPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seed(t, st, []string{ampHost, "idle.example"}, []store.Result{
			{Host: ampHost, Slot: slot(2), RTT: 1500 * time.Microsecond, Up: true},
			{Host: ampHost, Slot: slot(1), RTT: time.Second, Up: false, Reason: "<refused> & gone"},
		})
		e := newEnv(t, st, Options{})
		doc := e.page("/web/checks?host="+url.QueryEscape(ampHost), http.StatusOK)
		var rows []string
		for _, tr := range findAll(doc, atom.Tr)[1:] {
			rows = append(rows, textOf(tr))
		}
		want := []string{
			"2021-03-02 11:58:00 UTC 1.5ms up",
			"2021-03-02 11:59:00 UTC 1s down <refused> & gone",
		}
		if !slices.Equal(rows, want) {
			t.Errorf("rows %q, want %q", rows, want)
		}
		if h1 := textOf(findAll(doc, atom.H1)[0]); h1 != "Checks of "+ampHost {
			t.Errorf("title %q", h1)
		}
		w := e.serve(request{method: "POST", target: "/web/checks", body: `{"host":"idle.example"}`})
		expect(t, w, http.StatusOK, "")
		if n := len(findAll(parsePage(t, w.Body.Bytes()), atom.Tr)); n != 1 {
			t.Errorf("%d rows for a host without checks", n)
		}
		e.page("/web/checks", http.StatusOK) // pick a host
		expect(t, e.get("/web/checks?host=nope.example"), http.StatusNotFound, "unknown host")
		expect(t, e.get("/web/checks?host=idle.example&end=x"), http.StatusBadRequest, "is not a time")
	})
}

// TestChecksPageLong streams more than one chunk of rows.
func TestChecksPageLong(t *testing.T) {
	st := backends()[0].open(t)
	var rs []store.Result
	for i := range 2000 {
		rs = append(rs, store.Result{Host: "example.org", Slot: slot(i), RTT: time.Duration(i), Up: i%3 > 0})
	}
	seed(t, st, []string{"example.org"}, rs)
	doc := newEnv(t, st, Options{}).page("/web/checks?host=example.org&start="+itoa(slot(1999).Unix())+"&end="+itoa(now.Unix()), http.StatusOK)
	if n := len(findAll(doc, atom.Tr)) - 1; n != 2000 {
		t.Errorf("%d rows, want 2000", n)
	}
}

func TestChartSVG(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seed(t, st, []string{ampHost}, []store.Result{
			{Host: ampHost, Slot: slot(3), RTT: 10 * time.Millisecond, Up: true},
			{Host: ampHost, Slot: slot(2), RTT: time.Second, Up: false},
			{Host: ampHost, Slot: slot(1), RTT: 20 * time.Millisecond, Up: true},
			{Host: ampHost, Location: "b", Slot: slot(1), RTT: 30 * time.Millisecond, Up: true},
		})
		e := newEnv(t, st, Options{})
		h := url.QueryEscape(ampHost)
		rng := func(from, to int) string {
			return "&start=" + itoa(slot(from).Unix()) + "&end=" + itoa(slot(to).Unix())
		}
		tests := []struct {
			name, target string
			header       string
		}{
			{"four minutes", "/web/checks/svg?host=" + h + rng(4, 0), "Up 50.00% Down 25.00% Unknown 25.00% Average RTT 15ms"},
			{"default day", "/web/checks/svg?host=" + h, "Up 0.14% Down 0.07% Unknown 99.79% Average RTT 15ms"},
			{"shorter than an interval", "/web/checks/svg?host=" + h + "&start=" + itoa(slot(1).Unix()+1) + "&end=" + itoa(slot(1).Unix()+30), "Up 0.00% Down 0.00% Unknown 100.00% Average RTT 0s"},
			{"empty range", "/web/checks/svg?host=" + h + rng(1, 1), "Up 0.00% Down 0.00% Unknown 100.00% Average RTT 0s"},
			{"small", "/web/checks/svg?host=" + h + rng(4, 0) + "&width=320&height=200", "Up 50.00% Down 25.00%"},
		}
		for _, tt := range tests {
			w := e.get(tt.target)
			expect(t, w, http.StatusOK, "")
			if ct := w.Header().Get("Content-Type"); ct != "image/svg+xml" {
				t.Errorf("%s: Content-Type %q", tt.name, ct)
			}
			if header := parseSVG(t, w.Body.Bytes()); !strings.HasPrefix(header, "Host: "+ampHost+" "+tt.header) {
				t.Errorf("%s: header %q, want %q", tt.name, header, tt.header)
			}
		}
		w := e.serve(request{method: "POST", target: "/web/checks/svg", body: `{"host":"` + ampHost + `","start":"` + slot(4).Format(time.RFC3339) + `","end":"` + slot(0).Format(time.RFC3339) + `"}`})
		expect(t, w, http.StatusOK, "")
		if header := parseSVG(t, w.Body.Bytes()); !strings.Contains(header, "Up 50.00%") {
			t.Errorf("POST: header %q", header)
		}
		for _, tt := range []struct {
			target string
			code   int
			want   string
		}{
			{"/web/checks/svg?host=" + h + "&width=100", 400, "width 100 is outside 320..3840"},
			{"/web/checks/svg?host=" + h + "&height=99999", 400, "height 99999 is outside"},
			{"/web/checks/svg?host=" + h + "&width=wide", 400, `width "wide" is not a number`},
			{"/web/checks/svg?host=nope.example", 404, "unknown host"},
			{"/web/checks/svg?host=nope.example" + rng(1, 1), 404, "unknown host"},
			{"/web/checks/svg", 400, "missing host parameter"},
			{"/web/checks/svg?host=" + h + rng(1, 2), 400, "end is before start"},
		} {
			expect(t, e.get(tt.target), tt.code, tt.want)
		}
	})
}

func TestRulesPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, Options{})
		if doc := e.page("/web/notifications_params", http.StatusOK); len(findAll(doc, atom.Form)) != 0 {
			t.Error("a rule form without hosts")
		}
		seed(t, st, []string{ampHost, "b.example"}, nil)
		form := func(path string, v url.Values) request {
			return request{method: "POST", target: path, body: v.Encode(),
				header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}
		}
		w := e.serve(form("/web/notifications_params", url.Values{"action": {"add"}, "host": {ampHost}, "threshold": {"3"}, "state_action": {"https://hook.example/?t={HOST}&x=1"}}))
		expect(t, w, http.StatusSeeOther, "")
		if loc := w.Header().Get("Location"); loc != "../web/notifications_params?action=created" {
			t.Errorf("Location %q", loc)
		}
		expect(t, e.serve(form("/web/state_change_params", url.Values{"action": {"add"}, "host": {"b.example"}, "threshold": {"1"}})), http.StatusSeeOther, "")
		for _, tt := range []struct {
			v    url.Values
			code int
			want string
		}{
			{url.Values{"action": {"add"}, "host": {"b.example"}, "threshold": {"three"}}, 400, `threshold "three" is not a whole number`},
			{url.Values{"action": {"add"}, "host": {"b.example"}, "threshold": {"1"}, "state_action": {"mailto:x@example"}}, 400, "action must be an http or https URL"},
			{url.Values{"action": {"add"}, "host": {"nope.example"}, "threshold": {"1"}}, 404, "unknown host"},
			{url.Values{"action": {"del"}, "host": {"nope.example"}}, 404, "has no notification rule"},
			{url.Values{"action": {"nope"}}, 400, "unknown action"},
		} {
			expect(t, e.serve(form("/web/notifications_params", tt.v)), tt.code, tt.want)
		}
		doc := e.page("/web/notifications_params?action=created", http.StatusOK)
		var rows []string
		for _, tr := range findAll(doc, atom.Tr)[1:] {
			rows = append(rows, textOf(tr))
		}
		want := []string{"b.example no verdict yet 1 1 Edit Test Delete", ampHost + " no verdict yet 3 1 https://hook.example/?t={HOST}&x=1 Edit Test Delete"}
		if !slices.Equal(rows, want) {
			t.Errorf("rows %q, want %q", rows, want)
		}
		var options []string
		for _, o := range findAll(doc, atom.Option) {
			options = append(options, textOf(o))
		}
		if !slices.Equal(options, []string{"b.example", ampHost}) {
			t.Errorf("host options %q", options)
		}
		expect(t, e.serve(form("/web/notifications_params", url.Values{"action": {"del"}, "host": {"b.example"}})), http.StatusSeeOther, "")
		if rules, _ := st.Rules(context.Background()); len(rules) != 1 {
			t.Errorf("rules %v", rules)
		}
		e.page("/web/state_change_params?action=deleted", http.StatusOK)
	})
}

func TestStyle(t *testing.T) {
	e := newEnv(t, backends()[0].open(t), Options{Auth: Auth{Enable: true, ProtectReads: true}})
	w := e.get("/web/style.css")
	expect(t, w, http.StatusOK, ".up {")
	if ct := w.Header().Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
}
