package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

func testHosts(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"EmptyListsAreNotNil", hostsEmptyListsAreNotNil},
		{"EmptyNameRefused", hostsEmptyNameRefused},
		{"AddListExists", hostsAddListExists},
		{"AddDuplicateIsErrExists", hostsAddDuplicateIsErrExists},
		{"UnknownHostIsErrNotFound", hostsUnknownHostIsErrNotFound},
		{"DeleteHostRemovesEverything", hostsDeleteHostRemovesEverything},
	})
}

func hostsEmptyListsAreNotNil(t *testing.T, open opener) {
	s := open(t)
	expectStrings(t, "Hosts", hostsOf(t, s), []string{})
	expectRules(t, "Rules", rulesOf(t, s), []store.Rule{})
	expectDeliveries(t, "DueDeliveries", dueOf(t, s, farFuture, 10), []store.Delivery{})
	addHosts(t, s, "a.test")
	for _, tc := range []struct {
		name       string
		start, end time.Time
		n          int
	}{
		{"ZeroRange", slot(0), slot(0), 10},
		{"EndBeforeStart", slot(1), slot(0), 10},
		{"ZeroN", slot(0), slot(10), 0},
	} {
		t.Run("Buckets"+tc.name, func(t *testing.T) {
			bs := bucketsOf(t, s, "a.test", tc.start, tc.end, tc.n)
			if bs == nil || len(bs) != 0 {
				t.Errorf("Buckets(%v, %v, %d) = %#v, want an empty non-nil slice", tc.start, tc.end, tc.n, bs)
			}
		})
	}
}

func hostsEmptyNameRefused(t *testing.T, open opener) {
	s := open(t)
	if err := s.AddHost(t.Context(), ""); !errors.Is(err, store.ErrEmptyHost) {
		t.Errorf("AddHost(\"\") = %v, want ErrEmptyHost", err)
	}
	err := s.Restore(t.Context(), store.Restore{Hosts: []string{"ok.test", ""}})
	if !errors.Is(err, store.ErrEmptyHost) {
		t.Errorf("Restore of an empty host name = %v, want ErrEmptyHost", err)
	}
	err = s.Restore(t.Context(), store.Restore{Hosts: []string{"ok.test", ""},
		Results: emitAll([]store.Result{up("ok.test", "", slot(0), ms(1))}, nil)})
	if !errors.Is(err, store.ErrEmptyHost) {
		t.Errorf("Restore with results of an empty host name = %v, want ErrEmptyHost", err)
	}
	expectStrings(t, "Hosts after refused names", hostsOf(t, s), []string{})
}

func hostsAddListExists(t *testing.T, open opener) {
	s := open(t)
	// Lexical is byte order, as Go's sort.Strings: upper case first.
	addHosts(t, s, "b.test", "https://a.test/health", "A.test", "127.0.0.1", "a.test", "tcp://127.0.0.1:22", "a-b.test")
	want := []string{"127.0.0.1", "A.test", "a-b.test", "a.test", "b.test", "https://a.test/health", "tcp://127.0.0.1:22"}
	expectStrings(t, "Hosts", hostsOf(t, s), want)
	for _, h := range append(want, "c.test", "B.test", "") {
		ok, err := s.HostExists(t.Context(), h)
		if err != nil {
			t.Fatalf("HostExists(%q): %v", h, err)
		}
		if wantOK := h != "c.test" && h != "B.test" && h != ""; ok != wantOK {
			t.Errorf("HostExists(%q) = %v, want %v", h, ok, wantOK)
		}
	}
}

func hostsAddDuplicateIsErrExists(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	save(t, s, []store.Result{up("a.test", "", slot(0), ms(5))}, nil)
	err := s.AddHost(t.Context(), "a.test")
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("second AddHost: got %v, want store.ErrExists", err)
	}
	expectStrings(t, "Hosts", hostsOf(t, s), []string{"a.test"})
	expectResults(t, "Results after duplicate AddHost", allResults(t, s, "a.test"),
		[]store.Result{up("a.test", "", slot(0), ms(5))})
}

