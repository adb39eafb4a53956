package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

func testUTC(t *testing.T, open opener) {
	f := setupUTC(t, open)
	for _, st := range []struct {
		name string
		run  func(t *testing.T, f *utcFixture)
	}{
		{"Results", utcResults},
		{"Checks", utcChecks},
		{"LastCheck", utcLastCheck},
		{"Buckets", utcBuckets},
		{"StateAndDeliveries", utcStateAndDeliveries},
		{"Restore", utcRestore},
		{"DeleteResultsBefore", utcDeleteResultsBefore},
	} {
		t.Run(st.name, func(t *testing.T) { st.run(t, f) })
	}
}

// utcFixture is the store that testUTC's cases read, in order: its
// results, rule, state and delivery were stored with times in zone and
// in time.Local, which setupUTC changed; want is a.test's results.
type utcFixture struct {
	s    store.Store
	zone *time.Location
	rule store.Rule
	want []store.Result
}

// in is slot(i) in the fixture's zone.
func (f *utcFixture) in(i int) time.Time { return slot(i).In(f.zone) }

// setupUTC sets time.Local to a zone that is not UTC for the rest of the
// test, opens a store and stores a.test's results, rule, state and a
// delivery with times in other zones.
func setupUTC(t *testing.T, open opener) *utcFixture {
	// time.Local is changed before the store is opened and restored after
	// it is closed (cleanups run last in, first out), so a backend's own
	// goroutines do not race with the change.
	saved := time.Local
	time.Local = time.FixedZone("UTC+05:30", 5*3600+30*60)
	t.Cleanup(func() { time.Local = saved })
	zone := time.FixedZone("UTC-07:00", -7*3600)
	f := &utcFixture{zone: zone, rule: store.Rule{Host: "a.test", Threshold: 1, Action: "http://127.0.0.1:9/"}}
	in := f.in

	s := open(t)
	addHosts(t, s, "a.test")
	setRule(t, s, f.rule)
	rec := &recorder{}
	// Decide returns times in another zone: the store keeps them in UTC.
	advance := &store.Alerting{Decide: func(in store.AlertInput) ([]store.State, []store.Delivery) {
		states, ds := rec.decide(in)
		for i := range states {
			states[i].LastSlot = states[i].LastSlot.In(zone)
			states[i].Since = states[i].LastSlot
		}
		for i := range ds {
			ds[i].Created = ds[i].Created.In(zone)
			ds[i].NextAttempt = ds[i].NextAttempt.In(zone)
		}
		return states, ds
	}}
	save(t, s, []store.Result{
		up("a.test", "", in(0), ms(10)),
		down("a.test", "", in(1), ms(20), "timeout"),
		up("a.test", "eu", slot(1).In(time.Local), ms(30)),
	}, nil)
	save(t, s, []store.Result{down("a.test", "", slot(2).In(time.Local), ms(40), "refused")}, advance)
	f.s, f.want = s, []store.Result{
		up("a.test", "", slot(0), ms(10)),
		down("a.test", "", slot(1), ms(20), "timeout"),
		up("a.test", "eu", slot(1), ms(30)),
		down("a.test", "", slot(2), ms(40), "refused"),
	}
	return f
}

func utcResults(t *testing.T, f *utcFixture) {
	expectResults(t, "Results", resultsOf(t, f.s, "a.test", f.in(-1), f.in(3)), f.want)
	expectResults(t, "Results [1, 2) in another zone", resultsOf(t, f.s, "a.test", f.in(1), slot(2).In(time.Local)), f.want[1:3])
}

func utcChecks(t *testing.T, f *utcFixture) {
	expectChecks(t, "Checks", checksOf(t, f.s, "a.test", f.in(0), f.in(2)), []store.Check{
		{Time: slot(0), RTT: ms(10), Up: true},
		{Time: slot(1), RTT: ms(30), Up: true},
	})
}

