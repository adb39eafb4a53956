package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// BenchmarkBucketsYear reads one host's buckets (Buckets: charts and
// reports) over a year of one-minute results that end at the wall clock,
// so that the newest hours are not summarised: in one bucket (the year's
// uptime), by month and by day (a chart or a report over a year).
func BenchmarkBucketsYear(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	const host = "a.test"
	now := time.Now().UTC().Truncate(time.Minute)
	from := now.Add(-365 * 24 * time.Hour)
	err := s.Restore(ctx, store.Restore{Hosts: []string{host}, Results: func(ctx context.Context, emit func(store.Result) error) error {
		for t := from; t.Before(now); t = t.Add(time.Minute) {
			m := t.Unix() / 60
			r := store.Result{Host: host, Slot: t, RTT: time.Duration(10+m%50) * time.Millisecond, Up: m%37 != 0}
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		b.Fatalf("Restore: %v", err)
	}
	storetest.Settle(b, s, now)
	end := store.Hour(now).Add(store.SummarySpan)
	for _, n := range []int{1, 12, 365} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				bs, err := s.Buckets(ctx, host, end.Add(-365*24*time.Hour), end, n)
				if err != nil {
					b.Fatal(err)
				}
				if len(bs) != n {
					b.Fatalf("%d buckets, want %d", len(bs), n)
				}
			}
		})
	}
}
