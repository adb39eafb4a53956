package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// summarise runs the store's Summariser, if it has one, until it has
// summarised every hour that ended SummaryMargin before now.
func summarise(t *testing.T, s store.Store, now time.Time) {
	t.Helper()
	sm, ok := s.(store.Summariser)
	if !ok {
		return
	}
	for range 10000 {
		more, err := sm.Summarise(t.Context(), now)
		if err != nil {
			t.Fatalf("Summarise(%v): %v", now, err)
		}
		if !more {
			return
		}
	}
	t.Fatalf("Summarise(%v) still had more to do after 10000 calls", now)
}

// hourBase is the first hour of the summaries' tests: their results span
// the hours from it on.
var hourBase = time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)

// minute is the slot i minutes after hourBase.
func minute(i int) time.Time { return hourBase.Add(time.Duration(i) * time.Minute) }

// expectBucketsOfEveryGrid compares the store's buckets of host with
// buckets computed from its results, over ranges and bucket counts that
// make buckets of whole hours (what a chart asks for), and others that cut
// hours anywhere.
func expectBucketsOfEveryGrid(t *testing.T, s store.Store, host string, first, end time.Time) {
	t.Helper()
	rs := allResults(t, s, host)
	h0, h1 := store.Hour(first), store.Hour(end).Add(store.SummarySpan)
	hours := int(h1.Sub(h0) / store.SummarySpan)
	type grid struct {
		start, end time.Time
		n          int
	}
	grids := []grid{
		{h0, h1, hours},                 // an hour a bucket
		{h0, h1, (hours + 1) / 2},       // two hours a bucket
		{h0, h1, 1},                     // everything in one
		{h0.Add(-3 * time.Hour), h1, 2}, // hours without checks at first
		{first, end, 1},                 // cut inside hours
		{first.Add(17 * time.Minute), end.Add(-3 * time.Minute), 3},
		{first.Add(17 * time.Minute), end.Add(-3 * time.Minute), 7},
		{first.Add(30 * time.Minute), first.Add(30*time.Minute + time.Duration(hours)*time.Hour), hours}, // an hour wide, across hours
		{first, end, 50},
		{first, end, 1000},
	}
	for _, g := range grids {
		what := fmt.Sprintf("Buckets(%s, [%s, %s), %d)", host, fmtTime(g.start), fmtTime(g.end), g.n)
		expectSlice(t, what, bucketsOf(t, s, host, g.start, g.end, g.n), referenceBuckets(rs, g.start, g.end, g.n), sameBucket, fmtBucket)
	}
}

// hoursOfChecks is results of host, one a minute for hours hours from
// hourBase, with ups, downs and rtts that vary, and a maintenance window
// (minutes 20 to 34 of every fourth hour, from the third) and a stray
// result in maintenance now and then (every 47th): hours without one,
// hours with a few.
func hoursOfChecks(host, loc string, hours int) []store.Result {
	var rs []store.Result
	for i := range hours * 60 {
		if i%60 == 59 && i/60%3 == 1 {
			continue // a missed slot now and then
		}
		var r store.Result
		if i%11 == 0 {
			r = down(host, loc, minute(i), ms(1000+i%7), "timeout")
		} else {
			r = up(host, loc, minute(i), ms(1+i%97))
		}
		r.Maintenance = (i/60%4 == 2 && i%60 >= 20 && i%60 < 35) || i%47 == 0
		rs = append(rs, r)
	}
	return rs
}

// withSecondLocation returns rs (one location's) with a result of a
// second location, "eu", beside each of rs's in the odd hours: up where
// rs's is down now and then, with other rtts, and in maintenance where
// rs's is not now and then (the merged check is then in maintenance).
func withSecondLocation(rs []store.Result) []store.Result {
	var out []store.Result
	for _, r := range rs {
		out = append(out, r)
		if r.Slot.Hour()%2 == 1 {
			other := r
			other.Location, other.Up, other.RTT = "eu", r.Slot.Minute()%3 != 0, r.RTT/2+ms(r.Slot.Minute()%5)
			other.Maintenance = r.Slot.Minute()%13 == 5
			out = append(out, other)
		}
	}
	return out
}

// summaryHours is how many hours of checks testSummaries stores.
const summaryHours = 10

// summariesAfterAll is long after every result testSummaries stores.
func summariesAfterAll() time.Time { return minute(summaryHours*60 + 24*60) }