func hostsUnknownHostIsErrNotFound(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "other.test")
	setRule(t, s, store.Rule{Host: "other.test", Threshold: 1, Action: "http://127.0.0.1:9/"})
	const h = "missing.test"
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"DeleteHost", func(ctx context.Context) error { return s.DeleteHost(ctx, h) }},
		{"Results", func(ctx context.Context) error {
			return s.Results(ctx, h, farPast, farFuture, func(store.Result) error { return nil })
		}},
		{"Checks", func(ctx context.Context) error {
			return s.Checks(ctx, h, farPast, farFuture, func(store.Check) error { return nil })
		}},
		{"LastCheck", func(ctx context.Context) error { _, _, err := s.LastCheck(ctx, h); return err }},
		{"Buckets", func(ctx context.Context) error { _, err := s.Buckets(ctx, h, slot(0), slot(10), 10); return err }},
		{"SetRule", func(ctx context.Context) error {
			return s.SetRule(ctx, store.Rule{Host: h, Threshold: 1, Action: "http://127.0.0.1:9/"})
		}},
		{"Rule", func(ctx context.Context) error { _, err := s.Rule(ctx, h); return err }},
		{"DeleteRule", func(ctx context.Context) error { return s.DeleteRule(ctx, h) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectNotFound(t, tc.name+"("+h+")", tc.call(t.Context()))
		})
	}
	if ok, err := s.HostExists(t.Context(), h); ok || err != nil {
		t.Errorf("HostExists(%q) after the calls = %v, %v; want false, nil", h, ok, err)
	}
	expectRules(t, "Rules", rulesOf(t, s), []store.Rule{{Host: "other.test", Threshold: 1, Action: "http://127.0.0.1:9/"}})
}

func hostsDeleteHostRemovesEverything(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test", "b.test")
	ruleA := store.Rule{Host: "a.test", Threshold: 2, Action: "http://127.0.0.1:9/a"}
	ruleB := store.Rule{Host: "b.test", Threshold: 3, Action: "http://127.0.0.1:9/b"}
	setRule(t, s, ruleA)
	setRule(t, s, ruleB)
	rec := &recorder{}
	round := []store.Result{
		down("a.test", "", slot(0), ms(1), "timeout"),
		down("a.test", "eu", slot(0), ms(2), "timeout"),
		down("b.test", "", slot(0), ms(3), "refused"),
	}
	save(t, s, round, rec.alerting())
	if got := len(dueOf(t, s, farFuture, 100)); got != 2 {
		t.Fatalf("setup: %d deliveries due, want 2", got)
	}

	if err := s.DeleteHost(t.Context(), "a.test"); err != nil {
		t.Fatalf("DeleteHost: %v", err)
	}
	if ok, err := s.HostExists(t.Context(), "a.test"); ok || err != nil {
		t.Errorf("HostExists after DeleteHost = %v, %v; want false, nil", ok, err)
	}
	expectStrings(t, "Hosts", hostsOf(t, s), []string{"b.test"})
	expectRules(t, "Rules", rulesOf(t, s), []store.Rule{ruleB})
	expectDeliveries(t, "DueDeliveries", dueOf(t, s, farFuture, 100), []store.Delivery{pendingFor(ruleB, round[2])})
	err := s.Results(t.Context(), "a.test", farPast, farFuture, func(store.Result) error { return nil })
	expectNotFound(t, "Results of the deleted host", err)
	expectNotFound(t, "second DeleteHost", s.DeleteHost(t.Context(), "a.test"))

	addHosts(t, s, "a.test")
	expectResults(t, "Results of the re-added host", allResults(t, s, "a.test"), []store.Result{})
	if _, err := s.Rule(t.Context(), "a.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Rule of the re-added host: got %v, want ErrNotFound", err)
	}
	expectState(t, "State of the re-added host", stateOf(t, s, "a.test"), store.State{Host: "a.test"})
	if c, ok, err := s.LastCheck(t.Context(), "a.test"); ok || err != nil {
		t.Errorf("LastCheck of the re-added host = %s, %v, %v; want none", fmtCheck(c), ok, err)
	}
	bs := bucketsOf(t, s, "a.test", slot(0), slot(1), 1)
	if len(bs) != 1 || !bs[0].Unknown() {
		t.Errorf("Buckets of the re-added host = %v, want one unknown bucket", bs)
	}
	expectDeliveries(t, "DueDeliveries after re-adding", dueOf(t, s, farFuture, 100), []store.Delivery{pendingFor(ruleB, round[2])})
	// The other host keeps everything.
	expectResults(t, "Results of the other host", allResults(t, s, "b.test"), []store.Result{round[2]})
	expectState(t, "State of the other host", stateOf(t, s, "b.test"), nextState(store.State{}, round[2]))
}

