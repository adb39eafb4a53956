package storetest

import (
	"context"
	"errors"
	"testing"

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
	rx1 := store.Rule{Host: "x.test", Threshold: 1, Action: "http://127.0.0.1:9/x1"}
	rx2 := store.Rule{Host: "x.test", Threshold: 2, Action: "http://127.0.0.1:9/x2"}
	ry := store.Rule{Host: "y.test", Threshold: 3, Action: "http://127.0.0.1:9/y"}
	existing := up("x.test", "", slot(0), ms(10))

	// seed stores x.test with a result and a rule, and w.test with a result.
	seed := func(t *testing.T) store.Store {
		s := open(t)
		addHosts(t, s, "x.test", "w.test")
		setRule(t, s, rx1)
		save(t, s, []store.Result{existing, up("w.test", "", slot(0), ms(1))}, nil)
		return s
	}

	t.Run("AddsKeepsReplacesIdempotent", func(t *testing.T) {
		s := seed(t)
		restored := []store.Result{
			down("x.test", "", slot(0), ms(99), "not the stored one"), // existing key: kept as stored
			up("y.test", "", slot(2), ms(2)),
			up("x.test", "", slot(1), ms(11)),
			up("y.test", "", slot(1), ms(1)), // out of order
			up("w.test", "", slot(1), ms(3)), // stored host not in Hosts: fine
			up("y.test", "eu", slot(1), ms(4)),
		}
		r := store.Restore{
			Hosts:   []string{"z.test", "x.test", "y.test", "y.test"},
			Rules:   []store.Rule{rx2, ry},
			Results: emitAll(restored, nil),
		}
		check := func(t *testing.T) {
			t.Helper()
			expectStrings(t, "Hosts", hostsOf(t, s), []string{"w.test", "x.test", "y.test", "z.test"})
			expectRules(t, "Rules", rulesOf(t, s), []store.Rule{rx2, ry})
			expectResults(t, "Results x.test", allResults(t, s, "x.test"), []store.Result{existing, restored[2]})
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
	})

	t.Run("NoResultsFunc", func(t *testing.T) {
		s := seed(t)
		if err := s.Restore(t.Context(), store.Restore{Hosts: []string{"y.test"}, Rules: []store.Rule{ry}}); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		expectStrings(t, "Hosts", hostsOf(t, s), []string{"w.test", "x.test", "y.test"})
		expectRules(t, "Rules", rulesOf(t, s), []store.Rule{rx1, ry})
		expectResults(t, "Results x.test", allResults(t, s, "x.test"), []store.Result{existing})
	})

	t.Run("EmptyChangesNothing", func(t *testing.T) {
		s := seed(t)
		before := dump(t, s)
		if err := s.Restore(t.Context(), store.Restore{}); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if after := dump(t, s); after != before {
			t.Errorf("an empty Restore changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("RestoreIntoEmptyStore", func(t *testing.T) {
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
	})

	many := make([]store.Result, 25000)
	for i := range many {
		many[i] = up("new.test", "", slot(i), ms(i%50))
	}
	valid := []store.Result{up("x.test", "", slot(5), ms(5)), up("new.test", "", slot(5), ms(5)), up("w.test", "", slot(5), ms(5))}
	ghost := up("ghost.test", "", slot(5), ms(5))
	rnew := store.Rule{Host: "new.test", Threshold: 1, Action: "http://127.0.0.1:9/new"}
	rghost := store.Rule{Host: "ghost.test", Threshold: 1, Action: "http://127.0.0.1:9/ghost"}
	for _, tc := range []struct {
		name    string
		rules   []store.Rule
		results func(context.Context, func(store.Result) error) error
		wantErr error // nil: any error
	}{
		{"ResultsErrorMidway", []store.Rule{rx2, rnew}, emitAll(valid, errStop), errStop},
		{"ResultsErrorAfterManyRows", []store.Rule{rnew}, emitAll(append(many, valid...), errStop), errStop},
		{"ResultForUnknownHost", []store.Rule{rx2, rnew}, emitAll(append(append(valid[:2:2], ghost), many...), nil), nil},
		{"ResultForUnknownHostEmitErrorIgnored", []store.Rule{rx2}, func(ctx context.Context, emit func(store.Result) error) error {
			for _, r := range append(valid[:1:1], ghost, valid[1]) {
				_ = emit(r) // a careless Results func: the restore must fail anyway
			}
			return nil
		}, nil},
		{"RuleForUnknownHost", []store.Rule{rx2, rghost, rnew}, emitAll(valid, nil), nil},
	} {
		t.Run("AllOrNothing/"+tc.name, func(t *testing.T) {
			s := seed(t)
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
		})
	}
}
