package store

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)

func TestMergeSlot(t *testing.T) {
	zone := time.FixedZone("UTC-07:00", -7*3600)
	r := func(loc string, up bool, rtt time.Duration, reason string) Result {
		return Result{Host: "a.test", Location: loc, Slot: t0.In(zone), RTT: rtt, Up: up, Reason: reason}
	}
	maint := func(r Result) Result {
		r.Maintenance = true
		return r
	}
	for _, tc := range []struct {
		name string
		rs   []Result
		want Check
	}{
		{"OneUp", []Result{r("", true, 5, "")}, Check{Time: t0, RTT: 5, Up: true}},
		{"OneDown", []Result{r("", false, 5, "timeout")}, Check{Time: t0, RTT: 5, Error: "timeout"}},
		{"LowestUp", []Result{r("", true, 9, ""), r("b", true, 3, ""), r("c", true, 7, "")}, Check{Time: t0, RTT: 3, Up: true}},
		{"DownThenUp", []Result{r("", false, 1, "refused"), r("b", true, 8, "")}, Check{Time: t0, RTT: 8, Up: true}},
		{"UpThenLowerDown", []Result{r("", true, 8, ""), r("b", false, 1, "refused")}, Check{Time: t0, RTT: 8, Up: true}},
		{"DownUpDownUp", []Result{r("", false, 1, "x"), r("b", true, 9, ""), r("c", false, 2, "y"), r("d", true, 4, "")},
			Check{Time: t0, RTT: 4, Up: true}},
		{"AllDownFirstReasonLowestRTT", []Result{r("a", false, 9, "first"), r("b", false, 2, "second"), r("c", false, 5, "third")},
			Check{Time: t0, RTT: 2, Error: "first"}},
		// A check is in maintenance when any location's result was.
		{"OneInMaintenance", []Result{maint(r("", false, 5, "timeout"))}, Check{Time: t0, RTT: 5, Error: "timeout", Maintenance: true}},
		{"FirstInMaintenance", []Result{maint(r("", true, 5, "")), r("b", false, 1, "x")}, Check{Time: t0, RTT: 5, Up: true, Maintenance: true}},
		{"LastInMaintenance", []Result{r("", false, 5, "x"), r("b", false, 1, "y"), maint(r("c", true, 9, ""))},
			Check{Time: t0, RTT: 9, Up: true, Maintenance: true}},
		{"NoneInMaintenance", []Result{r("", true, 5, ""), r("b", true, 1, "")}, Check{Time: t0, RTT: 1, Up: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MergeSlot(tc.rs)
			if !got.Time.Equal(tc.want.Time) || got.Time.Location() != time.UTC || got.RTT != tc.want.RTT ||
				got.Up != tc.want.Up || got.Error != tc.want.Error || got.Maintenance != tc.want.Maintenance {
				t.Errorf("MergeSlot = %+v, want %+v (in UTC)", got, tc.want)
			}
		})
	}
}

