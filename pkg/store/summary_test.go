package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestSummaryMerge(t *testing.T) {
	var s Summary
	// Checks in maintenance count in Maintenance only, whatever their
	// state, and their rtts are left out.
	for _, c := range []Check{{RTT: 5, Up: true}, {RTT: 9}, {RTT: 1, Up: true, Maintenance: true}, {RTT: 2, Up: true},
		{RTT: 3, Maintenance: true}, {RTT: 7, Up: true}, {RTT: 99, Up: true, Maintenance: true}} {
		s.Add(c)
	}
	want := Summary{Up: 3, Down: 1, Maintenance: 3, MinRTT: 2, MaxRTT: 7, SumRTT: 14}
	if s != want {
		t.Fatalf("Add: %+v, want %+v", s, want)
	}
	var m Summary
	m.Merge(Summary{Down: 2, Maintenance: 4})
	m.Merge(s)
	m.Merge(Summary{Up: 1, MinRTT: 1, MaxRTT: 1, SumRTT: 1})
	m.Merge(Summary{Maintenance: 1})
	want = Summary{Up: 4, Down: 3, Maintenance: 8, MinRTT: 1, MaxRTT: 7, SumRTT: 15}
	if m != want {
		t.Errorf("Merge: %+v, want %+v", m, want)
	}
}

// TestTouchedHours checks that TouchedHours holds exactly the hours added,
// in any order, as the fewest spans of consecutive hours.
func TestTouchedHours(t *testing.T) {
	base := time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)
	h := func(i int) time.Time { return base.Add(time.Duration(i) * SummarySpan) }
	for _, tc := range []struct {
		name  string
		hours []int
		until int
		want  [][2]int // spans [first, end) in hours
	}{
		{"InOrder", []int{0, 0, 1, 2, 3}, 100, [][2]int{{0, 4}}},
		{"Apart", []int{0, 5, 9000}, 10000, [][2]int{{0, 1}, {5, 6}, {9000, 9001}}},
		{"Reversed", []int{5, 4, 3, 1}, 100, [][2]int{{1, 2}, {3, 6}}},
		{"FillsGap", []int{1, 3, 2}, 100, [][2]int{{1, 4}}},
		{"JoinsNext", []int{1, 5, 7, 6, 2, 4, 3}, 100, [][2]int{{1, 8}}},
		{"Inside", []int{1, 2, 3, 9, 2, 1}, 100, [][2]int{{1, 4}, {9, 10}}},
		{"CutAtUntil", []int{1, 2, 3, 9, 10}, 3, [][2]int{{1, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := TouchedHours{}
			for _, i := range tc.hours {
				th.Add("a", h(i).Add(17*time.Minute))
			}
			got := th.Before(h(tc.until))
			var want []HostHours
			for _, sp := range tc.want {
				want = append(want, HostHours{Host: "a", Start: h(sp[0]), End: h(sp[1])})
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Before = %v, want %v", got, want)
			}
		})
	}
	// Random hours: the spans cover exactly the hours added.
	rng := rand.New(rand.NewPCG(3, 4))
	for run := range 200 {
		th, added := TouchedHours{}, map[int]bool{}
		for range 1 + rng.IntN(40) {
			i := rng.IntN(60)
			added[i] = true
			th.Add("a", h(i))
		}
		covered := map[int]bool{}
		prevEnd := -2
		for _, sp := range th.Before(h(1000)) {
			first, end := int(sp.Start.Sub(base)/SummarySpan), int(sp.End.Sub(base)/SummarySpan)
			if first <= prevEnd {
				t.Fatalf("run %d: span %v touches or overlaps the one before", run, sp)
			}
			prevEnd = end
			for i := first; i < end; i++ {
				covered[i] = true
			}
		}
		if fmt.Sprint(covered) != fmt.Sprint(added) {
			t.Fatalf("run %d: spans cover %v, want %v", run, covered, added)
		}
	}
}

