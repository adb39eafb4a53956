package storetest

import (
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

func testBuckets(t *testing.T, open opener) {
	for _, tc := range bucketCases() {
		t.Run(tc.name, func(t *testing.T) { expectBucketCase(t, open, tc) })
	}
	t.Run("ThousandBucketsOverADay", func(t *testing.T) { bucketsThousandOverADay(t, open) })
}

// bucketCase is the results of a.test and b.test, and the buckets of
// a.test that Buckets(start, end, n) must return.
type bucketCase struct {
	name       string
	rs         []store.Result
	start, end time.Time
	n          int
	want       []store.Bucket
}

// bucketCases lists testBuckets's cases.
func bucketCases() []bucketCase { return append(bucketCountCases(), bucketWidthCases()...) }

// bucketCountCases are about what a bucket counts: which checks, merged
// how, and their rtts.
func bucketCountCases() []bucketCase {
	T := base
	return []bucketCase{
		{
			name: "HalfOpenEdges",
			rs: []store.Result{
				up("a.test", "", T.Add(-time.Minute), ms(5)),         // before start: out
				up("a.test", "", T, ms(10)),                          // exactly at start: bucket 0
				up("a.test", "", T.Add(2*time.Minute), ms(20)),       // on a boundary: the later bucket
				down("a.test", "", T.Add(3*time.Minute), ms(1), "x"), // down: counted, no rtt
				up("a.test", "", T.Add(4*time.Minute), ms(40)),
				up("a.test", "", T.Add(10*time.Minute), ms(99)), // exactly at end: out
			},
			start: T, end: T.Add(10 * time.Minute), n: 5,
			want: []store.Bucket{
				{Start: T, End: T.Add(2 * time.Minute), Up: 1, MinRTT: ms(10), MeanRTT: ms(10), MaxRTT: ms(10)},
				{Start: T.Add(2 * time.Minute), End: T.Add(4 * time.Minute), Up: 1, Down: 1, MinRTT: ms(20), MeanRTT: ms(20), MaxRTT: ms(20)},
				{Start: T.Add(4 * time.Minute), End: T.Add(6 * time.Minute), Up: 1, MinRTT: ms(40), MeanRTT: ms(40), MaxRTT: ms(40)},
				{Start: T.Add(6 * time.Minute), End: T.Add(8 * time.Minute)},
				{Start: T.Add(8 * time.Minute), End: T.Add(10 * time.Minute)},
			},
		},
		{
			name: "MinMeanMaxOfUpOnly",
			rs: []store.Result{
				up("a.test", "", T, ms(10)),
				up("a.test", "", T.Add(time.Minute), ms(20)),
				down("a.test", "", T.Add(2*time.Minute), ms(1), "refused"),
				up("a.test", "", T.Add(3*time.Minute), ms(60)),
				down("a.test", "", T.Add(4*time.Minute), ms(500), "timeout"),
			},
			start: T, end: T.Add(5 * time.Minute), n: 1,
			want: []store.Bucket{{Start: T, End: T.Add(5 * time.Minute), Up: 3, Down: 2, MinRTT: ms(10), MeanRTT: ms(30), MaxRTT: ms(60)}},
		},
		{
			name: "DownOnlyHasZeroRTT",
			rs: []store.Result{
				down("a.test", "", T, ms(7), "a"),
				down("a.test", "", T.Add(time.Minute), ms(9), "b"),
			},
			start: T, end: T.Add(2 * time.Minute), n: 1,
			want: []store.Bucket{{Start: T, End: T.Add(2 * time.Minute), Down: 2}},
		},
		{
			name: "LocationsMergedFirst",
			rs: []store.Result{
				down("a.test", "", T, ms(5), "refused"),
				up("a.test", "b", T, ms(30)),
				up("a.test", "c", T, ms(20)),
				down("a.test", "", T.Add(time.Minute), ms(1), "refused"),
				down("a.test", "b", T.Add(time.Minute), ms(2), "refused"),
			},
			start: T, end: T.Add(2 * time.Minute), n: 2,
			want: []store.Bucket{
				{Start: T, End: T.Add(time.Minute), Up: 1, MinRTT: ms(20), MeanRTT: ms(20), MaxRTT: ms(20)},
				{Start: T.Add(time.Minute), End: T.Add(2 * time.Minute), Down: 1},
			},
		},
		{
			name: "OtherHostsIgnored",
			rs: []store.Result{
				up("a.test", "", T, ms(4)),
				up("b.test", "", T, ms(1)),
				down("b.test", "", T.Add(time.Minute), ms(1), "x"),
			},
			start: T, end: T.Add(2 * time.Minute), n: 1,
			want: []store.Bucket{{Start: T, End: T.Add(2 * time.Minute), Up: 1, MinRTT: ms(4), MeanRTT: ms(4), MaxRTT: ms(4)}},
		},
	}
}

// bucketWidthCases are about the buckets' bounds: their width, the last
// one cut at end, and ranges that hold few checks or none.
func bucketWidthCases() []bucketCase {
	T := base
	ns := func(n int64) time.Duration { return time.Duration(n) }
	w3 := ns(3333333334) // ceil(10s / 3)
	return []bucketCase{
		{
			name: "CeilWidthLastCutAtEnd",
			rs: []store.Result{
				up("a.test", "", T, ms(1)),
				up("a.test", "", T.Add(5*time.Second), ms(2)),
				up("a.test", "", T.Add(9*time.Second), ms(3)),
			},
			start: T, end: T.Add(10 * time.Second), n: 3,
			want: []store.Bucket{
				{Start: T, End: T.Add(w3), Up: 1, MinRTT: ms(1), MeanRTT: ms(1), MaxRTT: ms(1)},
				{Start: T.Add(w3), End: T.Add(2 * w3), Up: 1, MinRTT: ms(2), MeanRTT: ms(2), MaxRTT: ms(2)},
				{Start: T.Add(2 * w3), End: T.Add(10 * time.Second), Up: 1, MinRTT: ms(3), MeanRTT: ms(3), MaxRTT: ms(3)},
			},
		},
		{
			name: "FewerThanNWhenCeilRoundsUp",
			rs:   []store.Result{up("a.test", "", T, ms(7))},
			// 10ns in at most 6 buckets: width 2ns, so 5 buckets.
			start: T, end: T.Add(10), n: 6,
			want: []store.Bucket{
				{Start: T, End: T.Add(2), Up: 1, MinRTT: ms(7), MeanRTT: ms(7), MaxRTT: ms(7)},
				{Start: T.Add(2), End: T.Add(4)},
				{Start: T.Add(4), End: T.Add(6)},
				{Start: T.Add(6), End: T.Add(8)},
				{Start: T.Add(8), End: T.Add(10)},
			},
		},
		{
			name:  "NLargerThanSpanInNanoseconds",
			rs:    []store.Result{up("a.test", "", T, ms(7)), up("a.test", "", T.Add(time.Microsecond), ms(8))},
			start: T, end: T.Add(5), n: 10,
			want: []store.Bucket{
				{Start: T, End: T.Add(1), Up: 1, MinRTT: ms(7), MeanRTT: ms(7), MaxRTT: ms(7)},
				{Start: T.Add(1), End: T.Add(2)},
				{Start: T.Add(2), End: T.Add(3)},
				{Start: T.Add(3), End: T.Add(4)},
				{Start: T.Add(4), End: T.Add(5)},
			},
		},
		{
			name:  "RangeBetweenTwoChecks",
			rs:    []store.Result{up("a.test", "", T, ms(1)), up("a.test", "", T.Add(time.Minute), ms(2))},
			start: T.Add(10 * time.Second), end: T.Add(50 * time.Second), n: 4,
			want: []store.Bucket{
				{Start: T.Add(10 * time.Second), End: T.Add(20 * time.Second)},
				{Start: T.Add(20 * time.Second), End: T.Add(30 * time.Second)},
				{Start: T.Add(30 * time.Second), End: T.Add(40 * time.Second)},
				{Start: T.Add(40 * time.Second), End: T.Add(50 * time.Second)},
			},
		},
		{
			name:  "RangeShorterThanIntervalHoldingOne",
			rs:    []store.Result{up("a.test", "", T.Add(-time.Minute), ms(1)), up("a.test", "", T, ms(2)), up("a.test", "", T.Add(time.Minute), ms(3))},
			start: T.Add(-30 * time.Second), end: T.Add(10 * time.Second), n: 4,
			want: []store.Bucket{
				{Start: T.Add(-30 * time.Second), End: T.Add(-20 * time.Second)},
				{Start: T.Add(-20 * time.Second), End: T.Add(-10 * time.Second)},
				{Start: T.Add(-10 * time.Second), End: T},
				{Start: T, End: T.Add(10 * time.Second), Up: 1, MinRTT: ms(2), MeanRTT: ms(2), MaxRTT: ms(2)},
			},
		},
	}
}

// expectBucketCase stores tc's results in a new store and checks its buckets.
func expectBucketCase(t *testing.T, open opener, tc bucketCase) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	save(t, s, tc.rs, nil)
	got := bucketsOf(t, s, "a.test", tc.start, tc.end, tc.n)
	expectSlice(t, "Buckets", got, tc.want, sameBucket, fmtBucket)
	for i, b := range got {
		if wantUnknown := b.Up+b.Down == 0; b.Unknown() != wantUnknown {
			t.Errorf("bucket %d: Unknown() = %v", i, b.Unknown())
		}
	}
}

