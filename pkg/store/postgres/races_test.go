package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// interleave forces one order of two writers of the database at u:
// first, a SaveRound given an Alerting, runs until its Decide, which is
// called in the save's transaction once its results (and the summaries
// they touch) are written; then second runs until it waits for a lock,
// which only first can hold; then first commits, and both end. It fails
// t when second ends without having waited: the order was not forced.
// first's results need a host with a rule, or Decide is not called.
func interleave(t *testing.T, u string, first func(*store.Alerting) error, second func() error) {
	t.Helper()
	ctx := t.Context()
	watcher := newLockWatcher(t, u)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hold := &store.Alerting{Decide: func(store.AlertInput) ([]store.State, []store.Delivery) {
		once.Do(func() { close(entered) })
		<-release
		return nil, nil
	}}
	firstDone, secondDone := make(chan error, 1), make(chan struct{})
	go func() { firstDone <- first(hold) }()
	select {
	case <-entered:
	case err := <-firstDone:
		t.Fatalf("the first writer ended before its Decide: %v", err)
	}
	var secondErr error
	go func() {
		defer close(secondDone)
		secondErr = second()
	}()
	waited := watcher.waitForWaiter(ctx, secondDone)
	close(release)
	if err := <-firstDone; err != nil {
		t.Errorf("the first writer: %v", err)
	}
	<-secondDone
	if secondErr != nil {
		t.Errorf("the second writer: %v", secondErr)
	}
	if !waited {
		t.Errorf("the second writer never waited for the first's locks: the order was not forced")
	}
}

// storedResults returns every result the store holds of hosts in
// [daysStart, end): what checks holds.
func storedResults(t *testing.T, s *postgres.Store, hosts []string, end time.Time) []store.Result {
	t.Helper()
	var rs []store.Result
	for _, h := range hosts {
		err := s.Results(t.Context(), h, daysStart, end, func(r store.Result) error {
			rs = append(rs, r)
			return nil
		})
		if err != nil {
			t.Fatalf("Results(%s): %v", h, err)
		}
	}
	return rs
}

