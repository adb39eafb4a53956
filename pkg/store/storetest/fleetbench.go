package storetest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// EnvFleetScale names the variable that scales BenchFleet's host counts
// down for quick runs: SRVMON_FLEET_SCALE=0.01 loads 100 hosts instead of
// 10,000 (and 1 instead of 100). Unset, they run at the sizes.
const EnvFleetScale = "SRVMON_FLEET_SCALE"

// BenchFleet runs the store.FleetReader benchmarks of issue 13 against a
// backend: 10,000 hosts with 2 days of 1-minute results, and 100 hosts
// with a year, each loaded once (a restore, then the last 10 minutes as
// rounds, as a checker stores them) and read as the fleet's pages read
// them: LastChecks (after a round, and again), and BucketsAll over 24
// hours in 24 buckets (the dashboard's sparklines), over 24 hours, 7, 30
// and 365 days in one (uptime), and over 90 days in 90 (the status
// page's bars). The ranges end at the next whole hour and are whole hours
// (days for the bars), as the pages ask. Each reports ms/op, allocations
// and peak-heap-MB, the live heap's peak during the reads above what it
// was before them. The results end at the wall clock, so that the newest
// hour is not summarised yet, as in a running store.
func BenchFleet(b *testing.B, open func(b *testing.B) store.Store) {
	for _, c := range []struct {
		name  string
		hosts int
		span  time.Duration
	}{
		{"10kHosts2Days", 10000, 48 * time.Hour},
		{"100Hosts1Year", 100, 365 * 24 * time.Hour},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := open(b)
			if s == nil {
				b.Fatal("open returned a nil store")
			}
			defer s.Close()
			hosts := fleetBenchHosts(b, c.hosts)
			now := time.Now().UTC().Truncate(time.Minute)
			loadFleet(b, s, hosts, now.Add(-c.span), now)
			benchFleetReads(b, s, hosts, now)
		})
	}
}

// fleetBenchHosts names n hosts, scaled by EnvFleetScale.
func fleetBenchHosts(b *testing.B, n int) []string {
	b.Helper()
	if v := os.Getenv(EnvFleetScale); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			b.Fatalf("%s=%q: want a positive number", EnvFleetScale, v)
		}
		b.Logf("%s=%s: %d hosts instead of %d", EnvFleetScale, v, max(int(float64(n)*f), 1), n)
		n = max(int(float64(n)*f), 1)
	}
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = hostName(i)
	}
	return hosts
}

// fleetResult is host's result at slot: up mostly, down one slot in 37
// (and a few hosts down for long), with rtts that vary.
func fleetResult(host string, i int, slot time.Time) store.Result {
	m := int(slot.Unix() / 60)
	r := store.Result{Host: host, Slot: slot, RTT: time.Duration(10+(m+i)%50) * time.Millisecond, Up: true}
	if (m+i)%37 == 0 || i%97 == 0 && m%1440 < 30 {
		r.Up, r.Reason = false, "timeout"
	}
	return r
}

// loadFleet stores a result a minute for each host in [from, to): a
// restore up to the last 10 minutes, then a round a minute, and settles
// the store at to.
func loadFleet(b *testing.B, s store.Store, hosts []string, from, to time.Time) {
	b.Helper()
	start := time.Now()
	rounds := to.Add(-10 * time.Minute)
	err := s.Restore(b.Context(), store.Restore{Hosts: hosts, Results: func(ctx context.Context, emit func(store.Result) error) error {
		for i, h := range hosts {
			for t := from; t.Before(rounds); t = t.Add(time.Minute) {
				if err := emit(fleetResult(h, i, t)); err != nil {
					return err
				}
			}
		}
		return nil
	}})
	if err != nil {
		b.Fatalf("restoring %d hosts' [%v, %v): %v", len(hosts), from, rounds, err)
	}
	round := make([]store.Result, len(hosts))
	for t := rounds; t.Before(to); t = t.Add(time.Minute) {
		for i, h := range hosts {
			round[i] = fleetResult(h, i, t)
		}
		if err := s.SaveRound(b.Context(), round, nil); err != nil {
			b.Fatalf("SaveRound: %v", err)
		}
	}
	b.Logf("loaded %d hosts × %v in %v", len(hosts), to.Sub(from), time.Since(start).Round(time.Millisecond))
	Settle(b, s, to)
}