func utcLastCheck(t *testing.T, f *utcFixture) {
	c, ok, err := f.s.LastCheck(t.Context(), "a.test")
	if err != nil || !ok {
		t.Fatalf("LastCheck = %v, %v", ok, err)
	}
	expectChecks(t, "LastCheck", []store.Check{c}, []store.Check{{Time: slot(2), RTT: ms(40), Error: "refused"}})
}

func utcBuckets(t *testing.T, f *utcFixture) {
	got := bucketsOf(t, f.s, "a.test", f.in(0), slot(4).In(time.Local), 2)
	expectSlice(t, "Buckets", got, []store.Bucket{
		{Start: slot(0), End: slot(2), Up: 2, MinRTT: ms(10), MeanRTT: ms(20), MaxRTT: ms(30)},
		{Start: slot(2), End: slot(4), Down: 1},
	}, sameBucket, fmtBucket)
}

func utcStateAndDeliveries(t *testing.T, f *utcFixture) {
	expectState(t, "State", stateOf(t, f.s, "a.test"), nextState(store.State{}, f.want[3]))
	due := dueOf(t, f.s, f.in(2), 10)
	expectDeliveries(t, "DueDeliveries", due, []store.Delivery{pendingFor(f.rule, f.want[3])})
	expectDeliveries(t, "DueDeliveries just before", dueOf(t, f.s, f.in(2).Add(-time.Microsecond), 10), []store.Delivery{})
	if len(due) != 1 {
		return
	}
	d := due[0]
	d.Attempts, d.LastError, d.NextAttempt = 1, "HTTP 503", f.in(7)
	if err := f.s.UpdateDelivery(t.Context(), d); err != nil {
		t.Fatalf("UpdateDelivery: %v", err)
	}
	d.NextAttempt = slot(7)
	expectDeliveries(t, "DueDeliveries after a retry", dueOf(t, f.s, slot(7).In(time.Local), 10), []store.Delivery{d})
	expectDeliveries(t, "DueDeliveries before the retry", dueOf(t, f.s, f.in(7).Add(-time.Microsecond), 10), []store.Delivery{})
}

func utcRestore(t *testing.T, f *utcFixture) {
	err := f.s.Restore(t.Context(), store.Restore{
		Hosts:   []string{"b.test"},
		Results: emitAll([]store.Result{up("b.test", "", f.in(5), ms(1)), up("b.test", "", slot(6).In(time.Local), ms(2))}, nil),
	})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	expectResults(t, "Results b.test", allResults(t, f.s, "b.test"), []store.Result{up("b.test", "", slot(5), ms(1)), up("b.test", "", slot(6), ms(2))})
}

func utcDeleteResultsBefore(t *testing.T, f *utcFixture) {
	n, err := f.s.DeleteResultsBefore(t.Context(), f.in(1))
	if err != nil || n != 1 {
		t.Errorf("DeleteResultsBefore(slot 1 in %v) = %d, %v; want 1", f.zone, n, err)
	}
	expectResults(t, "Results", allResults(t, f.s, "a.test"), f.want[1:])
}

func testContext(t *testing.T, open opener) {
	for _, tc := range contextCalls() {
		t.Run("CancelledBefore"+tc.name, func(t *testing.T) { expectCancelledCall(t, open, tc) })
	}
}

// contextCall is a call of one Store method on a store that setupContext
// made, with d its pending delivery.
type contextCall struct {
	name string
	call func(ctx context.Context, s store.Store, d store.Delivery) error
}

