package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// The Days group checks buckets over histories of several days, where a
// backend may read its daily rollups (store.DaySpan) for the whole days
// of a bucket: every way a day's results change (rounds, Summarise
// passing midnight, late results, restores, retention cutting a day,
// deleting a host) must leave every bucket what the results make it,
// per host (Buckets) and for the fleet (BucketsAll), over windows
// aligned with midnights and not.

// dayCount is how many days of results the group's hosts have, from
// hourBase (a midnight) on.
const dayCount = 4

// day is the midnight i days after hourBase.
func day(i int) time.Time { return hourBase.Add(time.Duration(i) * store.DaySpan) }

// daysAfterAll is a time long after every result the group stores.
func daysAfterAll() time.Time { return day(dayCount + 2) }

func testDays(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"Summarised", daysSummarised},
		{"SummarisedAsRoundsGoOn", daysSummarisedAsRoundsGoOn},
		{"LateResults", daysLateResults},
		{"RestoreIntoSummarisedDays", daysRestoreIntoSummarisedDays},
		{"RestoreIntoNewStore", daysRestoreIntoNewStore},
		{"RetentionCutsADay", daysRetentionCutsADay},
		{"DeletedHost", daysDeletedHost},
		{"DaysWithoutChecks", daysWithoutChecks},
	})
}

// daysOfChecks is hoursOfChecks over dayCount days, a check every five
// minutes (ql counts every check of a window, and a minute's would take
// it a minute and a half).
func daysOfChecks(host, loc string) []store.Result {
	var rs []store.Result
	for _, r := range hoursOfChecks(host, loc, dayCount*24) {
		if r.Slot.Minute()%5 == 0 {
			rs = append(rs, r)
		}
	}
	return rs
}

// dayGrids are the bounds the group reads: a bucket a day, of two days,
// of everything, of hours; ranges that begin before the first result and
// end after the last; buckets whose edges are not midnights (a day and a
// half, mid-hour); a status page's bar (a bucket a day, then the hours
// of the last day); and the dashboard's windows (a year, 30 days, 7
// days, the last 24 hours an hour a bucket) ending mid-hour.
func dayGrids() [][]time.Time {
	end := day(dayCount)
	now := end.Add(-7*time.Hour + 17*time.Minute)
	grids := [][]time.Time{
		store.EvenBounds(day(0), end, dayCount),
		store.EvenBounds(day(0), end, dayCount/2),
		store.EvenBounds(day(0), end, 1),
		store.EvenBounds(day(0), end, dayCount*24),
		store.EvenBounds(day(-3), day(dayCount+1), dayCount+4),
		store.EvenBounds(day(0).Add(-36*time.Hour), end.Add(12*time.Hour), 3),
		store.EvenBounds(day(0).Add(5*time.Hour), end.Add(-7*time.Hour), 2),
		store.EvenBounds(minute(17), end.Add(-3*time.Minute), 2),
		store.EvenBounds(day(-90).Add(time.Hour), day(dayCount-1).Add(time.Hour), 90),
	}
	bar := []time.Time{}
	for i := -5; i < dayCount; i++ {
		bar = append(bar, day(i))
	}
	for h := day(dayCount - 1).Add(time.Hour); h.Before(now); h = h.Add(time.Hour) {
		bar = append(bar, h)
	}
	bar = append(bar, now)
	dashboard := []time.Time{now.Add(-365 * store.DaySpan), now.Add(-30 * store.DaySpan), now.Add(-7 * store.DaySpan), now.Add(-store.DaySpan)}
	for h := store.Hour(now.Add(-23 * time.Hour)); h.Before(now); h = h.Add(time.Hour) {
		dashboard = append(dashboard, h)
	}
	dashboard = append(dashboard, now)
	return append(grids, bar, dashboard)
}

// referenceBucketsAt is referenceBuckets over buckets of any widths.
func referenceBucketsAt(t *testing.T, rs []store.Result, bounds []time.Time) []store.Bucket {
	t.Helper()
	b, err := store.NewBucketerAt(bounds)
	if err != nil {
		t.Fatalf("NewBucketerAt: %v", err)
	}
	add, flush := store.MergeResults(func(c store.Check) error { b.Add(c); return nil })
	for _, r := range rs {
		add(r)
	}
	flush()
	return b.Buckets()
}

