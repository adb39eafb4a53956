package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// testMaintenance covers issue 12's maintenance: results marked as in
// maintenance, through every write and read, and the windows.
func testMaintenance(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"MarksThroughSaveRoundAndReads", maintenanceMarksThroughSaveRoundAndReads},
		{"AnyLocationMakesTheCheck", maintenanceAnyLocationMakesTheCheck},
		{"RecordPush", maintenanceRecordPush},
		{"LastCheck", maintenanceLastCheck},
		{"BucketsLeaveMaintenanceOut", maintenanceBucketsLeaveMaintenanceOut},
		{"RestoreKeepsMarks", maintenanceRestoreKeepsMarks},
		{"DeleteResultsBefore", maintenanceDeleteResultsBefore},
		{"WindowsCRUD", maintenanceWindowsCRUD},
		{"WindowsRoundTrip", maintenanceWindowsRoundTrip},
		{"WindowsRestore", maintenanceWindowsRestore},
		{"WindowsRestoreRollsBack", maintenanceWindowsRestoreRollsBack},
		{"WindowsSnapshot", maintenanceWindowsSnapshot},
	})
}

func maintenanceMarksThroughSaveRoundAndReads(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	rs := []store.Result{
		up("a.test", "", slot(0), ms(5)),
		inMaintenance(up("a.test", "", slot(1), ms(6))),
		inMaintenance(down("a.test", "", slot(2), ms(7), "refused")),
		down("a.test", "", slot(3), ms(8), "timeout"),
	}
	save(t, s, rs, nil)
	// Saving again changes nothing, whatever the mark: the first one wins.
	again := []store.Result{inMaintenance(rs[0]), rs[1]}
	again[1].Maintenance = false
	save(t, s, again, nil)
	expectResults(t, "Results", allResults(t, s, "a.test"), rs)
	expectChecks(t, "Checks", checksOf(t, s, "a.test", farPast, farFuture), []store.Check{
		{Time: slot(0), RTT: ms(5), Up: true},
		{Time: slot(1), RTT: ms(6), Up: true, Maintenance: true},
		{Time: slot(2), RTT: ms(7), Error: "refused", Maintenance: true},
		{Time: slot(3), RTT: ms(8), Error: "timeout"},
	})
	expectResults(t, "Results of a range", resultsOf(t, s, "a.test", slot(1), slot(3)), rs[1:3])
}

func maintenanceAnyLocationMakesTheCheck(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	rs := []store.Result{
		// Only the second location was in maintenance.
		down("a.test", "", slot(0), ms(9), "timeout"), inMaintenance(up("a.test", "eu", slot(0), ms(4))),
		// Only the first.
		inMaintenance(up("a.test", "", slot(1), ms(3))), down("a.test", "eu", slot(1), ms(2), "refused"),
		// Neither.
		up("a.test", "", slot(2), ms(3)), up("a.test", "eu", slot(2), ms(2)),
		// Both.
		inMaintenance(down("a.test", "", slot(3), ms(3), "x")), inMaintenance(down("a.test", "eu", slot(3), ms(2), "y")),
	}
	save(t, s, rs, nil)
	expectResults(t, "Results", allResults(t, s, "a.test"), rs)
	expectChecks(t, "Checks", checksOf(t, s, "a.test", farPast, farFuture), []store.Check{
		{Time: slot(0), RTT: ms(4), Up: true, Maintenance: true},
		{Time: slot(1), RTT: ms(3), Up: true, Maintenance: true},
		{Time: slot(2), RTT: ms(2), Up: true},
		{Time: slot(3), RTT: ms(2), Error: "x", Maintenance: true},
	})
}

func maintenanceRecordPush(t *testing.T, open opener) {
	s := open(t)
	putMonitor(t, s, monitor.Monitor{Host: "push://job", Settings: monitor.Settings{PushToken: tokenA}})
	r := inMaintenance(down("", "", slot(0), ms(1), "disk full"))
	if _, err := s.RecordPush(t.Context(), tokenA, slot(0), r, nil); err != nil {
		t.Fatalf("RecordPush: %v", err)
	}
	r.Host = "push://job"
	expectResults(t, "Results", allResults(t, s, "push://job"), []store.Result{r})
}

