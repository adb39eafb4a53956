package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/srvmon/srvmon/pkg/store"
)

func hostName(i int) string { return fmt.Sprintf("host%05d.test", i) }

func testResults(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"OrderBySlotThenLocation", resultsOrderBySlotThenLocation},
		{"HalfOpenRange", resultsHalfOpenRange},
		{"LongStreamWithLocations", resultsLongStreamWithLocations},
		{"NoResultsIsEmpty", resultsNoResultsIsEmpty},
		{"ErrorFromFnStops", resultsErrorFromFnStops},
	})
}

func resultsOrderBySlotThenLocation(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	// Locations sort by byte order: "" < "US-east" < "eu-west" < "us-west".
	save(t, s, []store.Result{
		up("a.test", "us-west", slot(2), ms(3)),
		up("a.test", "", slot(2), ms(1)),
		up("b.test", "", slot(1), ms(100)),
		down("a.test", "eu-west", slot(0), ms(5), "timeout"),
	}, nil)
	save(t, s, []store.Result{
		up("a.test", "US-east", slot(2), ms(2)),
		up("a.test", "", slot(1), ms(7)),
		up("a.test", "", slot(0), ms(4)),
		up("a.test", "us-west", slot(0), ms(6)),
	}, nil)
	expectResults(t, "Results a.test", allResults(t, s, "a.test"), []store.Result{
		up("a.test", "", slot(0), ms(4)),
		down("a.test", "eu-west", slot(0), ms(5), "timeout"),
		up("a.test", "us-west", slot(0), ms(6)),
		up("a.test", "", slot(1), ms(7)),
		up("a.test", "", slot(2), ms(1)),
		up("a.test", "US-east", slot(2), ms(2)),
		up("a.test", "us-west", slot(2), ms(3)),
	})
	expectResults(t, "Results b.test", allResults(t, s, "b.test"), []store.Result{up("b.test", "", slot(1), ms(100))})
}

func resultsHalfOpenRange(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	var all []store.Result
	for i := range 6 {
		all = append(all, up("a.test", "", slot(i), ms(i+1)))
	}
	save(t, s, all, nil)
	for _, tc := range []struct {
		name       string
		start, end int
		want       []store.Result
	}{
		{"Middle", 2, 4, all[2:4]},
		{"All", -10, 10, all},
		{"StartOnly", 5, 6, all[5:6]},
		{"Empty", 3, 3, nil},
		{"Reversed", 4, 2, nil},
		{"Before", -5, 0, nil},
		{"After", 6, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = []store.Result{}
			}
			expectResults(t, "Results", resultsOf(t, s, "a.test", slot(tc.start), slot(tc.end)), want)
		})
	}
}

func resultsLongStreamWithLocations(t *testing.T, open opener) {
	// More rows than any page or chunk a backend reads at once, with
	// several locations per slot, so page boundaries fall inside slots.
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	var want, other []store.Result
	for i := range 5003 {
		want = append(want, up("a.test", "", slot(i), ms(i%90)), down("a.test", "eu", slot(i), ms(1), "timeout"))
		if i%3 == 0 {
			want = append(want, up("a.test", "us", slot(i), ms(i%7)))
		}
		other = append(other, up("b.test", "", slot(i), ms(1)))
	}
	save(t, s, append(other, want...), nil)
	expectResults(t, "Results", allResults(t, s, "a.test"), want)
	expectResults(t, "Results from the middle", resultsOf(t, s, "a.test", slot(1000), slot(4000)), want[2334:9334])
	wantChecks := make([]store.Check, 0, 5003)
	add, flush := store.MergeResults(func(c store.Check) error { wantChecks = append(wantChecks, c); return nil })
	for _, r := range want {
		add(r)
	}
	flush()
	expectChecks(t, "Checks", checksOf(t, s, "a.test", farPast, farFuture), wantChecks)
}

func resultsNoResultsIsEmpty(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	expectResults(t, "Results", allResults(t, s, "a.test"), []store.Result{})
}

func resultsErrorFromFnStops(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	var rs []store.Result
	for i := range 5 {
		rs = append(rs, up("a.test", "", slot(i), ms(1)))
	}
	save(t, s, rs, nil)
	calls := 0
	err := s.Results(t.Context(), "a.test", farPast, farFuture, func(store.Result) error {
		calls++
		if calls == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("Results: got %v, want the callback's error", err)
	}
	if calls != 2 {
		t.Errorf("callback called %d times after returning an error at call 2", calls)
	}
}

func testChecks(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"LocationMerge", checksLocationMerge},
		{"OrderAndRange", checksOrderAndRange},
		{"ErrorFromFnStops", checksErrorFromFnStops},
	})
}

