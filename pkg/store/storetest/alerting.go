package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// testAlerting checks what SaveRound gives alerting and keeps of it (see
// store.Alerting) and the AlertStore that reads it.
func testAlerting(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"FieldsRoundTrip", alertingFieldsRoundTrip},
		{"GosrvmonRuleHasNoSrvmonFields", alertingGosrvmonRule},
		{"Stored", alertingStored},
		{"StoredCarriesMaintenance", alertingStoredMaintenance},
		{"RelatedHosts", alertingRelatedHosts},
		{"Locations", alertingLocations},
		{"LocationsOfRestores", alertingLocationsOfRestores},
		{"ClaimsPerChannel", alertingClaimsPerChannel},
		{"DeliveriesNewestFirst", alertingDeliveriesNewestFirst},
		{"States", alertingStates},
		{"DeleteHostAndRule", alertingDeleteHostAndRule},
	})
}

// scripted is an Alerting whose Decide records its input and returns
// what next says (nothing when nil).
type scripted struct {
	mu      sync.Mutex
	inputs  []store.AlertInput
	related map[string][]string
	horizon time.Duration
	next    func(in store.AlertInput) ([]store.State, []store.Delivery)
}

func (sc *scripted) alerting() *store.Alerting {
	return &store.Alerting{
		Related: func(host string) []string { return sc.related[host] },
		Horizon: sc.horizon,
		Decide: func(in store.AlertInput) ([]store.State, []store.Delivery) {
			sc.mu.Lock()
			defer sc.mu.Unlock()
			sc.inputs = append(sc.inputs, in)
			if sc.next == nil {
				return nil, nil
			}
			return sc.next(in)
		},
	}
}

// last returns the input of the last Decide, failing when it was called
// other than once since the last call of last.
func (sc *scripted) last(t *testing.T) store.AlertInput {
	t.Helper()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.inputs) != 1 {
		t.Fatalf("Decide called %d times, want once", len(sc.inputs))
	}
	in := sc.inputs[0]
	sc.inputs = nil
	return in
}

// returning makes sc's next Decide return states and ds.
func (sc *scripted) returning(states []store.State, ds ...store.Delivery) *store.Alerting {
	sc.next = func(store.AlertInput) ([]store.State, []store.Delivery) { return states, ds }
	return sc.alerting()
}

func locationsOf(t *testing.T, s store.Store) []store.Location {
	t.Helper()
	ls, err := s.Locations(t.Context())
	if err != nil {
		t.Fatalf("Locations: %v", err)
	}
	return ls
}

func statesOf(t *testing.T, s store.Store) []store.State {
	t.Helper()
	sts, err := s.States(t.Context())
	if err != nil {
		t.Fatalf("States: %v", err)
	}
	return sts
}

func deliveriesOf(t *testing.T, s store.Store, host string, limit int) []store.Delivery {
	t.Helper()
	ds, err := s.Deliveries(t.Context(), host, limit)
	if err != nil {
		t.Fatalf("Deliveries(%q, %d): %v", host, limit, err)
	}
	return ds
}

func expectLocations(t *testing.T, what string, got, want []store.Location) {
	t.Helper()
	expectSlice(t, what, got, want, func(a, b store.Location) bool { return a.Name == b.Name && sameTime(a.LastSlot, b.LastSlot) },
		func(l store.Location) string { return fmt.Sprintf("{%q %s}", l.Name, fmtTime(l.LastSlot)) })
}

func expectStates(t *testing.T, what string, got, want []store.State) {
	t.Helper()
	expectSlice(t, what, got, want, sameState, fmtState)
}

// expectStoredInput checks an AlertInput's maps against want's.
func expectStoredInput(t *testing.T, in, want store.AlertInput) {
	t.Helper()
	if !reflect.DeepEqual(in.Rules, want.Rules) {
		t.Errorf("Rules %+v, want %+v", in.Rules, want.Rules)
	}
	if len(in.States) != len(want.States) {
		t.Errorf("States %v, want %v", in.States, want.States)
	}
	for h, st := range want.States {
		expectState(t, "States["+h+"]", in.States[h], st)
	}
	if len(in.Stored) != len(want.Stored) {
		t.Errorf("Stored has %d hosts, want %d: %v", len(in.Stored), len(want.Stored), in.Stored)
	}
	for h, rs := range want.Stored {
		got := in.Stored[h]
		if got == nil {
			got = []store.Result{}
		}
		expectResults(t, "Stored["+h+"]", got, rs)
	}
	if want.Locations != nil {
		expectLocations(t, "Locations", in.Locations, want.Locations)
	}
}

