package storetest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// EnvBenchScale names the variable that scales the year-long benchmarks
// down for quick runs: SRVMON_BENCH_SCALE=0.01 loads 5,256 results per
// host instead of 525,600. Unset, they run at the full size.
const EnvBenchScale = "SRVMON_BENCH_SCALE"

// yearRows is one year of 1-minute results.
const yearRows = 365 * 24 * 60

// yearStart is the first slot of the benchmarks' year.
var yearStart = time.Date(2023, time.January, 1, 0, 0, 0, 0, time.UTC)

// Bench runs the store benchmarks against a backend: those whose figures
// README.md quotes.
// open returns a new, empty store; Bench closes it.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	fresh := func(b *testing.B) store.Store {
		b.Helper()
		s := open(b)
		if s == nil {
			b.Fatal("open returned a nil store")
		}
		b.Cleanup(func() {
			if err := s.Close(); err != nil {
				b.Errorf("Close: %v", err)
			}
		})
		return s
	}
	b.Run("SaveRound10k", func(b *testing.B) { benchSaveRound(b, fresh(b), 10000, false) })
	b.Run("SaveRound10kCerts", func(b *testing.B) { benchSaveRound(b, fresh(b), 10000, true) })
	b.Run("SaveRound10kRules", func(b *testing.B) { benchSaveRoundRules(b, fresh(b), 10000) })
	b.Run("Buckets1Year", func(b *testing.B) { benchBuckets(b, fresh(b), false) })
	b.Run("Buckets1YearWholeHours", func(b *testing.B) { benchBuckets(b, fresh(b), true) })
	b.Run("StreamYear", func(b *testing.B) { benchStream(b, fresh(b)) })
	b.Run("Restore10x1Year", func(b *testing.B) { benchRestore(b, open) })
	b.Run("Restore10x1YearThenChart", func(b *testing.B) { benchRestoreThenChart(b, open) })
	b.Run("RestoreDayInto", func(b *testing.B) {
		b.Run("Empty", func(b *testing.B) { benchRestoreDay(b, fresh(b), false) })
		b.Run("Large", func(b *testing.B) { benchRestoreDay(b, fresh(b), true) })
	})
	b.Run("LastCheck", func(b *testing.B) { benchLastCheck(b, fresh(b)) })
	b.Run("PushMonitors10k", func(b *testing.B) { benchPushMonitors(b, fresh(b), 10000) })
}

// benchPushMonitors measures what a round reads of n push monitors, each
// with a grace, a token and a push: Monitors (with their settings) and
// Facts (with their push times and verdicts).
func benchPushMonitors(b *testing.B, s store.Store, n int) {
	ctx := b.Context()
	ms := make([]monitor.Monitor, n)
	hosts := make([]string, n)
	for i := range ms {
		hosts[i] = fmt.Sprintf("push://job-%05d", i)
		ms[i] = monitor.Monitor{Host: hosts[i], Settings: monitor.Settings{Grace: monitor.Duration(24 * time.Hour), PushToken: fmt.Sprintf("%032x", i)}}
	}
	if err := s.Restore(ctx, store.Restore{Hosts: hosts, Monitors: ms}); err != nil {
		b.Fatalf("adding %d push monitors: %v", n, err)
	}
	for _, m := range ms {
		if _, err := s.RecordPush(ctx, m.PushToken, yearStart, store.Result{Slot: yearStart, Up: true}, nil); err != nil {
			b.Fatalf("RecordPush: %v", err)
		}
	}
	b.Run("Monitors", func(b *testing.B) {
		for b.Loop() {
			if got, err := s.Monitors(ctx); err != nil || len(got) != n {
				b.Fatalf("Monitors: %d, %v", len(got), err)
			}
		}
	})
	b.Run("Facts", func(b *testing.B) {
		for b.Loop() {
			if got, err := s.Facts(ctx); err != nil || len(got) != n {
				b.Fatalf("Facts: %d, %v", len(got), err)
			}
		}
	})
}

