package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

func fmtCall(c advanceCall) string {
	return fmt.Sprintf("{rule=%+v prev=%s r=%s}", c.rule, fmtState(c.prev), fmtResult(c.r))
}

func sameCall(a, b advanceCall) bool {
	return reflect.DeepEqual(a.rule, b.rule) && sameState(a.prev, b.prev) && a.r.Host == b.r.Host && a.r.Location == b.r.Location &&
		a.r.Slot.Equal(b.r.Slot) && a.r.RTT == b.r.RTT && a.r.Up == b.r.Up && a.r.Reason == b.r.Reason
}

func expectCalls(t *testing.T, what string, got, want []advanceCall) {
	t.Helper()
	if got == nil {
		got = []advanceCall{}
	}
	if want == nil {
		want = []advanceCall{}
	}
	expectSlice(t, what, got, want, sameCall, fmtCall)
}

func testAdvance(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"CalledForHostsWithRuleOnNewerSlots", advanceCalledForHostsWithRuleOnNewerSlots},
		{"NilAdvanceKeepsState", advanceNilAdvanceKeepsState},
		{"DecisionOfUnruledHostRollsBack", advanceDecisionOfUnruledHostRollsBack},
		{"SetRuleKeepsOtherHostsState", advanceSetRuleKeepsOtherHostsState},
	})
}

func advanceCalledForHostsWithRuleOnNewerSlots(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test", "c.test")
	ruleA := store.Rule{Host: "a.test", Threshold: 2, Action: "http://127.0.0.1:9/a"}
	ruleC := store.Rule{Host: "c.test", Threshold: 1, Action: "http://127.0.0.1:9/c"}
	setRule(t, s, ruleA)
	setRule(t, s, ruleC)
	rec := &recorder{}

	round1 := []store.Result{
		up("a.test", "", slot(1), ms(5)),
		down("b.test", "", slot(1), ms(5), "timeout"), // no rule: no call
		down("c.test", "", slot(1), ms(6), "refused"),
		up("gone.test", "", slot(1), ms(5)), // not stored: dropped, no call
	}
	save(t, s, round1, rec.alerting())
	first := store.State{Host: "a.test"}
	expectCalls(t, "first round", rec.reset(), []advanceCall{
		{ruleA, first, round1[0]},
		{ruleC, store.State{Host: "c.test"}, round1[2]},
	})
	stateA1 := nextState(store.State{}, round1[0])
	stateC1 := nextState(store.State{}, round1[2])
	expectState(t, "State a.test", stateOf(t, s, "a.test"), stateA1)
	expectState(t, "State b.test (no rule)", stateOf(t, s, "b.test"), store.State{Host: "b.test"})
	expectState(t, "State c.test", stateOf(t, s, "c.test"), stateC1)
	deliveries := []store.Delivery{pendingFor(ruleC, round1[2])}
	expectDeliveries(t, "DueDeliveries after round 1", dueOf(t, s, farFuture, 10), deliveries)

	// The same round again: stored once, no call, nothing enqueued.
	save(t, s, round1, rec.alerting())
	expectCalls(t, "same round again", rec.reset(), nil)
	expectDeliveries(t, "DueDeliveries after the same round", dueOf(t, s, farFuture, 10), deliveries)
	expectState(t, "State a.test after the same round", stateOf(t, s, "a.test"), stateA1)

	// An older slot is stored but does not advance.
	old := []store.Result{down("a.test", "", slot(0), ms(1), "timeout"), down("c.test", "", slot(0), ms(1), "timeout")}
	save(t, s, old, rec.alerting())
	expectCalls(t, "older round", rec.reset(), nil)
	expectDeliveries(t, "DueDeliveries after an older round", dueOf(t, s, farFuture, 10), deliveries)
	expectResults(t, "Results a.test", allResults(t, s, "a.test"), []store.Result{old[0], round1[0]})

	// Another location at the same slot does not advance either.
	save(t, s, []store.Result{down("a.test", "eu", slot(1), ms(1), "timeout")}, rec.alerting())
	expectCalls(t, "another location, same slot", rec.reset(), nil)

	// A newer slot continues from the stored state.
	round2 := []store.Result{down("a.test", "", slot(2), ms(7), "timeout"), up("c.test", "", slot(2), ms(8))}
	save(t, s, round2, rec.alerting())
	expectCalls(t, "second round", rec.reset(), []advanceCall{
		{ruleA, stateA1, round2[0]},
		{ruleC, stateC1, round2[1]},
	})
	expectState(t, "State a.test after round 2", stateOf(t, s, "a.test"), nextState(stateA1, round2[0]))
	expectState(t, "State c.test after round 2", stateOf(t, s, "c.test"), nextState(stateC1, round2[1]))
	deliveries = append(deliveries, pendingFor(ruleA, round2[0]))
	expectDeliveries(t, "DueDeliveries after round 2", dueOf(t, s, farFuture, 10), deliveries)
}