// fullRule has every srvmon field set.
func fullRule(host string) store.Rule {
	return store.Rule{
		Host: host, Threshold: 3, Action: "http://127.0.0.1:9/a",
		Channels:          []string{"generic://127.0.0.1:9/hook?template=json", "ntfy://127.0.0.1:9/topic"},
		Message:           "{NAME} is {STATE}: {REASON}",
		RecoveryThreshold: 2, Window: 5, Quorum: "majority",
		RemindEvery:    monitor.Duration(4 * time.Hour),
		CertExpiryDays: 14,
	}
}

// fullState has every field set.
func fullState(host string, last time.Time) store.State {
	return store.State{
		Host: host, Status: "down", Count: 2, LastSlot: last, Since: last.Add(-time.Minute),
		Recent: 0b1011, RecentLen: 4, Notified: "up", Reason: "timeout after 10s", Locations: []string{"eu", "us"},
		NextReminder: last.Add(4 * time.Hour), CertExpiry: last.AddDate(0, 1, 0), CertDays: 14, DownFor: 12 * time.Minute,
	}
}

// channelDelivery is a pending channel delivery of host.
func channelDelivery(host, channel string, at time.Time) store.Delivery {
	return store.Delivery{
		Host: host, Channel: channel, Event: store.EventDown, Title: host + " is down", Message: "down since " + at.Format(time.RFC3339),
		Created: at, NextAttempt: at, Status: store.DeliveryPending,
	}
}

