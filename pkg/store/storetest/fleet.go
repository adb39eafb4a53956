package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// testFleet checks a backend's store.FleetReader against store.FleetByHost,
// the per-host reads that the other groups check: the same hosts, in the
// same order, with the same answers.
func testFleet(t *testing.T, open opener) {
	t.Run("SameAsByHost", func(t *testing.T) { fleetSameAsByHost(t, open) })
	t.Run("Empty", func(t *testing.T) { fleetEmpty(t, open) })
	t.Run("CallbackErrorStops", func(t *testing.T) { fleetCallbackErrorStops(t, open) })
	t.Run("CancelledContextStops", func(t *testing.T) { fleetCancelledContextStops(t, open) })
	t.Run("BoundsMustAscend", func(t *testing.T) { fleetBoundsMustAscend(t, open) })
}

func fleetBoundsMustAscend(t *testing.T, open opener) {
	s := open(t)
	fleetData(t, s)
	for _, bounds := range [][]time.Time{
		{hourBase.Add(time.Hour), hourBase},
		{hourBase, hourBase.Add(time.Hour), hourBase.Add(time.Hour)},
	} {
		err := s.BucketsAll(t.Context(), store.BucketQuery{Bounds: bounds}, func(string, []store.Bucket) error {
			t.Error("BucketsAll called fn with bounds that do not ascend")
			return nil
		})
		if err == nil {
			t.Errorf("BucketsAll(%v): no error for bounds that do not ascend", bounds)
		}
	}
}

// fleetHosts are the hosts fleetData stores, not in lexical order.
var fleetHosts = []string{"d.test", "a.test", "https://b.test/x", "c.test", "e.test", "b.test"}

// fleetData stores the fleet the group reads: a.test an hour a minute for
// fleetHours hours, from one location, with maintenance marks and missed
// slots; b.test the same from two locations, one of which saw it down at
// times; c.test nothing at all; d.test only results that arrive late,
// into hours already summarised, and one in the newest hour; e.test a few
// results, one of each kind, in the newest hours; https://b.test/x one
// result in maintenance. The hours before the last two are summarised
// (when the store summarises), then late results come.
func fleetData(t *testing.T, s store.Store) {
	t.Helper()
	addHosts(t, s, fleetHosts...)
	var rs []store.Result
	rs = append(rs, hoursOfChecks("a.test", "", fleetHours)...)
	rs = append(rs, hoursOfChecks("b.test", "eu", fleetHours)...)
	for i, r := range hoursOfChecks("b.test", "us", fleetHours) {
		if i%5 == 0 {
			continue // a gap of us's
		}
		if i%9 == 0 {
			r.Up, r.Reason, r.RTT = false, "refused", ms(3)
		}
		rs = append(rs, r)
	}
	// Rounds of a slot each, oldest first, as a checker stores them.
	slices.SortStableFunc(rs, func(a, b store.Result) int { return a.Slot.Compare(b.Slot) })
	for len(rs) > 0 {
		n := 1
		for n < len(rs) && rs[n].Slot.Equal(rs[0].Slot) {
			n++
		}
		save(t, s, rs[:n], nil)
		rs = rs[n:]
	}
	summarise(t, s, minute((fleetHours-2)*60+10))
	// Late results: into summarised hours, and into the newest one.
	save(t, s, []store.Result{
		up("d.test", "", minute(65), ms(12)),
		down("d.test", "", minute(66), ms(40), "timeout"),
		inMaintenance(up("d.test", "", minute(67), ms(5))),
		up("d.test", "", minute(fleetHours*60-1), ms(9)),
		up("b.test", "late", minute(125), ms(1)),
		down("a.test", "late", minute(61), ms(2), "late and down"),
	}, nil)
	save(t, s, []store.Result{
		up("e.test", "", minute(fleetHours*60-90), ms(7)),
		down("e.test", "x", minute(fleetHours*60-90), ms(70), "reset"),
		inMaintenance(down("e.test", "", minute(fleetHours*60-30), ms(8), "in a window")),
		inMaintenance(up("https://b.test/x", "", minute(fleetHours*60-30), ms(8))),
	}, nil)
}

// fleetHours is how many hours of checks fleetData stores.
const fleetHours = 6

// fleetGrid is one read of the group: a query and what it is.
type fleetGrid struct {
	what string
	q    store.BucketQuery
}

