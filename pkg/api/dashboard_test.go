package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// The dashboard tests' monitors: one of each state.
const (
	dashUp     = "http://127.0.0.1:9/up"
	dashDown   = "127.0.0.1:22"
	dashMaint  = "http://127.0.0.1:9/maint"
	dashNoData = "http://u:hunter2@127.0.0.1:9/nodata"
)

// dashJSON is GET /api/dashboard's answer as a client reads it.
type dashJSON struct {
	Generated time.Time      `json:"generated"`
	Total     int            `json:"total"`
	Counts    map[string]int `json:"counts"`
	Page      int            `json:"page"`
	Pages     int            `json:"pages"`
	PerPage   int            `json:"per_page"`
	Rows      []struct {
		Host        string              `json:"host"`
		Name        string              `json:"name"`
		Group       string              `json:"group"`
		State       string              `json:"state"`
		Since       *time.Time          `json:"since"`
		SinceSource string              `json:"since_source"`
		RTTMillis   *float64            `json:"rtt_ms"`
		Uptime      map[string]*float64 `json:"uptime"`
		Latency24h  []*float64          `json:"latency_24h"`
		CertDays    *int64              `json:"cert_days"`
	} `json:"rows"`
}

// seedDashboard stores a monitor in each state: "Web up" (4 of 5 checks
// up, a certificate for 20 days), "SSH" down (a rule whose alert state
// says since when), "Maint" whose last check was in maintenance, and an
// unnamed one without checks whose host holds a password.
func seedDashboard(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	for _, m := range []monitor.Monitor{
		{Host: dashUp, Settings: monitor.Settings{Name: "Web up", Group: "web"}},
		{Host: dashDown, Settings: monitor.Settings{Name: "SSH", Group: "db"}},
		{Host: dashMaint, Settings: monitor.Settings{Name: "Maint", Group: "web"}},
		{Host: dashNoData},
	} {
		if _, err := st.PutMonitor(ctx, m); err != nil {
			t.Fatalf("PutMonitor(%s): %v", m.Host, err)
		}
	}
	if err := st.SetRule(ctx, store.Rule{Host: dashDown, Threshold: 1}); err != nil {
		t.Fatal(err)
	}
	var rs []store.Result
	for i := range 5 {
		r := store.Result{Host: dashUp, Slot: slot(i), RTT: 10 * time.Millisecond, Up: i != 4}
		if i == 0 {
			r.CertExpiry = now.Add(20*24*time.Hour + time.Hour)
		}
		if !r.Up {
			r.Reason = "timeout"
		}
		rs = append(rs, r)
	}
	// Older checks of Web up: down 3 days ago (in 7 d, 30 d, 365 d), up
	// 100 days ago (in 365 d).
	rs = append(rs,
		store.Result{Host: dashUp, Slot: slot(3 * 24 * 60), RTT: time.Second, Reason: "timeout"},
		store.Result{Host: dashUp, Slot: slot(100 * 24 * 60), RTT: time.Millisecond, Up: true})
	rs = append(rs,
		store.Result{Host: dashDown, Slot: slot(1), RTT: 3 * time.Millisecond, Up: true},
		store.Result{Host: dashDown, Slot: slot(0), RTT: time.Second, Reason: "connection refused"},
		store.Result{Host: dashMaint, Slot: slot(0), RTT: time.Millisecond, Up: true, Maintenance: true})
	err := st.SaveRound(ctx, rs, &store.Alerting{Decide: func(in store.AlertInput) ([]store.State, []store.Delivery) {
		return []store.State{{Host: dashDown, Status: "down", Since: slot(2), LastSlot: slot(0)}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDashboardJSON(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seedDashboard(t, st)
		e := newEnv(t, st, Options{})
		type want struct {
			name, state, since string
			rtt                *float64
			uptime             [4]*float64 // 24h, 7d, 30d, 365d
			cert               *int64
			// the mean rtt of the up checks of the hour before now's
			// (11:00, the sparkline's 23rd) and of now's (12:00, its last)
			lastHours [2]*float64
		}
		f := func(v float64) *float64 { return &v }
		i := func(v int64) *int64 { return &v }
		all := []want{
			{"SSH", "down", "alert", nil, [4]*float64{f(50), f(50), f(50), f(50)}, nil, [2]*float64{f(3), nil}},
			{"Maint", "maintenance", "last_check", nil, [4]*float64{}, nil, [2]*float64{}},
			{"Web up", "up", "last_check", f(10), [4]*float64{f(80), f(100 * 4 / 6.0), f(100 * 4 / 6.0), f(100 * 5 / 7.0)}, i(20), [2]*float64{f(10), f(10)}},
			{"", "nodata", "", nil, [4]*float64{}, nil, [2]*float64{}},
		}
		tests := []struct {
			query string
			want  []want
		}{
			{"", all},
			{"?state=all&page=1", all},
			{"?q=WEB", all[1:3]},         // group, name
			{"?q=127.0.0.1:22", all[:1]}, // host
			{"?state=maintenance", all[1:2]},
			{"?state=nodata", all[3:]},
			{"?q=hunter2", nil}, // a password is masked, and so not found
			{"?page=9", all},    // past the last page: the last
		}
		for _, tc := range tests {
			w := e.get("/api/dashboard" + tc.query)
			expect(t, w, http.StatusOK, "")
			if strings.Contains(w.Body.String(), "hunter2") {
				t.Fatalf("%s shows a password: %s", tc.query, w.Body)
			}
			var got dashJSON
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("%s: %v", tc.query, err)
			}
			// Each row holds the documented keys (README), no more: the
			// page's own texts stay out of the JSON.
			var raw struct{ Rows []map[string]json.RawMessage }
			if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
				t.Fatalf("%s: %v", tc.query, err)
			}
			documented := []string{"host", "name", "group", "state", "since", "since_source", "rtt_ms", "uptime", "latency_24h", "cert_days"}
			for _, row := range raw.Rows {
				for k := range row {
					if !slices.Contains(documented, k) {
						t.Errorf("%s: a row has the key %q, which the README does not document", tc.query, k)
					}
				}
			}
			if got.Counts["up"] != 1 || got.Counts["down"] != 1 || got.Counts["maintenance"] != 1 || got.Counts["nodata"] != 1 {
				t.Errorf("%s: counts %v", tc.query, got.Counts)
			}
			if got.Total != len(tc.want) || len(got.Rows) != len(tc.want) || got.Page != 1 || got.Pages != 1 || got.PerPage != dashPageRows {
				t.Fatalf("%s: total %d, page %d of %d, %d rows, want %d", tc.query, got.Total, got.Page, got.Pages, len(got.Rows), len(tc.want))
			}
			for j, r := range got.Rows {
				wr := tc.want[j]
				if r.Name != wr.name || r.State != wr.state || r.SinceSource != wr.since || (r.Since == nil) != (wr.since == "") {
					t.Errorf("%s row %d: %s %q %s since %v (%s), want %q %s since %s", tc.query, j, r.Host, r.Name, r.State, r.Since, r.SinceSource, wr.name, wr.state, wr.since)
				}
				if !equalPtr(r.RTTMillis, wr.rtt) || !equalPtr(r.CertDays, wr.cert) {
					t.Errorf("%s row %q: rtt %v, cert %v; want %v, %v", tc.query, r.Name, deref(r.RTTMillis), deref(r.CertDays), deref(wr.rtt), deref(wr.cert))
				}
				for k, p := range []string{"24h", "7d", "30d", "365d"} {
					if v, ok := r.Uptime[p]; !ok || !equalPtr(v, wr.uptime[k]) {
						t.Errorf("%s row %q: uptime %s %v, want %v", tc.query, r.Name, p, deref(v), deref(wr.uptime[k]))
					}
				}
				if len(r.Latency24h) != dashSparkBuckets {
					t.Fatalf("%s row %q: %d latency buckets", tc.query, r.Name, len(r.Latency24h))
				}
				for k, v := range r.Latency24h {
					var want *float64
					if k >= dashSparkBuckets-2 {
						want = wr.lastHours[k-(dashSparkBuckets-2)] // the last two hours hold every check
					}
					if !equalPtr(v, want) {
						t.Errorf("%s row %q: latency hour %d %v, want %v", tc.query, r.Name, k, deref(v), deref(want))
					}
				}
			}
			if len(got.Rows) > 0 && got.Rows[0].State == "down" && !got.Rows[0].Since.Equal(slot(2)) {
				t.Errorf("%s: down since %v, want the alert state's %v", tc.query, got.Rows[0].Since, slot(2))
			}
		}
		for _, bad := range []struct{ query, want string }{
			{"?state=broken", "state: "},
			{"?page=0", "page: "},
			{"?page=x", "page: "},
			{"?refresh=-1", "refresh: "},
			{"?refresh=99999", "refresh: "},
		} {
			expect(t, e.get("/api/dashboard"+bad.query), http.StatusBadRequest, bad.want)
			expect(t, e.get("/"+bad.query), http.StatusBadRequest, bad.want)
		}
	})
}

func equalPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// dashPageRow is a row of the dashboard page as parsed.
type dashPageRow struct{ name, state, stateText, section string }

// dashRowsOf reads the page's monitors: name (the row header's link),
// data-state, the state cell's text and the section (<details> id).
func dashRowsOf(t *testing.T, doc *html.Node) []dashPageRow {
	t.Helper()
	var rows []dashPageRow
	for _, d := range findAll(doc, atom.Details) {
		for _, tb := range findAll(d, atom.Tbody) {
			for _, tr := range findAll(tb, atom.Tr) {
				ths, tds := findAll(tr, atom.Th), findAll(tr, atom.Td)
				if len(ths) != 1 || attrOf(ths[0], "scope") != "row" || len(tds) != 10 {
					t.Fatalf("row of %d th and %d td: %q", len(ths), len(tds), textOf(tr))
				}
				rows = append(rows, dashPageRow{
					name: textOf(findAll(ths[0], atom.A)[0]), state: attrOf(tr, "data-state"),
					stateText: strings.TrimSpace(textOf(tds[0])), section: attrOf(d, "id"),
				})
			}
		}
	}
	return rows
}

func TestDashboardPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seedDashboard(t, st)
		e := newEnv(t, st, Options{})
		w := e.get("/")
		if strings.Contains(w.Body.String(), "hunter2") {
			t.Fatal("the dashboard shows a password")
		}
		if csp := w.Header().Get("Content-Security-Policy"); csp != pageCSP || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP %q", csp)
		}
		doc := e.page("/", http.StatusOK)
		want := []dashPageRow{
			{"SSH", "down", "▼ down", "sec-down"},
			{"Maint", "maintenance", "◆ in maintenance", "sec-group-web"},
			{"Web up", "up", "▲ up", "sec-group-web"},
			{"http://u:xxxxx@127.0.0.1:9/nodata", "nodata", "○ no data", "sec-nogroup"},
		}
		if got := dashRowsOf(t, doc); !slices.Equal(got, want) {
			t.Errorf("rows\n%+v, want\n%+v", got, want)
		}
		// Real tables: a caption and 11 column headers each; labelled
		// filter fields; the sparkline says what it shows.
		for _, table := range findAll(doc, atom.Table) {
			if len(findAll(table, atom.Caption)) != 1 {
				t.Error("a table without a caption")
			}
			cols := 0
			for _, th := range findAll(table, atom.Th) {
				if attrOf(th, "scope") == "col" {
					cols++
				}
			}
			if cols != 11 {
				t.Errorf("%d column headers", cols)
			}
		}
		for _, in := range append(findAll(doc, atom.Input), findAll(doc, atom.Select)...) {
			if attrOf(in, "type") != "hidden" && (in.Parent == nil || in.Parent.DataAtom != atom.Label) {
				t.Errorf("field %s without a label", attrOf(in, "name"))
			}
		}
		svgs := findAll(doc, atom.Svg)
		if len(svgs) != 2 || attrOf(svgs[0], "role") != "img" || !strings.Contains(attrOf(svgs[0], "aria-label"), "3.0 to 3.0 ms") ||
			!strings.Contains(attrOf(svgs[1], "aria-label"), "10.0 to 10.0 ms") {
			t.Errorf("sparklines: %d, want SSH's and Web up's with a label", len(svgs))
		}
		scripts := findAll(doc, atom.Script)
		if len(scripts) != 1 || attrOf(scripts[0], "src") != "./web/dashboard.js" {
			t.Errorf("scripts %d, want ./web/dashboard.js", len(scripts))
		}
		if d := dashboardDiv(t, doc); attrOf(d, "data-refresh") != "30" {
			t.Errorf("data-refresh %q, want the default 30", attrOf(d, "data-refresh"))
		}
		// The footer keeps the page of links.
		if l := links(doc); !slices.Contains(l, "./web/hosts") || !slices.Contains(l, "./api/dashboard") {
			t.Errorf("links %q", l)
		}

		// Filters and refresh, without JavaScript: the form's GET.
		doc = e.page("/?q=web&state=up&refresh=2", http.StatusOK)
		if got := dashRowsOf(t, doc); len(got) != 1 || got[0].name != "Web up" {
			t.Errorf("filtered rows %+v", got)
		}
		if d := dashboardDiv(t, doc); attrOf(d, "data-refresh") != "2" {
			t.Errorf("data-refresh %q, want 2", attrOf(d, "data-refresh"))
		}
		for _, in := range findAll(doc, atom.Input) {
			if name := attrOf(in, "name"); (name == "q" && attrOf(in, "value") != "web") || (name == "refresh" && attrOf(in, "value") != "2") {
				t.Errorf("field %s = %q", name, attrOf(in, "value"))
			}
		}
		doc = e.page("/?q=nothing-matches", http.StatusOK)
		if !strings.Contains(textOf(doc), "No monitor matches the filter.") {
			t.Error("an empty filter result says nothing")
		}

		w = e.get("/web/dashboard.js")
		expect(t, w, http.StatusOK, "")
		if ct := w.Header().Get("Content-Type"); ct != "text/javascript; charset=utf-8" || !strings.Contains(w.Body.String(), "dash-body") {
			t.Errorf("script: %s, %d bytes", ct, w.Body.Len())
		}
	})
}