func alertingFieldsRoundTrip(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	rule := fullRule("a.test")
	setRule(t, s, rule)
	expectRules(t, "Rules", rulesOf(t, s), []store.Rule{rule})
	if got, err := s.Rule(t.Context(), "a.test"); err != nil || !reflect.DeepEqual(got, rule) {
		t.Errorf("Rule = %+v, %v; want %+v", got, err, rule)
	}
	st := fullState("a.test", slot(1))
	d := channelDelivery("a.test", rule.Channels[0], slot(1))
	d.URL = ""
	sc := &scripted{}
	save(t, s, []store.Result{down("a.test", "", slot(1), ms(1), "timeout")}, sc.returning([]store.State{st}, d))
	in := sc.last(t)
	expectStoredInput(t, in, store.AlertInput{
		Rules:  map[string]store.Rule{"a.test": rule},
		States: map[string]store.State{"a.test": {Host: "a.test"}},
		Stored: map[string][]store.Result{"a.test": {down("a.test", "", slot(1), ms(1), "timeout")}},
	})
	expectState(t, "State", stateOf(t, s, "a.test"), st)
	expectStates(t, "States", statesOf(t, s), []store.State{st})
	expectDeliveries(t, "DueDeliveries", dueOf(t, s, farFuture, 10), []store.Delivery{d})
	expectDeliveries(t, "Deliveries", deliveriesOf(t, s, "", 10), []store.Delivery{d})

	// The next save gives Decide the state as written; a state with only
	// gosrvmon's fields replaces every srvmon field.
	plain := store.State{Host: "a.test", Status: "up", LastSlot: slot(2)}
	save(t, s, []store.Result{up("a.test", "", slot(2), ms(1))}, sc.returning([]store.State{plain}))
	in = sc.last(t)
	expectState(t, "AlertInput.States", in.States["a.test"], st)
	expectState(t, "State after a plain state", stateOf(t, s, "a.test"), plain)

	// A restore keeps every field; a caller's slice is not the store's.
	addHosts(t, s, "b.test")
	restored := fullRule("b.test")
	if err := s.Restore(t.Context(), store.Restore{Rules: []store.Rule{restored}}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	rule.Channels[0] = "changed://"
	expectRules(t, "Rules after a restore", rulesOf(t, s), []store.Rule{fullRule("a.test"), fullRule("b.test")})

	// Replacing a rule by a gosrvmon one drops its srvmon fields.
	gosrvmon := store.Rule{Host: "a.test", Threshold: 1, Action: "http://127.0.0.1:9/b"}
	setRule(t, s, gosrvmon)
	expectRules(t, "Rules after a gosrvmon rule", rulesOf(t, s), []store.Rule{gosrvmon, fullRule("b.test")})
}

func alertingGosrvmonRule(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	rule := store.Rule{Host: "a.test", Threshold: 2, Action: "http://127.0.0.1:9/a"}
	setRule(t, s, rule)
	got, err := s.Rule(t.Context(), "a.test")
	if err != nil || !reflect.DeepEqual(got, rule) { // nil Channels, not empty
		t.Errorf("Rule = %#v, %v; want %#v", got, err, rule)
	}
}

func alertingStored(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test", "c.test")
	ruleA := store.Rule{Host: "a.test", Threshold: 1}
	ruleB := store.Rule{Host: "b.test", Threshold: 1}
	setRule(t, s, ruleA)
	setRule(t, s, ruleB)
	var history []store.Result
	for i := range 7 {
		for _, loc := range []string{"us", "", "eu"} {
			history = append(history, down("a.test", loc, slot(i), ms(i), "timeout"), up("b.test", loc, slot(i), ms(i)), up("c.test", loc, slot(i), ms(i)))
		}
	}
	save(t, s, history, nil)
	// a.test has judged slot 1; b.test nothing yet.
	sc := &scripted{horizon: time.Hour}
	save(t, s, []store.Result{down("a.test", "", slot(1), ms(1), "timeout")},
		sc.returning([]store.State{{Host: "a.test", Status: "down", LastSlot: slot(1)}}))
	sc.last(t)

	of := func(host string, from, to int) []store.Result { // host's history in slots [from, to], by slot then location
		var rs []store.Result
		for i := from; i <= to; i++ {
			for _, loc := range []string{"", "eu", "us"} {
				r := up(host, loc, slot(i), ms(i))
				if host == "a.test" {
					r = down(host, loc, slot(i), ms(i), "timeout")
				}
				rs = append(rs, r)
			}
		}
		return rs
	}
	stateA := store.State{Host: "a.test", Status: "down", LastSlot: slot(1)}
	for _, tc := range []struct {
		name    string
		horizon time.Duration
		round   []store.Result
		want    map[string][]store.Result
	}{
		// The newest slot of the save is slot 4: slots 5 and 6 are
		// after it, a.test's slots up to 1 are judged.
		{"LastSlotBound", time.Hour, []store.Result{up("b.test", "ap", slot(4), ms(9)), up("a.test", "ap", slot(3), ms(9))},
			map[string][]store.Result{
				"a.test": sorted(of("a.test", 2, 4), up("a.test", "ap", slot(3), ms(9))),
				"b.test": sorted(of("b.test", 0, 4), up("b.test", "ap", slot(4), ms(9))),
			}},
		{"HorizonBound", 2 * time.Minute, []store.Result{up("c.test", "", slot(5), ms(5)), up("b.test", "ap", slot(5), ms(9))},
			map[string][]store.Result{"b.test": sorted(of("b.test", 3, 5), up("b.test", "ap", slot(4), ms(9)), up("b.test", "ap", slot(5), ms(9)))}},
		{"ZeroHorizonIsTheNewestSlot", 0, []store.Result{up("a.test", "ap", slot(6), ms(9))},
			map[string][]store.Result{"a.test": sorted(of("a.test", 6, 6), up("a.test", "ap", slot(6), ms(9)))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := &scripted{horizon: tc.horizon}
			save(t, s, tc.round, sc.alerting())
			in := sc.last(t)
			want := store.AlertInput{Rules: map[string]store.Rule{}, States: map[string]store.State{}, Stored: tc.want}
			for h := range tc.want {
				want.Rules[h] = map[string]store.Rule{"a.test": ruleA, "b.test": ruleB}[h]
				want.States[h] = map[string]store.State{"a.test": stateA, "b.test": {Host: "b.test"}}[h]
			}
			expectStoredInput(t, in, want)
			expectResults(t, "Results", in.Results, tc.round)
		})
	}
}

// alertingStoredMaintenance: Stored gives each result's maintenance mark,
// from the save and from the store, so that alerting holds alerts back.
func alertingStoredMaintenance(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	setRule(t, s, store.Rule{Host: "a.test", Threshold: 1})
	stored := []store.Result{inMaintenance(down("a.test", "eu", slot(1), ms(1), "timeout")), up("a.test", "us", slot(1), ms(1))}
	save(t, s, stored, nil)
	sc := &scripted{horizon: time.Hour}
	now := inMaintenance(down("a.test", "", slot(1), ms(2), "refused"))
	save(t, s, []store.Result{now}, sc.alerting())
	in := sc.last(t)
	expectResults(t, "Stored[a.test]", in.Stored["a.test"], sorted(stored, now))
}

// sorted returns rs with more, by slot then location.
func sorted(rs []store.Result, more ...store.Result) []store.Result {
	out := append(slices.Clone(rs), more...)
	slices.SortFunc(out, store.CompareResults)
	return out
}

func alertingRelatedHosts(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "child.test", "router.test", "other.test", "norule.test")
	ruleC := store.Rule{Host: "child.test", Threshold: 1}
	ruleR := store.Rule{Host: "router.test", Threshold: 2, Channels: []string{"generic://127.0.0.1:9/"}}
	setRule(t, s, ruleC)
	setRule(t, s, ruleR)
	setRule(t, s, store.Rule{Host: "other.test", Threshold: 1})
	save(t, s, []store.Result{down("router.test", "", slot(1), ms(1), "timeout")}, nil)
	stR := fullState("router.test", slot(0))
	save(t, s, []store.Result{up("router.test", "", slot(0), ms(1))}, (&scripted{}).returning([]store.State{stR}))
	sc := &scripted{horizon: time.Hour, related: map[string][]string{"child.test": {"router.test", "norule.test", "gone.test"}}}
	round := []store.Result{down("child.test", "", slot(1), ms(1), "timeout")}
	save(t, s, round, sc.alerting())
	expectStoredInput(t, sc.last(t), store.AlertInput{
		Rules:  map[string]store.Rule{"child.test": ruleC, "router.test": ruleR},
		States: map[string]store.State{"child.test": {Host: "child.test"}, "router.test": stR},
		Stored: map[string][]store.Result{"child.test": round, "router.test": {down("router.test", "", slot(1), ms(1), "timeout")}},
	})
	// A related host's state may be written.
	next := store.State{Host: "router.test", Status: "down", LastSlot: slot(1)}
	save(t, s, []store.Result{down("child.test", "", slot(2), ms(1), "timeout")}, sc.returning([]store.State{next}))
	sc.last(t)
	expectState(t, "related host's state", stateOf(t, s, "router.test"), next)
}