func TestMergeResults(t *testing.T) {
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	rs := []Result{
		{Slot: at(0), RTT: 5, Up: true},
		{Slot: at(1), Location: "", RTT: 1, Reason: "x"},
		{Slot: at(1), Location: "b", RTT: 7, Up: true},
		{Slot: at(2), RTT: 3, Reason: "y"},
	}
	want := []Check{{Time: at(0), RTT: 5, Up: true}, {Time: at(1), RTT: 7, Up: true}, {Time: at(2), RTT: 3, Error: "y"}}

	t.Run("OneCheckPerSlot", func(t *testing.T) {
		var got []Check
		add, flush := MergeResults(func(c Check) error { got = append(got, c); return nil })
		for _, r := range rs {
			if err := add(r); err != nil {
				t.Fatal(err)
			}
		}
		if len(got) != 2 {
			t.Errorf("%d checks before flush, want 2 (the last slot waits)", len(got))
		}
		if err := flush(); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d checks, want %d: %+v", len(got), len(want), got)
		}
		for i := range want {
			if !got[i].Time.Equal(want[i].Time) || got[i].RTT != want[i].RTT || got[i].Up != want[i].Up || got[i].Error != want[i].Error {
				t.Errorf("[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
		if err := flush(); err != nil || len(got) != len(want) {
			t.Errorf("a second flush emitted again or failed: %v, %d checks", err, len(got))
		}
	})

	t.Run("NothingToFlush", func(t *testing.T) {
		_, flush := MergeResults(func(c Check) error { t.Errorf("unexpected check %+v", c); return nil })
		if err := flush(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrorFromFn", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		add, flush := MergeResults(func(Check) error { calls++; return stop })
		var err error
		for _, r := range rs {
			if err = add(r); err != nil {
				break
			}
		}
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("add: %v after %d calls, want stop after 1", err, calls)
		}
		// The caller stops at the error; the check that failed is not sent again.
		_ = flush()
		if calls != 1 {
			t.Errorf("flush after an error called fn again (%d calls)", calls)
		}
	})
}

func TestBucketWidth(t *testing.T) {
	for _, tc := range []struct {
		name string
		span time.Duration
		n    int
		want time.Duration
	}{
		{"Exact", 10 * time.Minute, 5, 2 * time.Minute},
		{"CeilOneNanosecond", 10 * time.Second, 3, 3333333334},
		{"NLargerThanSpan", 5, 10, 1},
		{"OneBucket", time.Hour, 1, time.Hour},
		{"YearIn1000", 365 * 24 * time.Hour, 1000, 31536 * time.Second},
		{"EmptyRange", 0, 10, 0},
		{"NegativeRange", -time.Minute, 10, 0},
		{"ZeroN", time.Minute, 0, 0},
		{"NegativeN", time.Minute, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := BucketWidth(t0, t0.Add(tc.span), tc.n); got != tc.want {
				t.Errorf("BucketWidth(span %v, %d) = %v, want %v", tc.span, tc.n, got, tc.want)
			}
		})
	}
}

func TestBucketer(t *testing.T) {
	t.Run("Layout", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			span   time.Duration
			n      int
			count  int
			lastAt time.Duration // start of the last bucket, from t0
		}{
			{"Exact", 10 * time.Minute, 5, 5, 8 * time.Minute},
			{"LastCut", 10 * time.Second, 3, 3, 6666666668},
			{"FewerThanN", 10, 6, 5, 8},
			{"NLargerThanSpan", 5, 10, 5, 4},
			{"Empty", 0, 10, 0, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				bs := NewBucketer(t0, t0.Add(tc.span), tc.n).Buckets()
				if bs == nil || len(bs) != tc.count {
					t.Fatalf("%d buckets (nil: %v), want %d", len(bs), bs == nil, tc.count)
				}
				for i, b := range bs {
					if b.Start.Location() != time.UTC || b.End.Location() != time.UTC || !b.Unknown() {
						t.Errorf("[%d] = %+v, want an unknown bucket in UTC", i, b)
					}
					if i > 0 && !b.Start.Equal(bs[i-1].End) {
						t.Errorf("[%d] starts at %v, the previous ends at %v", i, b.Start, bs[i-1].End)
					}
				}
				if tc.count > 0 {
					if last := bs[tc.count-1]; !last.Start.Equal(t0.Add(tc.lastAt)) || !last.End.Equal(t0.Add(tc.span)) {
						t.Errorf("last bucket [%v, %v), want [%v, %v)", last.Start, last.End, t0.Add(tc.lastAt), t0.Add(tc.span))
					}
					if !bs[0].Start.Equal(t0) {
						t.Errorf("first bucket starts at %v, want %v", bs[0].Start, t0)
					}
				}
			})
		}
	})

	t.Run("Index", func(t *testing.T) {
		b := NewBucketer(t0, t0.Add(10*time.Minute), 5)
		for _, tc := range []struct {
			at   time.Duration
			want int
		}{
			{-1, -1}, {0, 0}, {2*time.Minute - 1, 0}, {2 * time.Minute, 1}, {10*time.Minute - 1, 4}, {10 * time.Minute, -1},
		} {
			if got := b.Index(t0.Add(tc.at)); got != tc.want {
				t.Errorf("Index(t0+%v) = %d, want %d", tc.at, got, tc.want)
			}
		}
		if got := NewBucketer(t0, t0, 5).Index(t0); got != -1 {
			t.Errorf("Index in an empty range = %d, want -1", got)
		}
	})

	t.Run("At", func(t *testing.T) {
		bounds := []time.Time{t0, t0.Add(time.Minute), t0.Add(time.Hour), t0.Add(time.Hour + time.Second)}
		b, err := NewBucketerAt(bounds)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Widest(); got != time.Hour-time.Minute {
			t.Errorf("Widest() = %v, want 59m", got)
		}
		for _, tc := range []struct {
			at   time.Duration
			want int
		}{
			{-1, -1}, {0, 0}, {time.Minute - 1, 0}, {time.Minute, 1}, {time.Hour - 1, 1}, {time.Hour, 2},
			{time.Hour + time.Second - 1, 2}, {time.Hour + time.Second, -1},
		} {
			if got := b.Index(t0.Add(tc.at)); got != tc.want {
				t.Errorf("Index(t0+%v) = %d, want %d", tc.at, got, tc.want)
			}
		}
		even := EvenBounds(t0, t0.Add(10*time.Minute), 3)
		if len(even) != 4 || !even[0].Equal(t0) || !even[1].Equal(t0.Add(200*time.Second)) || !even[3].Equal(t0.Add(10*time.Minute)) {
			t.Errorf("EvenBounds(10m, 3) = %v, want t0, +3m20s, +6m40s, +10m", even)
		}
		for _, bad := range [][]time.Time{{t0, t0}, {t0.Add(time.Second), t0}} {
			if _, err := NewBucketerAt(bad); err == nil {
				t.Errorf("NewBucketerAt(%v): no error", bad)
			}
		}
		if b, err := NewBucketerAt([]time.Time{t0}); err != nil || len(b.Buckets()) != 0 || b.Index(t0) != -1 {
			t.Errorf("NewBucketerAt(one bound) = %v, %v, want no bucket", b, err)
		}
	})

	t.Run("Add", func(t *testing.T) {
		b := NewBucketer(t0, t0.Add(4*time.Minute), 2)
		for _, c := range []Check{
			{Time: t0.Add(-time.Second), RTT: 1, Up: true}, // outside
			{Time: t0, RTT: 30, Up: true},
			{Time: t0.Add(time.Second), RTT: 0, Up: true}, // a zero rtt is a minimum too
			{Time: t0.Add(time.Minute), RTT: 1, Error: "down"},
			{Time: t0.Add(2 * time.Minute), RTT: 500, Error: "down"},
			{Time: t0.Add(4 * time.Minute), RTT: 1, Up: true}, // at end: outside
		} {
			b.Add(c)
		}
		bs := b.Buckets()
		want := []Bucket{
			{Start: t0, End: t0.Add(2 * time.Minute), Up: 2, Down: 1, MinRTT: 0, MeanRTT: 15, MaxRTT: 30},
			{Start: t0.Add(2 * time.Minute), End: t0.Add(4 * time.Minute), Down: 1},
		}
		if len(bs) != len(want) {
			t.Fatalf("%d buckets, want %d", len(bs), len(want))
		}
		for i := range want {
			if bs[i] != want[i] {
				t.Errorf("[%d] = %+v, want %+v", i, bs[i], want[i])
			}
		}
	})
}
