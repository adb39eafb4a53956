package api

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/promtext"
	"github.com/srvmon/srvmon/pkg/promtext/promtexttest"
	"github.com/srvmon/srvmon/pkg/store"
)

// scrape parses a /metrics answer with Prometheus's text parser and
// returns each sample as name{label="value",...} (labels sorted) → value.
func scrape(t testing.TB, body string) map[string]float64 {
	t.Helper()
	return promtexttest.Samples(t, body)
}

// series is the key of a per-monitor sample.
func series(name, host, display, group string, extra ...string) string {
	labels := []string{fmt.Sprintf("group=%q", group), fmt.Sprintf("host=%q", host), fmt.Sprintf("name=%q", display)}
	for i := 0; i+1 < len(extra); i += 2 {
		labels = append(labels, fmt.Sprintf("%s=%q", extra[i], extra[i+1]))
	}
	slices.Sort(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

// TestMetrics: every per-monitor sample equals what the stored data
// says, and no other srvmon_ sample is there.
func TestMetrics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		f := seedFleet(t, st)
		e := newEnv(t, st, Options{})
		w := e.get("/metrics")
		expect(t, w, http.StatusOK, "srvmon_up")
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Errorf("Content-Type %q", ct)
		}
		body := w.Body.String()
		if s := secretsIn(body); len(s) > 0 {
			t.Errorf("/metrics shows secrets %q", s)
		}
		checkFamilies(t, body)
		got := scrape(t, body)

		want := map[string]float64{}
		lastOf := map[string]store.Result{}
		for _, r := range f.results {
			if l, ok := lastOf[r.Host]; !ok || r.Slot.After(l.Slot) {
				lastOf[r.Host] = r
			}
		}
		for _, m := range f.monitors {
			host := probe.MaskSecrets(m.Host)
			display := m.Name
			if display == "" {
				display = host
			}
			s := func(name string, extra ...string) string { return series(name, host, display, m.Group, extra...) }
			want[s("srvmon_in_maintenance")] = 0
			if m.Host == "m.example" {
				want[s("srvmon_in_maintenance")] = 1
			}
			if l, ok := lastOf[m.Host]; ok {
				want[s("srvmon_up")] = map[bool]float64{true: 1, false: 0}[l.Up]
				want[s("srvmon_rtt_seconds")] = l.RTT.Seconds()
			}
			if m.Host == "a.example" {
				want[s("srvmon_certificate_expiry_timestamp_seconds")] = float64(certExpiry.Unix())
			}
			for _, p := range uptimePeriods {
				if r, ok := f.uptime(m.Host, p.d); ok {
					want[s("srvmon_uptime_ratio", "period", p.name)] = r
				}
			}
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
			}
		}
		for k := range got {
			if _, ok := want[k]; strings.HasPrefix(k, "srvmon_") && !ok {
				t.Errorf("unexpected sample %s", k)
			}
		}
		// Spot checks of the computation above, so that a wrong helper
		// cannot hide a wrong answer.
		for k, v := range map[string]float64{
			series("srvmon_uptime_ratio", "a.example", "Alpha", "web", "period", "24h"):  0.96,
			series("srvmon_uptime_ratio", "b.example", "b.example", "", "period", "24h"): 1,
			series("srvmon_uptime_ratio", "b.example", "b.example", "", "period", "7d"):  10.0 / 11,
			series("srvmon_rtt_seconds", "a.example", "Alpha", "web"):                    0.011,
			series("srvmon_in_maintenance", secretMasked, "Charlie", ""):                 0,
		} {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		// The process's own.
		if _, ok := got["go_goroutines{}"]; !ok {
			t.Error("no go_goroutines")
		}
	})
}