// benchRows returns the results per host of a year-long benchmark.
func benchRows(b *testing.B) int {
	b.Helper()
	v := os.Getenv(EnvBenchScale)
	if v == "" {
		return yearRows
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		b.Fatalf("%s=%q: want a positive number", EnvBenchScale, v)
	}
	n := max(int(float64(yearRows)*f), 1)
	b.Logf("%s=%s: %d results per host instead of %d", EnvBenchScale, v, n, yearRows)
	return n
}

// yearResult is result i of a host's benchmark year: every minute, a few
// percent down.
func yearResult(host string, i int) store.Result {
	r := store.Result{Host: host, Slot: yearStart.Add(time.Duration(i) * time.Minute), RTT: time.Duration(10+i%50) * time.Millisecond, Up: true}
	if i%37 == 0 {
		r.Up, r.Reason = false, "timeout"
	}
	return r
}

// loadYears stores rows results for each host, through Restore.
func loadYears(b *testing.B, s store.Store, hosts []string, rows int) {
	b.Helper()
	err := s.Restore(b.Context(), store.Restore{Hosts: hosts, Results: yearsOf(hosts, rows)})
	if err != nil {
		b.Fatalf("loading %d×%d results: %v", len(hosts), rows, err)
	}
}

// Vacuumer is a store that can do now what its database does in the
// background (postgres.Store.Vacuum).
type Vacuumer interface {
	Vacuum(ctx context.Context) error
}

// Settle brings a store that a benchmark has just loaded to the state of
// one that has held its history for a while: it vacuums a Vacuumer, as
// autovacuum would have, and summarises a store.Summariser's hours up to
// now, as rounds would have.
func Settle(b *testing.B, s store.Store, now time.Time) {
	b.Helper()
	start := time.Now()
	if v, ok := s.(Vacuumer); ok {
		if err := v.Vacuum(b.Context()); err != nil {
			b.Fatalf("Vacuum: %v", err)
		}
	}
	if sm, ok := s.(store.Summariser); ok {
		for more := true; more; {
			var err error
			if more, err = sm.Summarise(b.Context(), now); err != nil {
				b.Fatalf("Summarise: %v", err)
			}
		}
	}
	b.Logf("settled in %v", time.Since(start).Round(time.Millisecond))
}