func testSummaries(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"BucketsFromSummaries", summariesBucketsFromSummaries},
		{"SummariesAsRoundsGoOn", summariesAsRoundsGoOn},
		{"LateResultsIntoSummarisedHours", summariesLateResultsIntoSummarisedHours},
		{"RestoreIntoSummarisedHours", summariesRestoreIntoSummarisedHours},
		{"RestoreIntoNewStore", summariesRestoreIntoNewStore},
		{"RestoreIntoHistoryNeverSummarised", summariesRestoreIntoHistoryNeverSummarised},
		{"RetentionCutsAnHour", summariesRetentionCutsAnHour},
		{"DeletedHostLeavesNoSummaries", summariesDeletedHostLeavesNoSummaries},
		{"HoursWithoutChecks", summariesHoursWithoutChecks},
		{"LocatedWithoutMaintenance", summariesLocatedWithoutMaintenance},
	})
}

// summariesLocatedWithoutMaintenance stores a host's results from two
// locations, none in maintenance (a store may count such spans apart
// from those with maintenance, as PostgreSQL's does from its index
// alone), one of which is down where the other is up now and then, and
// compares the buckets with its results' before and after Summarise.
func summariesLocatedWithoutMaintenance(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	var rs []store.Result
	for _, loc := range []string{"eu", "us"} {
		for i, r := range hoursOfChecks("a.test", loc, 3) {
			r.Maintenance = false
			if loc == "us" && i%7 == 0 {
				r.Up, r.Reason, r.RTT = !r.Up, "flipped", ms(2+i%5)
			}
			rs = append(rs, r)
		}
	}
	save(t, s, rs, nil)
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(3*60))
	summarise(t, s, minute(2*60+10))
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(3*60))
}

func summariesBucketsFromSummaries(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	rs := hoursOfChecks("a.test", "", summaryHours)
	// b.test has a second location, which merges, in the odd summaryHours.
	rs = append(rs, withSecondLocation(hoursOfChecks("b.test", "", summaryHours))...)
	save(t, s, rs, nil)
	summarise(t, s, summariesAfterAll())
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(summaryHours*60))
	expectBucketsOfEveryGrid(t, s, "b.test", minute(0), minute(summaryHours*60))
	// Summarising again changes nothing.
	summarise(t, s, summariesAfterAll())
	expectBucketsOfEveryGrid(t, s, "b.test", minute(0), minute(summaryHours*60))
}

func summariesAsRoundsGoOn(t *testing.T, open opener) {
	// Rounds store a slot at a time, and Summarise runs after each,
	// with the round's time as now.
	s := open(t)
	addHosts(t, s, "a.test")
	for _, r := range hoursOfChecks("a.test", "", 4) {
		save(t, s, []store.Result{r}, nil)
		if r.Slot.Minute()%20 == 0 {
			summarise(t, s, r.Slot)
		}
	}
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(4*60))
}

func summariesLateResultsIntoSummarisedHours(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	save(t, s, hoursOfChecks("a.test", "", summaryHours), nil)
	summarise(t, s, summariesAfterAll())
	late := []store.Result{
		up("a.test", "eu", minute(0), ms(3)),                             // was down: now up
		up("a.test", "eu", minute(61), ms(1)),                            // lower rtt
		up("a.test", "eu", minute(62), ms(500)),                          // higher rtt: no change
		down("a.test", "eu", minute(63), ms(9), "refused"),               // a down beside an up: no change
		up("a.test", "", minute(119), ms(42)),                            // a missed slot filled
		down("a.test", "eu", minute(66), ms(2), "refused"),               // was down too: the lower rtt is not counted
		up("a.test", "", minute(summaryHours*60+5), ms(7)),               // a new hour, not summarised
		inMaintenance(up("a.test", "eu", minute(64), ms(1))),             // the slot goes into maintenance
		inMaintenance(down("a.test", "", minute(299), ms(5), "refused")), // a missed slot filled, in maintenance
	}
	save(t, s, late, nil)
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(summaryHours*60+6))
	summarise(t, s, summariesAfterAll().Add(time.Hour))
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(summaryHours*60+6))
}

func summariesRestoreIntoSummarisedHours(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	save(t, s, hoursOfChecks("a.test", "", summaryHours), nil)
	summarise(t, s, summariesAfterAll())
	// The backup repeats stored results, adds another location's, up
	// with a lower rtt at every slot, and brings a new host with its
	// own history.
	backup := hoursOfChecks("a.test", "", 2)
	for _, r := range hoursOfChecks("a.test", "us", 3) {
		backup = append(backup, up(r.Host, r.Location, r.Slot, ms(1)))
	}
	backup = append(backup, hoursOfChecks("c.test", "", summaryHours)...)
	if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"c.test"}, Results: emitAll(backup, nil)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(summaryHours*60))
	expectBucketsOfEveryGrid(t, s, "c.test", minute(0), minute(summaryHours*60))
}