// TestSummaryPlan checks the plan of a fleet read: each bucket's whole
// hours before until, and the spans left, which with them cover the
// range exactly once.
func TestSummaryPlan(t *testing.T) {
	h := func(hh, mm int) time.Time { return time.Date(2024, time.March, 1, hh, mm, 0, 0, time.UTC) }
	type hours = [2]time.Time
	for _, tc := range []struct {
		name       string
		start, end time.Time
		n          int
		until      time.Time
		hours      []hours
		spans      []Span
	}{
		{"WholeHoursAllSummarised", h(0, 0), h(4, 0), 2, h(5, 0),
			[]hours{{h(0, 0), h(2, 0)}, {h(2, 0), h(4, 0)}}, nil},
		{"NewestHoursNot", h(0, 0), h(4, 0), 2, h(3, 0),
			[]hours{{h(0, 0), h(2, 0)}, {h(2, 0), h(3, 0)}}, []Span{{h(3, 0), h(4, 0), 1}}},
		{"CutHours", h(0, 30), h(4, 30), 2, h(3, 0),
			[]hours{{h(1, 0), h(2, 0)}, {h(2, 30), h(2, 30)}},
			[]Span{{h(0, 30), h(1, 0), 0}, {h(2, 0), h(2, 30), 0}, {h(2, 30), h(4, 30), 1}}},
		{"NothingSummarised", h(0, 0), h(2, 0), 2, time.Time{},
			[]hours{{}, {}}, []Span{{h(0, 0), h(1, 0), 0}, {h(1, 0), h(2, 0), 1}}},
		{"NoBucket", h(0, 0), h(2, 0), 0, h(5, 0), []hours{}, nil},
		{"NarrowerThanAnHour", h(0, 0), h(1, 0), 2, h(5, 0),
			[]hours{{}, {}}, []Span{{h(0, 0), h(0, 30), 0}, {h(0, 30), h(1, 0), 1}}},
		{"AnHourAcrossHours", h(0, 30), h(2, 30), 2, h(5, 0),
			[]hours{{h(0, 30), h(0, 30)}, {h(1, 30), h(1, 30)}}, []Span{{h(0, 30), h(1, 30), 0}, {h(1, 30), h(2, 30), 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBucketer(tc.start, tc.end, tc.n)
			gotHours, gotSpans := b.SummaryPlan(tc.until)
			if len(gotHours) != len(tc.hours) {
				t.Fatalf("hours %v, want %v", gotHours, tc.hours)
			}
			for i := range gotHours {
				empty := !gotHours[i][0].Before(gotHours[i][1])
				wantEmpty := !tc.hours[i][0].Before(tc.hours[i][1])
				if empty != wantEmpty || !empty && gotHours[i] != tc.hours[i] {
					t.Errorf("hours of bucket %d: %v, want %v", i, gotHours[i], tc.hours[i])
				}
			}
			if fmt.Sprint(gotSpans) != fmt.Sprint(tc.spans) {
				t.Errorf("spans %v, want %v", gotSpans, tc.spans)
			}
			for _, bk := range b.Buckets() {
				if !bk.Unknown() {
					t.Errorf("SummaryPlan counted something: %+v", bk)
				}
			}
		})
	}
}

// TestSummaryRuns checks how a fleet read splits the summarised hours
// between the daily rollups and the hourly summaries: whole days inside
// one bucket from the days, the rest from the hours, adjacent runs of a
// kind joined.
func TestSummaryRuns(t *testing.T) {
	d := func(day, hh int) time.Time { return time.Date(2024, time.March, day, hh, 0, 0, 0, time.UTC) }
	type hours = [2]time.Time
	for _, tc := range []struct {
		name  string
		hours []hours
		want  []SummaryRun
	}{
		{"None", nil, nil},
		{"EmptyBuckets", []hours{{d(1, 0), d(1, 0)}, {d(2, 3), d(2, 3)}}, nil},
		{"LessThanADay", []hours{{d(1, 3), d(2, 2)}}, []SummaryRun{{d(1, 3), d(2, 2), false}}},
		{"WholeDay", []hours{{d(1, 0), d(2, 0)}}, []SummaryRun{{d(1, 0), d(2, 0), true}}},
		{"EdgesAndDays", []hours{{d(1, 5), d(4, 7)}},
			[]SummaryRun{{d(1, 5), d(2, 0), false}, {d(2, 0), d(4, 0), true}, {d(4, 0), d(4, 7), false}}},
		// The dashboard's windows: a year to 30 days, 30 to 7, 7 to 1, then
		// 24 hourly buckets, ending mid-day; the days of adjacent buckets
		// join when the bound between them is a midnight.
		{"Windows", []hours{{d(1, 5), d(10, 5)}, {d(10, 5), d(20, 0)}, {d(20, 0), d(25, 5)}, {d(25, 5), d(25, 6)}, {d(25, 6), d(25, 7)}},
			[]SummaryRun{{d(1, 5), d(2, 0), false}, {d(2, 0), d(10, 0), true}, {d(10, 0), d(11, 0), false},
				{d(11, 0), d(25, 0), true}, {d(25, 0), d(25, 7), false}}},
		// A bucket whose hours stop early (summarised_until) and a gap:
		// no run joins across it.
		{"Gap", []hours{{d(1, 0), d(3, 0)}, {d(4, 0), d(4, 0)}, {d(5, 0), d(6, 0)}},
			[]SummaryRun{{d(1, 0), d(3, 0), true}, {d(5, 0), d(6, 0), true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SummaryRuns(tc.hours); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("SummaryRuns(%v)\n got %v\nwant %v", tc.hours, got, tc.want)
			}
		})
	}
}

// TestSummaryPlanCounts checks SummaryPlan for ranges, bucket counts and
// untils anywhere: buckets counted from the summaries of its hours plus
// the checks of its spans equal buckets counted from every check; the
// spans are ordered, disjoint and each inside its bucket; and no span
// holds a whole hour before until that lies inside its bucket (that hour
// is read from its summary).
func TestSummaryPlanCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)
	// A check every 7 minutes over eight days.
	var checks []Check
	for at := base; at.Before(base.Add(192 * time.Hour)); at = at.Add(7 * time.Minute) {
		checks = append(checks, Check{Time: at, RTT: time.Duration(1 + rng.IntN(1000)), Up: rng.IntN(5) != 0})
	}
	count := func(b *Bucketer, from, to time.Time) {
		for _, c := range checks {
			if !c.Time.Before(from) && c.Time.Before(to) {
				b.Add(c)
			}
		}
	}
	for run := range 2000 {
		start := base.Add(time.Duration(rng.Int64N(int64(72 * time.Hour))))
		if run%3 == 0 {
			start = Hour(start)
		}
		end := start.Add(time.Duration(1 + rng.Int64N(int64(96*time.Hour))))
		n := rng.IntN(80)
		until := Hour(base.Add(time.Duration(rng.Int64N(int64(200 * time.Hour)))))
		if run%7 == 0 {
			until = time.Time{} // nothing summarised
		}
		what := fmt.Sprintf("run %d [%v, %v) n=%d until %v", run, start, end, n, until)

		want := NewBucketer(start, end, n)
		count(want, start, end)
		got := NewBucketer(start, end, n)
		hours, spans := got.SummaryPlan(until)
		if len(hours) != len(got.Buckets()) {
			t.Fatalf("%s: hours of %d buckets, want %d", what, len(hours), len(got.Buckets()))
		}
		for i, hs := range hours {
			for h := hs[0]; h.Before(hs[1]); h = h.Add(SummarySpan) {
				if !h.Equal(Hour(h)) || !h.Before(until) || got.Index(h) != i || got.Index(h.Add(SummarySpan-1)) != i {
					t.Fatalf("%s: hour %v of bucket %d is not a whole hour inside it before until", what, h, i)
				}
				var s Summary
				for _, c := range checks {
					if !c.Time.Before(h) && c.Time.Before(h.Add(SummarySpan)) {
						s.Add(c)
					}
				}
				got.AddSummary(i, s)
			}
		}
		last := start
		for _, sp := range spans {
			if sp.Start.Before(last) || !sp.Start.Before(sp.End) {
				t.Fatalf("%s: span %+v after %v: spans must be ordered, disjoint and not empty", what, sp, last)
			}
			if got.Index(sp.Start) != sp.Bucket || got.Index(sp.End.Add(-1)) != sp.Bucket {
				t.Fatalf("%s: span %+v is not inside bucket %d", what, sp, sp.Bucket)
			}
			if h := Hour(sp.Start.Add(SummarySpan - 1)); h.Before(until) && !h.Add(SummarySpan).After(sp.End) {
				t.Fatalf("%s: span %+v holds the whole hour %v before until", what, sp, h)
			}
			last = sp.End
			count(got, sp.Start, sp.End)
		}
		if gb, wb := got.Buckets(), want.Buckets(); fmt.Sprint(gb) != fmt.Sprint(wb) {
			t.Fatalf("%s: buckets\n%+v, want\n%+v", what, gb, wb)
		}
	}
}