func alertingLocations(t *testing.T, open opener) {
	s := open(t)
	expectLocations(t, "Locations of an empty store", locationsOf(t, s), []store.Location{})
	addHosts(t, s, "a.test")
	setRule(t, s, store.Rule{Host: "a.test", Threshold: 1})
	save(t, s, []store.Result{up("a.test", "", slot(3), ms(1)), up("a.test", "eu", slot(2), ms(1)), up("a.test", "eu", slot(1), ms(1))}, nil)
	want := []store.Location{{Name: "", LastSlot: slot(3)}, {Name: "eu", LastSlot: slot(2)}}
	expectLocations(t, "Locations", locationsOf(t, s), want)
	// An older slot does not take a location back; a result of a host
	// that is not stored counts (its location reported).
	save(t, s, []store.Result{up("a.test", "", slot(1), ms(1)), up("gone.test", "ap", slot(1), ms(1))}, nil)
	want = []store.Location{{Name: "", LastSlot: slot(3)}, {Name: "ap", LastSlot: slot(1)}, {Name: "eu", LastSlot: slot(2)}}
	expectLocations(t, "Locations after an older slot", locationsOf(t, s), want)
	// Alerting is given the locations with the save's counted.
	sc := &scripted{}
	save(t, s, []store.Result{up("a.test", "us", slot(4), ms(1)), up("a.test", "eu", slot(4), ms(1))}, sc.alerting())
	want = []store.Location{{Name: "", LastSlot: slot(3)}, {Name: "ap", LastSlot: slot(1)}, {Name: "eu", LastSlot: slot(4)}, {Name: "us", LastSlot: slot(4)}}
	expectLocations(t, "AlertInput.Locations", sc.last(t).Locations, want)
	expectLocations(t, "Locations after a new one", locationsOf(t, s), want)
	// No rule among the hosts: nothing to decide.
	addHosts(t, s, "b.test")
	save(t, s, []store.Result{up("b.test", "", slot(5), ms(1))}, sc.alerting())
	if len(sc.inputs) != 0 {
		t.Errorf("Decide called without a rule: %+v", sc.inputs)
	}
	want = []store.Location{{Name: "", LastSlot: slot(5)}, {Name: "ap", LastSlot: slot(1)}, {Name: "eu", LastSlot: slot(4)}, {Name: "us", LastSlot: slot(4)}}
	// A push monitor's results (pushes, and the rounds' judgements of
	// them) are no checker location's.
	addHosts(t, s, "push://job")
	save(t, s, []store.Result{up("push://job", "", slot(9), ms(1)), up("push://job", "ap", slot(9), ms(1))}, nil)
	expectLocations(t, "Locations after push results", locationsOf(t, s), want)
}

