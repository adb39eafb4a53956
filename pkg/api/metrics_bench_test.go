package api

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/promtext"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// fleetMonitors and fleetRows are the fleet: 10,000 monitors with
// 2 days of 1-minute results. SRVMON_BENCH_SCALE (e.g. 0.01) loads that
// fraction of the monitors for quick runs.
const (
	fleetMonitors = 10000
	fleetRows     = 2 * 24 * 60
)

func fleetSize(b *testing.B) int {
	v := os.Getenv(storetest.EnvBenchScale)
	if v == "" {
		return fleetMonitors
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		b.Fatalf("%s=%q: want a positive number", storetest.EnvBenchScale, v)
	}
	return max(int(fleetMonitors*f), 1)
}

// loadFleet restores n monitors (restoreFleet), stores a round at
// benchEnd with a certificate for each, and settles the store as rounds
// would have.
func loadFleet(b *testing.B, st store.Store, n, rows int) {
	start := time.Now()
	hosts := restoreFleet(b, st, n, rows)
	// A round at benchEnd records each host's certificate (a restore
	// records none): the newest check of each host.
	round := make([]store.Result, n)
	for i, h := range hosts {
		round[i] = store.Result{Host: h, Slot: benchEnd, RTT: 12 * time.Millisecond, Up: true, CertExpiry: benchEnd.Add(90 * 24 * time.Hour)}
	}
	if err := st.SaveRound(b.Context(), round, nil); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d×%d results in %v", n, rows, time.Since(start).Round(time.Millisecond))
	storetest.Settle(b, st, benchEnd.Add(time.Hour))
}

// restoreFleet restores n monitors (named, in 20 groups) with rows
// 1-minute results each (benchResult), ending at benchEnd, and returns
// their hosts.
func restoreFleet(b *testing.B, st store.Store, n, rows int) []string {
	hosts := make([]string, n)
	ms := make([]monitor.Monitor, n)
	for i := range hosts {
		hosts[i] = benchHost(i)
		ms[i] = monitor.Monitor{Host: hosts[i], Settings: monitor.Settings{Name: fmt.Sprintf("Monitor %d", i), Group: fmt.Sprintf("group-%d", i%20)}}
	}
	err := st.Restore(b.Context(), store.Restore{Hosts: hosts, Monitors: ms, Results: benchResults(hosts, rows)})
	if err != nil {
		b.Fatalf("loading: %v", err)
	}
	return hosts
}

// metricsBenchBackends are the stores of the /metrics benchmarks: bolt
// and, with SRVMON_TEST_DATABASE_URL, PostgreSQL (the memory store
// would hold the whole fleet's results in the heap it measures).
func metricsBenchBackends() []benchBackend {
	return slices.DeleteFunc(benchBackends(), func(be benchBackend) bool { return be.name == "memory" })
}

// BenchmarkMetricsScrape is one scrape of /metrics over 10,000 monitors ×
// 2 days (the budget: 300 ms, 10 MB, a peak heap of 64 MB) on
// each store.
func BenchmarkMetricsScrape(b *testing.B) {
	for _, be := range metricsBenchBackends() {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			defer st.Close()
			loadFleet(b, st, fleetSize(b), fleetRows)
			benchMetrics(b, st)
		})
	}
}

// BenchmarkMetricsYear is one scrape of /metrics over 100 monitors × 1
// year (SRVMON_BENCH_SCALE scales the year), to show that the history's
// length costs nothing: the uptime windows read the hourly summaries.
func BenchmarkMetricsYear(b *testing.B) {
	for _, be := range metricsBenchBackends() {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			defer st.Close()
			loadFleet(b, st, 100, benchRows(b))
			benchMetrics(b, st)
		})
	}
}

// benchMetrics reports the store's part of a scrape alone (read-only)
// and whole scrapes, plain and gzip'd: time, the answer's size and the
// peak heap.
func benchMetrics(b *testing.B, st store.Store) {
	h := New(Options{Store: st, Now: func() time.Time { return benchEnd }, Logger: slog.New(slog.DiscardHandler)})
	b.Run("read-only", func(b *testing.B) {
		var n int
		peak := startHeapPeak()
		for b.Loop() {
			mons, err := readMetricsFleet(b.Context(), st, benchEnd)
			if err != nil {
				b.Fatal(err)
			}
			n = len(mons)
		}
		peak.StopAndReport(b)
		b.ReportMetric(float64(n), "monitors")
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
	})
	for _, gz := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "gzip"}[gz], func(b *testing.B) {
			var size int64
			peak := startHeapPeak()
			for b.Loop() {
				w := newCountingWriter()
				req := httptestRequest("/metrics")
				if gz {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				h.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatalf("status %d", w.code)
				}
				size = w.n
			}
			peak.StopAndReport(b)
			b.ReportMetric(float64(size)/1e6, "MB")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
	// As Prometheus scrapes: over a loopback socket, gzip'd, the body
	// read (and gunzipped) by the client.
	b.Run("loopback", func(b *testing.B) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		var size int64
		peak := startHeapPeak()
		for b.Loop() {
			resp, err := srv.Client().Get(srv.URL + "/metrics")
			if err != nil {
				b.Fatal(err)
			}
			size, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("status %d, %v", resp.StatusCode, err)
			}
		}
		peak.StopAndReport(b)
		b.ReportMetric(float64(size)/1e6, "MB-gunzipped")
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
	})
}

// httptestRequest is a GET of target under a Host the Host check allows.
func httptestRequest(target string) *http.Request {
	return httptest.NewRequest("GET", "http://127.0.0.1:8000"+target, nil)
}

// BenchmarkWriteMonitorFamilies is the writing part of a scrape alone:
// the per-monitor families of 10,000 monitors (as BenchmarkMetricsScrape's
// fleet has them) into a writer that keeps nothing.
func BenchmarkWriteMonitorFamilies(b *testing.B) {
	mons := make([]metricsMonitor, fleetMonitors)
	for i := range mons {
		l := promtext.AppendLabel(nil, "group", fmt.Sprintf("group-%d", i%20))
		l = promtext.AppendLabel(append(l, ','), "host", benchHost(i))
		l = promtext.AppendLabel(append(l, ','), "name", fmt.Sprintf("Monitor %d", i))
		mons[i] = metricsMonitor{labels: string(l), checked: true, up: true, rtt: 12 * time.Millisecond,
			hasCert: true, certExpiry: benchEnd.Add(90 * 24 * time.Hour).Unix(),
			upChecks: [metricsPeriods]int64{1400, 2800, 2800, 2800}, downChecks: [metricsPeriods]int64{39, 78, 78, 78}}
	}
	w := newCountingWriter()
	b.ReportAllocs()
	for b.Loop() {
		w.n = 0
		bw := bufio.NewWriterSize(w, 64<<10)
		if err := writeMonitorFamilies(bw, mons, nil); err != nil {
			b.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.n)/1e6, "MB")
}