// fleetGrids are the reads the group makes. Even buckets (EvenBounds):
// whole hours and not, n = 1 (uptime), 24 (a sparkline) and 90 (a status
// page's bars), bucket widths below an hour, of an hour, of hours and of
// days. Uneven ones: the dashboard's windows ending where its hourly
// sparkline does, and edges in mid-hour. And some hosts only: a page's,
// with a repeat, one not stored and one without checks, and none.
func fleetGrids() []fleetGrid {
	h0, h1 := hourBase, hourBase.Add(fleetHours*store.SummarySpan)
	var grids []fleetGrid
	for _, g := range []struct {
		start, end time.Time
		n          int
	}{
		{h0, h1, 1},
		{h0, h1, fleetHours},
		{h1.Add(-24 * time.Hour), h1, 24},
		{h1.Add(-24 * time.Hour), h1, 1},
		{h1.Add(-7 * 24 * time.Hour), h1, 1},
		{h1.Add(-90 * 24 * time.Hour), h1, 90},
		{h0.Add(-time.Hour), h0.Add(89 * time.Hour), 90},
		{minute(17), minute(fleetHours*60 - 3), 1},
		{minute(17), minute(fleetHours*60 - 3), 3},
		{minute(17), minute(fleetHours*60 - 3), 24},
		{minute(17), minute(17).Add(24 * time.Hour), 24},
		{minute(30), minute(30 + fleetHours*60), fleetHours},
		{minute(17), minute(fleetHours*60 - 3), 90},
		{h0, h1, 1000},
		{h1, h0, 5},  // an empty range
		{h0, h1, 0},  // no bucket
		{h1, h1, 24}, // an empty range
	} {
		grids = append(grids, fleetGrid{
			fmt.Sprintf("[%s, %s) in %d", fmtTime(g.start), fmtTime(g.end), g.n),
			store.BucketQuery{Bounds: store.EvenBounds(g.start, g.end, g.n)},
		})
	}
	dashboard := []time.Time{h1.Add(-365 * 24 * time.Hour), h1.Add(-30 * 24 * time.Hour), h1.Add(-7 * 24 * time.Hour), h1.Add(-24 * time.Hour)}
	for h := h0.Add(-time.Hour); h.Before(h1); h = h.Add(time.Hour) {
		dashboard = append(dashboard, h)
	}
	dashboard = append(dashboard, minute(fleetHours*60-3))
	midHour := []time.Time{minute(17), minute(70), h0.Add(3 * time.Hour), minute(3*60 + 1), minute(fleetHours*60 - 3)}
	grids = append(grids,
		fleetGrid{"the dashboard's windows and hours", store.BucketQuery{Bounds: dashboard}},
		fleetGrid{"uneven buckets in mid-hour", store.BucketQuery{Bounds: midHour}},
		fleetGrid{"some hosts", store.BucketQuery{
			Hosts:  []string{"e.test", "b.test", "not-stored.test", "c.test", "b.test"},
			Bounds: dashboard,
		}},
		fleetGrid{"one host, even", store.BucketQuery{Hosts: []string{"d.test"}, Bounds: store.EvenBounds(h0, h1, fleetHours)}},
		fleetGrid{"no host", store.BucketQuery{Hosts: []string{}, Bounds: midHour}},
	)
	return grids
}

// hostChecks and hostBuckets are what a fleet read gave for one host.
type hostChecks struct {
	host  string
	check store.Check
}

type hostBuckets struct {
	host string
	bs   []store.Bucket
}

// fleetLastChecks collects r.LastChecks.
func fleetLastChecks(t *testing.T, r store.FleetReader) []hostChecks {
	t.Helper()
	var got []hostChecks
	err := r.LastChecks(t.Context(), func(host string, c store.Check) error {
		got = append(got, hostChecks{host, c})
		return nil
	})
	if err != nil {
		t.Fatalf("LastChecks: %v", err)
	}
	return got
}

// fleetBuckets collects r.BucketsAll, copying each host's buckets.
func fleetBuckets(t *testing.T, r store.FleetReader, g fleetGrid) []hostBuckets {
	t.Helper()
	got := []hostBuckets{}
	err := r.BucketsAll(t.Context(), g.q, func(host string, bs []store.Bucket) error {
		got = append(got, hostBuckets{host, slices.Clone(bs)})
		return nil
	})
	if err != nil {
		t.Fatalf("BucketsAll(%s): %v", g.what, err)
	}
	return got
}

func fmtHostChecks(h hostChecks) string { return h.host + " " + fmtCheck(h.check) }

func sameHostChecks(a, b hostChecks) bool { return a.host == b.host && sameCheck(a.check, b.check) }

func fmtHostBuckets(h hostBuckets) string {
	s := h.host + ":"
	for _, b := range h.bs {
		s += "\n\t\t" + fmtBucket(b)
	}
	return s
}

func sameHostBuckets(a, b hostBuckets) bool {
	return a.host == b.host && slices.EqualFunc(a.bs, b.bs, sameBucket)
}

// expectByHost fails unless hosts are in strictly increasing byte order.
func expectByHost(t *testing.T, what string, hosts []string) {
	t.Helper()
	for i := 1; i < len(hosts); i++ {
		if hosts[i-1] >= hosts[i] {
			t.Errorf("%s: %q before %q: not by host", what, hosts[i-1], hosts[i])
		}
	}
}