// expectDayBuckets compares, for each of hosts, its buckets of every
// dayGrids bounds with those its results make: from Buckets where the
// bounds are even, and from one BucketsAll of the hosts.
func expectDayBuckets(t *testing.T, s store.Store, hosts ...string) {
	t.Helper()
	results := map[string][]store.Result{}
	for _, h := range hosts {
		results[h] = allResults(t, s, h)
	}
	for _, bounds := range dayGrids() {
		start, end, n := bounds[0], bounds[len(bounds)-1], len(bounds)-1
		even := fmt.Sprint(store.EvenBounds(start, end, n)) == fmt.Sprint(bounds)
		what := fmt.Sprintf("[%s, %s) in %d", fmtTime(start), fmtTime(end), n)
		got := map[string][]store.Bucket{}
		for _, hb := range fleetBuckets(t, s, fleetGrid{what, store.BucketQuery{Hosts: hosts, Bounds: bounds}}) {
			got[hb.host] = hb.bs
		}
		for _, h := range hosts {
			want := referenceBucketsAt(t, results[h], bounds)
			if even {
				expectSlice(t, fmt.Sprintf("Buckets(%s, %s)", h, what), bucketsOf(t, s, h, start, end, n), want, sameBucket, fmtBucket)
			}
			expectSlice(t, fmt.Sprintf("BucketsAll(%s) of %s", what, h), got[h], want, sameBucket, fmtBucket)
		}
	}
}

// twoLocations is daysOfChecks of host with a second location
// (withSecondLocation).
func twoLocations(host string) []store.Result { return withSecondLocation(daysOfChecks(host, "")) }

func daysSummarised(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	save(t, s, append(daysOfChecks("a.test", ""), twoLocations("b.test")...), nil)
	expectDayBuckets(t, s, "a.test", "b.test")
	summarise(t, s, daysAfterAll())
	expectDayBuckets(t, s, "a.test", "b.test")
	summarise(t, s, daysAfterAll())
	expectDayBuckets(t, s, "a.test", "b.test")
}

// daysSummarisedAsRoundsGoOn stores the days six hours at a time, with a
// Summarise after each as of the time the hours end: summaries and
// rollups grow a part of a day at a time.
func daysSummarisedAsRoundsGoOn(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	rs := twoLocations("a.test")
	for from := 0; from < len(rs); {
		to := from
		cut := rs[from].Slot.Truncate(6 * time.Hour).Add(6 * time.Hour)
		for to < len(rs) && rs[to].Slot.Before(cut) {
			to++
		}
		save(t, s, rs[from:to], nil)
		summarise(t, s, cut)
		from = to
		if cut.Equal(day(2).Add(6 * time.Hour)) {
			expectDayBuckets(t, s, "a.test")
		}
	}
	expectDayBuckets(t, s, "a.test")
}

// openSummarisedDays opens a store holding a.test's dayCount days of
// checks at one location, summarised: where most cases start.
func openSummarisedDays(t *testing.T, open opener) store.Store {
	s := open(t)
	addHosts(t, s, "a.test")
	save(t, s, daysOfChecks("a.test", ""), nil)
	summarise(t, s, daysAfterAll())
	return s
}

func daysLateResults(t *testing.T, open opener) {
	s := openSummarisedDays(t, open)
	d1 := func(m int) time.Time { return day(1).Add(time.Duration(m) * time.Minute) }
	save(t, s, []store.Result{
		up("a.test", "eu", minute(0), ms(3)),                         // the first day: was down, now up
		up("a.test", "eu", d1(61), ms(1)),                            // a lower rtt
		up("a.test", "eu", d1(62), ms(900)),                          // a higher rtt: no change
		down("a.test", "eu", d1(63), ms(9), "refused"),               // a down beside an up: no change
		up("a.test", "", d1(119), ms(42)),                            // a missed slot filled
		inMaintenance(up("a.test", "eu", d1(64), ms(1))),             // the slot goes into maintenance
		down("a.test", "us", day(3).Add(23*time.Hour), ms(5), "x"),   // the last minute of the last day
		up("a.test", "", day(dayCount).Add(5*time.Minute), ms(7)),    // a new day, not summarised
		down("a.test", "", day(dayCount+1).Add(time.Minute), 0, "x"), // and another
	}, nil)
	expectDayBuckets(t, s, "a.test")
	summarise(t, s, daysAfterAll().Add(store.DaySpan))
	expectDayBuckets(t, s, "a.test")
}