func maintenanceLastCheck(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	expectLast := func(what string, want store.Check) {
		t.Helper()
		// Twice: a backend may answer the second from a cache.
		for range 2 {
			got, ok, err := s.LastCheck(t.Context(), "a.test")
			if err != nil || !ok || !sameCheck(got, want) {
				t.Errorf("%s: LastCheck = %s, %v, %v; want %s", what, fmtCheck(got), ok, err, fmtCheck(want))
			}
		}
	}
	save(t, s, []store.Result{inMaintenance(up("a.test", "", slot(0), ms(5)))}, nil)
	expectLast("one result in maintenance", store.Check{Time: slot(0), RTT: ms(5), Up: true, Maintenance: true})
	save(t, s, []store.Result{up("a.test", "", slot(1), ms(6))}, nil)
	expectLast("a newer one not", store.Check{Time: slot(1), RTT: ms(6), Up: true})
	save(t, s, []store.Result{inMaintenance(down("a.test", "eu", slot(1), ms(2), "refused"))}, nil)
	expectLast("another location's, in maintenance", store.Check{Time: slot(1), RTT: ms(6), Up: true, Maintenance: true})
}

func maintenanceBucketsLeaveMaintenanceOut(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	rs := []store.Result{
		// Bucket 0: up and down, one of each in maintenance.
		up("a.test", "", slot(0), ms(10)), inMaintenance(up("a.test", "", slot(1), ms(1))),
		down("a.test", "", slot(2), ms(5), "x"), inMaintenance(down("a.test", "", slot(3), ms(5), "x")),
		// Bucket 1: only checks in maintenance (not unknown).
		inMaintenance(up("a.test", "", slot(4), ms(2))), inMaintenance(down("a.test", "", slot(5), ms(2), "x")),
		// Bucket 2: merged: eu's maintenance makes the slot's check in
		// maintenance, and its rtt is left out.
		up("a.test", "", slot(8), ms(20)), inMaintenance(up("a.test", "eu", slot(8), ms(1))),
		up("a.test", "", slot(9), ms(30)), up("a.test", "eu", slot(9), ms(40)),
		// Bucket 3: nothing.
	}
	save(t, s, rs, nil)
	got := bucketsOf(t, s, "a.test", slot(0), slot(16), 4)
	want := []store.Bucket{
		{Start: slot(0), End: slot(4), Up: 1, Down: 1, Maintenance: 2, MinRTT: ms(10), MeanRTT: ms(10), MaxRTT: ms(10)},
		{Start: slot(4), End: slot(8), Maintenance: 2},
		{Start: slot(8), End: slot(12), Up: 1, Maintenance: 1, MinRTT: ms(30), MeanRTT: ms(30), MaxRTT: ms(30)},
		{Start: slot(12), End: slot(16)},
	}
	expectSlice(t, "Buckets", got, want, sameBucket, fmtBucket)
	expectSlice(t, "reference buckets", referenceBuckets(rs, slot(0), slot(16), 4), want, sameBucket, fmtBucket)
	if len(got) == 4 && (got[1].Unknown() || !got[3].Unknown()) {
		t.Errorf("Unknown of a bucket of checks in maintenance = %v, of an empty one = %v; want false, true", got[1].Unknown(), got[3].Unknown())
	}
}

func maintenanceRestoreKeepsMarks(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	stored := []store.Result{up("a.test", "", slot(0), ms(1)), inMaintenance(up("a.test", "", slot(1), ms(1)))}
	save(t, s, stored, nil)
	backup := []store.Result{
		inMaintenance(up("a.test", "", slot(0), ms(9))), // stored already: the stored one stays
		up("a.test", "", slot(1), ms(9)),                // likewise
		inMaintenance(down("a.test", "", slot(2), ms(3), "refused")),
		inMaintenance(up("a.test", "eu", slot(2), ms(4))),
		up("a.test", "", slot(3), ms(5)),
		inMaintenance(up("b.test", "", slot(0), ms(6))),
	}
	if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"b.test"}, Results: emitAll(backup, nil)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	expectResults(t, "Results a.test", allResults(t, s, "a.test"), append(stored, backup[2:5]...))
	expectResults(t, "Results b.test", allResults(t, s, "b.test"), backup[5:])
	expectChecks(t, "Checks a.test", checksOf(t, s, "a.test", slot(2), slot(4)), []store.Check{
		{Time: slot(2), RTT: ms(4), Up: true, Maintenance: true},
		{Time: slot(3), RTT: ms(5), Up: true},
	})
	got := bucketsOf(t, s, "a.test", slot(0), slot(4), 1)
	want := []store.Bucket{{Start: slot(0), End: slot(4), Up: 2, Maintenance: 2, MinRTT: ms(1), MeanRTT: ms(3), MaxRTT: ms(5)}}
	expectSlice(t, "Buckets a.test", got, want, sameBucket, fmtBucket)
}