// contextCalls lists a call of every Store method.
func contextCalls() []contextCall {
	nop := func(store.Result) error { return nil }
	return []contextCall{
		{"Hosts", func(ctx context.Context, s store.Store, _ store.Delivery) error { _, err := s.Hosts(ctx); return err }},
		{"AddHost", func(ctx context.Context, s store.Store, _ store.Delivery) error { return s.AddHost(ctx, "new.test") }},
		{"DeleteHost", func(ctx context.Context, s store.Store, _ store.Delivery) error { return s.DeleteHost(ctx, "a.test") }},
		{"HostExists", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			_, err := s.HostExists(ctx, "a.test")
			return err
		}},
		{"SaveRound", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			return s.SaveRound(ctx, []store.Result{down("a.test", "", slot(1), ms(1), "x")}, (&recorder{}).alerting())
		}},
		{"Results", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			return s.Results(ctx, "a.test", farPast, farFuture, nop)
		}},
		{"Checks", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			return s.Checks(ctx, "a.test", farPast, farFuture, func(store.Check) error { return nil })
		}},
		{"LastCheck", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			_, _, err := s.LastCheck(ctx, "a.test")
			return err
		}},
		{"Buckets", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			_, err := s.Buckets(ctx, "a.test", slot(0), slot(10), 10)
			return err
		}},
		{"DeleteResultsBefore", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			_, err := s.DeleteResultsBefore(ctx, farFuture)
			return err
		}},
		{"Rules", func(ctx context.Context, s store.Store, _ store.Delivery) error { _, err := s.Rules(ctx); return err }},
		{"Rule", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			_, err := s.Rule(ctx, "a.test")
			return err
		}},
		{"SetRule", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			return s.SetRule(ctx, store.Rule{Host: "b.test", Threshold: 1, Action: "http://127.0.0.1:9/"})
		}},
		{"DeleteRule", func(ctx context.Context, s store.Store, _ store.Delivery) error { return s.DeleteRule(ctx, "a.test") }},
		{"State", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			_, err := s.State(ctx, "a.test")
			return err
		}},
		{"DueDeliveries", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			_, err := s.DueDeliveries(ctx, farFuture, 10)
			return err
		}},
		{"UpdateDelivery", func(ctx context.Context, s store.Store, d store.Delivery) error {
			d.Attempts, d.Status = 1, store.DeliveryDelivered
			return s.UpdateDelivery(ctx, d)
		}},
		{"Restore", func(ctx context.Context, s store.Store, _ store.Delivery) error {
			return s.Restore(ctx, store.Restore{
				Hosts:   []string{"new.test"},
				Rules:   []store.Rule{{Host: "new.test", Threshold: 1, Action: "http://127.0.0.1:9/"}},
				Results: emitAll([]store.Result{up("new.test", "", slot(1), ms(1)), up("a.test", "", slot(1), ms(1))}, nil),
			})
		}},
	}
}

// setupContext opens a store with a.test, which has a rule, a result and
// a pending delivery (returned), and b.test, which has a result.
func setupContext(t *testing.T, open opener) (store.Store, store.Delivery) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	setRule(t, s, store.Rule{Host: "a.test", Threshold: 1, Action: "http://127.0.0.1:9/"})
	save(t, s, []store.Result{down("a.test", "", slot(0), ms(1), "timeout"), up("b.test", "", slot(0), ms(1))}, (&recorder{}).alerting())
	due := dueOf(t, s, farFuture, 10)
	if len(due) != 1 {
		t.Fatalf("setup: %d deliveries, want 1", len(due))
	}
	return s, due[0]
}

// expectCancelledCall makes tc's call with a cancelled context: it must
// return context.Canceled and change nothing.
func expectCancelledCall(t *testing.T, open opener, tc contextCall) {
	s, d := setupContext(t, open)
	before := dump(t, s, "new.test")
	err := tc.call(cancelled(t), s, d)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%s with a cancelled context: got %v, want an error that is context.Canceled", tc.name, err)
	}
	if after := dump(t, s, "new.test"); after != before {
		t.Errorf("%s with a cancelled context changed the store:\nbefore:\n%s\nafter:\n%s", tc.name, before, after)
	}
}

func testConcurrency(t *testing.T, open opener) {
	// Writers save the same rounds at once, as overlapping or retried
	// checkers do; readers read meanwhile. Each slot must be stored once,
	// advanced once and enqueue at most one delivery.
	s := open(t)
	names := make([]string, concurrencyHosts)
	for i := range names {
		names[i] = fmt.Sprintf("h%d.test", i)
		addHosts(t, s, names[i])
		setRule(t, s, store.Rule{Host: names[i], Threshold: 1, Action: "http://127.0.0.1:9/" + names[i]})
	}
	saveWhileReading(t, s, names)
	expectEachSlotOnce(t, s, names)
}

