package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// emitAll returns a Restore.Results func that emits rs, then returns err.
func emitAll(rs []store.Result, err error) func(context.Context, func(store.Result) error) error {
	return func(ctx context.Context, emit func(store.Result) error) error {
		for _, r := range rs {
			if err := emit(r); err != nil {
				return err
			}
		}
		return err
	}
}

func testRestore(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"AddsKeepsReplacesIdempotent", restoreAddsKeepsReplacesIdempotent},
		{"NoResultsFunc", restoreNoResultsFunc},
		{"EmptyChangesNothing", restoreEmptyChangesNothing},
		{"RestoreIntoEmptyStore", restoreIntoEmptyStore},
	})
	for _, tc := range restoreFailures() {
		t.Run("AllOrNothing/"+tc.name, func(t *testing.T) { restoreAllOrNothing(t, open, tc) })
	}
}

// The rules and the result that seedRestore stores, and the rules that
// testRestore's restores bring.
var (
	restoreRX1      = store.Rule{Host: "x.test", Threshold: 1, Action: "http://127.0.0.1:9/x1"}
	restoreRX2      = store.Rule{Host: "x.test", Threshold: 2, Action: "http://127.0.0.1:9/x2"}
	restoreRY       = store.Rule{Host: "y.test", Threshold: 3, Action: "http://127.0.0.1:9/y"}
	restoreExisting = up("x.test", "", slot(0), ms(10))
)

// seedRestore opens a store and stores x.test with a result
// (restoreExisting) and a rule (restoreRX1), and w.test with a result.
func seedRestore(t *testing.T, open opener) store.Store {
	s := open(t)
	addHosts(t, s, "x.test", "w.test")
	setRule(t, s, restoreRX1)
	save(t, s, []store.Result{restoreExisting, up("w.test", "", slot(0), ms(1))}, nil)
	return s
}

func restoreAddsKeepsReplacesIdempotent(t *testing.T, open opener) {
	s := seedRestore(t, open)
	restored := []store.Result{
		down("x.test", "", slot(0), ms(99), "not the stored one"), // restoreExisting key: kept as stored
		up("y.test", "", slot(2), ms(2)),
		up("x.test", "", slot(1), ms(11)),
		up("y.test", "", slot(1), ms(1)), // out of order
		up("w.test", "", slot(1), ms(3)), // stored host not in Hosts: fine
		up("y.test", "eu", slot(1), ms(4)),
	}
	r := store.Restore{
		Hosts:   []string{"z.test", "x.test", "y.test", "y.test"},
		Rules:   []store.Rule{restoreRX2, restoreRY},
		Results: emitAll(restored, nil),
	}
	check := func(t *testing.T) {
		t.Helper()
		expectStrings(t, "Hosts", hostsOf(t, s), []string{"w.test", "x.test", "y.test", "z.test"})
		expectRules(t, "Rules", rulesOf(t, s), []store.Rule{restoreRX2, restoreRY})
		expectResults(t, "Results x.test", allResults(t, s, "x.test"), []store.Result{restoreExisting, restored[2]})
		expectResults(t, "Results y.test", allResults(t, s, "y.test"), []store.Result{restored[3], restored[5], restored[1]})
		expectResults(t, "Results w.test", allResults(t, s, "w.test"), []store.Result{up("w.test", "", slot(0), ms(1)), restored[4]})
		expectResults(t, "Results z.test", allResults(t, s, "z.test"), []store.Result{})
	}
	if err := s.Restore(t.Context(), r); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	check(t)
	before := dump(t, s)
	if err := s.Restore(t.Context(), r); err != nil {
		t.Fatalf("second Restore: %v", err)
	}
	check(t)
	if after := dump(t, s); after != before {
		t.Errorf("a second Restore changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func restoreNoResultsFunc(t *testing.T, open opener) {
	s := seedRestore(t, open)
	if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"y.test"}, Rules: []store.Rule{restoreRY}}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	expectStrings(t, "Hosts", hostsOf(t, s), []string{"w.test", "x.test", "y.test"})
	expectRules(t, "Rules", rulesOf(t, s), []store.Rule{restoreRX1, restoreRY})
	expectResults(t, "Results x.test", allResults(t, s, "x.test"), []store.Result{restoreExisting})
}