// bucketsThousandOverADay compares 1,000 buckets of a day of results,
// some slots with two locations, with referenceBuckets.
func bucketsThousandOverADay(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	var rs []store.Result
	for i := range 24 * 60 {
		switch {
		case i%7 == 3:
			rs = append(rs, down("a.test", "", slot(i), ms(i), "timeout"))
		case i%5 == 0:
			// A second location at some slots; the lower up rtt counts.
			rs = append(rs, up("a.test", "", slot(i), ms(i+3)), up("a.test", "eu", slot(i), ms(i)))
		default:
			rs = append(rs, up("a.test", "", slot(i), ms(i)))
		}
	}
	save(t, s, rs, nil)
	start, end := slot(-1), slot(24*60-1)
	want := referenceBuckets(rs, start, end, 1000)
	if len(want) != 1000 {
		t.Fatalf("reference made %d buckets, want 1000", len(want))
	}
	expectSlice(t, "Buckets", bucketsOf(t, s, "a.test", start, end, 1000), want, sameBucket, fmtBucket)
}

// referenceBuckets computes the buckets of one host's results, ordered by
// slot and location, with the helpers of package store.
func referenceBuckets(rs []store.Result, start, end time.Time, n int) []store.Bucket {
	b := store.NewBucketer(start, end, n)
	add, flush := store.MergeResults(func(c store.Check) error { b.Add(c); return nil })
	for _, r := range rs {
		add(r)
	}
	flush()
	return b.Buckets()
}