// summariesRestoreIntoNewStore restores into a new store, then goes on as
// a store does, Buckets equal to the results' at every step: late
// results and another location's in restored hours, restores again over
// what is stored (and a new host), Summarise, retention cutting an hour,
// and a restore into the hours it cut.
func summariesRestoreIntoNewStore(t *testing.T, open opener) {
	s := open(t)
	// b.test's backup has a second location, out of order (its hours from
	// the last to the first), and repeats some results.
	backup := hoursOfChecks("a.test", "", summaryHours)
	var b []store.Result
	for _, r := range hoursOfChecks("b.test", "", summaryHours) {
		b = append(b, r)
		if r.Slot.Minute()%2 == 0 {
			b = append(b, down(r.Host, "eu", r.Slot, r.RTT/2, "refused"))
		}
		if r.Slot.Minute()%7 == 0 {
			b = append(b, r)
		}
	}
	for h := summaryHours - 1; h >= 0; h-- {
		for _, r := range b {
			if int(r.Slot.Sub(hourBase)/time.Hour) == h {
				backup = append(backup, r)
			}
		}
	}
	if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"a.test", "b.test"}, Results: emitAll(backup, nil)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	end := minute(summaryHours * 60)
	expectAll := func(when string, hosts ...string) {
		t.Helper()
		for _, h := range hosts {
			t.Run(when+"/"+h, func(t *testing.T) { expectBucketsOfEveryGrid(t, s, h, minute(0), end) })
		}
	}
	expectAll("AfterRestore", "a.test", "b.test")

	save(t, s, []store.Result{
		up("a.test", "eu", minute(0), ms(3)),                // was down: now up
		up("a.test", "eu", minute(61), ms(1)),               // lower rtt
		up("a.test", "", minute(119), ms(42)),               // a missed slot filled
		down("b.test", "us", minute(125), ms(9), "refused"), // a third location
	}, nil)
	expectAll("AfterLateResults", "a.test", "b.test")

	// Again over what is stored: a.test's first hours, and another
	// location up with a lower rtt; a new host.
	again := hoursOfChecks("a.test", "", 2)
	for _, r := range hoursOfChecks("a.test", "us", 3) {
		again = append(again, up(r.Host, r.Location, r.Slot, ms(1)))
	}
	again = append(again, hoursOfChecks("c.test", "", 4)...)
	if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"c.test"}, Results: emitAll(again, nil)}); err != nil {
		t.Fatalf("Restore again: %v", err)
	}
	expectAll("AfterRestoreAgain", "a.test", "b.test", "c.test")

	summarise(t, s, summariesAfterAll())
	expectAll("AfterSummarise", "a.test", "b.test", "c.test")

	if _, err := s.DeleteResultsBefore(t.Context(), minute(3*60+25)); err != nil {
		t.Fatalf("DeleteResultsBefore: %v", err)
	}
	expectAll("AfterRetention", "a.test", "b.test", "c.test")

	if err := s.Restore(t.Context(), store.Restore{Results: emitAll(hoursOfChecks("b.test", "", 5), nil)}); err != nil {
		t.Fatalf("Restore into the hours retention cut: %v", err)
	}
	expectAll("AfterRestoreIntoTheCut", "a.test", "b.test", "c.test")
}

// summariesRestoreIntoHistoryNeverSummarised restores into hosts whose
// history Summarise never ran on.
func summariesRestoreIntoHistoryNeverSummarised(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	save(t, s, hoursOfChecks("a.test", "", summaryHours), nil)
	backup := hoursOfChecks("a.test", "eu", 3)
	backup = append(backup, hoursOfChecks("b.test", "", summaryHours)...)
	if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"b.test"}, Results: emitAll(backup, nil)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for _, h := range []string{"a.test", "b.test"} {
		expectBucketsOfEveryGrid(t, s, h, minute(0), minute(summaryHours*60))
	}
	summarise(t, s, summariesAfterAll())
	for _, h := range []string{"a.test", "b.test"} {
		expectBucketsOfEveryGrid(t, s, h, minute(0), minute(summaryHours*60))
	}
}

