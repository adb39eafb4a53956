package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// scrape parses a /metrics answer with Prometheus's text parser and
// returns each sample as name{label="value",...} (labels sorted) → value.
func scrape(t testing.TB, body string) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			out[sampleKey(name, m.Label)] = sampleValue(t, f.GetType(), m)
		}
	}
	return out
}

func sampleKey(name string, labels []*dto.LabelPair) string {
	var parts []string
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	slices.Sort(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

func sampleValue(t testing.TB, typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	}
	return 0 // summaries and histograms: not compared
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

// TestMetricsGzip: a scraper that accepts gzip gets it.
func TestMetricsGzip(t *testing.T) {
	st := backends()[0].open(t)
	seedFleet(t, st)
	e := newEnv(t, st, Options{})
	w := e.serve(request{method: "GET", target: "/metrics", header: http.Header{"Accept-Encoding": {"gzip"}}})
	expect(t, w, http.StatusOK, "")
	if ce := w.Header().Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("Content-Encoding %q", ce)
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

// failingFleet fails BucketsAll.
type failingFleet struct{ store.Store }

func (failingFleet) BucketsAll(ctx context.Context, q store.BucketQuery, fn func(string, []store.Bucket) error) error {
	return errDisk
}

// TestMetricsStoreError: a store error is a 500 with one line, logged,
// and nothing of a half-read scrape.
func TestMetricsStoreError(t *testing.T) {
	st := backends()[0].open(t)
	seedFleet(t, st)
	e := newEnv(t, failingFleet{st}, Options{})
	w := e.get("/metrics")
	expect(t, w, http.StatusInternalServerError, "internal server error (logged)")
	if !strings.Contains(e.log.String(), "disk on fire") {
		t.Errorf("not logged: %s", e.log.String())
	}
}