// TestRolledUpDays checks which rollups a change of some hours' summaries
// changes: the UTC days holding those hours, as far as they end by until.
func TestRolledUpDays(t *testing.T) {
	d := func(day, hh int) time.Time { return time.Date(2024, time.March, day, hh, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name               string
		from, to, until    time.Time
		wantStart, wantEnd time.Time
	}{
		{"AnHourOfACompleteDay", d(2, 5), d(2, 6), d(4, 0), d(2, 0), d(3, 0)},
		{"HoursAcrossMidnight", d(2, 22), d(3, 2), d(5, 0), d(2, 0), d(4, 0)},
		{"EndingAtMidnight", d(2, 0), d(3, 0), d(5, 0), d(2, 0), d(3, 0)},
		{"UntilCutsTheLastDay", d(2, 5), d(4, 1), d(4, 3), d(2, 0), d(4, 0)},
		{"TheDayOfUntil", d(4, 1), d(4, 2), d(4, 3), d(4, 0), d(4, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, end := RolledUpDays(tc.from, tc.to, tc.until)
			if !start.Before(end) && !tc.wantStart.Before(tc.wantEnd) {
				return // none, as wanted
			}
			if !start.Equal(tc.wantStart) || !end.Equal(tc.wantEnd) {
				t.Errorf("RolledUpDays(%v, %v, %v) = [%v, %v), want [%v, %v)", tc.from, tc.to, tc.until, start, end, tc.wantStart, tc.wantEnd)
			}
		})
	}
}