// monitorHelp are the per-monitor families' HELP texts, as client_golang
// served them before /metrics wrote them itself: a dashboard or alert
// may show them.
var monitorHelp = map[string]string{
	"srvmon_up":          "Whether the monitor's newest check was up (1) or down (0); absent before its first check.",
	"srvmon_rtt_seconds": "Round-trip time of the monitor's newest check (of a down check, how long it took to fail).",
	"srvmon_certificate_expiry_timestamp_seconds": "When the leaf certificate of the newest https:// or tls:// check that reached a handshake expires, Unix seconds.",
	"srvmon_uptime_ratio":                         "Up checks over up and down checks in the period before now, checks in maintenance left out; absent when the period has none.",
	"srvmon_in_maintenance":                       "Whether a maintenance window covering the monitor is active now.",
}

// checkFamilies checks a text exposition's structure, which the parser
// lets pass: every family has one HELP and one TYPE line, before its
// samples, and its samples together (a family seen once is never seen
// again); the per-monitor families are gauges with their HELP texts.
func checkFamilies(t testing.TB, body string) {
	t.Helper()
	seen := map[string]bool{}
	var family, typ string
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			if seen[name] {
				t.Errorf("line %d: family %s again: %q", i+1, name, line)
			}
			seen[name], family, typ = true, name, ""
			if want, ok := monitorHelp[name]; ok && help != want {
				t.Errorf("HELP of %s is %q, want %q", name, help, want)
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, tt, _ := strings.Cut(rest, " ")
			if name != family || typ != "" {
				t.Errorf("line %d: TYPE not after its HELP: %q", i+1, line)
			}
			typ = tt
			if _, ok := monitorHelp[name]; ok && typ != "gauge" {
				t.Errorf("%s is a %s, want a gauge", name, typ)
			}
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		suffixes := map[string][]string{"histogram": {"_bucket", "_sum", "_count"}, "summary": {"_sum", "_count"}}[typ]
		if name != family && !slices.ContainsFunc(suffixes, func(s string) bool { return name == family+s }) || typ == "" {
			t.Errorf("line %d: a sample of %s in family %s (%s): %q", i+1, name, family, typ, line)
		}
	}
	for name := range monitorHelp {
		if strings.Contains(body, "\n"+name+"{") && !seen[name] {
			t.Errorf("no HELP for %s", name)
		}
	}
}

// TestMetricsEscaping: label values with a double quote, a backslash, a
// line feed and bytes that are not UTF-8 are escaped as the text format
// requires, and read back as stored (the invalid bytes as U+FFFD).
func TestMetricsEscaping(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		const name = "say \"hi\" \\ back\nslash ✓"
		putMonitor(t, st, monitor.Monitor{Host: "q.example", Settings: monitor.Settings{Name: name, Group: "g\\\"\n\xff"}})
		seed(t, st, nil, []store.Result{{Host: "q.example", Slot: slot(1), RTT: 3 * time.Millisecond, Up: true}})
		w := newEnv(t, st, Options{}).get("/metrics")
		expect(t, w, http.StatusOK, "")
		body := w.Body.String()
		const labels = `{group="g\\\"\n` + "\uFFFD" + `",host="q.example",name="say \"hi\" \\ back\nslash ✓"}`
		for _, line := range []string{"srvmon_up" + labels + " 1", "srvmon_rtt_seconds" + labels + " 0.003"} {
			if !strings.Contains(body, "\n"+line+"\n") {
				t.Errorf("no line %s in\n%s", line, body)
			}
		}
		checkFamilies(t, body)
		got := scrape(t, body)
		if k := series("srvmon_up", "q.example", name, "g\\\"\n\uFFFD"); got[k] != 1 {
			t.Errorf("%s = %v (parsed: %v)", k, got[k], got)
		}
	})
}

// TestMetricsPeriods: a monitor's record has room for every uptime
// period.
func TestMetricsPeriods(t *testing.T) {
	if len(uptimePeriods) != metricsPeriods {
		t.Fatalf("metricsPeriods is %d, uptimePeriods has %d", metricsPeriods, len(uptimePeriods))
	}
}