func advanceNilAdvanceKeepsState(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	setRule(t, s, store.Rule{Host: "a.test", Threshold: 1, Action: "http://127.0.0.1:9/"})
	r := down("a.test", "", slot(0), ms(1), "timeout")
	save(t, s, []store.Result{r}, nil)
	expectState(t, "State", stateOf(t, s, "a.test"), store.State{Host: "a.test"})
	expectDeliveries(t, "DueDeliveries", dueOf(t, s, farFuture, 10), []store.Delivery{})
	expectResults(t, "Results", allResults(t, s, "a.test"), []store.Result{r})
}

func advanceDecisionOfUnruledHostRollsBack(t *testing.T, open opener) {
	// A state or delivery of a host that Decide was not given (an empty
	// host included) rolls the whole save back.
	for _, tc := range []struct {
		name   string
		decide func(in store.AlertInput) ([]store.State, []store.Delivery)
	}{
		{"DeliveryWithoutHost", func(in store.AlertInput) ([]store.State, []store.Delivery) {
			return nil, []store.Delivery{{URL: "http://127.0.0.1:9/", Created: slot(1), NextAttempt: slot(1)}}
		}},
		{"DeliveryOfHostWithoutRule", func(in store.AlertInput) ([]store.State, []store.Delivery) {
			return nil, []store.Delivery{{Host: "b.test", URL: "http://127.0.0.1:9/", Created: slot(1), NextAttempt: slot(1)}}
		}},
		{"StateOfHostWithoutRule", func(in store.AlertInput) ([]store.State, []store.Delivery) {
			return []store.State{{Host: "b.test", Status: "down", LastSlot: slot(1)}}, nil
		}},
		{"UnknownStatus", func(in store.AlertInput) ([]store.State, []store.Delivery) {
			return nil, []store.Delivery{{Host: "a.test", URL: "http://127.0.0.1:9/", Created: slot(1), NextAttempt: slot(1), Status: "sent"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			addHosts(t, s, "a.test", "b.test")
			setRule(t, s, store.Rule{Host: "a.test", Threshold: 1, Action: "http://127.0.0.1:9/a"})
			save(t, s, []store.Result{up("a.test", "", slot(0), ms(1))}, nil)
			rs := []store.Result{down("a.test", "eu", slot(1), ms(1), "timeout"), down("b.test", "", slot(1), ms(1), "timeout")}
			if err := s.SaveRound(t.Context(), rs, &store.Alerting{Decide: tc.decide}); err == nil {
				t.Fatal("SaveRound: no error")
			}
			expectResults(t, "Results a.test", allResults(t, s, "a.test"), []store.Result{up("a.test", "", slot(0), ms(1))})
			expectResults(t, "Results b.test", allResults(t, s, "b.test"), []store.Result{})
			expectDeliveries(t, "DueDeliveries", dueOf(t, s, farFuture, 10), []store.Delivery{})
			expectState(t, "State a.test", stateOf(t, s, "a.test"), store.State{Host: "a.test"})
			expectLocations(t, "Locations", locationsOf(t, s), []store.Location{{Name: "", LastSlot: slot(0)}})
		})
	}
}

func advanceSetRuleKeepsOtherHostsState(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	setRule(t, s, store.Rule{Host: "a.test", Threshold: 1, Action: "http://127.0.0.1:9/"})
	r := up("a.test", "", slot(0), ms(1))
	save(t, s, []store.Result{r}, (&recorder{}).alerting())
	setRule(t, s, store.Rule{Host: "b.test", Threshold: 1, Action: "http://127.0.0.1:9/"})
	expectState(t, "State a.test", stateOf(t, s, "a.test"), nextState(store.State{}, r))
}

// setupDeliveries opens a store and enqueues three deliveries: b.test's at slot 1, a.test's at slot
// 3 (enqueued first) and a.test's at slot 5.
func setupDeliveries(t *testing.T, open opener) (store.Store, []store.Delivery) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	ruleA := store.Rule{Host: "a.test", Threshold: 1, Action: "http://127.0.0.1:9/a"}
	ruleB := store.Rule{Host: "b.test", Threshold: 1, Action: "http://127.0.0.1:9/b"}
	setRule(t, s, ruleA)
	setRule(t, s, ruleB)
	rec := &recorder{}
	a3 := down("a.test", "", slot(3), ms(1), "timeout")
	b1 := down("b.test", "", slot(1), ms(1), "timeout")
	a5 := down("a.test", "", slot(5), ms(1), "refused")
	save(t, s, []store.Result{a3}, rec.alerting())
	save(t, s, []store.Result{b1}, rec.alerting())
	save(t, s, []store.Result{a5}, rec.alerting())
	want := []store.Delivery{pendingFor(ruleB, b1), pendingFor(ruleA, a3), pendingFor(ruleA, a5)}
	got := dueOf(t, s, farFuture, 10)
	expectDeliveries(t, "setup: DueDeliveries", got, want)
	if len(got) != len(want) {
		t.FailNow()
	}
	return s, got
}

func testDeliveries(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"DueByNextAttemptOldestFirstWithLimit", deliveriesDueByNextAttemptOldestFirstWithLimit},
		{"PendingRetryThenDelivered", deliveriesPendingRetryThenDelivered},
		{"PendingToFailed", deliveriesPendingToFailed},
		{"DeliveredNeverPendingAgain", deliveriesDeliveredNeverPendingAgain},
		{"UnknownIDIsErrNotFound", deliveriesUnknownIDIsErrNotFound},
		{"Claims", testClaims},
	})
}