func summariesRetentionCutsAnHour(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	save(t, s, hoursOfChecks("a.test", "", summaryHours), nil)
	summarise(t, s, summariesAfterAll())
	if _, err := s.DeleteResultsBefore(t.Context(), minute(3*60+25)); err != nil {
		t.Fatalf("DeleteResultsBefore: %v", err)
	}
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(summaryHours*60))
	summarise(t, s, summariesAfterAll().Add(time.Hour))
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(summaryHours*60))
}

func summariesDeletedHostLeavesNoSummaries(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	save(t, s, hoursOfChecks("a.test", "", summaryHours), nil)
	summarise(t, s, summariesAfterAll())
	if err := s.DeleteHost(t.Context(), "a.test"); err != nil {
		t.Fatalf("DeleteHost: %v", err)
	}
	addHosts(t, s, "a.test")
	save(t, s, []store.Result{up("a.test", "", minute(90), ms(5))}, nil)
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(summaryHours*60))
}

func summariesHoursWithoutChecks(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	var rs []store.Result
	for _, r := range hoursOfChecks("a.test", "", 30) {
		if h := r.Slot.Sub(hourBase) / time.Hour; h < 5 || h >= 20 {
			rs = append(rs, r) // fifteen summaryHours without a check in the middle
		}
	}
	save(t, s, rs, nil)
	summarise(t, s, summariesAfterAll().Add(30*time.Hour))
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(30*60))
	expectBucketsOfEveryGrid(t, s, "b.test", minute(0), minute(30*60)) // no check at all
}

// SummariesAreRead checks that a Summariser's Buckets reads its summaries:
// it stores three hours of results of host "a.test", all up, summarises
// them, lets markDown mark every stored result of the host down behind the
// store's back, and expects buckets of whole hours to count the results up
// still (from the summaries) and buckets narrower than an hour to count
// them down (from the results).
func SummariesAreRead(t *testing.T, s store.Store, markDown func(t *testing.T)) {
	t.Helper()
	if _, ok := s.(store.Summariser); !ok {
		t.Fatalf("%T is not a store.Summariser", s)
	}
	addHosts(t, s, "a.test")
	var rs []store.Result
	for i := range 3 * 60 {
		rs = append(rs, up("a.test", "", minute(i), ms(1+i%7)))
	}
	save(t, s, rs, nil)
	summarise(t, s, minute(4*60+60))
	markDown(t)
	whole := bucketsOf(t, s, "a.test", minute(0), minute(3*60), 3)
	for i, b := range whole {
		if b.Up != 60 || b.Down != 0 {
			t.Errorf("bucket %d of whole hours = %s, want 60 up from the summary", i, fmtBucket(b))
		}
	}
	narrow := bucketsOf(t, s, "a.test", minute(0), minute(3*60), 6)
	for i, b := range narrow {
		if b.Up != 0 || b.Down != 30 {
			t.Errorf("bucket %d of half hours = %s, want 30 down from the results", i, fmtBucket(b))
		}
	}
}

// RestoredSummariesAreRead checks that a Summariser's restore into a new
// store leaves the hours it brings summarised, so that the first chart
// reads summaries: it restores three hours of results of host "a.test",
// all up (long before now), lets markDown mark every stored result of the
// host down behind the store's back, and expects buckets of whole hours
// to count the results up still (from the summaries), without Summarise
// having run, and buckets narrower than an hour to count them down.
func RestoredSummariesAreRead(t *testing.T, s store.Store, markDown func(t *testing.T)) {
	t.Helper()
	if _, ok := s.(store.Summariser); !ok {
		t.Fatalf("%T is not a store.Summariser", s)
	}
	var rs []store.Result
	for i := range 3 * 60 {
		rs = append(rs, up("a.test", "", minute(i), ms(1+i%7)))
	}
	if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"a.test"}, Results: emitAll(rs, nil)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	markDown(t)
	whole := bucketsOf(t, s, "a.test", minute(0), minute(3*60), 3)
	for i, b := range whole {
		if b.Up != 60 || b.Down != 0 {
			t.Errorf("bucket %d of whole hours = %s, want 60 up from the summary", i, fmtBucket(b))
		}
	}
	narrow := bucketsOf(t, s, "a.test", minute(0), minute(3*60), 6)
	for i, b := range narrow {
		if b.Up != 0 || b.Down != 30 {
			t.Errorf("bucket %d of half hours = %s, want 30 down from the results", i, fmtBucket(b))
		}
	}
}
