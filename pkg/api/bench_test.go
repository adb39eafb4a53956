package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// The benchmarks load 10 hosts × 1 year of 1-minute results, as the issue
// measures gosrvmon. SRVMON_BENCH_SCALE (storetest.EnvBenchScale), e.g.
// 0.01, loads that fraction of the year for quick runs.

const (
	benchHosts = 10
	yearRows   = 365 * 24 * 60
)

// benchEnd is the end of the benchmarks' year (and their clock).
var benchEnd = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func benchRows(b *testing.B) int {
	v := os.Getenv(storetest.EnvBenchScale)
	if v == "" {
		return yearRows
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		b.Fatalf("%s=%q: want a positive number", storetest.EnvBenchScale, v)
	}
	return max(int(float64(yearRows)*f), 1)
}

func benchHost(i int) string { return fmt.Sprintf("h%d.example:443", i) }

// benchResult is result i (0 oldest) of a host's year, ending at benchEnd.
func benchResult(host string, i, rows int) store.Result {
	r := store.Result{Host: host, Slot: benchEnd.Add(-time.Duration(rows-i) * time.Minute), RTT: time.Duration(10+i%50) * time.Millisecond, Up: true}
	if i%37 == 0 {
		r.Up, r.Reason, r.RTT = false, "timeout after 10s", 10*time.Second
	}
	return r
}