func deliveriesDueByNextAttemptOldestFirstWithLimit(t *testing.T, open opener) {
	s, all := setupDeliveries(t, open)
	for _, tc := range []struct {
		name  string
		now   time.Time
		limit int
		want  []store.Delivery
	}{
		{"BeforeAny", slot(1).Add(-time.Microsecond), 10, []store.Delivery{}},
		{"ExactlyAtNextAttempt", slot(1), 10, all[:1]},
		{"BetweenTwo", slot(4), 10, all[:2]},
		{"All", slot(5), 10, all},
		{"Limit1", farFuture, 1, all[:1]},
		{"Limit2", farFuture, 2, all[:2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dueOf(t, s, tc.now, tc.limit)
			expectDeliveries(t, "DueDeliveries", got, tc.want)
			for i := range min(len(got), len(tc.want)) {
				if got[i].ID != tc.want[i].ID {
					t.Errorf("[%d] ID %d, want %d", i, got[i].ID, tc.want[i].ID)
				}
			}
		})
	}
}

func deliveriesPendingRetryThenDelivered(t *testing.T, open opener) {
	s, all := setupDeliveries(t, open)
	retry := all[0]
	retry.Attempts = 1
	retry.LastError = "connection refused"
	retry.NextAttempt = slot(10)
	retry.URL = "http://127.0.0.1:9/changed" // not an attempt's field: ignored
	retry.Host = "a.test"
	retry.Created = slot(9)
	if err := s.UpdateDelivery(t.Context(), retry); err != nil {
		t.Fatalf("UpdateDelivery(pending): %v", err)
	}
	expectDeliveries(t, "due before the next attempt", dueOf(t, s, slot(10).Add(-time.Microsecond), 10), all[1:])
	want := all[0]
	want.Attempts, want.LastError, want.NextAttempt = 1, "connection refused", slot(10)
	expectDeliveries(t, "due at the next attempt", dueOf(t, s, slot(10), 10), []store.Delivery{all[1], all[2], want})

	done := want
	done.Attempts = 2
	done.LastError = ""
	done.Status = store.DeliveryDelivered
	if err := s.UpdateDelivery(t.Context(), done); err != nil {
		t.Fatalf("UpdateDelivery(delivered): %v", err)
	}
	expectDeliveries(t, "due after delivered", dueOf(t, s, farFuture, 10), all[1:])
	// A delivered delivery stays delivered across retention of results.
	if _, err := s.DeleteResultsBefore(t.Context(), slot(0)); err != nil {
		t.Fatalf("DeleteResultsBefore: %v", err)
	}
	expectDeliveries(t, "due after retention", dueOf(t, s, farFuture, 10), all[1:])
}

