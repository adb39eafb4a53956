package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// The dashboard's benchmark: 10,000 monitors in 20 groups with 2 days of
// 1-minute results each (SRVMON_BENCH_SCALE scales the days), one in 50
// down at the end, certificates known, on bolt.
const (
	dashBenchMonitors = 10000
	dashBenchDays     = 2
)

// BenchmarkDashboard serves the dashboard's first page (GET /, HTML), its
// data (GET /api/dashboard, JSON) and the status page (GET /status), each
// reading the whole fleet's state.
func BenchmarkDashboard(b *testing.B) {
	rows := dashBenchDays * 24 * 60
	if v := os.Getenv(storetest.EnvBenchScale); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			b.Fatalf("%s=%q: want a positive number", storetest.EnvBenchScale, v)
		}
		rows = max(int(float64(rows)*f), 2)
	}
	st, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.WithNoSync())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	hosts := make([]string, dashBenchMonitors)
	ms := make([]monitor.Monitor, dashBenchMonitors)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("https://h%05d.example/", i)
		ms[i] = monitor.Monitor{Host: hosts[i], Settings: monitor.Settings{Name: fmt.Sprintf("service %05d", i), Group: fmt.Sprintf("group %02d", i%20)}}
	}
	start := time.Now()
	// Every result but the last slot's, host after host, as a backup
	// holds them; the last slot as a round saves it, with certificates.
	err = st.Restore(b.Context(), store.Restore{Hosts: hosts, Monitors: ms, Results: func(ctx context.Context, emit func(store.Result) error) error {
		for _, h := range hosts {
			for i := range rows - 1 {
				if err := emit(benchResult(h, i, rows)); err != nil {
					return err
				}
			}
		}
		return nil
	}})
	if err != nil {
		b.Fatalf("loading: %v", err)
	}
	last := make([]store.Result, len(hosts))
	for i, h := range hosts {
		last[i] = benchResult(h, rows-1, rows)
		last[i].Up, last[i].Reason = i%50 != 0, ""
		if !last[i].Up {
			last[i].Reason = "connection refused"
		}
		last[i].CertExpiry = benchEnd.Add(time.Duration(i%90) * 24 * time.Hour)
	}
	if err := st.SaveRound(b.Context(), last, nil); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d×%d results in %v", len(hosts), rows, time.Since(start).Round(time.Millisecond))
	storetest.Settle(b, st, benchEnd.Add(time.Hour))
	h := New(Options{Store: st, Now: func() time.Time { return benchEnd }, Logger: slog.New(slog.DiscardHandler)})

	for _, target := range []string{"/", "/api/dashboard", "/status"} {
		b.Run(map[string]string{"/": "Page", "/api/dashboard": "JSON", "/status": "StatusPage"}[target], func(b *testing.B) {
			var size int
			peak := startHeapPeak()
			for b.Loop() {
				w := httptest.NewRecorder()
				serveBench(b, h, w, target)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body.String())
				}
				size = w.Body.Len()
			}
			peak.StopAndReport(b)
			b.ReportMetric(float64(size)/1024, "KiB")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}