// TestMetricsNegotiation: whatever the scraper accepts, the answer is the
// text format 0.0.4, gzip'd when gzip is accepted with a weight above 0;
// gzip'd, it is the same text. name[] keeps the families it names.
func TestMetricsNegotiation(t *testing.T) {
	st := backends()[0].open(t)
	seedFleet(t, st)
	e := newEnv(t, st, Options{})
	plain := e.get("/metrics").Body.String()
	for _, c := range []struct {
		accept, encoding string
		gzip             bool
	}{
		{"", "", false},
		{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "", false},
		{"application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "gzip", true},
		{"", "gzip;q=0", false},
		{"", "br, GZIP;q=0.5", true},
		{"", "*", true},
		{"", "identity", false},
	} {
		t.Run(c.accept+"|"+c.encoding, func(t *testing.T) {
			h := http.Header{}
			if c.accept != "" {
				h.Set("Accept", c.accept)
			}
			if c.encoding != "" {
				h.Set("Accept-Encoding", c.encoding)
			}
			w := e.serve(request{method: "GET", target: "/metrics", header: h})
			expect(t, w, http.StatusOK, "")
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4; charset=utf-8") {
				t.Errorf("Content-Type %q", ct)
			}
			// The answer is the text format whatever the Accept, so
			// only the encoding may vary.
			if v := w.Header().Values("Vary"); !slices.Equal(v, []string{"Accept-Encoding"}) {
				t.Errorf("Vary %q, want [Accept-Encoding]", v)
			}
			body := w.Body.String()
			if ce := w.Header().Get("Content-Encoding"); (ce == "gzip") != c.gzip {
				t.Fatalf("Content-Encoding %q, want gzip %v", ce, c.gzip)
			}
			if c.gzip {
				zr, err := gzip.NewReader(w.Body)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				body = string(b)
			}
			// The process's metrics (go_*) change between scrapes.
			if got, want := monitorLines(body), monitorLines(plain); got != want || want == "" {
				t.Errorf("per-monitor lines\n%s\nwant\n%s", got, want)
			}
		})
	}
	w := e.get("/metrics?name[]=srvmon_up&name[]=go_goroutines")
	checkFamilies(t, w.Body.String())
	fams := map[string]bool{}
	for name := range strings.SplitSeq(w.Body.String(), "\n") {
		if rest, ok := strings.CutPrefix(name, "# TYPE "); ok {
			fams[strings.Fields(rest)[0]] = true
		}
	}
	if len(fams) != 2 || !fams["srvmon_up"] || !fams["go_goroutines"] {
		t.Errorf("name[] kept %v", fams)
	}
}