// benchFleetReads runs the reads of BenchFleet on a loaded store whose
// newest results are at now.
func benchFleetReads(b *testing.B, s store.Store, hosts []string, now time.Time) {
	end := store.Hour(now).Add(store.SummarySpan)
	day := end.Truncate(24 * time.Hour).Add(24 * time.Hour)
	b.Run("LastChecksAfterRound", func(b *testing.B) {
		// A round empties a cache of the newest checks (bolt's), as one
		// does every interval.
		last := []store.Result{fleetResult(hosts[0], 0, now.Add(-time.Minute))}
		fleetRead(b, len(hosts), func() {
			b.StopTimer()
			if err := s.SaveRound(b.Context(), last, nil); err != nil {
				b.Fatalf("SaveRound: %v", err)
			}
			b.StartTimer()
		}, func(ctx context.Context, fn func(string) error) error {
			return s.LastChecks(ctx, func(h string, _ store.Check) error { return fn(h) })
		})
	})
	b.Run("LastChecks", func(b *testing.B) {
		fleetRead(b, len(hosts), nil, func(ctx context.Context, fn func(string) error) error {
			return s.LastChecks(ctx, func(h string, _ store.Check) error { return fn(h) })
		})
	})
	// The dashboard's one pass: the 365, 30 and 7 days before the 24
	// hours of its sparkline, then those hours and the current one.
	windows := []time.Time{end.Add(-365 * 24 * time.Hour), end.Add(-30 * 24 * time.Hour), end.Add(-7 * 24 * time.Hour)}
	for h := end.Add(-25 * time.Hour); h.Before(end); h = h.Add(time.Hour) {
		windows = append(windows, h)
	}
	windows = append(windows, now)
	page := hosts[len(hosts)/2 : len(hosts)/2+min(200, len(hosts)/2)]
	for _, r := range []struct {
		name  string
		hosts []string
		start time.Time
		end   time.Time
		n     int
		bs    []time.Time
	}{
		{name: "Buckets24h/n=24", start: end.Add(-24 * time.Hour), end: end, n: 24},
		{name: "Buckets24h/n=1", start: end.Add(-24 * time.Hour), end: end, n: 1},
		{name: "Buckets7d/n=1", start: end.Add(-7 * 24 * time.Hour), end: end, n: 1},
		{name: "Buckets30d/n=1", start: end.Add(-30 * 24 * time.Hour), end: end, n: 1},
		{name: "Buckets365d/n=1", start: end.Add(-365 * 24 * time.Hour), end: end, n: 1},
		{name: "Buckets90d/n=90", start: day.Add(-90 * 24 * time.Hour), end: day, n: 90},
		{name: "BucketsWindows+24h", bs: windows},
		{name: "BucketsWindows+24h/page", hosts: page, bs: windows},
	} {
		q := store.BucketQuery{Hosts: r.hosts, Bounds: r.bs}
		if q.Bounds == nil {
			q.Bounds = store.EvenBounds(r.start, r.end, r.n)
		}
		want := len(hosts)
		if r.hosts != nil {
			want = len(r.hosts)
		}
		b.Run(r.name, func(b *testing.B) {
			fleetRead(b, want, nil, func(ctx context.Context, fn func(string) error) error {
				return s.BucketsAll(ctx, q, func(h string, bs []store.Bucket) error {
					if len(bs) != len(q.Bounds)-1 {
						return fmt.Errorf("%s: %d buckets, want %d", h, len(bs), len(q.Bounds)-1)
					}
					return fn(h)
				})
			})
		})
	}
}

// fleetRead runs read in b.Loop, after before (when not nil), checking
// that it gives every host, and reports the peak of live heap.
func fleetRead(b *testing.B, hosts int, before func(), read func(ctx context.Context, fn func(string) error) error) {
	b.ReportAllocs()
	stop := sampleHeap()
	for b.Loop() {
		if before != nil {
			before()
		}
		got := 0
		if err := read(b.Context(), func(string) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		if got != hosts {
			b.Fatalf("read %d hosts, want %d", got, hosts)
		}
	}
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MB")
}

// sampleHeap samples the live heap every millisecond until the func it
// returns is called, which returns the peak above the heap before.
func sampleHeap() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64()-min(base, sample[0].Value.Uint64()))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}
