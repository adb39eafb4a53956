package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// TestOverlappingRoundsEnqueueOnce saves every slot's round from two
// goroutines at once, as two overlapping checkers do: one retried round
// (the same results: its insert waits for the other's) and one from
// another location (other keys: only the rule rows' lock orders them).
// advance sleeps, so that one transaction holds the rule rows while the
// other arrives. Each slot must be advanced once and enqueue one
// delivery, no call may fail (no deadlock), and last_results must hold
// each location's newest result, as checks does. Late, the rounds'
// slots are in summarised hours of a complete day: each round locks
// its hosts' rows and summarises them again (see summaries.go), and the
// summaries and rollups must end as the checks say.
func TestOverlappingRoundsEnqueueOnce(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(fmt.Sprintf("late=%v", late), func(t *testing.T) { testOverlappingRounds(t, late) })
	}
}

func testOverlappingRounds(t *testing.T, late bool) {
	u := pgtest.NewDatabase(t)
	s := openURL(t, u)
	ctx := t.Context()
	const hosts, slots = 3, 12
	var names []string
	for i := range hosts {
		h := fmt.Sprintf("h%d.test", i)
		names = append(names, h)
		if err := s.AddHost(ctx, h); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRule(ctx, store.Rule{Host: h, Threshold: 1, Action: "http://127.0.0.1:9/" + h}); err != nil {
			t.Fatal(err)
		}
	}
	base := daysStart
	if late {
		// A result of each host the day before, so that Summarise starts
		// there, and summarises base's day whole.
		var early []store.Result
		for _, h := range names {
			early = append(early, store.Result{Host: h, Slot: base.Add(-store.DaySpan), RTT: time.Millisecond, Up: true})
		}
		if err := s.SaveRound(ctx, early, nil); err != nil {
			t.Fatal(err)
		}
		summariseUntil(t, s, base.Add(2*store.DaySpan))
	}
	var calls atomic.Int64
	advance := func(rule store.Rule, prev store.State, r store.Result) (store.State, *store.Delivery) {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		next := store.State{Status: "down", Count: prev.Count + 1, LastSlot: r.Slot}
		return next, &store.Delivery{URL: rule.Action, Created: r.Slot, NextAttempt: r.Slot}
	}
	for i := range slots {
		at := base.Add(time.Duration(i) * time.Minute)
		var round []store.Result
		for _, h := range names {
			round = append(round, store.Result{Host: h, Slot: at, RTT: time.Second, Reason: "timeout"})
		}
		// The others list the hosts the other way round.
		retried := make([]store.Result, len(round))
		elsewhere := make([]store.Result, len(round))
		for j, r := range round {
			retried[len(round)-1-j] = r
			r.Location = "eu"
			elsewhere[len(round)-1-j] = r
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, rs := range [][]store.Result{round, retried, elsewhere} {
			wg.Go(func() {
				<-start
				if err := s.SaveRound(ctx, rs, storetest.PerResult(advance)); err != nil {
					t.Errorf("SaveRound(slot %d): %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	if got := calls.Load(); got != hosts*slots {
		t.Errorf("advance called %d times, want %d (once per host and slot)", got, hosts*slots)
	}
	due, err := s.DueDeliveries(ctx, base.Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != hosts*slots {
		t.Errorf("%d deliveries enqueued, want %d", len(due), hosts*slots)
	}
	for _, h := range names {
		st, err := s.State(ctx, h)
		if err != nil || st.Count != slots {
			t.Errorf("State(%s) = %+v, %v; want count %d", h, st, err, slots)
		}
	}
	expectLastResults(t, u)
	if late {
		expectExactRollups(t, u)
		end := base.Add(store.DaySpan)
		kept := storedResults(t, s, names, end)
		expectBuckets(t, s, kept, end, 1)  // the day: its rollup
		expectBuckets(t, s, kept, end, 24) // hours: the summaries
	}
}

// TestDeleteHostDuringRounds deletes hosts while rounds save results for
// them: checks has no foreign key, so the store itself must leave no
// result of a deleted host behind.
func TestDeleteHostDuringRounds(t *testing.T) {
	u := pgtest.NewDatabase(t)
	s := openURL(t, u)
	ctx := t.Context()
	base := time.Date(2024, time.May, 1, 0, 0, 0, 0, time.UTC)
	const rounds = 30
	for i := range rounds {
		h := fmt.Sprintf("h%d.test", i)
		if err := s.AddHost(ctx, h); err != nil {
			t.Fatal(err)
		}
		var round []store.Result
		for j := range 200 {
			round = append(round, store.Result{Host: h, Slot: base.Add(time.Duration(j) * time.Minute), RTT: time.Millisecond, Up: true})
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			if err := s.SaveRound(ctx, round, nil); err != nil {
				t.Errorf("SaveRound: %v", err)
			}
		})
		wg.Go(func() {
			<-start
			if err := s.DeleteHost(ctx, h); err != nil {
				t.Errorf("DeleteHost: %v", err)
			}
		})
		close(start)
		wg.Wait()
	}
	if n := queryInts(t, u, "SELECT (SELECT count(*) FROM checks) + (SELECT count(*) FROM last_results)"); n[0] != 0 {
		t.Errorf("%d results and last results of deleted hosts left", n[0])
	}
}

// TestClaimsFromSeveralProcesses runs the conformance suite's concurrent
// claims through three stores (connection pools) on one database, as
// processes sharing it (a VPS and Lambdas) do: each delivery is claimed
// once, a host's one at a time and in order.
func TestClaimsFromSeveralProcesses(t *testing.T) {
	u := pgtest.NewDatabase(t)
	storetest.ConcurrentClaims(t, openURL(t, u), openURL(t, u), openURL(t, u))
}

// TestLocationsSavingOneSlotTakeTurns saves one slot from two locations
// at once, through two stores (connection pools) on one database, as
// two checkers do. The first to reach alerting holds the host's rule row
// until it commits: its Decide waits until the other save is waiting for
// that lock (seen in pg_stat_activity), so the two overlap for sure. The
// other's Decide must then see both locations' results of the slot
// (AlertInput.Stored), and the state the first wrote.
func TestLocationsSavingOneSlotTakeTurns(t *testing.T) {
	u := pgtest.NewDatabase(t)
	a, b := openURL(t, u), openURL(t, u)
	ctx := t.Context()
	const host = "h.test"
	if err := a.AddHost(ctx, host); err != nil {
		t.Fatal(err)
	}
	if err := a.SetRule(ctx, store.Rule{Host: host, Threshold: 1, Quorum: "2"}); err != nil {
		t.Fatal(err)
	}
	watcher := newLockWatcher(t, u)
	base := time.Date(2024, time.May, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		at := base.Add(time.Duration(i) * time.Minute)
		var mu sync.Mutex
		var inputs []store.AlertInput
		alerting := &store.Alerting{Horizon: time.Hour, Decide: func(in store.AlertInput) ([]store.State, []store.Delivery) {
			mu.Lock()
			first := len(inputs) == 0
			inputs = append(inputs, in)
			mu.Unlock()
			if first && !watcher.waitForWaiter(ctx, nil) {
				t.Errorf("slot %d: the other save never waited for the rule's lock", i)
			}
			// The state judges the slot once both locations reported.
			st := in.States[host]
			if len(in.Stored[host]) == 2 {
				st.LastSlot, st.Status = at, "down"
			}
			return []store.State{st}, nil
		}}
		var wg sync.WaitGroup
		for _, sl := range []struct {
			s   *postgres.Store
			loc string
		}{{a, "eu"}, {b, "us"}} {
			wg.Go(func() {
				r := store.Result{Host: host, Location: sl.loc, Slot: at, RTT: time.Second, Reason: "timeout"}
				if err := sl.s.SaveRound(ctx, []store.Result{r}, alerting); err != nil {
					t.Errorf("SaveRound(%s, slot %d): %v", sl.loc, i, err)
				}
			})
		}
		wg.Wait()
		if len(inputs) != 2 {
			t.Fatalf("slot %d: Decide called %d times, want twice", i, len(inputs))
		}
		if got := inputs[0].Stored[host]; len(got) != 1 {
			t.Errorf("slot %d: the first save's Stored = %+v, want its own result only", i, got)
		}
		got := inputs[1].Stored[host]
		if len(got) != 2 || got[0].Location != "eu" || got[1].Location != "us" || !got[0].Slot.Equal(at) || !got[1].Slot.Equal(at) {
			t.Errorf("slot %d: the later save's Stored = %+v, want eu's and us's results of the slot", i, got)
		}
		if st, err := a.State(ctx, host); err != nil || !st.LastSlot.Equal(at) || st.Status != "down" {
			t.Errorf("slot %d: State = %+v, %v; want the slot judged down", i, st, err)
		}
	}
}

// lockWatcher watches the backends of one database for one that waits
// for a lock, through a connection of its own.
type lockWatcher struct{ conn *pgx.Conn }

// newLockWatcher connects to the database at u; the connection closes
// when the test ends.
func newLockWatcher(t *testing.T, u string) *lockWatcher {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &lockWatcher{conn: conn}
}

// waitForWaiter reports whether another backend of the database waits
// for a lock: it returns true once one does, and false once done is
// closed (nil: never) or after a bound of 10 s, the test then failing.
// It polls pg_stat_activity: what it waits for is another backend's
// state, which nothing signals.
func (w *lockWatcher) waitForWaiter(ctx context.Context, done <-chan struct{}) bool {
	return w.waitForWaiters(ctx, 1, done)
}

// waitForWaiters is waitForWaiter for n backends waiting at once.
func (w *lockWatcher) waitForWaiters(ctx context.Context, n int, done <-chan struct{}) bool {
	for range 2000 {
		var waiting int
		err := w.conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil || waiting >= n {
			return err == nil
		}
		select {
		case <-done:
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	return false
}