func testDeleteResultsBefore(t *testing.T, open opener) {
	t.Run("StrictlyBeforeCountsRows", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test", "b.test")
		var a, b []store.Result
		for i := range 5 {
			a = append(a, up("a.test", "", slot(i), ms(i)), up("a.test", "eu", slot(i), ms(i)))
			b = append(b, down("b.test", "", slot(i), ms(i), "x"))
		}
		save(t, s, append(a, b...), nil)
		n, err := s.DeleteResultsBefore(t.Context(), slot(2))
		if err != nil {
			t.Fatalf("DeleteResultsBefore: %v", err)
		}
		if n != 6 {
			t.Errorf("DeleteResultsBefore(slot 2) = %d, want 6 (2 slots × 2 locations + 2 slots × 1)", n)
		}
		expectResults(t, "Results a.test", allResults(t, s, "a.test"), a[4:])
		expectResults(t, "Results b.test", allResults(t, s, "b.test"), b[2:])
		n, err = s.DeleteResultsBefore(t.Context(), slot(2))
		if err != nil || n != 0 {
			t.Errorf("second DeleteResultsBefore = %d, %v; want 0, nil", n, err)
		}
		expectStrings(t, "Hosts", hostsOf(t, s), []string{"a.test", "b.test"})
		n, err = s.DeleteResultsBefore(t.Context(), farFuture)
		if err != nil || n != 9 {
			t.Errorf("DeleteResultsBefore(far future) = %d, %v; want 9, nil", n, err)
		}
		if _, ok, err := s.LastCheck(t.Context(), "a.test"); ok || err != nil {
			t.Errorf("LastCheck after deleting everything: ok=%v, %v; want false, nil", ok, err)
		}
		expectStrings(t, "Hosts after deleting every result", hostsOf(t, s), []string{"a.test", "b.test"})
	})

	t.Run("MoreRowsThanABatch", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test")
		const rows, cut = 25000, 20000
		rs := make([]store.Result, rows)
		for i := range rs {
			rs[i] = up("a.test", "", slot(i), ms(i%100))
		}
		save(t, s, rs, nil)
		n, err := s.DeleteResultsBefore(t.Context(), slot(cut))
		if err != nil {
			t.Fatalf("DeleteResultsBefore: %v", err)
		}
		if n != cut {
			t.Errorf("DeleteResultsBefore = %d, want %d", n, cut)
		}
		got := allResults(t, s, "a.test")
		if len(got) != rows-cut {
			t.Fatalf("%d results left, want %d", len(got), rows-cut)
		}
		expectResults(t, "first and last left", []store.Result{got[0], got[len(got)-1]}, []store.Result{rs[cut], rs[rows-1]})
	})

	t.Run("KeepsPendingDeliveriesAndState", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test")
		rule := store.Rule{Host: "a.test", Threshold: 1, Action: "http://127.0.0.1:9/"}
		setRule(t, s, rule)
		r := down("a.test", "", slot(0), ms(1), "timeout")
		save(t, s, []store.Result{r}, (&recorder{}).alerting())
		if _, err := s.DeleteResultsBefore(t.Context(), slot(10)); err != nil {
			t.Fatalf("DeleteResultsBefore: %v", err)
		}
		expectDeliveries(t, "pending deliveries", dueOf(t, s, farFuture, 10), []store.Delivery{pendingFor(rule, r)})
		expectState(t, "State", stateOf(t, s, "a.test"), nextState(store.State{}, r))
	})
}