// The hosts and the slots of testConcurrency.
const (
	concurrencyHosts = 4
	concurrencySlots = 30
)

// concurrencyRound is testConcurrency's round of slot i: each host up or
// down.
func concurrencyRound(names []string, i int) []store.Result {
	rs := make([]store.Result, 0, len(names))
	for h, name := range names {
		if (i+h)%3 == 0 {
			rs = append(rs, down(name, "", slot(i), ms(i+h), "timeout"))
		} else {
			rs = append(rs, up(name, "", slot(i), ms(i+h)))
		}
	}
	return rs
}

// saveWhileReading has writers save every round of testConcurrency at
// once, advancing with a recorder, while readers read every host.
func saveWhileReading(t *testing.T, s store.Store, names []string) {
	const (
		writers = 4
		readers = 2
	)
	rec := &recorder{}
	ctx := t.Context()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range writers {
		wg.Go(func() {
			for i := range concurrencySlots {
				if err := s.SaveRound(ctx, concurrencyRound(names, i), rec.alerting()); err != nil {
					t.Errorf("SaveRound(slot %d): %v", i, err)
					return
				}
			}
		})
	}
	var rwg sync.WaitGroup
	for g := range readers {
		rwg.Go(func() {
			host := names[g%len(names)]
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := readAll(ctx, s, host); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	rwg.Wait()
}

// expectEachSlotOnce checks that saveWhileReading stored each host's
// result of each slot once, advanced its state once per slot and
// enqueued one delivery per down slot.
func expectEachSlotOnce(t *testing.T, s store.Store, names []string) {
	const slots = concurrencySlots
	var wantDeliveries int
	for h, name := range names {
		var want []store.Result
		for i := range slots {
			want = append(want, concurrencyRound(names, i)[h])
			if (i+h)%3 == 0 {
				wantDeliveries++
			}
		}
		expectResults(t, "Results "+name, allResults(t, s, name), want)
		st := stateOf(t, s, name)
		if st.Count != slots || !st.LastSlot.Equal(slot(slots-1)) {
			t.Errorf("State %s = %s, want count %d (each slot advanced once) and last slot %s",
				name, fmtState(st), slots, fmtTime(slot(slots-1)))
		}
	}
	if got := len(dueOf(t, s, farFuture, 10*len(names)*slots)); got != wantDeliveries {
		t.Errorf("%d deliveries enqueued, want %d (one per down slot)", got, wantDeliveries)
	}
}

// readAll reads a host with every read method and checks what it sees is
// ordered.
func readAll(ctx context.Context, s store.Store, host string) error {
	if _, err := s.Hosts(ctx); err != nil {
		return fmt.Errorf("Hosts: %w", err)
	}
	var slotsSeen []time.Time
	err := s.Results(ctx, host, farPast, farFuture, func(r store.Result) error {
		slotsSeen = append(slotsSeen, r.Slot)
		return nil
	})
	if err != nil {
		return fmt.Errorf("Results: %w", err)
	}
	if !slices.IsSortedFunc(slotsSeen, time.Time.Compare) {
		return fmt.Errorf("Results of %s out of order while writing: %v", host, slotsSeen)
	}
	var checks int
	if err := s.Checks(ctx, host, farPast, farFuture, func(store.Check) error { checks++; return nil }); err != nil {
		return fmt.Errorf("Checks: %w", err)
	}
	if _, _, err := s.LastCheck(ctx, host); err != nil {
		return fmt.Errorf("LastCheck: %w", err)
	}
	if _, err := s.Buckets(ctx, host, slot(0), slot(60), 10); err != nil {
		return fmt.Errorf("Buckets: %w", err)
	}
	if _, err := s.State(ctx, host); err != nil {
		return fmt.Errorf("State: %w", err)
	}
	if _, err := s.DueDeliveries(ctx, farFuture, 5); err != nil {
		return fmt.Errorf("DueDeliveries: %w", err)
	}
	return nil
}