// alertingLocationsOfRestores checks that a restore counts the locations
// of its results as a save does (the chart draws a line per location
// from them), never a push monitor's, never taking one back, and not
// when it fails.
func alertingLocationsOfRestores(t *testing.T, open opener) {
	s := open(t)
	var rs []store.Result
	for i := range 30 {
		rs = append(rs, up("a.test", "eu", slot(i), ms(1)), up("b.test", "eu", slot(i), ms(2)))
		if i < 20 {
			rs = append(rs, down("a.test", "us", slot(i), ms(3), "refused"))
		}
	}
	rs = append(rs, up("push://job", "", slot(40), ms(1)), up("push://job", "ap", slot(41), ms(1)))
	err := s.Restore(t.Context(), store.Restore{Hosts: []string{"a.test", "b.test", "push://job"}, Results: emitAll(rs, nil)})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	want := []store.Location{{Name: "eu", LastSlot: slot(29)}, {Name: "us", LastSlot: slot(19)}}
	expectLocations(t, "Locations after a restore", locationsOf(t, s), want)
	// An older slot does not take a location back.
	err = s.Restore(t.Context(), store.Restore{Results: emitAll([]store.Result{up("a.test", "us", slot(2), ms(1)), up("a.test", "", slot(1), ms(1))}, nil)})
	if err != nil {
		t.Fatalf("second Restore: %v", err)
	}
	want = []store.Location{{Name: "", LastSlot: slot(1)}, {Name: "eu", LastSlot: slot(29)}, {Name: "us", LastSlot: slot(19)}}
	expectLocations(t, "Locations after an older restore", locationsOf(t, s), want)
	// A restore that fails counts nothing.
	err = s.Restore(t.Context(), store.Restore{Results: emitAll([]store.Result{up("a.test", "ap", slot(50), ms(1)), up("nope.test", "ap", slot(50), ms(1))}, nil)})
	if err == nil {
		t.Fatal("Restore of a result for a host neither stored nor in the backup: no error")
	}
	expectLocations(t, "Locations after a failed restore", locationsOf(t, s), want)
}

func alertingClaimsPerChannel(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "h.test")
	setRule(t, s, store.Rule{Host: "h.test", Threshold: 1})
	x, y := "generic://127.0.0.1:9/x", "generic://127.0.0.1:9/y"
	action := func(at time.Time) store.Delivery {
		return store.Delivery{Host: "h.test", URL: "http://127.0.0.1:9/a", Created: at, NextAttempt: at, Status: store.DeliveryPending}
	}
	sc := &scripted{}
	save(t, s, []store.Result{down("h.test", "", slot(0), ms(1), "x")}, sc.returning(nil,
		channelDelivery("h.test", x, slot(0)), channelDelivery("h.test", y, slot(0)), action(slot(0))))
	save(t, s, []store.Result{down("h.test", "", slot(1), ms(1), "x")}, sc.returning(nil,
		channelDelivery("h.test", x, slot(1)), channelDelivery("h.test", y, slot(1)), action(slot(1))))
	all := dueOf(t, s, farFuture, 10) // x0 y0 a0 x1 y1 a1
	if len(all) != 6 {
		t.Fatalf("%d deliveries due, want 6", len(all))
	}
	lease := slot(30)
	first := claimOf(t, s, slot(1), lease, 10)
	expectClaimed(t, "first claim: each channel's oldest", first, all[:3], lease)
	if len(first) != 3 {
		t.FailNow()
	}
	// x fails and backs off; y and the action are delivered: their next
	// ones go, x's waits.
	retry := first[0]
	retry.NextAttempt, retry.LastError = slot(20), "HTTP 503"
	record(t, s, retry)
	for _, d := range first[1:] {
		d.Status = store.DeliveryDelivered
		record(t, s, d)
	}
	expectClaimed(t, "claim while x backs off", claimOf(t, s, slot(2), lease, 10), all[4:6], lease)
	expectDeliveries(t, "claim while x backs off and the others are leased", claimOf(t, s, slot(2), lease, 10), []store.Delivery{})
}

