package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
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

// loadFleet restores n monitors (named, in 20 groups) with fleetRows
// results each ending at benchEnd, stores a round at benchEnd with a
// certificate for each, and
// settles the store as rounds would have.
func loadFleet(b *testing.B, st store.Store, n int) {
	hosts := make([]string, n)
	ms := make([]monitor.Monitor, n)
	for i := range hosts {
		hosts[i] = benchHost(i)
		ms[i] = monitor.Monitor{Host: hosts[i], Settings: monitor.Settings{Name: fmt.Sprintf("Monitor %d", i), Group: fmt.Sprintf("group-%d", i%20)}}
	}
	start := time.Now()
	err := st.Restore(b.Context(), store.Restore{Hosts: hosts, Monitors: ms, Results: func(ctx context.Context, emit func(store.Result) error) error {
		for _, h := range hosts {
			for i := range fleetRows {
				if err := emit(benchResult(h, i, fleetRows)); err != nil {
					return err
				}
			}
		}
		return nil
	}})
	if err != nil {
		b.Fatalf("loading: %v", err)
	}
	// A round at benchEnd records each host's certificate (a restore
	// records none): the newest check of each host.
	round := make([]store.Result, n)
	for i, h := range hosts {
		round[i] = store.Result{Host: h, Slot: benchEnd, RTT: 12 * time.Millisecond, Up: true, CertExpiry: benchEnd.Add(90 * 24 * time.Hour)}
	}
	if err := st.SaveRound(b.Context(), round, nil); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d×%d results in %v", n, fleetRows, time.Since(start).Round(time.Millisecond))
	storetest.Settle(b, st, benchEnd.Add(time.Hour))
}

// BenchmarkMetricsScrape is one scrape of /metrics over 10,000 monitors ×
// 2 days on bolt (the budget: 300 ms, 10 MB). It reports the
// answer's size, plain and gzip'd, and the peak heap.
func BenchmarkMetricsScrape(b *testing.B) {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "fleet.db"), bolt.WithNoSync())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	n := fleetSize(b)
	loadFleet(b, st, n)
	h := New(Options{Store: st, Now: func() time.Time { return benchEnd }, Logger: slog.New(slog.DiscardHandler)})
	// The store's part alone: the collector's reads, the samples made
	// and dropped, without client_golang's gathering and encoding.
	b.Run("collect-only", func(b *testing.B) {
		var samples int
		peak := startHeapPeak()
		for b.Loop() {
			ch := make(chan prometheus.Metric, 1024)
			done := make(chan int)
			go func() {
				n := 0
				for range ch {
					n++
				}
				done <- n
			}()
			(&fleetCollector{ctx: b.Context(), st: st, now: benchEnd}).Collect(ch)
			close(ch)
			samples = <-done
		}
		peak.StopAndReport(b)
		b.ReportMetric(float64(samples), "samples")
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
}

// httptestRequest is a GET of target under a Host the Host check allows.
func httptestRequest(target string) *http.Request {
	return httptest.NewRequest("GET", "http://127.0.0.1:8000"+target, nil)
}