func deliveriesPendingToFailed(t *testing.T, open opener) {
	s, all := setupDeliveries(t, open)
	failed := all[1]
	failed.Attempts = 5
	failed.LastError = "HTTP 500"
	failed.Status = store.DeliveryFailed
	if err := s.UpdateDelivery(t.Context(), failed); err != nil {
		t.Fatalf("UpdateDelivery(failed): %v", err)
	}
	expectDeliveries(t, "due after failed", dueOf(t, s, farFuture, 10), []store.Delivery{all[0], all[2]})
	if _, err := s.DeleteResultsBefore(t.Context(), farFuture); err != nil {
		t.Fatalf("DeleteResultsBefore: %v", err)
	}
	expectDeliveries(t, "due after retention", dueOf(t, s, farFuture, 10), []store.Delivery{all[0], all[2]})
}

func deliveriesDeliveredNeverPendingAgain(t *testing.T, open opener) {
	s, all := setupDeliveries(t, open)
	done := all[0]
	done.Attempts, done.Status = 1, store.DeliveryDelivered
	if err := s.UpdateDelivery(t.Context(), done); err != nil {
		t.Fatalf("UpdateDelivery(delivered): %v", err)
	}
	failed := all[1]
	failed.Attempts, failed.Status, failed.LastError = 1, store.DeliveryFailed, "HTTP 500"
	if err := s.UpdateDelivery(t.Context(), failed); err != nil {
		t.Fatalf("UpdateDelivery(failed): %v", err)
	}
	for _, d := range []store.Delivery{done, failed} {
		for _, status := range []string{store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed} {
			again := d
			again.Attempts, again.Status, again.NextAttempt = 9, status, slot(0)
			expectStale(t, fmt.Sprintf("UpdateDelivery(%s → %s)", d.Status, status), s.UpdateDelivery(t.Context(), again))
		}
	}
	expectDeliveries(t, "due after the stale updates", dueOf(t, s, farFuture, 10), all[2:])
	expectDeliveries(t, "claimed after the stale updates", claimOf(t, s, farFuture, farFuture, 10),
		[]store.Delivery{claimedAs(all[2], farFuture)})
}

func deliveriesUnknownIDIsErrNotFound(t *testing.T, open opener) {
	s, all := setupDeliveries(t, open)
	var maxID int64
	for _, d := range all {
		maxID = max(maxID, d.ID)
	}
	unknown := all[0]
	unknown.ID = maxID + 1000
	unknown.Status = store.DeliveryDelivered
	expectNotFound(t, "UpdateDelivery(unknown ID)", s.UpdateDelivery(t.Context(), unknown))
	expectDeliveries(t, "due after the failed update", dueOf(t, s, farFuture, 10), all)
}

// setupClaims enqueues, through s, each deliveries for each of hosts
// h0.test…: one per down result at slots 0…each-1, a round per slot, and
// returns them as DueDeliveries lists them (by slot, then host).
func setupClaims(t *testing.T, s store.Store, hosts, each int) []store.Delivery {
	t.Helper()
	for h := range hosts {
		host := fmt.Sprintf("h%d.test", h)
		addHosts(t, s, host)
		setRule(t, s, store.Rule{Host: host, Threshold: 1, Action: "http://127.0.0.1:9/" + host})
	}
	for i := range each { // a round per slot, oldest first, so that each advances
		rs := make([]store.Result, hosts)
		for h := range rs {
			rs[h] = down(fmt.Sprintf("h%d.test", h), "", slot(i), ms(h), "timeout")
		}
		save(t, s, rs, (&recorder{}).alerting())
	}
	all := dueOf(t, s, farFuture, hosts*each+1)
	if len(all) != hosts*each {
		t.Fatalf("setup: %d deliveries due, want %d", len(all), hosts*each)
	}
	return all
}

// record stores d's outcome, failing the test on an error.
func record(t *testing.T, s store.Store, d store.Delivery) {
	t.Helper()
	if err := s.UpdateDelivery(t.Context(), d); err != nil {
		t.Fatalf("UpdateDelivery(%s): %v", fmtDelivery(d), err)
	}
}

// setupClaimsIn opens a store and enqueues deliveries in it (setupClaims).
func setupClaimsIn(t *testing.T, open opener, hosts, each int) (store.Store, []store.Delivery) {
	s := open(t)
	return s, setupClaims(t, s, hosts, each)
}