func checksLocationMerge(t *testing.T, open opener) {
	cases := []struct {
		name string
		rs   []store.Result // at one slot
		want store.Check
	}{
		{"OneUp", []store.Result{up("a.test", "", slot(0), ms(10))},
			store.Check{Time: slot(0), RTT: ms(10), Up: true}},
		{"OneDown", []store.Result{down("a.test", "", slot(0), ms(10), "timeout")},
			store.Check{Time: slot(0), RTT: ms(10), Error: "timeout"}},
		{"UpsLowestRTT", []store.Result{up("a.test", "", slot(0), ms(30)), up("a.test", "eu", slot(0), ms(10)), up("a.test", "us", slot(0), ms(20))},
			store.Check{Time: slot(0), RTT: ms(10), Up: true}},
		{"AnyUpIsUp", []store.Result{down("a.test", "", slot(0), ms(1), "refused"), up("a.test", "eu", slot(0), ms(50))},
			store.Check{Time: slot(0), RTT: ms(50), Up: true}},
		{"LowestAmongUpOnly", []store.Result{down("a.test", "", slot(0), ms(1), "refused"), up("a.test", "eu", slot(0), ms(50)),
			down("a.test", "jp", slot(0), ms(2), "reset"), up("a.test", "us", slot(0), ms(40))},
			store.Check{Time: slot(0), RTT: ms(40), Up: true}},
		{"UpFirstThenDown", []store.Result{up("a.test", "", slot(0), ms(50)), down("a.test", "eu", slot(0), ms(1), "refused")},
			store.Check{Time: slot(0), RTT: ms(50), Up: true}},
		{"AllDownReasonOfFirstLocation", []store.Result{down("a.test", "zz", slot(0), ms(1), "last"),
			down("a.test", "eu", slot(0), ms(9), "first"), down("a.test", "fr", slot(0), ms(5), "middle")},
			store.Check{Time: slot(0), RTT: ms(1), Error: "first"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			addHosts(t, s, "a.test")
			save(t, s, tc.rs, nil)
			expectChecks(t, "Checks", checksOf(t, s, "a.test", farPast, farFuture), []store.Check{tc.want})
			c, ok, err := s.LastCheck(t.Context(), "a.test")
			if err != nil || !ok {
				t.Fatalf("LastCheck = %v, %v", ok, err)
			}
			expectChecks(t, "LastCheck", []store.Check{c}, []store.Check{tc.want})
		})
	}
}

func checksOrderAndRange(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	save(t, s, []store.Result{
		up("a.test", "eu", slot(3), ms(30)),
		up("b.test", "", slot(2), ms(1)),
		down("a.test", "", slot(1), ms(10), "timeout"),
		up("a.test", "", slot(3), ms(31)),
		up("a.test", "eu", slot(1), ms(11)),
		up("a.test", "", slot(0), ms(5)),
		down("a.test", "", slot(2), ms(20), "refused"),
	}, nil)
	want := []store.Check{
		{Time: slot(0), RTT: ms(5), Up: true},
		{Time: slot(1), RTT: ms(11), Up: true},
		{Time: slot(2), RTT: ms(20), Error: "refused"},
		{Time: slot(3), RTT: ms(30), Up: true},
	}
	expectChecks(t, "Checks all", checksOf(t, s, "a.test", farPast, farFuture), want)
	expectChecks(t, "Checks [1, 3)", checksOf(t, s, "a.test", slot(1), slot(3)), want[1:3])
	expectChecks(t, "Checks [3, 3)", checksOf(t, s, "a.test", slot(3), slot(3)), []store.Check{})
	expectChecks(t, "Checks b.test", checksOf(t, s, "b.test", farPast, farFuture), []store.Check{{Time: slot(2), RTT: ms(1), Up: true}})
}

func checksErrorFromFnStops(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	var rs []store.Result
	for i := range 5 {
		rs = append(rs, up("a.test", "", slot(i), ms(1)), up("a.test", "eu", slot(i), ms(2)))
	}
	save(t, s, rs, nil)
	calls := 0
	err := s.Checks(t.Context(), "a.test", farPast, farFuture, func(store.Check) error {
		calls++
		if calls == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("Checks: got %v, want the callback's error", err)
	}
	if calls != 3 {
		t.Errorf("callback called %d times after returning an error at call 3", calls)
	}
}

func testLastCheck(t *testing.T, open opener) {
	t.Run("NoneYet", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test", "b.test")
		save(t, s, []store.Result{up("b.test", "", slot(0), ms(1))}, nil)
		c, ok, err := s.LastCheck(t.Context(), "a.test")
		if err != nil || ok {
			t.Errorf("LastCheck with no results = %s, %v, %v; want ok=false, nil", fmtCheck(c), ok, err)
		}
	})

	t.Run("NewestSlotMerged", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test", "b.test")
		// The newest slot is saved first; older slots arrive later.
		save(t, s, []store.Result{
			down("a.test", "", slot(5), ms(3), "refused"),
			up("a.test", "eu", slot(5), ms(42)),
			up("b.test", "", slot(9), ms(1)),
		}, nil)
		save(t, s, []store.Result{up("a.test", "", slot(4), ms(1)), up("a.test", "", slot(3), ms(1))}, nil)
		save(t, s, []store.Result{up("a.test", "us", slot(5), ms(40))}, nil)
		c, ok, err := s.LastCheck(t.Context(), "a.test")
		if err != nil || !ok {
			t.Fatalf("LastCheck = %v, %v", ok, err)
		}
		expectChecks(t, "LastCheck", []store.Check{c}, []store.Check{{Time: slot(5), RTT: ms(40), Up: true}})
	})

	// Merged in location order whatever the order of saving: of results
	// alike but for the reason, the first location's reason is kept; one
	// in maintenance makes the check in maintenance.
	t.Run("NewestSlotInLocationOrder", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test")
		save(t, s, []store.Result{inMaintenance(down("a.test", "us", slot(5), ms(3), "us says no"))}, nil)
		save(t, s, []store.Result{down("a.test", "eu", slot(5), ms(3), "eu says no"), up("a.test", "", slot(4), ms(1))}, nil)
		c, ok, err := s.LastCheck(t.Context(), "a.test")
		if err != nil || !ok {
			t.Fatalf("LastCheck = %v, %v", ok, err)
		}
		expectChecks(t, "LastCheck", []store.Check{c}, []store.Check{{Time: slot(5), RTT: ms(3), Error: "eu says no", Maintenance: true}})
	})
}
