package api

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// fleet is the stored data of the badge and /metrics tests.
type fleet struct {
	monitors []monitor.Monitor
	results  []store.Result
}

// certExpiry is a.example's certificate's.
var certExpiry = time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC)

// seedFleet stores: a.example (4 of 100 down, a certificate), b.example
// (up, 5 checks in maintenance, one down 3 days ago), secretHost (shown
// as secretMasked) without checks, m.example in an active maintenance window
// (of its group ops), hidden.example (status false).
func seedFleet(t testing.TB, st store.Store) fleet {
	t.Helper()
	no := false
	f := fleet{monitors: []monitor.Monitor{
		{Host: "a.example", Settings: monitor.Settings{Name: "Alpha", Group: "web"}},
		{Host: "b.example"},
		{Host: secretHost, Settings: monitor.Settings{Name: "Charlie"}},
		{Host: "hidden.example", Settings: monitor.Settings{Status: &no}},
		{Host: "m.example", Settings: monitor.Settings{Group: "ops"}},
	}}
	for i := 1; i <= 100; i++ {
		r := store.Result{Host: "a.example", Slot: slot(i), RTT: time.Duration(10+i%5) * time.Millisecond, Up: i%25 != 0}
		if !r.Up {
			r.RTT, r.Reason = 10*time.Second, "timeout"
		}
		if i == 1 {
			r.CertExpiry = certExpiry
		}
		f.results = append(f.results, r)
	}
	for i := 1; i <= 10; i++ {
		f.results = append(f.results, store.Result{Host: "b.example", Slot: slot(i), RTT: 5 * time.Millisecond, Up: true})
	}
	for i := 11; i <= 15; i++ {
		f.results = append(f.results, store.Result{Host: "b.example", Slot: slot(i), RTT: time.Second, Reason: "planned", Maintenance: true})
	}
	f.results = append(f.results,
		store.Result{Host: "b.example", Slot: slot(3 * 1440), RTT: time.Second, Reason: "refused"},
		store.Result{Host: "hidden.example", Slot: slot(1), RTT: time.Millisecond, Up: true},
		store.Result{Host: "m.example", Slot: slot(1), RTT: 2 * time.Millisecond, Up: true},
	)
	for _, m := range f.monitors {
		putMonitor(t, st, m)
	}
	seed(t, st, nil, f.results)
	if _, err := st.PutMaintenance(t.Context(), monitor.Maintenance{Groups: []string{"ops"},
		Start: now.Add(-time.Hour), End: now.Add(time.Hour), Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// uptime is host's uptime over the d before now, computed from what was
// stored: up over up and down, maintenance left out; false without any.
func (f fleet) uptime(host string, d time.Duration) (float64, bool) {
	var up, down int
	for _, r := range f.results {
		if r.Host != host || r.Maintenance || r.Slot.Before(now.Add(-d)) || !r.Slot.Before(now) {
			continue
		}
		if r.Up {
			up++
		} else {
			down++
		}
	}
	if up+down == 0 {
		return 0, false
	}
	return float64(up) / float64(up+down), true
}

// meanRTT is the mean rtt of host's up checks (out of maintenance) over
// the d before now.
func (f fleet) meanRTT(host string, d time.Duration) time.Duration {
	var sum time.Duration
	var n int
	for _, r := range f.results {
		if r.Host == host && r.Up && !r.Maintenance && !r.Slot.Before(now.Add(-d)) && r.Slot.Before(now) {
			sum += r.RTT
			n++
		}
	}
	return sum / time.Duration(n)
}

// svgBadge is what a test reads of a badge: its title, its width and
// the texts it draws.
type svgBadge struct {
	Width int    `xml:"width,attr"`
	Title string `xml:"title"`
	Rects []struct {
		Fill string `xml:"fill,attr"`
	} `xml:"g>rect"`
	Texts []string `xml:"g>text"`
}

func decodeBadge(t *testing.T, body []byte) svgBadge {
	t.Helper()
	parseSVG(t, body)
	var b svgBadge
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&b); err != nil {
		t.Fatalf("badge: %v\n%s", err, body)
	}
	return b
}

func TestBadges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		f := seedFleet(t, st)
		e := newEnv(t, st, Options{})
		pct := func(host string, d time.Duration) string {
			r, ok := f.uptime(host, d)
			if !ok {
				t.Fatalf("%s has no uptime over %v", host, d)
			}
			return formatPercent(r)
		}
		day, week := 24*time.Hour, 7*24*time.Hour
		for _, c := range []struct {
			target, label, message, color string
		}{
			{"/api/badge/status?host=a.example", "status", "up", "#4c1"},
			{"/api/badge/status?host=m.example", "status", "maintenance", "#fe7d37"},
			{"/api/badge/status?host=" + url.QueryEscape(secretMasked), "status", "no data", "#9f9f9f"},
			{"/api/badge/status?host=" + url.QueryEscape(secretHost), "status", "no data", "#9f9f9f"},
			{"/api/badge/uptime?host=a.example", "uptime 24h", pct("a.example", day), "#dfb317"}, // 96%
			{"/api/badge/uptime?host=a.example&period=365d", "uptime 365d", "96%", "#dfb317"},
			{"/api/badge/uptime?host=b.example&period=24h", "uptime 24h", "100%", "#4c1"},
			{"/api/badge/uptime?host=b.example&period=7d", "uptime 7d", pct("b.example", week), "#e05d44"}, // 10 of 11
			{"/api/badge/uptime?host=" + url.QueryEscape(secretMasked) + "&period=30d", "uptime 30d", "no data", "#9f9f9f"},
			{"/api/badge/response-time?host=a.example&period=7d", "response time 7d", badgeRTT(f.meanRTT("a.example", week)), "#007ec6"},
			{"/api/badge/response-time?host=b.example", "response time 24h", "5 ms", "#007ec6"},
			{"/api/badge/response-time?host=" + url.QueryEscape(secretMasked), "response time 24h", "no data", "#9f9f9f"},
		} {
			w := e.get(c.target)
			expect(t, w, http.StatusOK, "")
			if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "image/svg+xml" || cc != "public, max-age=60" {
				t.Errorf("%s: Content-Type %q, Cache-Control %q", c.target, ct, cc)
			}
			if n := w.Body.Len(); n > 1500 {
				t.Errorf("%s: %d bytes", c.target, n)
			}
			b := decodeBadge(t, w.Body.Bytes())
			if want := c.label + ": " + c.message; b.Title != want {
				t.Errorf("%s: title %q, want %q", c.target, b.Title, want)
			}
			if len(b.Texts) != 4 || b.Texts[1] != c.label || b.Texts[3] != c.message {
				t.Errorf("%s: texts %q", c.target, b.Texts)
			}
			if len(b.Rects) != 3 || b.Rects[0].Fill != "#555" || b.Rects[1].Fill != c.color {
				t.Errorf("%s: rects %+v, want the message on %s", c.target, b.Rects, c.color)
			}
			if want := textWidth(c.label) + textWidth(c.message) + 20; b.Width != want {
				t.Errorf("%s: width %d, want %d", c.target, b.Width, want)
			}

			// The same through the shields.io endpoint.
			kind, rest, _ := strings.Cut(strings.TrimPrefix(c.target, "/api/badge/"), "?")
			w = e.get("/api/badge/shields?kind=" + kind + "&" + rest)
			expect(t, w, http.StatusOK, "")
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("%s: shields: %v", c.target, err)
			}
			want := map[string]any{"schemaVersion": 1.0, "label": c.label, "message": c.message,
				"color": map[string]string{"#4c1": "brightgreen", "#fe7d37": "orange", "#9f9f9f": "lightgrey", "#dfb317": "yellow", "#e05d44": "red", "#007ec6": "blue"}[c.color]}
			if !equalJSON(got, want) {
				t.Errorf("%s: shields %v, want %v", c.target, got, want)
			}
		}

		// Refused: one line each.
		for _, c := range []struct {
			target string
			code   int
			want   string
		}{
			{"/api/badge/status?host=nope.example", http.StatusNotFound, `unknown host "nope.example"`},
			{"/api/badge/uptime?host=nope.example&period=7d", http.StatusNotFound, `unknown host`},
			{"/api/badge/uptime?host=a.example&period=2d", http.StatusBadRequest, `period "2d": want 24h, 7d, 30d or 365d`},
			{"/api/badge/response-time?host=a.example&period=24", http.StatusBadRequest, `period "24"`},
			{"/api/badge/status", http.StatusBadRequest, `missing host parameter`},
			{"/api/badge/shields?host=a.example", http.StatusBadRequest, `missing kind parameter`},
			{"/api/badge/shields?host=a.example&kind=chart", http.StatusBadRequest, `kind "chart"`},
			{"/api/badge/shields?host=a.example&kind=uptime&period=1y", http.StatusBadRequest, `period "1y"`},
			{"/api/badge/status?host=a.example&host=%zz", http.StatusBadRequest, `bad query`},
		} {
			expect(t, e.get(c.target), c.code, c.want)
		}
	})
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestBadgeAuth: with reads protected, a badge needs credentials unless
// Status.Public is on and the monitor is on the status page; an unknown
// or hidden host answers 401 then, not 404.
func TestBadgeAuth(t *testing.T) {
	protect := Auth{Enable: true, User: "admin", Password: "s3cret", ProtectReads: true}
	for _, c := range []struct {
		name   string
		auth   Auth
		public bool
		host   string
		creds  bool
		code   int
		cache  string
	}{
		{"reads open", Auth{Enable: true, User: "admin", Password: "s3cret"}, false, "hidden.example", false, 200, "public"},
		{"protected", protect, false, "a.example", false, 401, ""},
		{"protected, with credentials", protect, false, "a.example", true, 200, "private"},
		{"public status page", protect, true, "a.example", false, 200, "public"},
		{"public status page, masked host", protect, true, secretMasked, false, 200, "public"},
		{"public status page, hidden monitor", protect, true, "hidden.example", false, 401, ""},
		{"public status page, hidden monitor, with credentials", protect, true, "hidden.example", true, 200, "private"},
		{"public status page, unknown host", protect, true, "nope.example", false, 401, ""},
		{"public status page, unknown host, with credentials", protect, true, "nope.example", true, 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := backends()[0].open(t)
			seedFleet(t, st)
			e := newEnv(t, st, Options{Auth: c.auth, StatusPublic: c.public})
			for _, target := range []string{
				"/api/badge/status?host=", "/api/badge/uptime?period=7d&host=", "/api/badge/response-time?host=", "/api/badge/shields?kind=uptime&host=",
			} {
				r := request{method: "GET", target: target + url.QueryEscape(c.host)}
				if c.creds {
					r.user, r.pass = "admin", "s3cret"
				}
				w := e.serve(r)
				if w.Code != c.code {
					t.Errorf("%s: %d, want %d (%s)", r.target, w.Code, c.code, strings.TrimSpace(w.Body.String()))
				}
				if got := w.Header().Get("Cache-Control"); c.cache != "" && got != c.cache+", max-age=60" {
					t.Errorf("%s: Cache-Control %q", r.target, got)
				}
				if c.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("%s: 401 without WWW-Authenticate", r.target)
				}
			}
		})
	}
}