func restoreEmptyChangesNothing(t *testing.T, open opener) {
	s := seedRestore(t, open)
	before := dump(t, s)
	if err := s.Restore(t.Context(), store.Restore{}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if after := dump(t, s); after != before {
		t.Errorf("an empty Restore changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func restoreIntoEmptyStore(t *testing.T, open opener) {
	s := open(t)
	var rs []store.Result
	for i := range 3000 {
		rs = append(rs, up("b.test", "", slot(i), ms(i%40)), down("a.test", "", slot(i), ms(1), "timeout"))
	}
	err := s.Restore(t.Context(), store.Restore{Hosts: []string{"b.test", "a.test"}, Results: emitAll(rs, nil)})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	expectStrings(t, "Hosts", hostsOf(t, s), []string{"a.test", "b.test"})
	for _, h := range []string{"a.test", "b.test"} {
		var want []store.Result
		for _, r := range rs {
			if r.Host == h {
				want = append(want, r)
			}
		}
		expectResults(t, "Results "+h, allResults(t, s, h), want)
	}
}

// restoreCase is a restore that must fail and change nothing.
type restoreCase struct {
	name    string
	rules   []store.Rule
	results func(context.Context, func(store.Result) error) error
	wantErr error // nil: any error
}

// restoreFailures lists the restores that restoreAllOrNothing makes fail.
func restoreFailures() []restoreCase {
	many := make([]store.Result, 25000)
	for i := range many {
		many[i] = up("new.test", "", slot(i), ms(i%50))
	}
	valid := []store.Result{up("x.test", "", slot(5), ms(5)), up("new.test", "", slot(5), ms(5)), up("w.test", "", slot(5), ms(5))}
	ghost := up("ghost.test", "", slot(5), ms(5))
	rnew := store.Rule{Host: "new.test", Threshold: 1, Action: "http://127.0.0.1:9/new"}
	rghost := store.Rule{Host: "ghost.test", Threshold: 1, Action: "http://127.0.0.1:9/ghost"}
	return []restoreCase{
		{"ResultsErrorMidway", []store.Rule{restoreRX2, rnew}, emitAll(valid, errStop), errStop},
		{"ResultsErrorAfterManyRows", []store.Rule{rnew}, emitAll(append(many, valid...), errStop), errStop},
		{"ResultForUnknownHost", []store.Rule{restoreRX2, rnew}, emitAll(append(append(valid[:2:2], ghost), many...), nil), nil},
		{"ResultForUnknownHostEmitErrorIgnored", []store.Rule{restoreRX2}, func(ctx context.Context, emit func(store.Result) error) error {
			for _, r := range append(valid[:1:1], ghost, valid[1]) {
				_ = emit(r) // a careless Results func: the restore must fail anyway
			}
			return nil
		}, nil},
		{"RuleForUnknownHost", []store.Rule{restoreRX2, rghost, rnew}, emitAll(valid, nil), nil},
	}
}

// restoreAllOrNothing checks that tc's restore into a seeded store fails
// and changes nothing.
func restoreAllOrNothing(t *testing.T, open opener, tc restoreCase) {
	s := seedRestore(t, open)
	before := dump(t, s, "new.test", "ghost.test")
	err := s.Restore(t.Context(), store.Restore{
		Hosts:   []string{"new.test", "x.test"},
		Rules:   tc.rules,
		Results: tc.results,
	})
	switch {
	case err == nil:
		t.Errorf("Restore returned nil, want an error")
	case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
		t.Errorf("Restore: got %v, want the Results func's error", err)
	}
	if after := dump(t, s, "new.test", "ghost.test"); after != before {
		t.Errorf("a failed Restore changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// testRestoreIntoHistory restores into hosts that hold results already,
// some compacted or summarised, some just stored by rounds: a few results
// far apart, many, none, and a new host's. What is stored wins, then the
// backup's first result of a key, and the buckets stay exact.
func testRestoreIntoHistory(t *testing.T, open opener) {
	const hours = 10
	s := open(t)
	addHosts(t, s, "a.test", "b.test", "c.test")
	var stored []store.Result
	for _, h := range []string{"a.test", "b.test", "c.test"} {
		stored = append(stored, hoursOfChecks(h, "", hours)...)
	}
	save(t, s, stored[:len(stored)/2], nil)
	summarise(t, s, minute(hours*60+24*60))
	save(t, s, stored[len(stored)/2:], nil)
	var backup []store.Result
	for _, i := range []int{5, 6, 7, 8 * 60, 8*60 + 1, hours*60 + 30} { // a.test: a few, far apart
		backup = append(backup, up("a.test", "", minute(i), ms(2)), up("a.test", "us", minute(i), ms(1)))
	}
	for _, r := range hoursOfChecks("b.test", "", hours+2) { // b.test: many, most stored already
		backup = append(backup, up(r.Host, r.Location, r.Slot, ms(1)))
	}
	backup = append(backup, hoursOfChecks("d.test", "eu", 3)...)
	// Keys the backup repeats: its first result of each is stored.
	backup = append(backup, up("a.test", "us", minute(5), ms(99)), up("d.test", "eu", minute(0), ms(99)))
	if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"d.test"}, Results: emitAll(backup, nil)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for _, h := range []string{"a.test", "b.test", "c.test", "d.test"} {
		var want []store.Result
		have := map[string]bool{}
		for _, r := range append(stored, backup...) { // stored first: it wins
			k := r.Slot.String() + "/" + r.Location
			if r.Host == h && !have[k] {
				have[k] = true
				want = append(want, r)
			}
		}
		slices.SortFunc(want, func(a, b store.Result) int {
			return cmp.Or(a.Slot.Compare(b.Slot), cmp.Compare(a.Location, b.Location))
		})
		expectResults(t, "Results "+h, allResults(t, s, h), want)
		expectBucketsOfEveryGrid(t, s, h, minute(0), minute((hours+2)*60))
	}
}

// testRestoreCancelled cancels a restore's context while it streams a
// backup larger than one batch: the restore stops within a few results,
// returns the context's error and stores nothing.
func testRestoreCancelled(t *testing.T, open opener) {
	for _, at := range []int{10, 30000} {
		t.Run(fmt.Sprintf("After%d", at), func(t *testing.T) {
			s := open(t)
			addHosts(t, s, "x.test")
			save(t, s, []store.Result{up("x.test", "", slot(0), ms(1))}, nil)
			before := dump(t, s, "new.test")
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var cancelledAt time.Time
			after := 0 // results emit took after the cancel
			err := s.Restore(ctx, store.Restore{Hosts: []string{"new.test"}, Results: func(ctx context.Context, emit func(store.Result) error) error {
				for i := range 200000 {
					if i == at {
						cancel()
						cancelledAt = time.Now()
					}
					if err := emit(up([]string{"new.test", "x.test"}[i%2], "", slot(i/2+1), ms(i%50))); err != nil {
						return err
					}
					if i >= at {
						after++
					}
				}
				return nil
			}})
			took := time.Since(cancelledAt)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Restore = %v, want context.Canceled", err)
			}
			if after > 1024 {
				t.Errorf("emit took %d results after the cancel, want at most 1024", after)
			}
			if took > 5*time.Second {
				t.Errorf("Restore returned %v after the cancel", took)
			}
			if got := dump(t, s, "new.test"); got != before {
				t.Errorf("a cancelled Restore changed the store:\nbefore:\n%s\nafter:\n%s", before, got)
			}
		})
	}
}