// benchResults is a Restore's Results: rows results (benchResult) of each
// host, host after host, as a backup holds them.
func benchResults(hosts []string, rows int) func(context.Context, func(store.Result) error) error {
	return func(ctx context.Context, emit func(store.Result) error) error {
		for _, h := range hosts {
			for i := range rows {
				if err := emit(benchResult(h, i, rows)); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// benchBackend is a store for the benchmarks.
type benchBackend struct {
	name string
	open func(b *testing.B) store.Store
}

func benchBackends() []benchBackend {
	return append([]benchBackend{
		{"bolt", func(b *testing.B) store.Store {
			s, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.WithNoSync())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"memory", func(b *testing.B) store.Store { return memory.New() }},
	}, extraBenchBackends()...)
}

// BenchmarkAPI runs every handler benchmark of the issue on each store
// holding 10 hosts × 1 year of 1-minute results.
func BenchmarkAPI(b *testing.B) {
	rows := benchRows(b)
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			defer st.Close()
			hosts := make([]string, benchHosts)
			for i := range hosts {
				hosts[i] = benchHost(i)
			}
			start := time.Now()
			err := st.Restore(b.Context(), store.Restore{Hosts: hosts, Results: benchResults(hosts, rows)})
			if err != nil {
				b.Fatalf("loading: %v", err)
			}
			b.Logf("%s: loaded %d×%d results in %v", be.name, benchHosts, rows, time.Since(start).Round(time.Millisecond))
			// As rounds and autovacuum would have left a year of history.
			storetest.Settle(b, st, benchEnd.Add(time.Hour))
			h := New(Options{Store: st, Now: func() time.Time { return benchEnd }, Logger: slog.New(slog.DiscardHandler)})

			for _, days := range []int{1, 30, 365} {
				b.Run(fmt.Sprintf("Chart%dd", days), func(b *testing.B) { benchChart(b, h, days) })
			}
			b.Run("Checks365d", func(b *testing.B) { benchChecks(b, h, 365, rows) })
			b.Run("Checks1d", func(b *testing.B) { benchChecks(b, h, 1, rows) })
			b.Run("ChecksLast16", func(b *testing.B) { benchLast(b, h) })
			b.Run("ChecksLastHandler", func(b *testing.B) { benchLastHandler(b, h) })
			b.Run("ChecksLastHTTP", func(b *testing.B) { benchLastHTTP(b, h) })
			b.Run("ReportMonthly1Year", func(b *testing.B) { benchReport(b, h, "host="+url.QueryEscape(benchHost(0))+"&") })
			b.Run("ReportMonthly1YearAll", func(b *testing.B) { benchReport(b, h, "") })
			b.Run("BackupExport", func(b *testing.B) { benchExport(b, h, rows) })
			b.Run("BackupRestore", func(b *testing.B) { benchRestore(b, be, rows) })
		})
	}
}

// serveBench sends one request through the handler into w.
func serveBench(b *testing.B, h http.Handler, w http.ResponseWriter, target string) {
	req := httptest.NewRequest("GET", "http://127.0.0.1:8000"+target, nil) // a Host the Host check allows
	h.ServeHTTP(w, req)
}

func rangeQuery(host string, days int) string {
	return "host=" + host + "&start=" + itoa(benchEnd.Add(-time.Duration(days)*24*time.Hour).Unix()) + "&end=" + itoa(benchEnd.Unix())
}

func benchChart(b *testing.B, h http.Handler, days int) { benchChartOf(b, h, benchHost(0), days) }

// benchChartOf draws the chart of host's days up to benchEnd.
func benchChartOf(b *testing.B, h http.Handler, host string, days int) {
	target := "/web/checks/svg?" + rangeQuery(host, days)
	var size int
	for b.Loop() {
		w := httptest.NewRecorder()
		serveBench(b, h, w, target)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body.String())
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size)/1024, "KiB")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// benchReport gets a monthly report over the year up to benchEnd, as
// CSV; hostQuery is "host=H&" or empty (every monitor).
func benchReport(b *testing.B, h http.Handler, hostQuery string) {
	target := "/api/report?" + hostQuery + "period=month&format=csv&from=" +
		url.QueryEscape(benchEnd.AddDate(-1, 0, 0).Format(time.RFC3339)) + "&to=" + url.QueryEscape(benchEnd.Format(time.RFC3339))
	var size int
	for b.Loop() {
		w := httptest.NewRecorder()
		serveBench(b, h, w, target)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body.String())
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// countingWriter is a ResponseWriter that keeps nothing: it counts bytes
// and notes when the first byte left.
type countingWriter struct {
	header    http.Header
	code      int
	n         int64
	start     time.Time
	firstByte time.Duration
}

func newCountingWriter() *countingWriter {
	return &countingWriter{header: http.Header{}, start: time.Now()}
}

func (w *countingWriter) Header() http.Header  { return w.header }
func (w *countingWriter) WriteHeader(code int) { w.code = code }
func (w *countingWriter) Flush()               {}
func (w *countingWriter) Write(p []byte) (int, error) {
	if w.n == 0 && len(p) > 0 {
		w.firstByte = time.Since(w.start)
	}
	w.n += int64(len(p))
	return len(p), nil
}

// heapPeak samples the live heap every millisecond until Stop.
type heapPeak struct {
	base uint64 // the live heap when it started, after a GC
	stop chan struct{}
	done chan uint64
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

func readHeap() uint64 {
	s := slices.Clone(heapSample)
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapPeak() *heapPeak {
	runtime.GC()
	p := &heapPeak{base: readHeap(), stop: make(chan struct{}), done: make(chan uint64)}
	go func() {
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, readHeap())
			select {
			case <-p.stop:
				p.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Stop returns the peak live heap and its growth over the start, in MiB.
// The growth is what the handler used: the memory store's own data is in
// the heap too.
func (p *heapPeak) Stop() (peak, growth float64) {
	close(p.stop)
	n := <-p.done
	return float64(n) / (1 << 20), float64(n-min(p.base, n)) / (1 << 20)
}

// StopAndReport stops p and reports its figures.
func (p *heapPeak) StopAndReport(b *testing.B) {
	peak, growth := p.Stop()
	reportHeap(b, peak, growth)
}

func reportHeap(b *testing.B, peak, growth float64) {
	b.ReportMetric(peak, "peak-heap-MiB")
	b.ReportMetric(growth, "heap-growth-MiB")
}

func benchChecks(b *testing.B, h http.Handler, days, rows int) {
	target := "/api/checks?" + rangeQuery(benchHost(0), days)
	var n int64
	peak := startHeapPeak()
	for b.Loop() {
		w := newCountingWriter()
		serveBench(b, h, w, target)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
		n = w.n
	}
	peak.StopAndReport(b)
	b.ReportMetric(float64(n)/(1<<20), "MiB")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// benchLast is 16 concurrent clients asking for the last check of the
// hosts in turn.
func benchLast(b *testing.B, h http.Handler) {
	const clients = 16
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		i := 0
		for pb.Next() {
			req := httptest.NewRequest("GET", "/api/checks/last?host="+benchHost(i%benchHosts), nil)
			w := httptest.NewRecorder()
			t0 := time.Now()
			h.ServeHTTP(w, req)
			local = append(local, time.Since(t0))
			if w.Code != 200 {
				b.Errorf("status %d %s", w.Code, w.Body.String())
				return
			}
			i++
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Millisecond), "p99-ms")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// benchLastHandler is one /api/checks/last request at a time, through
// the whole handler (routing, guards, parameters, store, JSON) into a
// writer that keeps nothing, without the test recorder's own costs: its
// allocations are the handler's.
func benchLastHandler(b *testing.B, h http.Handler) {
	req := httptest.NewRequest("GET", "/api/checks/last?host="+benchHost(3), nil)
	w := newCountingWriter()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		w.code = 0
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}

func benchExport(b *testing.B, h http.Handler, rows int) {
	var w *countingWriter
	peak := startHeapPeak()
	for b.Loop() {
		w = newCountingWriter()
		serveBench(b, h, w, "/api/backup_full")
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
	peak.StopAndReport(b)
	b.ReportMetric(float64(w.firstByte.Microseconds())/1000, "first-byte-ms")
	b.ReportMetric(float64(w.n)/(1<<20), "MiB")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e6/float64(b.N), "s/op")
}

// backupBody streams a full backup of 10 hosts × rows in gosrvmon's
// format, generated as it is read.
func backupBody(rows int) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		buf := make([]byte, 0, 256)
		bw.WriteString(`{"hosts":[`)
		for i := range benchHosts {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(strconv.Quote(benchHost(i)))
		}
		bw.WriteString(`],"notifications":null,"checks":{`)
		for i := range benchHosts {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(strconv.Quote(benchHost(i)) + ":[")
			for j := range rows {
				if j > 0 {
					bw.WriteByte(',')
				}
				r := benchResult(benchHost(i), j, rows)
				buf = appendCheck(buf[:0], store.Check{Time: r.Slot, RTT: r.RTT, Up: r.Up})
				bw.Write(buf)
			}
			bw.WriteByte(']')
		}
		bw.WriteString("}}")
		pw.CloseWithError(bw.Flush())
	}()
	return pr
}

func benchRestore(b *testing.B, be benchBackend, rows int) {
	var peakMiB, growthMiB float64
	for b.Loop() {
		b.StopTimer()
		st := be.open(b)
		h := New(Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
		req := httptest.NewRequest("POST", "http://127.0.0.1:8000/api/backup_full", backupBody(rows))
		w := httptest.NewRecorder()
		peak := startHeapPeak()
		b.StartTimer()
		h.ServeHTTP(w, req)
		b.StopTimer()
		p, g := peak.Stop()
		peakMiB, growthMiB = max(peakMiB, p), max(growthMiB, g)
		if want := fmt.Sprintf(`"checks":%d`, benchHosts*rows); w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			b.Fatalf("restore: %d %s, want %s", w.Code, w.Body.String(), want)
		}
		st.Close()
		b.StartTimer()
	}
	reportHeap(b, peakMiB, growthMiB)
	b.ReportMetric(float64(benchHosts*rows)*float64(b.N)/b.Elapsed().Seconds(), "checks/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e6/float64(b.N), "s/op")
}