// TestLateWritesOfOneDayTakeTurns stores late results of one host and
// day (two days summarised and rolled up) from two transactions that
// overlap: the first holds its transaction open after re-summarising,
// the second re-summarises the same hour or another hour of that day
// (a round of another location, a restore, retention cutting the day)
// while the first has not committed. Under READ COMMITTED the second's
// recompute would see the checks of its own snapshot only; whatever the
// order, the hourly summaries and the daily rollups must end as
// re-summarising checks gives: the rollups sum the hourly summaries, and
// buckets of days (rollups) and of hours (summaries) count the results
// stored.
func TestLateWritesOfOneDayTakeTurns(t *testing.T) {
	const day = 24 * 60 // minutes
	at := func(m int) time.Time { return daysStart.Add(time.Duration(m) * time.Minute) }
	// a.test is down one minute in 7 (dayResult): every late result is
	// up, and those of the rounds are at minutes it is down, so that each
	// changes the merged check of its slot.
	late := func(location string, m int) []store.Result {
		return []store.Result{{Host: "a.test", Location: location, Slot: at(m), RTT: 900 * time.Millisecond, Up: true}}
	}
	for _, c := range []struct {
		name string
		// first is a.test's late results (a.test has a rule).
		first  []store.Result
		second func(ctx context.Context, s *postgres.Store) error
	}{{
		// Ordered on main already: the second's insert waits for the
		// row of last_results (a.test, "eu") that the first's locked.
		name:  "one hour, one location",
		first: late("eu", 3*60+2),
		second: func(ctx context.Context, s *postgres.Store) error {
			return s.SaveRound(ctx, late("eu", 3*60+9), nil)
		},
	}, {
		name:  "one hour, two locations",
		first: late("eu", 3*60+2),
		second: func(ctx context.Context, s *postgres.Store) error {
			return s.SaveRound(ctx, late("us", 3*60+9), nil)
		},
	}, {
		name:  "one day, two hours",
		first: late("eu", 3*60+2),
		second: func(ctx context.Context, s *postgres.Store) error {
			return s.SaveRound(ctx, late("us", 17*60+9), nil)
		},
	}, {
		name:  "a round and a restore",
		first: late("eu", 3*60+2),
		second: func(ctx context.Context, s *postgres.Store) error {
			return s.Restore(ctx, store.Restore{Results: func(ctx context.Context, emit func(store.Result) error) error {
				for m := 20 * 60; m < 21*60+30; m++ {
					if err := emit(late("z", m)[0]); err != nil {
						return err
					}
				}
				return nil
			}})
		},
	}, {
		name:  "a round and retention cutting its day",
		first: late("eu", day+20*60+6),
		second: func(ctx context.Context, s *postgres.Store) error {
			_, err := s.DeleteResultsBefore(ctx, at(day+13*60+30))
			return err
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			u := pgtest.NewDatabase(t)
			s := openURL(t, u)
			ctx := t.Context()
			hosts := []string{"a.test", "b.test"}
			addHosts(t, s, hosts...)
			if err := s.SetRule(ctx, store.Rule{Host: "a.test", Threshold: 1}); err != nil {
				t.Fatal(err)
			}
			saveDays(t, s, hosts, 0, 2*day+60)
			summariseUntil(t, s, at(2*day+2*60)) // days 0 and 1 complete
			interleave(t, u,
				func(a *store.Alerting) error { return s.SaveRound(ctx, c.first, a) },
				func() error { return c.second(ctx, s) })
			expectExactRollups(t, u)
			end := at(2 * day)
			kept := storedResults(t, s, hosts, end)
			expectBuckets(t, s, kept, end, 2)    // days: the rollups
			expectBuckets(t, s, kept, end, 2*24) // hours: the hourly summaries
		})
	}
}

// TestLastResultsOfALateResultDuringRetention stores a late result of a
// location (a.test's "old", whose results are all older than
// retention's cut) while retention deletes that location's results: the
// save has stored it, and holds its transaction open, when retention's
// statement (whose snapshot cannot see it, so that it is kept) deletes
// the location's newest result, and with it the row of last_results.
// last_results must then hold the late result, the location's newest
// stored, or, when it is newer than the row, keep it.
func TestLastResultsOfALateResultDuringRetention(t *testing.T) {
	at := func(m int) time.Time { return daysStart.Add(time.Duration(m) * time.Minute) }
	for _, c := range []struct {
		name string
		late int // the minute of the late result of "old"
	}{
		{name: "older than the location's newest", late: 3},
		{name: "newer than the location's newest", late: 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := pgtest.NewDatabase(t)
			s := openURL(t, u)
			ctx := t.Context()
			addHosts(t, s, "a.test")
			if err := s.SetRule(ctx, store.Rule{Host: "a.test", Threshold: 1}); err != nil {
				t.Fatal(err)
			}
			var rs []store.Result
			for m := range 100 {
				rs = append(rs, store.Result{Host: "a.test", Slot: at(m), RTT: time.Millisecond, Up: true})
				if m < 10 && m%2 == 0 {
					rs = append(rs, store.Result{Host: "a.test", Location: "old", Slot: at(m), RTT: time.Millisecond, Up: true})
				}
			}
			if err := s.SaveRound(ctx, rs, nil); err != nil {
				t.Fatal(err)
			}
			late := store.Result{Host: "a.test", Location: "old", Slot: at(c.late), Reason: "late", RTT: time.Second}
			interleave(t, u,
				func(a *store.Alerting) error { return s.SaveRound(ctx, []store.Result{late}, a) },
				func() error {
					_, err := s.DeleteResultsBefore(ctx, at(50))
					return err
				})
			expectLastResults(t, u)
			expectLastChecks(t, s, u)
		})
	}
}
