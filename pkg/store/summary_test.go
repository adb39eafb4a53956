package store

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestSummaryMerge(t *testing.T) {
	var s Summary
	for _, c := range []Check{{RTT: 5, Up: true}, {RTT: 9}, {RTT: 2, Up: true}, {RTT: 7, Up: true}} {
		s.Add(c)
	}
	want := Summary{Up: 3, Down: 1, MinRTT: 2, MaxRTT: 7, SumRTT: 14}
	if s != want {
		t.Fatalf("Add: %+v, want %+v", s, want)
	}
	var m Summary
	m.Merge(Summary{Down: 2})
	m.Merge(s)
	m.Merge(Summary{Up: 1, MinRTT: 1, MaxRTT: 1, SumRTT: 1})
	want = Summary{Up: 4, Down: 3, MinRTT: 1, MaxRTT: 7, SumRTT: 15}
	if m != want {
		t.Errorf("Merge: %+v, want %+v", m, want)
	}
}

// TestAddSummaries checks that buckets counted from hourly summaries, plus
// the checks of the spans AddSummaries leaves uncovered, equal buckets
// counted from every check, for ranges and bucket counts that cut hours
// anywhere, with some hours summarised and some not.
func TestAddSummaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)
	// A check every 7 minutes over four days.
	var checks []Check
	for at := base; at.Before(base.Add(96 * time.Hour)); at = at.Add(7 * time.Minute) {
		checks = append(checks, Check{Time: at, RTT: time.Duration(1 + rng.IntN(1000)), Up: rng.IntN(5) != 0})
	}
	summarise := func(hour time.Time) Summary {
		var s Summary
		for _, c := range checks {
			if !c.Time.Before(hour) && c.Time.Before(hour.Add(SummarySpan)) {
				s.Add(c)
			}
		}
		return s
	}
	for run := range 500 {
		start := base.Add(time.Duration(rng.Int64N(int64(48 * time.Hour))))
		if run%4 == 0 {
			start = Hour(start)
		}
		end := start.Add(time.Duration(1 + rng.Int64N(int64(48*time.Hour))))
		n := 1 + rng.IntN(60)

		want := NewBucketer(start, end, n)
		for _, c := range checks {
			want.Add(c)
		}
		var hours []HourSummary
		for h := Hour(start.Add(-SummarySpan)); h.Before(end.Add(SummarySpan)); h = h.Add(SummarySpan) {
			if rng.IntN(4) != 0 { // some hours have no summary
				hours = append(hours, HourSummary{Hour: h, Summary: summarise(h)})
			}
		}
		got := NewBucketer(start, end, n)
		spans := got.AddSummaries(hours)
		last := start
		for _, sp := range spans {
			if sp.Start.Before(last) || !sp.Start.Before(sp.End) {
				t.Fatalf("run %d: span %+v after %v: spans must be ordered, disjoint and not empty", run, sp, last)
			}
			if got.Index(sp.Start) != sp.Bucket || got.Index(sp.End.Add(-1)) != sp.Bucket {
				t.Fatalf("run %d: span %+v is not inside bucket %d", run, sp, sp.Bucket)
			}
			last = sp.End
			for _, c := range checks {
				if !c.Time.Before(sp.Start) && c.Time.Before(sp.End) {
					got.Add(c)
				}
			}
		}
		// Every summary of an hour inside one bucket is used: no span
		// reads its checks again.
		for _, h := range hours {
			hEnd := h.Hour.Add(SummarySpan)
			if i := got.Index(h.Hour); i < 0 || i != got.Index(hEnd.Add(-1)) {
				continue
			}
			for _, sp := range spans {
				if sp.Start.Before(hEnd) && h.Hour.Before(sp.End) {
					t.Fatalf("run %d: span %+v reads the summarised hour %v", run, sp, h.Hour)
				}
			}
		}
		gb, wb := got.Buckets(), want.Buckets()
		if len(gb) != len(wb) {
			t.Fatalf("run %d: %d buckets, want %d", run, len(gb), len(wb))
		}
		for i := range wb {
			if gb[i] != wb[i] {
				t.Fatalf("run %d [%v, %v) n=%d: bucket %d = %+v, want %+v", run, start, end, n, i, gb[i], wb[i])
			}
		}
	}
}