func maintenanceDeleteResultsBefore(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	rs := []store.Result{
		inMaintenance(up("a.test", "", slot(0), ms(1))), up("a.test", "", slot(1), ms(1)),
		inMaintenance(down("a.test", "", slot(2), ms(1), "x")), inMaintenance(up("a.test", "", slot(3), ms(1))),
	}
	save(t, s, rs, nil)
	n, err := s.DeleteResultsBefore(t.Context(), slot(2))
	if err != nil || n != 2 {
		t.Errorf("DeleteResultsBefore(slot 2) = %d, %v; want 2, nil", n, err)
	}
	expectResults(t, "Results", allResults(t, s, "a.test"), rs[2:])
	got := bucketsOf(t, s, "a.test", slot(0), slot(4), 2)
	want := []store.Bucket{{Start: slot(0), End: slot(2)}, {Start: slot(2), End: slot(4), Maintenance: 2}}
	expectSlice(t, "Buckets", got, want, sameBucket, fmtBucket)
}

// Windows.

func maintenancesOf(t *testing.T, s store.Reader) []monitor.Maintenance {
	t.Helper()
	ws, err := s.Maintenances(t.Context())
	if err != nil {
		t.Fatalf("Maintenances: %v", err)
	}
	return ws
}

func putWindow(t *testing.T, s store.Store, w monitor.Maintenance) int64 {
	t.Helper()
	id, err := s.PutMaintenance(t.Context(), w)
	if err != nil {
		t.Fatalf("PutMaintenance(%s): %v", fmtWindow(w), err)
	}
	return id
}

func fmtWindow(w monitor.Maintenance) string {
	return fmt.Sprintf("{id=%d hosts=%q groups=%q start=%s end=%s cron=%q duration=%v reason=%q}",
		w.ID, w.Hosts, w.Groups, fmtTime(w.Start), fmtTime(w.End), w.Cron, w.Duration.D(), w.Reason)
}

// sameWindow compares windows exactly, but for their times: the same
// instants, in UTC (or zero).
func sameWindow(a, b monitor.Maintenance) bool {
	sameTime := func(x, y time.Time) bool {
		return x.Equal(y) && x.IsZero() == y.IsZero() && (x.IsZero() || isUTC(x) == isUTC(y))
	}
	if !sameTime(a.Start, b.Start) || !sameTime(a.End, b.End) {
		return false
	}
	a.Start, a.End, b.Start, b.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func expectWindows(t *testing.T, what string, got, want []monitor.Maintenance) {
	t.Helper()
	expectSlice(t, what, got, want, sameWindow, fmtWindow)
}

func withID(w monitor.Maintenance, id int64) monitor.Maintenance {
	w.ID = id
	return w
}

// oneOff and weekly are windows of every kind of field.
var (
	oneOff = monitor.Maintenance{
		Hosts: []string{"a.test", "https://b.test/x?y=1"}, Reason: "router firmware ünïcode",
		Start: time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC),
	}
	weekly = monitor.Maintenance{
		Groups: []string{"db", "web"}, Cron: "CRON_TZ=Europe/Berlin 0 3 * * SUN", Duration: monitor.Duration(90 * time.Minute),
		Reason: "backups",
	}
	everything = monitor.Maintenance{Cron: "@daily", Duration: monitor.Duration(time.Minute)}
)