func testClaims(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"OnePerHostInOrder", claimsOnePerHostInOrder},
		{"AttemptedLaterDeliveryHoldsTheHost", claimsAttemptedLaterDeliveryHoldsTheHost},
		{"LaterNotYetDueDoesNotHold", claimsLaterNotYetDueDoesNotHold},
		{"ConcurrentClaimsOneAtATimePerHost", claimsConcurrentClaimsOneAtATimePerHost},
		{"StaleUpdateChangesNothing", claimsStaleUpdateChangesNothing},
		{"OwnUpdateAfterClaim", claimsOwnUpdateAfterClaim},
		{"CancelledClaimChangesNothing", claimsCancelledClaimChangesNothing},
	})
}

func claimsOnePerHostInOrder(t *testing.T, open opener) {
	s, all := setupClaimsIn(t, open, 2, 4) // h0 and h1, due at slots 0…3: all[2*i+h]
	lease := slot(30)
	expectDeliveries(t, "claim before any is due", claimOf(t, s, slot(0).Add(-time.Microsecond), lease, 10), []store.Delivery{})
	expectDeliveries(t, "claim with limit 0", claimOf(t, s, farFuture, lease, 0), []store.Delivery{})

	h0 := claimOf(t, s, slot(3), lease, 1) // the limit takes one
	expectClaimed(t, "first claim", h0, all[:1], lease)
	h1 := claimOf(t, s, slot(3), lease, 10) // h0's are held back by its claimed one
	expectClaimed(t, "second claim", h1, all[1:2], lease)
	if len(h0) != 1 || len(h1) != 1 {
		t.FailNow()
	}
	expectDeliveries(t, "claim while each host's oldest is leased", claimOf(t, s, lease.Add(-time.Microsecond), farFuture, 10), []store.Delivery{})
	expectDeliveries(t, "due while each host's oldest is leased", dueOf(t, s, slot(3), 10), all[2:])

	// Delivered: the host's next one is claimable.
	done := h0[0]
	done.Status = store.DeliveryDelivered
	record(t, s, done)
	h0 = claimOf(t, s, slot(3), lease, 10)
	expectClaimed(t, "claim after h0's first is delivered", h0, all[2:3], lease)

	// A failed attempt holds its host back for its backoff.
	retry := h1[0]
	retry.NextAttempt, retry.LastError = slot(20), "HTTP 503"
	record(t, s, retry)
	expectDeliveries(t, "claim while h1 waits out a backoff", claimOf(t, s, slot(19), lease, 10), []store.Delivery{})

	// Given up: the host's next one is claimable.
	gaveUp := h0[0]
	gaveUp.Status, gaveUp.LastError = store.DeliveryFailed, "HTTP 500"
	record(t, s, gaveUp)
	h0 = claimOf(t, s, slot(19), lease, 10)
	expectClaimed(t, "claim after h0's second is given up", h0, all[4:5], lease)

	// The backoff ends: the same delivery again, not a later one.
	h1 = claimOf(t, s, slot(20), lease, 10)
	expectClaimed(t, "claim when h1's backoff ends", h1, []store.Delivery{retry}, lease)

	// The leases end: the same deliveries again, by next attempt
	// (the same lease) then ID.
	again := claimOf(t, s, lease, farFuture, 10)
	var h1Stored store.Delivery
	if len(h1) == 1 {
		h1Stored = h1[0]
	}
	want := []store.Delivery{h1Stored, all[4]}
	want[1] = claimedAs(want[1], lease)
	expectClaimed(t, "claim when the leases end", again, want, farFuture)
}

func claimsAttemptedLaterDeliveryHoldsTheHost(t *testing.T, open opener) {
	// A delivery claimed while it was its host's oldest holds the
	// host even when an older one is enqueued after it (a round of
	// an older slot saved once the rule was set again).
	s := open(t)
	rule := store.Rule{Host: "h.test", Threshold: 1, Action: "http://127.0.0.1:9/h"}
	addHosts(t, s, rule.Host)
	setRule(t, s, rule)
	save(t, s, []store.Result{down(rule.Host, "", slot(2), ms(1), "timeout")}, (&recorder{}).alerting())
	later := claimOf(t, s, slot(2), slot(10), 10)
	if len(later) != 1 {
		t.Fatalf("claim: %d deliveries, want 1", len(later))
	}
	if err := s.DeleteRule(t.Context(), rule.Host); err != nil {
		t.Fatal(err)
	}
	setRule(t, s, rule)
	older := down(rule.Host, "", slot(1), ms(1), "timeout")
	save(t, s, []store.Result{older}, (&recorder{}).alerting())
	expectDeliveries(t, "claim while the later one is leased", claimOf(t, s, slot(3), slot(10), 10), []store.Delivery{})
	done := later[0]
	done.Status = store.DeliveryDelivered
	record(t, s, done)
	expectDeliveries(t, "claim once the later one is delivered", claimOf(t, s, slot(3), slot(10), 10),
		[]store.Delivery{claimedAs(pendingFor(rule, older), slot(10))})
}