func TestFormatPercent(t *testing.T) {
	for _, c := range []struct {
		ratio float64
		want  string
	}{{1, "100%"}, {0.99999, "99.99%"}, {0.96, "96%"}, {0.5, "50%"}, {10.0 / 11, "90.9%"}, {0, "0%"}, {2.0 / 3, "66.66%"}} {
		if got := formatPercent(c.ratio); got != c.want {
			t.Errorf("formatPercent(%v) = %q, want %q", c.ratio, got, c.want)
		}
	}
}

func TestBadgeRTT(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{87*time.Millisecond + 400*time.Microsecond, "87 ms"}, {999 * time.Millisecond, "999 ms"}, {1254 * time.Millisecond, "1.25 s"}, {12 * time.Second, "12 s"}} {
		if got := badgeRTT(c.d); got != c.want {
			t.Errorf("badgeRTT(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// TestTextWidth: ASCII from the table (11 px Verdana, rounded up), wide
// characters as two letters, others as one wide letter.
func TestTextWidth(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"status", 34}, // 5.7+4.3+6.6+4.3+7.0+5.7
		{"up", 14},     // 7.0+6.9
		{"99.9%", 37},  // 3×7.0+4.0+11.8
		{"W i", 18},    // 10.9+3.9+3.0
		{"日本", 22},     // 2×11
		{"é", 8},       // 7.5
	} {
		if got := textWidth(c.s); got != c.want {
			t.Errorf("textWidth(%q) = %d, want %d", c.s, got, c.want)
		}
	}
}