func maintenanceWindowsCRUD(t *testing.T, open opener) {
	s := open(t)
	ctx := t.Context()
	expectWindows(t, "Maintenances of a new store", maintenancesOf(t, s), []monitor.Maintenance{})
	if _, err := s.Maintenance(ctx, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Maintenance(1) of a new store: %v, want ErrNotFound", err)
	}
	ids := []int64{putWindow(t, s, oneOff), putWindow(t, s, weekly), putWindow(t, s, everything)}
	if ids[0] <= 0 || ids[1] <= ids[0] || ids[2] <= ids[1] {
		t.Fatalf("IDs of three new windows = %v; want increasing, above 0", ids)
	}
	want := []monitor.Maintenance{withID(oneOff, ids[0]), withID(weekly, ids[1]), withID(everything, ids[2])}
	expectWindows(t, "Maintenances", maintenancesOf(t, s), want)
	for _, w := range want {
		got, err := s.Maintenance(ctx, w.ID)
		if err != nil || !sameWindow(got, w) {
			t.Errorf("Maintenance(%d) = %s, %v; want %s", w.ID, fmtWindow(got), err, fmtWindow(w))
		}
	}

	// Replaced in place.
	changed := withID(weekly, ids[1])
	changed.Groups, changed.Reason = nil, "changed"
	if id, err := s.PutMaintenance(ctx, changed); err != nil || id != ids[1] {
		t.Errorf("PutMaintenance(window %d) = %d, %v; want %d, nil", ids[1], id, err, ids[1])
	}
	want[1] = changed
	expectWindows(t, "Maintenances after a replace", maintenancesOf(t, s), want)

	// Unknown IDs.
	before := maintenancesOf(t, s)
	for _, id := range []int64{ids[2] + 1, -1} {
		if _, err := s.PutMaintenance(ctx, withID(oneOff, id)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutMaintenance(window %d, not stored): %v, want ErrNotFound", id, err)
		}
		if err := s.DeleteMaintenance(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteMaintenance(%d, not stored): %v, want ErrNotFound", id, err)
		}
		if _, err := s.Maintenance(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Maintenance(%d, not stored): %v, want ErrNotFound", id, err)
		}
	}
	expectWindows(t, "Maintenances after failed writes", maintenancesOf(t, s), before)

	// Deleted; its ID, and the last one's, are not given again.
	if err := s.DeleteMaintenance(ctx, ids[2]); err != nil {
		t.Fatalf("DeleteMaintenance(%d): %v", ids[2], err)
	}
	if err := s.DeleteMaintenance(ctx, ids[2]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteMaintenance(%d) again: %v, want ErrNotFound", ids[2], err)
	}
	if err := s.DeleteMaintenance(ctx, ids[0]); err != nil {
		t.Fatalf("DeleteMaintenance(%d): %v", ids[0], err)
	}
	expectWindows(t, "Maintenances after deletes", maintenancesOf(t, s), want[1:2])
	if _, err := s.Maintenance(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Maintenance(%d) after its delete: %v, want ErrNotFound", ids[0], err)
	}
	if id := putWindow(t, s, oneOff); id <= ids[2] {
		t.Errorf("ID of a window added after deleting window %d = %d; want above it (IDs are never reused)", ids[2], id)
	}
}

func maintenanceWindowsRoundTrip(t *testing.T, open opener) {
	s := open(t)
	// Times in another zone read back in UTC; the caller's slices are
	// not the store's.
	zone := time.FixedZone("UTC+5", 5*3600)
	w := oneOff
	w.Hosts = []string{"a.test"}
	w.Start, w.End = w.Start.In(zone), w.End.In(zone)
	id := putWindow(t, s, w)
	w.Hosts[0] = "changed.test"
	want := withID(oneOff, id)
	want.Hosts = []string{"a.test"}
	got := maintenancesOf(t, s)
	expectWindows(t, "Maintenances", got, []monitor.Maintenance{want})
	if len(got) == 1 {
		got[0].Hosts[0] = "changed.test"
	}
	expectWindows(t, "Maintenances after changing the last answer", maintenancesOf(t, s), []monitor.Maintenance{want})
	// A window given with an ID of a stored one, its other fields
	// emptied, reads them empty.
	bare := monitor.Maintenance{ID: id, Cron: "@weekly", Duration: monitor.Duration(time.Hour)}
	putWindow(t, s, bare)
	expectWindows(t, "Maintenances after emptying fields", maintenancesOf(t, s), []monitor.Maintenance{bare})
}