func claimsLaterNotYetDueDoesNotHold(t *testing.T, open opener) {
	s, all := setupClaimsIn(t, open, 1, 2) // due at slots 0 and 1
	expectClaimed(t, "claim at slot 0", claimOf(t, s, slot(0), slot(10), 10), all[:1], slot(10))
}

func claimsConcurrentClaimsOneAtATimePerHost(t *testing.T, open opener) {
	ConcurrentClaims(t, open(t))
}

func claimsStaleUpdateChangesNothing(t *testing.T, open opener) {
	s, all := setupClaimsIn(t, open, 1, 2) // due at slots 0 and 1
	// Sender A claims; its lease ends before it records the outcome,
	// and sender B claims the delivery meanwhile.
	leaseA := slot(0).Add(30 * time.Second)
	a := claimOf(t, s, slot(0), leaseA, 10)
	expectClaimed(t, "A's claim", a, all[:1], leaseA)
	b := claimOf(t, s, leaseA, slot(9), 10)
	expectClaimed(t, "B's claim", b, []store.Delivery{claimedAs(all[0], leaseA)}, slot(9))
	if len(a) != 1 || len(b) != 1 {
		t.FailNow()
	}
	if b[0].Attempts <= a[0].Attempts {
		t.Errorf("B's claim has attempts %d, A's %d: want B's higher", b[0].Attempts, a[0].Attempts)
	}

	// A's late outcome, whatever it is, changes nothing while B holds the claim.
	for _, status := range []string{store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed} {
		late := a[0]
		late.Status, late.LastError, late.NextAttempt = status, "timeout", slot(6)
		expectStale(t, "A's late "+status, s.UpdateDelivery(t.Context(), late))
	}
	expectDeliveries(t, "due after A's late updates", dueOf(t, s, slot(9), 10), []store.Delivery{all[1], b[0]})

	// B succeeds; A's late outcome after B's success changes nothing either.
	done := b[0]
	done.Status = store.DeliveryDelivered
	record(t, s, done)
	for _, status := range []string{store.DeliveryPending, store.DeliveryFailed} {
		late := a[0]
		late.Status, late.LastError, late.NextAttempt = status, "timeout", slot(6)
		expectStale(t, "A's late "+status+" after B's success", s.UpdateDelivery(t.Context(), late))
	}
	expectDeliveries(t, "due after B's success", dueOf(t, s, farFuture, 10), all[1:])
	expectDeliveries(t, "claimed after B's success", claimOf(t, s, farFuture, farFuture, 10),
		[]store.Delivery{claimedAs(all[1], farFuture)})
}

func claimsOwnUpdateAfterClaim(t *testing.T, open opener) {
	s, all := setupClaimsIn(t, open, 1, 1)
	c := claimOf(t, s, slot(0), slot(5), 1)
	if len(c) != 1 {
		t.Fatalf("claim: %d deliveries", len(c))
	}
	retry := c[0]
	retry.NextAttempt, retry.LastError = slot(2), "HTTP 503"
	record(t, s, retry)
	want := all[0]
	want.Attempts, want.NextAttempt, want.LastError = 1, slot(2), "HTTP 503"
	expectDeliveries(t, "due after the retry", dueOf(t, s, slot(2), 10), []store.Delivery{want})
}

func claimsCancelledClaimChangesNothing(t *testing.T, open opener) {
	s, all := setupClaimsIn(t, open, 2, 1)
	if _, err := s.ClaimDeliveries(cancelled(t), farFuture, farFuture, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("ClaimDeliveries with a cancelled context: got %v, want context.Canceled", err)
	}
	expectDeliveries(t, "due after a cancelled claim", dueOf(t, s, farFuture, 10), all)
}

