package bolt_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// BenchmarkRestorePeakHeap restores 10 hosts × 1 year (5,256,000 results)
// into an empty file and reports the peak of live heap meanwhile, sampled
// every 5ms: a restore must not hold the backup in memory.
func BenchmarkRestorePeakHeap(b *testing.B) {
	const hosts, rows = 10, 365 * 24 * 60
	names := make([]string, hosts)
	for i := range names {
		names[i] = fmt.Sprintf("h%d.test", i)
	}
	t0 := time.Date(2023, time.January, 1, 0, 0, 0, 0, time.UTC)
	backup := func(ctx context.Context, emit func(store.Result) error) error {
		for _, h := range names {
			for i := range rows {
				r := store.Result{Host: h, Slot: t0.Add(time.Duration(i) * time.Minute), RTT: time.Duration(10+i%50) * time.Millisecond, Up: true}
				if i%37 == 0 {
					r.Up, r.Reason = false, "timeout"
				}
				if err := emit(r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var peak uint64
	for b.Loop() {
		b.StopTimer()
		s := open(b)
		b.StartTimer()
		var err error
		peak = max(peak, peakHeap(func() {
			err = s.Restore(b.Context(), store.Restore{Hosts: names, Results: backup})
		}))
		b.StopTimer()
		if err != nil {
			b.Fatalf("Restore: %v", err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(hosts*rows)*float64(b.N)/b.Elapsed().Seconds(), "results/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// peakHeap runs fn and returns the peak of live heap meanwhile above what
// it was before, sampled every 5ms.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
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
	fn()
	close(done)
	wg.Wait()
	return peak
}

// BenchmarkSteadyRound saves rounds of n hosts that already have pre
// results each, compactions included: what a round costs after months,
// not on an empty file.
func BenchmarkSteadyRound(b *testing.B) {
	for _, c := range []struct{ hosts, pre int }{{10000, 0}, {10000, 200}, {1000, 20000}} {
		b.Run(fmt.Sprintf("%dhosts×%d", c.hosts, c.pre), func(b *testing.B) {
			s := open(b)
			defer s.Close()
			hosts := make([]string, c.hosts)
			for i := range hosts {
				hosts[i] = fmt.Sprintf("host%05d.test", i)
			}
			t0 := time.Date(2023, time.January, 1, 0, 0, 0, 0, time.UTC)
			err := s.Restore(b.Context(), store.Restore{Hosts: hosts, Results: func(ctx context.Context, emit func(store.Result) error) error {
				for _, h := range hosts {
					for i := range c.pre {
						if err := emit(store.Result{Host: h, Slot: t0.Add(time.Duration(i) * time.Minute), RTT: time.Millisecond, Up: true}); err != nil {
							return err
						}
					}
				}
				return nil
			}})
			if err != nil {
				b.Fatal(err)
			}
			round := make([]store.Result, c.hosts)
			for i := range round {
				round[i] = store.Result{Host: hosts[i], RTT: time.Millisecond, Up: true}
			}
			i := c.pre
			var peak uint64
			for b.Loop() {
				for j := range round {
					round[j].Slot = t0.Add(time.Duration(i) * time.Minute)
				}
				var err error
				peak = max(peak, peakHeap(func() { err = s.SaveRound(b.Context(), round, nil) }))
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// BenchmarkCompact moves 10 rounds of 10,000 hosts from the recent bucket
// into the host buckets.
func BenchmarkCompact(b *testing.B) {
	s := open(b)
	defer s.Close()
	bolt.SetCompaction(s, math.MaxInt, math.MaxInt)
	hosts := make([]string, 10000)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("host%05d.test", i)
	}
	if err := s.Restore(b.Context(), store.Restore{Hosts: hosts}); err != nil {
		b.Fatal(err)
	}
	round := make([]store.Result, len(hosts))
	for i := range round {
		round[i] = store.Result{Host: hosts[i], RTT: time.Millisecond, Up: true}
	}
	t0 := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	for b.Loop() {
		b.StopTimer()
		for range 10 {
			for j := range round {
				round[j].Slot = t0.Add(time.Duration(i) * time.Minute)
			}
			if err := s.SaveRound(b.Context(), round, nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.StartTimer()
		if err := bolt.Compact(b.Context(), s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFleet runs storetest.BenchFleet (issue 13's fleet reads).
func BenchmarkFleet(b *testing.B) {
	storetest.BenchFleet(b, func(b *testing.B) store.Store { return open(b, bolt.WithNoSync()) })
}