// dashboardDiv is the page's #dashboard element.
func dashboardDiv(t *testing.T, doc *html.Node) *html.Node {
	t.Helper()
	for _, d := range findAll(doc, atom.Div) {
		if attrOf(d, "id") == "dashboard" {
			return d
		}
	}
	t.Fatal("no #dashboard")
	return nil
}

// TestDashboardPages: 205 monitors are two pages of 200 and 5, the down
// one first on the first, with links between them.
func TestDashboardPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		var hosts []string
		for i := range 205 {
			hosts = append(hosts, fmt.Sprintf("h%03d.example:22", i))
		}
		seed(t, st, hosts, []store.Result{{Host: "h204.example:22", Slot: slot(0), Reason: "refused"}})
		e := newEnv(t, st, Options{})
		for _, tc := range []struct {
			page, rows int
			first      string
			prev, next bool
		}{{1, 200, "h204.example:22", false, true}, {2, 5, "h199.example:22", true, false}} {
			q := fmt.Sprintf("?page=%d", tc.page)
			var got dashJSON
			w := e.get("/api/dashboard" + q)
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Total != 205 || got.Pages != 2 || got.Page != tc.page || len(got.Rows) != tc.rows || got.Rows[0].Host != tc.first {
				t.Errorf("%s: total %d, page %d of %d, %d rows from %s", q, got.Total, got.Page, got.Pages, len(got.Rows), got.Rows[0].Host)
			}
			doc := e.page("/"+q, http.StatusOK)
			rows := dashRowsOf(t, doc)
			if len(rows) != tc.rows || rows[0].name != tc.first {
				t.Errorf("%s: page of %d rows from %+v", q, len(rows), rows[0])
			}
			var prev, next bool
			for _, a := range findAll(doc, atom.A) {
				prev = prev || (attrOf(a, "rel") == "prev" && attrOf(a, "href") == "./")
				next = next || (attrOf(a, "rel") == "next" && attrOf(a, "href") == "./?page=2")
			}
			if prev != tc.prev || next != tc.next {
				t.Errorf("%s: links prev %v next %v", q, prev, next)
			}
		}
	})
}

