package storetest

import (
	"compress/gzip"
	"io"
	"os"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// Gunzip writes the gzip file src (a backend's testdata) to dst.
func Gunzip(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// ExpectUpgradedFromBeforeMonitors checks a store opened on a file that
// srvmon wrote before monitor settings existed (issue 11): the hosts a.test
// and https://b.test, a.test's rule (threshold 2, action
// http://127.0.0.1:9/hook), and three one-minute results each from
// 2026-01-01 00:00 UTC, a.test's up in 1ms, b.test's down ("timeout") in
// 2ms. It must read as it was, every host a monitor without settings,
// and then keep settings, push tokens and facts, and alerting's rule,
// state and delivery fields and locations.
func ExpectUpgradedFromBeforeMonitors(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	expectStrings(t, "Hosts", hostsOf(t, s), []string{"a.test", "https://b.test"})
	expectRules(t, "Rules", rulesOf(t, s), []store.Rule{{Host: "a.test", Threshold: 2, Action: "http://127.0.0.1:9/hook"}})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wantA, wantB []store.Result
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Minute)
		wantA = append(wantA, up("a.test", "", at, ms(1)))
		wantB = append(wantB, down("https://b.test", "", at, ms(2), "timeout"))
	}
	expectResults(t, "Results a.test", allResults(t, s, "a.test"), wantA)
	expectResults(t, "Results b.test", allResults(t, s, "https://b.test"), wantB)
	expectMonitors(t, "Monitors", monitorsOf(t, s), []monitor.Monitor{{Host: "a.test"}, {Host: "https://b.test"}})
	expectFacts(t, "Facts", factsOf(t, s), []store.Facts{})

	m := fullMonitor("https://b.test")
	if putMonitor(t, s, m) {
		t.Errorf("PutMonitor of a stored host: created = true")
	}
	next := t0.Add(3 * time.Minute)
	save(t, s, []store.Result{withCert(up(m.Host, "", next, ms(1)), expiry(30))}, nil)
	if _, err := s.RecordPush(ctx, m.PushToken, next, up("", "", t0.Add(4*time.Minute), ms(1)), nil); err != nil {
		t.Fatalf("RecordPush: %v", err)
	}
	expectMonitors(t, "Monitors after PutMonitor", monitorsOf(t, s), []monitor.Monitor{{Host: "a.test"}, m})
	// The hosts from before have no Added; a host added now has.
	expectFacts(t, "Facts after a round and a push", factsOf(t, s), []store.Facts{{Host: m.Host, CertExpiry: expiry(30), LastPush: next, LastPushUp: true}})
	before := store.AddedNow()
	addHosts(t, s, "c.test")
	added := expectAdded(t, s, before, "c.test")
	expectFacts(t, "Facts after AddHost", factsOf(t, s), []store.Facts{
		{Host: "c.test", Added: added["c.test"]}, {Host: m.Host, CertExpiry: expiry(30), LastPush: next, LastPushUp: true},
	})

	expectLocations(t, "Locations after a round and a push", locationsOf(t, s), []store.Location{{Name: "", LastSlot: t0.Add(4 * time.Minute)}})
	expectStates(t, "States", statesOf(t, s), []store.State{})
	rule := fullRule("a.test")
	setRule(t, s, rule)
	st := fullState("a.test", t0.Add(5*time.Minute))
	d := channelDelivery("a.test", rule.Channels[0], t0.Add(5*time.Minute))
	save(t, s, []store.Result{down("a.test", "eu", t0.Add(5*time.Minute), ms(1), "timeout")}, (&scripted{}).returning([]store.State{st}, d))
	expectRules(t, "Rules after SetRule", rulesOf(t, s), []store.Rule{rule})
	expectStates(t, "States after an alerting round", statesOf(t, s), []store.State{st})
	expectDeliveries(t, "Deliveries after an alerting round", deliveriesOf(t, s, "", 10), []store.Delivery{d})
	expectLocations(t, "Locations after another location", locationsOf(t, s), []store.Location{
		{Name: "", LastSlot: t0.Add(4 * time.Minute)}, {Name: "eu", LastSlot: t0.Add(5 * time.Minute)},
	})
}

// ResultsBeforeMaintenance are the results of host "a.test" that a
// backend's upgrade test stores (and summarises) in the schema before
// maintenance windows (issue 12): three hours from 2024-03-01 00:00 UTC,
// none in maintenance, as that schema could only hold.
func ResultsBeforeMaintenance() []store.Result {
	rs := hoursOfChecks("a.test", "", 3)
	for i := range rs {
		rs[i].Maintenance = false
	}
	return rs
}

// ExpectUpgradedFromBeforeMaintenance checks a store opened on a file of
// the schema before maintenance windows that holds host "a.test" with
// ResultsBeforeMaintenance, summarised in that schema's layout: they read
// as not in maintenance, Buckets (from the old summaries and from the
// results) counts them as before, the store keeps windows, and results
// in maintenance, late ones into the summarised hours too, read marked
// and are counted apart.
func ExpectUpgradedFromBeforeMaintenance(t *testing.T, s store.Store) {
	t.Helper()
	rs := ResultsBeforeMaintenance()
	expectResults(t, "Results", allResults(t, s, "a.test"), rs)
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(3*60))
	expectWindows(t, "Maintenances", maintenancesOf(t, s), []monitor.Maintenance{})
	id := putWindow(t, s, weekly)
	if got, err := s.Maintenance(t.Context(), id); err != nil || !sameWindow(got, withID(weekly, id)) {
		t.Errorf("Maintenance(%d) = %s, %v; want %s", id, fmtWindow(got), err, fmtWindow(withID(weekly, id)))
	}
	late := []store.Result{
		inMaintenance(up("a.test", "eu", minute(30), ms(1))),
		inMaintenance(down("a.test", "", minute(119), ms(2), "refused")), // a missed slot
		inMaintenance(up("a.test", "", minute(3*60+1), ms(3))),
	}
	save(t, s, late, nil)
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(3*60+2))
	summarise(t, s, minute(6*60))
	expectBucketsOfEveryGrid(t, s, "a.test", minute(0), minute(3*60+2))
	c, ok, err := s.LastCheck(t.Context(), "a.test")
	if want := (store.Check{Time: minute(3*60 + 1), RTT: ms(3), Up: true, Maintenance: true}); err != nil || !ok || !sameCheck(c, want) {
		t.Errorf("LastCheck = %s, %v, %v; want %s", fmtCheck(c), ok, err, fmtCheck(want))
	}
}