func maintenanceWindowsRestore(t *testing.T, open opener) {
	s := open(t)
	ctx := t.Context()
	a, b := putWindow(t, s, oneOff), putWindow(t, s, weekly)
	restoredB := withID(everything, b)   // replaces window b
	restoredHigh := withID(oneOff, b+10) // added with its ID
	restoredNew := withID(weekly, 0)     // added with a new ID
	restoredNew.Reason = "without an ID"
	err := s.Restore(ctx, store.Restore{Maintenance: []monitor.Maintenance{restoredNew, restoredB, restoredHigh}})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	got := maintenancesOf(t, s)
	if len(got) != 4 {
		t.Fatalf("Maintenances after Restore: %d windows, want 4: %v", len(got), got)
	}
	if got[3].ID <= b+10 {
		t.Errorf("ID of the restored window without one = %d; want above every restored ID (%d)", got[3].ID, b+10)
	}
	expectWindows(t, "Maintenances after Restore", got,
		[]monitor.Maintenance{withID(oneOff, a), restoredB, restoredHigh, withID(restoredNew, got[3].ID)})
	if id := putWindow(t, s, everything); id <= got[3].ID {
		t.Errorf("ID of a window added after the restore = %d; want above %d", id, got[3].ID)
	}
	// A restore into a new store keeps the IDs, and later ones are above.
	fresh := open(t)
	if err := fresh.Restore(ctx, store.Restore{Maintenance: []monitor.Maintenance{restoredHigh, withID(weekly, 3)}}); err != nil {
		t.Fatalf("Restore into a new store: %v", err)
	}
	expectWindows(t, "Maintenances of the new store", maintenancesOf(t, fresh), []monitor.Maintenance{withID(weekly, 3), restoredHigh})
	if id := putWindow(t, fresh, everything); id <= b+10 {
		t.Errorf("ID of the first window added after the restore = %d; want above %d", id, b+10)
	}
}

func maintenanceWindowsRestoreRollsBack(t *testing.T, open opener) {
	for _, tc := range []struct {
		name string
		r    store.Restore
	}{
		{"NegativeID", store.Restore{Hosts: []string{"new.test"}, Maintenance: []monitor.Maintenance{withID(weekly, 7), withID(oneOff, -1)}}},
		{"IDTwice", store.Restore{Maintenance: []monitor.Maintenance{withID(weekly, 7), withID(oneOff, 7)}}},
		{"RuleOfAnUnknownHost", store.Restore{
			Maintenance: []monitor.Maintenance{withID(weekly, 7), withID(oneOff, 1)},
			Rules:       []store.Rule{{Host: "unknown.test", Threshold: 1, Action: "http://127.0.0.1:9/"}},
		}},
		{"ResultOfAnUnknownHost", store.Restore{
			Maintenance: []monitor.Maintenance{withID(weekly, 7)},
			Results:     emitAll([]store.Result{up("unknown.test", "", slot(0), ms(1))}, nil),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			addHosts(t, s, "a.test")
			first := putWindow(t, s, oneOff)
			before := dump(t, s, "new.test", "unknown.test")
			if err := s.Restore(t.Context(), tc.r); err == nil {
				t.Errorf("Restore succeeded, want an error")
			}
			if after := dump(t, s, "new.test", "unknown.test"); after != before {
				t.Errorf("a failed Restore changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if id := putWindow(t, s, weekly); id <= first {
				t.Errorf("ID of the window added after a failed restore = %d, want above %d", id, first)
			}
		})
	}
}

func maintenanceWindowsSnapshot(t *testing.T, open opener) {
	s := open(t)
	id := putWindow(t, s, weekly)
	want := []monitor.Maintenance{withID(weekly, id)}
	sn, ok := s.(store.Snapshotter)
	if !ok {
		expectWindows(t, "Maintenances", maintenancesOf(t, s), want)
		return
	}
	err := sn.Snapshot(t.Context(), func(r store.Reader) error {
		expectStrings(t, "Hosts of the snapshot", hostsOf(t, r), []string{})
		putWindow(t, s, oneOff) // after the snapshot's first read: not seen
		expectWindows(t, "Maintenances of the snapshot", maintenancesOf(t, r), want)
		return nil
	})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
}