// yearsOf streams rows results for each host, host after host, as a backup does.
func yearsOf(hosts []string, rows int) func(context.Context, func(store.Result) error) error {
	return func(ctx context.Context, emit func(store.Result) error) error {
		for _, h := range hosts {
			for i := range rows {
				if err := emit(yearResult(h, i)); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// benchSaveRound saves rounds of n results; with certs, every result has
// a CertExpiry, the same each round (a round of https:// checks).
func benchSaveRound(b *testing.B, s store.Store, n int, certs bool) {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = hostName(i)
	}
	if err := s.Restore(b.Context(), store.Restore{Hosts: hosts}); err != nil {
		b.Fatalf("adding %d hosts: %v", n, err)
	}
	round := make([]store.Result, n)
	for i := range round {
		round[i] = yearResult(hosts[i], i)
		if certs {
			round[i].CertExpiry = yearStart.AddDate(0, 3, i%30)
		}
	}
	ctx := b.Context()
	i := 0
	for b.Loop() {
		at := yearStart.Add(time.Duration(i) * time.Minute)
		for j := range round {
			round[j].Slot = at
		}
		if err := s.SaveRound(ctx, round, nil); err != nil {
			b.Fatalf("SaveRound: %v", err)
		}
		i++
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "results/s")
}

// benchSaveRoundRules measures rounds of n results whose hosts all have a
// rule, in the steady state: every round reads n rules, states and
// stored results (a horizon of 10 slots, as an N-of-M window reads),
// writes n states (their last slot) and enqueues a delivery for one host
// in 100.
func benchSaveRoundRules(b *testing.B, s store.Store, n int) {
	ctx := b.Context()
	hosts := make([]string, n)
	rules := make([]store.Rule, n)
	for i := range hosts {
		hosts[i] = hostName(i)
		rules[i] = store.Rule{Host: hosts[i], Threshold: 3, Action: "http://127.0.0.1:9/"}
	}
	if err := s.Restore(ctx, store.Restore{Hosts: hosts, Rules: rules}); err != nil {
		b.Fatalf("adding %d hosts with rules: %v", n, err)
	}
	alerting := PerResult(func(rule store.Rule, prev store.State, r store.Result) (store.State, *store.Delivery) {
		next := store.State{Status: "up", Count: prev.Count + 1, LastSlot: r.Slot}
		if next.Count%100 != 0 {
			return next, nil
		}
		return next, &store.Delivery{URL: rule.Action, Created: r.Slot, NextAttempt: r.Slot}
	})
	alerting.Horizon = 10 * time.Minute
	round := make([]store.Result, n)
	for i := range round {
		round[i] = yearResult(hosts[i], i)
	}
	save := func(slot int) {
		at := yearStart.Add(time.Duration(slot) * time.Minute)
		for j := range round {
			round[j].Slot = at
		}
		if err := s.SaveRound(ctx, round, alerting); err != nil {
			b.Fatalf("SaveRound: %v", err)
		}
	}
	save(0) // the states exist from here on
	i := 1
	for b.Loop() {
		save(i)
		i++
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "results/s")
}

// benchBuckets measures 1,000 buckets of a year of one host's results,
// summarised as rounds would have summarised them. With wholeHours the
// buckets are 9 hours wide and start on an hour, as a chart asks for them
// (see chart.Grid); otherwise they cut hours anywhere.
func benchBuckets(b *testing.B, s store.Store, wholeHours bool) {
	rows := benchRows(b)
	loadYears(b, s, []string{"a.test"}, rows)
	ctx := b.Context()
	end := yearStart.Add(time.Duration(rows) * time.Minute)
	Settle(b, s, end.Add(time.Hour))
	start, n := yearStart.Add(17*time.Minute), 1000
	if wholeHours {
		start, n = yearStart, int((end.Sub(yearStart)+9*time.Hour-1)/(9*time.Hour))
		end = start.Add(time.Duration(n) * 9 * time.Hour)
	}
	var bs []store.Bucket
	for b.Loop() {
		var err error
		bs, err = s.Buckets(ctx, "a.test", start, end, n)
		if err != nil {
			b.Fatalf("Buckets: %v", err)
		}
	}
	var total int64
	for _, bk := range bs {
		total += bk.Up + bk.Down
	}
	want := int64(end.Sub(start)/time.Minute) - int64(end.Sub(yearStart.Add(time.Duration(rows)*time.Minute))/time.Minute)
	if total != want || len(bs) > n {
		b.Fatalf("Buckets counted %d checks in %d buckets, want %d in at most %d", total, len(bs), want, n)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

func benchStream(b *testing.B, s store.Store) {
	rows := benchRows(b)
	loadYears(b, s, []string{"a.test"}, rows)
	end := yearStart.Add(time.Duration(rows) * time.Minute)
	Settle(b, s, end.Add(time.Hour))
	stream := map[string]func(ctx context.Context, count *int) error{
		"Results": func(ctx context.Context, count *int) error {
			return s.Results(ctx, "a.test", yearStart, end, func(store.Result) error { *count++; return nil })
		},
		"Checks": func(ctx context.Context, count *int) error {
			return s.Checks(ctx, "a.test", yearStart, end, func(store.Check) error { *count++; return nil })
		},
	}
	for _, name := range []string{"Results", "Checks"} {
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			total := 0
			for b.Loop() {
				count := 0
				if err := stream[name](ctx, &count); err != nil {
					b.Fatalf("%s: %v", name, err)
				}
				if count != rows {
					b.Fatalf("%s streamed %d rows, want %d", name, count, rows)
				}
				total += count
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(total), "allocs/row")
		})
	}
}

func benchRestore(b *testing.B, open func(b *testing.B) store.Store) {
	rows := benchRows(b)
	hosts := make([]string, 10)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.test", i)
	}
	for b.Loop() {
		b.StopTimer()
		s := open(b)
		b.StartTimer()
		loadYears(b, s, hosts, rows)
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatalf("Close: %v", err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(len(hosts)*rows)*float64(b.N)/b.Elapsed().Seconds(), "results/s")
}

// benchRestoreThenChart restores a year of 10 hosts into a new store,
// then asks at once, before any Summarise, for a year's chart of one of
// them: buckets of 9 whole hours, as chart.Grid makes them. It reports
// the restore's seconds and the first chart's milliseconds.
func benchRestoreThenChart(b *testing.B, open func(b *testing.B) store.Store) {
	rows := benchRows(b)
	hosts := make([]string, 10)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.test", i)
	}
	end := yearStart.Add(time.Duration(rows) * time.Minute)
	n := int((end.Sub(yearStart) + 9*time.Hour - 1) / (9 * time.Hour))
	chartEnd := yearStart.Add(time.Duration(n) * 9 * time.Hour)
	var restoring, charting time.Duration
	for b.Loop() {
		b.StopTimer()
		s := open(b)
		b.StartTimer()
		start := time.Now()
		loadYears(b, s, hosts, rows)
		restored := time.Now()
		bs, err := s.Buckets(b.Context(), hosts[0], yearStart, chartEnd, n)
		if err != nil {
			b.Fatalf("Buckets: %v", err)
		}
		restoring += restored.Sub(start)
		charting += time.Since(restored)
		b.StopTimer()
		var total int64
		for _, bk := range bs {
			total += bk.Up + bk.Down
		}
		if total != int64(rows) {
			b.Fatalf("Buckets counted %d checks, want %d", total, rows)
		}
		if err := s.Close(); err != nil {
			b.Fatalf("Close: %v", err)
		}
		b.StartTimer()
	}
	b.ReportMetric(restoring.Seconds()/float64(b.N), "restore-s/op")
	b.ReportMetric(float64(charting.Microseconds())/1000/float64(b.N), "chart-ms/op")
}

func benchLastCheck(b *testing.B, s store.Store) {
	rows := benchRows(b)
	loadYears(b, s, []string{"a.test"}, rows)
	Settle(b, s, yearStart.Add(time.Duration(rows)*time.Minute+time.Hour))
	want := yearResult("a.test", rows-1)
	ctx := b.Context()
	for b.Loop() {
		c, ok, err := s.LastCheck(ctx, "a.test")
		if err != nil || !ok || !c.Time.Equal(want.Slot) {
			b.Fatalf("LastCheck = %v, %v, %v; want the check at %v", c, ok, err, want.Slot)
		}
	}
}

// benchRestoreDay restores one host's day (1,440 results) per op, as a
// backup sent in many small requests does, into a store of 10 hosts that
// is empty or, with large, already holds 180,000 results per host (scaled
// by EnvBenchScale), summarised past the restored days. A restore's cost
// must not grow with what is stored: compare the two.
func benchRestoreDay(b *testing.B, s store.Store, large bool) {
	const day = 24 * 60
	stored := 0
	if large {
		stored = benchRows(b) * 180000 / yearRows
	}
	hosts := make([]string, 10)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.test", i)
	}
	loadYears(b, s, hosts, stored)
	first := (stored + day - 1) / day // the first day after what is stored
	Settle(b, s, yearStart.Add(time.Duration(first+400)*day*time.Minute))
	ctx := b.Context()
	i := 0
	for b.Loop() {
		host, d := hosts[i%len(hosts)], first+i/len(hosts)
		r := store.Restore{Results: func(ctx context.Context, emit func(store.Result) error) error {
			for j := d * day; j < (d+1)*day; j++ {
				if err := emit(yearResult(host, j)); err != nil {
					return err
				}
			}
			return nil
		}}
		if err := s.Restore(ctx, r); err != nil {
			b.Fatalf("Restore: %v", err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