// ConcurrentClaims checks claims made at once through handles on one
// empty store (several for PostgreSQL: as many processes sharing a
// database; the first is used for the setup). Claimers claim from the
// handles in turn and record each claimed delivery delivered, until all
// are: each delivery must be claimed exactly once, a host's never while
// another of the host's is claimed, and in the host's order.
func ConcurrentClaims(t *testing.T, handles ...store.Store) {
	const (
		hosts    = 6
		each     = 12
		claimers = 8
	)
	all := setupClaims(t, handles[0], hosts, each)
	tally := &claimTally{claimed: map[int64]int{}, order: map[string][]int64{}, holding: map[string]int64{}, total: len(all)}
	deadline := time.Now().Add(30 * time.Second)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range claimers {
		s := handles[i%len(handles)]
		wg.Go(func() {
			<-start
			tally.claimUntilDelivered(t.Context(), s, slot(each), deadline)
		})
	}
	close(start)
	wg.Wait()
	tally.expect(t, all)
	expectDeliveries(t, "due after the claims", dueOf(t, handles[0], farFuture, 10), []store.Delivery{})
}

// claimTally is what ConcurrentClaims's claimers saw, under mu.
type claimTally struct {
	mu        sync.Mutex
	claimed   map[int64]int
	order     map[string][]int64 // each host's deliveries as claimed
	holding   map[string]int64   // each host's delivery claimed and not yet recorded
	delivered int
	total     int // deliveries to deliver
	errs      []error
}

func (c *claimTally) fail(err error) { c.mu.Lock(); c.errs = append(c.errs, err); c.mu.Unlock() }

func (c *claimTally) finished() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.delivered == c.total || len(c.errs) > 0
}

// claimUntilDelivered claims deliveries due at now from s, a few at a
// time, and records each delivered, until every one is, something
// failed, or the deadline passed.
func (c *claimTally) claimUntilDelivered(ctx context.Context, s store.Store, now, deadline time.Time) {
	const limit = 4
	for !c.finished() && time.Now().Before(deadline) {
		ds, err := s.ClaimDeliveries(ctx, now, farFuture, limit)
		if err != nil {
			c.fail(fmt.Errorf("ClaimDeliveries: %w", err))
			return
		}
		c.noteClaimed(ds)
		time.Sleep(time.Millisecond) // the GETs: so that claims overlap
		for _, d := range ds {
			c.mu.Lock()
			delete(c.holding, d.Host) // before the outcome: the host's next one may be claimed once it is recorded
			c.mu.Unlock()
			d.Status = store.DeliveryDelivered
			if err := s.UpdateDelivery(ctx, d); err != nil {
				c.fail(fmt.Errorf("UpdateDelivery(%s): %w", fmtDelivery(d), err))
				return
			}
			c.mu.Lock()
			c.delivered++
			c.mu.Unlock()
		}
		if len(ds) == 0 {
			time.Sleep(time.Millisecond) // the other claimers hold every host
		}
	}
}

// noteClaimed counts the claim of ds; a delivery claimed while another of
// its host is held is an error.
func (c *claimTally) noteClaimed(ds []store.Delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range ds {
		c.claimed[d.ID]++
		c.order[d.Host] = append(c.order[d.Host], d.ID)
		if id, ok := c.holding[d.Host]; ok {
			c.errs = append(c.errs, fmt.Errorf("claimed %s while %d of its host is claimed", fmtDelivery(d), id))
		}
		c.holding[d.Host] = d.ID
	}
}

// expect checks, once the claimers are done, that every delivery of all
// was delivered and claimed exactly once, and each host's in its order.
func (c *claimTally) expect(t *testing.T, all []store.Delivery) {
	for _, err := range c.errs[:min(len(c.errs), 10)] {
		t.Error(err)
	}
	if c.delivered != len(all) {
		t.Errorf("%d of %d deliveries delivered", c.delivered, len(all))
	}
	want := map[string][]int64{}
	for _, d := range all { // by slot, so each host's in its order
		want[d.Host] = append(want[d.Host], d.ID)
		if n := c.claimed[d.ID]; n != 1 {
			t.Errorf("delivery %d claimed %d times, want once", d.ID, n)
		}
	}
	for h, ids := range want {
		if !slices.Equal(c.order[h], ids) {
			t.Errorf("%s's deliveries claimed in the order %v, want %v", h, c.order[h], ids)
		}
	}
}

// claimOf claims up to limit deliveries due at now, leased until until.
func claimOf(t *testing.T, s store.Store, now, until time.Time, limit int) []store.Delivery {
	t.Helper()
	ds, err := s.ClaimDeliveries(t.Context(), now, until, limit)
	if err != nil {
		t.Fatalf("ClaimDeliveries(%v, %v, %d): %v", now, until, limit, err)
	}
	return ds
}

