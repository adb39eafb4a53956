package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// BenchmarkReportFleet is the report of every monitor (GET /api/report
// without host), monthly over the year up to benchEnd, as JSON and as CSV,
// on bolt and PostgreSQL (the budget: 10 s, streamed, 64 MB of
// heap): 10,000 monitors with 2 days of 1-minute results, and 100 with a
// year (SRVMON_BENCH_SCALE scales the monitor counts). The memory store
// is left out: a year of 100 hosts does not fit a small machine's memory.
// It reports ms/op, the answer's size, when its first byte left and the
// peak heap, and checks that every monitor has its 12 rows.
func BenchmarkReportFleet(b *testing.B) {
	for _, be := range benchBackends() {
		if be.name == "memory" {
			continue
		}
		for _, c := range []struct {
			name     string
			monitors int
			rows     int
		}{
			{"10kMonitors2Days", fleetSize(b), fleetRows},
			{"100Monitors1Year", max(fleetSize(b)/100, 1), yearRows},
		} {
			b.Run(be.name+"/"+c.name, func(b *testing.B) {
				st := be.open(b)
				defer st.Close()
				loadReportFleet(b, st, c.monitors, c.rows)
				h := New(Options{Store: st, Interval: time.Minute, Now: func() time.Time { return benchEnd },
					Logger: slog.New(slog.DiscardHandler)})
				for _, format := range []string{"json", "csv"} {
					b.Run(format, func(b *testing.B) { benchReportFleet(b, h, format, c.monitors) })
				}
			})
		}
	}
}

// loadReportFleet restores n monitors with rows 1-minute results each
// (restoreFleet) and settles the store as rounds would have.
func loadReportFleet(b *testing.B, st store.Store, n, rows int) {
	start := time.Now()
	restoreFleet(b, st, n, rows)
	b.Logf("loaded %d×%d results in %v", n, rows, time.Since(start).Round(time.Millisecond))
	storetest.Settle(b, st, benchEnd.Add(time.Hour))
}

// benchReportFleet gets the monthly report of every monitor over the
// year up to benchEnd in format, into a writer that keeps nothing.
func benchReportFleet(b *testing.B, h http.Handler, format string, monitors int) {
	target := "/api/report?period=month&format=" + format + "&from=" +
		url.QueryEscape(benchEnd.AddDate(-1, 0, 0).Format(time.RFC3339)) + "&to=" + url.QueryEscape(benchEnd.Format(time.RFC3339))
	var w *rowCountingWriter
	b.ReportAllocs()
	peak := startHeapPeak()
	for b.Loop() {
		w = &rowCountingWriter{countingWriter: newCountingWriter(), csv: format == "csv"}
		serveBench(b, h, w, target)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
		if want := 12 * monitors; w.rows != want {
			b.Fatalf("%d rows, want %d", w.rows, want)
		}
	}
	peak.StopAndReport(b)
	b.ReportMetric(float64(w.n)/(1<<20), "MiB")
	b.ReportMetric(float64(w.firstByte.Microseconds())/1000, "first-byte-ms")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// rowCountingWriter counts a report's rows as they leave: lines after the
// header in CSV, objects in JSON (the report writes whole rows).
type rowCountingWriter struct {
	*countingWriter
	csv    bool
	header bool
	rows   int
}

func (w *rowCountingWriter) Write(p []byte) (int, error) {
	if w.csv {
		w.rows += bytes.Count(p, []byte{'\n'})
		if !w.header && w.rows > 0 {
			w.header, w.rows = true, w.rows-1
		}
	} else {
		w.rows += bytes.Count(p, []byte(`{"host":`))
	}
	return w.countingWriter.Write(p)
}