// monitorLines are the lines of the per-monitor families.
func monitorLines(body string) string {
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		for name := range monitorHelp {
			if strings.HasPrefix(line, name) || strings.HasPrefix(line, "# HELP "+name) || strings.HasPrefix(line, "# TYPE "+name) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsFamilyClash: process metrics that name a per-monitor family
// would make the answer invalid: a 500, logged.
func TestMetricsFamilyClash(t *testing.T) {
	st := backends()[0].open(t)
	seedFleet(t, st)
	reg := promtext.NewProcessRegistry()
	reg.MustRegister(promtext.NewGaugeVec("srvmon_up", "clash", "x", "y"))
	e := newEnv(t, st, Options{Metrics: reg})
	w := e.get("/metrics")
	expect(t, w, http.StatusInternalServerError, "internal server error (logged)")
	if !strings.Contains(e.log.String(), "srvmon_up") {
		t.Errorf("not logged: %s", e.log.String())
	}
}

// TestMetricsAuth: with Metrics.Token, /metrics needs it as a bearer
// token (basic auth does not do); without, it is a read.
func TestMetricsAuth(t *testing.T) {
	protect := Auth{Enable: true, User: "admin", Password: "s3cret", ProtectReads: true}
	for _, c := range []struct {
		name          string
		auth          Auth
		token, bearer string
		basic         bool
		code          int
	}{
		{"open", Auth{}, "", "", false, 200},
		{"changes protected", Auth{Enable: true, User: "admin", Password: "s3cret"}, "", "", false, 200},
		{"reads protected", protect, "", "", false, 401},
		{"reads protected, basic auth", protect, "", "", true, 200},
		{"token", Auth{}, "t0ken", "t0ken", false, 200},
		{"token missing", Auth{}, "t0ken", "", false, 401},
		{"token wrong", Auth{}, "t0ken", "t0ke", false, 401},
		{"token longer", Auth{}, "t0ken", "t0ken!", false, 401},
		{"token, basic auth does not do", protect, "t0ken", "", true, 401},
		{"token with reads protected", protect, "t0ken", "t0ken", false, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := backends()[0].open(t)
			e := newEnv(t, st, Options{Auth: c.auth, MetricsToken: c.token})
			r := request{method: "GET", target: "/metrics", header: http.Header{}}
			if c.bearer != "" {
				r.header.Set("Authorization", "Bearer "+c.bearer)
			}
			if c.basic {
				r.user, r.pass = "admin", "s3cret"
			}
			w := e.serve(r)
			if w.Code != c.code {
				t.Fatalf("%d, want %d: %s", w.Code, c.code, w.Body.String())
			}
			if c.code == 401 && c.token != "" && w.Header().Get("WWW-Authenticate") != `Bearer realm="srvmon metrics"` {
				t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// failingBuckets fails BucketsAll, failingLast LastChecks.
type (
	failingBuckets struct{ store.Store }
	failingLast    struct{ store.Store }
)

func (failingBuckets) BucketsAll(ctx context.Context, q store.BucketQuery, fn func(string, []store.Bucket) error) error {
	return errDisk
}

func (failingLast) LastChecks(ctx context.Context, fn func(string, store.Check) error) error {
	return errDisk
}

// TestMetricsStoreError: a store error in either pass over the fleet is a
// 500 with one line, logged, and nothing of a half-read scrape.
func TestMetricsStoreError(t *testing.T) {
	for _, c := range []struct {
		name string
		wrap func(store.Store) store.Store
	}{
		{"buckets", func(st store.Store) store.Store { return failingBuckets{st} }},
		{"last checks", func(st store.Store) store.Store { return failingLast{st} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := backends()[0].open(t)
			seedFleet(t, st)
			e := newEnv(t, c.wrap(st), Options{})
			w := e.get("/metrics")
			expect(t, w, http.StatusInternalServerError, "internal server error (logged)")
			if strings.Contains(w.Body.String(), "srvmon_") {
				t.Errorf("a half-read scrape: %s", w.Body.String())
			}
			if !strings.Contains(e.log.String(), "disk on fire") {
				t.Errorf("not logged: %s", e.log.String())
			}
		})
	}
}

// FuzzMetricsLabels: whatever a monitor's name and group, its sample
// line parses with Prometheus's text parser and reads back its label
// values (bytes that are not UTF-8 as U+FFFD).
func FuzzMetricsLabels(f *testing.F) {
	f.Add("say \"hi\" \\ back\nslash ✓", "g\\\"\n\xff")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, name, group string) {
		labels := promtext.AppendLabel(nil, "group", group)
		labels = promtext.AppendLabel(append(labels, ','), "host", "h.example")
		labels = promtext.AppendLabel(append(labels, ','), "name", name)
		line := appendSample(nil, "srvmon_uptime_ratio", string(labels), "7d", 0.5)
		fams := promtexttest.Parse(t, string(line))
		got := map[string]string{}
		for _, l := range fams["srvmon_uptime_ratio"].GetMetric()[0].GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		want := map[string]string{"group": strings.ToValidUTF8(group, "\uFFFD"), "host": "h.example",
			"name": strings.ToValidUTF8(name, "\uFFFD"), "period": "7d"}
		if fmt.Sprint(got) != fmt.Sprint(want) { // maps print sorted
			t.Errorf("%q read back as %q, want %q", line, got, want)
		}
	})
}