func fleetSameAsByHost(t *testing.T, open opener) {
	s := open(t)
	fleetData(t, s)
	ref := store.FleetByHost{R: s}
	check := func(t *testing.T) {
		t.Helper()
		got := fleetLastChecks(t, s)
		expectSlice(t, "LastChecks", got, fleetLastChecks(t, ref), sameHostChecks, fmtHostChecks)
		var hosts []string
		for _, h := range got {
			hosts = append(hosts, h.host)
		}
		expectByHost(t, "LastChecks", hosts)
		if slices.Contains(hosts, "c.test") {
			t.Errorf("LastChecks: c.test, which has no check, is there")
		}
		stored := hostsOf(t, s)
		for _, g := range fleetGrids() {
			what := "BucketsAll(" + g.what + ")"
			got := fleetBuckets(t, s, g)
			expectSlice(t, what, got, fleetBuckets(t, ref, g), sameHostBuckets, fmtHostBuckets)
			hosts = hosts[:0]
			for _, h := range got {
				hosts = append(hosts, h.host)
				if n := len(g.q.Bounds) - 1; len(h.bs) != max(n, 0) {
					t.Errorf("%s: %s has %d buckets, want %d", what, h.host, len(h.bs), max(n, 0))
				}
			}
			expectByHost(t, what, hosts)
			want := stored
			if g.q.Hosts != nil {
				want = slices.DeleteFunc(g.q.SortedHosts(), func(h string) bool { return !slices.Contains(stored, h) })
			}
			if !slices.Equal(hosts, want) {
				t.Errorf("%s: hosts %q, want %q", what, hosts, want)
			}
		}
	}
	t.Run("AsStored", check)
	// Everything summarised, but for the newest hour.
	summarise(t, s, minute(fleetHours*60+10))
	t.Run("Summarised", check)
	// The LastCheck answers cached by a per-host read first.
	for _, h := range fleetHosts {
		if _, _, err := s.LastCheck(t.Context(), h); err != nil {
			t.Fatalf("LastCheck(%q): %v", h, err)
		}
	}
	t.Run("AfterLastCheck", check)
	// A host deleted, a new round.
	if err := s.DeleteHost(t.Context(), "a.test"); err != nil {
		t.Fatalf("DeleteHost: %v", err)
	}
	save(t, s, []store.Result{up("d.test", "", minute(fleetHours*60+5), ms(3)), up("b.test", "eu", minute(fleetHours*60+5), ms(4))}, nil)
	t.Run("AfterDeleteAndRound", check)
}

func fleetEmpty(t *testing.T, open opener) {
	s := open(t)
	if got := fleetLastChecks(t, s); len(got) != 0 {
		t.Errorf("LastChecks of an empty store: %v", got)
	}
	if got := fleetBuckets(t, s, fleetGrids()[2]); len(got) != 0 {
		t.Errorf("BucketsAll of an empty store: %v", got)
	}
}

func fleetCallbackErrorStops(t *testing.T, open opener) {
	s := open(t)
	fleetData(t, s)
	calls := 0
	stopSecond := func(string) error {
		if calls++; calls == 2 {
			return errStop
		}
		return nil
	}
	err := s.LastChecks(t.Context(), func(h string, _ store.Check) error { return stopSecond(h) })
	if !errors.Is(err, errStop) || calls != 2 {
		t.Errorf("LastChecks with fn failing at the second host: %v after %d calls, want errStop after 2", err, calls)
	}
	for _, g := range fleetGrids()[:3] {
		calls = 0
		err := s.BucketsAll(t.Context(), g.q, func(h string, _ []store.Bucket) error { return stopSecond(h) })
		if !errors.Is(err, errStop) || calls != 2 {
			t.Errorf("BucketsAll(%s) with fn failing at the second host: %v after %d calls, want errStop after 2", g.what, err, calls)
		}
	}
}

func fleetCancelledContextStops(t *testing.T, open opener) {
	s := open(t)
	fleetData(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	err := s.LastChecks(ctx, func(string, store.Check) error { calls++; cancel(); return nil })
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("LastChecks cancelled at the first host: %v after %d calls, want context.Canceled after 1", err, calls)
	}
	for _, g := range fleetGrids()[:3] {
		ctx, cancel := context.WithCancel(t.Context())
		calls = 0
		err := s.BucketsAll(ctx, g.q, func(string, []store.Bucket) error { calls++; cancel(); return nil })
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Errorf("BucketsAll(%s) cancelled at the first host: %v after %d calls, want context.Canceled after 1", g.what, err, calls)
		}
		cancel()
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if err := s.LastChecks(ctx, func(string, store.Check) error { t.Error("LastChecks called fn with a cancelled context"); return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("LastChecks with a cancelled context: %v, want context.Canceled", err)
	}
	if err := s.BucketsAll(ctx, fleetGrids()[0].q, func(string, []store.Bucket) error {
		t.Error("BucketsAll called fn with a cancelled context")
		return nil
	}); !errors.Is(err, context.Canceled) {
		t.Errorf("BucketsAll with a cancelled context: %v, want context.Canceled", err)
	}
}