func daysRestoreIntoSummarisedDays(t *testing.T, open opener) {
	s := openSummarisedDays(t, open)
	// The backup repeats the first day's results, adds another
	// location's in the second day, up with a lower rtt, and brings a
	// new host with its days.
	backup := daysOfChecks("a.test", "")[:24*12]
	for _, r := range daysOfChecks("a.test", "us") {
		if store.Day(r.Slot).Equal(day(1)) {
			backup = append(backup, up(r.Host, r.Location, r.Slot, ms(1)))
		}
	}
	backup = append(backup, twoLocations("c.test")...)
	if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"c.test"}, Results: emitAll(backup, nil)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	expectDayBuckets(t, s, "a.test", "c.test")
}

// daysRestoreIntoNewStore restores days into a new store (which may
// summarise them with the restore), then goes on as a store does.
func daysRestoreIntoNewStore(t *testing.T, open opener) {
	s := open(t)
	backup := append(daysOfChecks("a.test", ""), twoLocations("b.test")...)
	if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"a.test", "b.test"}, Results: emitAll(backup, nil)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	expectDayBuckets(t, s, "a.test", "b.test")
	summarise(t, s, daysAfterAll())
	expectDayBuckets(t, s, "a.test", "b.test")
	save(t, s, []store.Result{up("a.test", "eu", day(1).Add(7*time.Minute), ms(1))}, nil)
	expectDayBuckets(t, s, "a.test", "b.test")
}

// daysRetentionCutsADay deletes the results before a time in the middle
// of a day and an hour, then restores into what it cut.
func daysRetentionCutsADay(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	save(t, s, append(daysOfChecks("a.test", ""), twoLocations("b.test")...), nil)
	summarise(t, s, daysAfterAll())
	if _, err := s.DeleteResultsBefore(t.Context(), day(1).Add(5*time.Hour+25*time.Minute)); err != nil {
		t.Fatalf("DeleteResultsBefore: %v", err)
	}
	expectDayBuckets(t, s, "a.test", "b.test")
	summarise(t, s, daysAfterAll().Add(time.Hour))
	expectDayBuckets(t, s, "a.test", "b.test")
	if err := s.Restore(t.Context(), store.Restore{Results: emitAll(daysOfChecks("b.test", "")[:36*12], nil)}); err != nil {
		t.Fatalf("Restore into the day retention cut: %v", err)
	}
	expectDayBuckets(t, s, "a.test", "b.test")
	// Retention to a midnight.
	if _, err := s.DeleteResultsBefore(t.Context(), day(2)); err != nil {
		t.Fatalf("DeleteResultsBefore: %v", err)
	}
	expectDayBuckets(t, s, "a.test", "b.test")
}

func daysDeletedHost(t *testing.T, open opener) {
	s := openSummarisedDays(t, open)
	if err := s.DeleteHost(t.Context(), "a.test"); err != nil {
		t.Fatalf("DeleteHost: %v", err)
	}
	addHosts(t, s, "a.test")
	save(t, s, []store.Result{up("a.test", "", day(1).Add(90*time.Minute), ms(5))}, nil)
	expectDayBuckets(t, s, "a.test")
	summarise(t, s, daysAfterAll().Add(time.Hour))
	expectDayBuckets(t, s, "a.test")
}

// daysWithoutChecks has a host with checks on the first and last days
// only, and one with none.
func daysWithoutChecks(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	var rs []store.Result
	for _, r := range daysOfChecks("a.test", "") {
		if d := store.Day(r.Slot); d.Equal(day(0)) || d.Equal(day(dayCount-1)) {
			rs = append(rs, r)
		}
	}
	save(t, s, rs, nil)
	summarise(t, s, daysAfterAll())
	expectDayBuckets(t, s, "a.test", "b.test")
}