// claimedAs is d as a claim leased until until returns it.
func claimedAs(d store.Delivery, until time.Time) store.Delivery {
	d.Attempts++
	d.NextAttempt = until
	return d
}

// expectClaimed checks that got are want, claimed until until, with the
// same IDs in the same order.
func expectClaimed(t *testing.T, what string, got, want []store.Delivery, until time.Time) {
	t.Helper()
	claimed := make([]store.Delivery, len(want))
	for i, d := range want {
		claimed[i] = claimedAs(d, until)
	}
	expectDeliveries(t, what, got, claimed)
	for i := range min(len(got), len(want)) {
		if got[i].ID != want[i].ID {
			t.Errorf("%s: [%d] ID %d, want %d", what, i, got[i].ID, want[i].ID)
		}
	}
}

func expectStale(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrStale) {
		t.Errorf("%s: got error %v, want store.ErrStale", what, err)
	}
}

func testRules(t *testing.T, open opener) {
	ra := store.Rule{Host: "a.test", Threshold: 3, Action: "http://127.0.0.1:9/a?host=%host%"}
	rb := store.Rule{Host: "B.test", Threshold: 1, Action: "http://127.0.0.1:9/b"}
	rc := store.Rule{Host: "c.test", Threshold: 2, Action: "http://127.0.0.1:9/c"}

	t.Run("SetListGet", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test", "B.test", "c.test", "d.test")
		setRule(t, s, rc)
		setRule(t, s, ra)
		setRule(t, s, rb)
		expectRules(t, "Rules", rulesOf(t, s), []store.Rule{rb, ra, rc})
		for _, want := range []store.Rule{ra, rb, rc} {
			got, err := s.Rule(t.Context(), want.Host)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Rule(%q) = %+v, %v; want %+v", want.Host, got, err, want)
			}
		}
		_, err := s.Rule(t.Context(), "d.test")
		expectNotFound(t, "Rule of a host without one", err)
		expectState(t, "State of a host without one", stateOf(t, s, "d.test"), store.State{Host: "d.test"})
	})

	t.Run("SetRuleReplaces", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test")
		setRule(t, s, ra)
		replaced := store.Rule{Host: "a.test", Threshold: 7, Action: "http://127.0.0.1:9/new"}
		setRule(t, s, replaced)
		expectRules(t, "Rules", rulesOf(t, s), []store.Rule{replaced})
		if got, err := s.Rule(t.Context(), "a.test"); err != nil || !reflect.DeepEqual(got, replaced) {
			t.Errorf("Rule = %+v, %v; want %+v", got, err, replaced)
		}
	})

	t.Run("DeleteRuleRemovesState", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test", "c.test")
		setRule(t, s, ra)
		setRule(t, s, rc)
		round := []store.Result{up("a.test", "", slot(0), ms(1)), up("c.test", "", slot(0), ms(1))}
		save(t, s, round, (&recorder{}).alerting())
		if err := s.DeleteRule(t.Context(), "a.test"); err != nil {
			t.Fatalf("DeleteRule: %v", err)
		}
		_, err := s.Rule(t.Context(), "a.test")
		expectNotFound(t, "Rule after DeleteRule", err)
		expectRules(t, "Rules", rulesOf(t, s), []store.Rule{rc})
		expectState(t, "State after DeleteRule", stateOf(t, s, "a.test"), store.State{Host: "a.test"})
		expectState(t, "State of the other host", stateOf(t, s, "c.test"), nextState(store.State{}, round[1]))
		expectNotFound(t, "second DeleteRule", s.DeleteRule(t.Context(), "a.test"))
		if ok, err := s.HostExists(t.Context(), "a.test"); !ok || err != nil {
			t.Errorf("HostExists after DeleteRule = %v, %v; want true", ok, err)
		}
		expectResults(t, "Results after DeleteRule", allResults(t, s, "a.test"), round[:1])

		// A new rule starts from the zero state.
		setRule(t, s, ra)
		rec := &recorder{}
		r := down("a.test", "", slot(1), ms(1), "timeout")
		save(t, s, []store.Result{r}, rec.alerting())
		expectCalls(t, "advance after a new rule", rec.reset(), []advanceCall{{ra, store.State{Host: "a.test"}, r}})
	})

	t.Run("DeleteRuleOfHostWithoutRule", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test")
		err := s.DeleteRule(t.Context(), "a.test")
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteRule without a rule: got %v, want ErrNotFound", err)
		}
	})
}