func alertingDeliveriesNewestFirst(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	setRule(t, s, store.Rule{Host: "a.test", Threshold: 1})
	setRule(t, s, store.Rule{Host: "b.test", Threshold: 1})
	var want []store.Delivery
	for i := range 3 {
		ds := []store.Delivery{channelDelivery("b.test", "ntfy://127.0.0.1:9/t", slot(i)), channelDelivery("a.test", "ntfy://127.0.0.1:9/t", slot(i))}
		save(t, s, []store.Result{down("a.test", "", slot(i), ms(1), "x"), down("b.test", "", slot(i), ms(1), "x")}, (&scripted{}).returning(nil, ds...))
		want = append([]store.Delivery{ds[1], ds[0]}, want...)
	}
	got := deliveriesOf(t, s, "", 10)
	expectDeliveries(t, "Deliveries", got, want)
	for i := 1; i < len(got); i++ {
		if got[i].ID >= got[i-1].ID {
			t.Errorf("Deliveries: ID %d after %d, want newest first", got[i].ID, got[i-1].ID)
		}
	}
	// A delivered one is listed too, as stored.
	done := got[len(got)-1]
	done.Attempts, done.Status = 1, store.DeliveryDelivered
	record(t, s, done)
	want[len(want)-1] = done
	expectDeliveries(t, "Deliveries after one is delivered", deliveriesOf(t, s, "", 10), want)
	expectDeliveries(t, "Deliveries limit 2", deliveriesOf(t, s, "", 2), want[:2])
	expectDeliveries(t, "Deliveries limit 0", deliveriesOf(t, s, "", 0), []store.Delivery{})
	expectDeliveries(t, "Deliveries of a.test", deliveriesOf(t, s, "a.test", 10), []store.Delivery{want[0], want[2], want[4]})
	expectDeliveries(t, "Deliveries of b.test, limit 1", deliveriesOf(t, s, "b.test", 1), want[1:2])
	expectDeliveries(t, "Deliveries of an unknown host", deliveriesOf(t, s, "none.test", 10), []store.Delivery{})
}

func alertingStates(t *testing.T, open opener) {
	s := open(t)
	expectStates(t, "States of an empty store", statesOf(t, s), []store.State{})
	addHosts(t, s, "c.test", "a.test", "b.test")
	for _, h := range []string{"a.test", "b.test", "c.test"} {
		setRule(t, s, store.Rule{Host: h, Threshold: 1})
	}
	stC, stA := fullState("c.test", slot(1)), store.State{Host: "a.test", Status: "up", LastSlot: slot(1), Locations: []string{""}}
	save(t, s, []store.Result{up("a.test", "", slot(1), ms(1)), up("c.test", "", slot(1), ms(1))},
		(&scripted{}).returning([]store.State{stC, stA}))
	expectStates(t, "States", statesOf(t, s), []store.State{stA, stC})
}

func alertingDeleteHostAndRule(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	setRule(t, s, store.Rule{Host: "a.test", Threshold: 1})
	setRule(t, s, store.Rule{Host: "b.test", Threshold: 1})
	stA, stB := fullState("a.test", slot(1)), fullState("b.test", slot(1))
	dA, dB := channelDelivery("a.test", "ntfy://127.0.0.1:9/a", slot(1)), channelDelivery("b.test", "ntfy://127.0.0.1:9/b", slot(1))
	save(t, s, []store.Result{up("a.test", "", slot(1), ms(1)), up("b.test", "", slot(1), ms(1))}, (&scripted{}).returning([]store.State{stA, stB}, dA, dB))
	if err := s.DeleteRule(t.Context(), "b.test"); err != nil {
		t.Fatal(err)
	}
	expectStates(t, "States after DeleteRule", statesOf(t, s), []store.State{stA})
	expectDeliveries(t, "Deliveries after DeleteRule", deliveriesOf(t, s, "", 10), []store.Delivery{dB, dA})
	if err := s.DeleteHost(t.Context(), "a.test"); err != nil {
		t.Fatal(err)
	}
	expectStates(t, "States after DeleteHost", statesOf(t, s), []store.State{})
	expectDeliveries(t, "Deliveries after DeleteHost", deliveriesOf(t, s, "", 10), []store.Delivery{dB})
	expectDeliveries(t, "Deliveries of the deleted host", deliveriesOf(t, s, "a.test", 10), []store.Delivery{})
}