func testSaveRound(t *testing.T, open opener) {
	t.Run("SameBatchTwiceStoresOnce", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test", "b.test")
		batch := []store.Result{
			up("a.test", "", slot(0), ms(10)),
			up("a.test", "eu", slot(0), ms(12)),
			down("b.test", "", slot(0), ms(3000), "timeout"),
			down("b.test", "eu", slot(0), ms(2), "connection refused"),
		}
		save(t, s, batch, nil)
		save(t, s, batch, nil)
		expectResults(t, "Results a.test", allResults(t, s, "a.test"), batch[:2])
		expectResults(t, "Results b.test", allResults(t, s, "b.test"), batch[2:])
	})

	t.Run("ResaveChangesNothing", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test")
		first := up("a.test", "", slot(0), ms(10))
		save(t, s, []store.Result{first}, nil)
		save(t, s, []store.Result{down("a.test", "", slot(0), ms(99), "changed")}, nil)
		expectResults(t, "Results", allResults(t, s, "a.test"), []store.Result{first})
	})

	t.Run("DuplicateWithinBatchStoredOnce", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test")
		r := up("a.test", "", slot(0), ms(10))
		save(t, s, []store.Result{r, r, up("a.test", "", slot(1), ms(11)), r}, nil)
		expectResults(t, "Results", allResults(t, s, "a.test"), []store.Result{r, up("a.test", "", slot(1), ms(11))})
	})

	t.Run("UnknownHostDropped", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test")
		kept := up("a.test", "", slot(0), ms(10))
		save(t, s, []store.Result{up("gone.test", "", slot(0), ms(1)), kept, down("gone.test", "eu", slot(0), 0, "x")}, nil)
		expectResults(t, "Results a.test", allResults(t, s, "a.test"), []store.Result{kept})
		if ok, err := s.HostExists(t.Context(), "gone.test"); ok || err != nil {
			t.Errorf("HostExists(gone.test) = %v, %v; want false, nil (SaveRound must not add hosts)", ok, err)
		}
		expectStrings(t, "Hosts", hostsOf(t, s), []string{"a.test"})
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		s := open(t)
		addHosts(t, s, "a.test")
		save(t, s, nil, nil)
		save(t, s, []store.Result{}, (&recorder{}).alerting())
		expectResults(t, "Results", allResults(t, s, "a.test"), []store.Result{})
	})

	t.Run("ManyHostsOneRound", func(t *testing.T) {
		s := open(t)
		const n = 2000
		hosts := make([]string, n)
		round := make([]store.Result, n)
		for i := range hosts {
			hosts[i] = hostName(i)
			round[i] = up(hosts[i], "", slot(0), time.Duration(i+1)*time.Microsecond)
		}
		if err := s.Restore(t.Context(), store.Restore{Hosts: hosts}); err != nil {
			t.Fatalf("Restore(hosts): %v", err)
		}
		save(t, s, round, nil)
		for _, i := range []int{0, 1, n / 2, n - 1} {
			expectResults(t, "Results "+hosts[i], allResults(t, s, hosts[i]), round[i:i+1])
		}
	})
}