func TestIDOf(t *testing.T) {
	for in, want := range map[string]string{"web": "web", "group 01": "group_2001", "a_b": "a_5fb", "é": "_c3_a9", "": ""} {
		if got := idOf(in); got != want {
			t.Errorf("idOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSparkline(t *testing.T) {
	hours := func(vs ...float64) []*float64 { // -1: an hour without up checks
		out := make([]*float64, len(vs))
		for i, v := range vs {
			if v >= 0 {
				out[i] = &vs[i]
			}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		in    []*float64
		lines []string
		label string
	}{
		{"None", hours(-1, -1, -1), nil, ""},
		{"Flat", hours(5, 5, 5), []string{"1.0,10.0 48.0,10.0 95.0,10.0"}, "latency over 24 h: 5.0 to 5.0 ms"},
		{"Rising", hours(0, 10, 20), []string{"1.0,19.0 48.0,10.0 95.0,1.0"}, "latency over 24 h: 0.0 to 20.0 ms"},
		{"Gap", hours(0, -1, 20), []string{"1.0,19.0 2.0,19.0", "95.0,1.0 96.0,1.0"}, "latency over 24 h: 0.0 to 20.0 ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := sparklineOf(tc.in)
			if tc.lines == nil {
				if sp != nil {
					t.Fatalf("%+v, want none", sp)
				}
				return
			}
			if sp == nil || !slices.Equal(sp.Lines, tc.lines) || sp.Label != tc.label {
				t.Fatalf("%+v, want %q %q", sp, tc.lines, tc.label)
			}
		})
	}
}
