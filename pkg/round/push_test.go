package round_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/round"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
	"github.com/srvmon/srvmon/pkg/store/ql"
)

func TestJudgePush(t *testing.T) {
	const min = time.Minute
	s := time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC) // the round's slot
	p := s.Add(-min)                                   // the slot judged
	for _, c := range []struct {
		name     string
		interval time.Duration
		grace    time.Duration
		lastPush time.Time
		judged   bool
		up       bool
	}{
		{"never pushed: not judged", min, 0, time.Time{}, false, false},
		{"never pushed, long grace: not judged", min, 25 * time.Hour, time.Time{}, false, false},
		{"pushed in the slot judged", min, 0, p.Add(30 * time.Second), true, true},
		{"pushed at the slot's start", min, 0, p, true, true},
		{"pushed just before it, within grace", min, 0, p.Add(-time.Nanosecond), true, false},
		{"pushed two slots before", min, 0, p.Add(-30 * time.Second), true, false},
		{"pushed during the round's own slot", min, 0, s.Add(10 * time.Second), true, true},
		{"grace longer than the interval", min, 90 * time.Second, p.Add(-30 * time.Second), true, true},
		{"grace exactly run out", min, 90 * time.Second, s.Add(-90 * time.Second), true, true},
		{"grace run out", min, 90 * time.Second, s.Add(-90*time.Second - time.Nanosecond), true, false},
		{"nightly job, 25h grace, pushed 24h ago", min, 25 * time.Hour, s.Add(-24 * time.Hour), true, true},
		{"nightly job, 25h grace, pushed 26h ago", min, 25 * time.Hour, s.Add(-26 * time.Hour), true, false},
		{"grace shorter than the interval", 5 * min, time.Minute, s.Add(-2 * time.Minute), true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, ok := round.JudgePush("push://job", s, c.interval, c.grace, c.lastPush)
			if ok != c.judged {
				t.Fatalf("judged %v, want %v", ok, c.judged)
			}
			if !ok {
				if r != (store.Result{}) {
					t.Errorf("not judged, yet result %+v", r)
				}
				return
			}
			want := store.Result{Host: "push://job", Slot: s.Add(-c.interval), Up: c.up}
			if !c.up {
				want.Reason = round.ReasonNoPush
			}
			if r != want {
				t.Errorf("result %+v, want %+v", r, want)
			}
		})
	}
}

// backends open a fresh store of each backend, closed when the test ends.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"memory", func(t *testing.T) store.Store { return memory.New() }},
	{"bolt", func(t *testing.T) store.Store {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "srvmon.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"ql", func(t *testing.T) store.Store {
		st, err := ql.Open(context.Background(), filepath.Join(t.TempDir(), "srvmon.ql"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(t *testing.T) store.Store {
		st, err := postgres.Open(context.Background(), postgres.Config{URL: pgtest.NewDatabase(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// A round judges push monitors from the pushes the API recorded
// (RecordPush here) and never probes them: each gets a result at location
// "" for the slot before the round's; a slot that got a push keeps the
// push's result. On every backend.
func TestRunJudgesPushMonitors(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testRunJudgesPushMonitors(t, b.open(t)) })
	}
}

func testRunJudgesPushMonitors(t *testing.T, st store.Store) {
	ctx := context.Background()
	const interval = time.Minute
	now := time.Date(2026, 12, 1, 10, 5, 7, 0, time.UTC) // the round of slot 10:05
	slot := now.Truncate(interval)
	prev := slot.Add(-interval)
	type push struct {
		at     time.Time
		up     bool
		reason string
	}
	cases := []struct {
		host   string
		grace  time.Duration
		pushes []push
		// the result of the previous slot; nil: none
		want *store.Result
	}{
		{"push://on-time", 0, []push{{prev.Add(30 * time.Second), true, ""}}, &store.Result{Up: true}},
		{"push://late", 0, []push{{prev.Add(-10 * time.Second), true, ""}}, &store.Result{Reason: round.ReasonNoPush}},
		{"push://said-down", 0, []push{{prev.Add(20 * time.Second), false, "backup failed"}}, &store.Result{Reason: "backup failed"}},
		{"push://down-then-up", 0, []push{{prev.Add(5 * time.Second), false, "retrying"}, {prev.Add(40 * time.Second), true, ""}},
			&store.Result{Reason: "retrying"}}, // the slot's first push is its result
		{"push://nightly", 25 * time.Hour, []push{{slot.Add(-20 * time.Hour), true, ""}}, &store.Result{Up: true}},
		{"push://nightly-missed", 25 * time.Hour, []push{{slot.Add(-49 * time.Hour), true, ""}}, &store.Result{Reason: round.ReasonNoPush}},
		{"push://new", 0, nil, nil},
		{"push://new-nightly", 25 * time.Hour, nil, nil},
	}
	for i, c := range cases {
		token := monitor.NewPushToken()
		putMonitors(t, st, monitor.Monitor{Host: c.host, Settings: monitor.Settings{Grace: monitor.Duration(c.grace), PushToken: token}})
		for _, p := range c.pushes {
			r := store.Result{Slot: p.at.Truncate(interval), Up: p.up, Reason: p.reason}
			if _, err := st.RecordPush(ctx, token, p.at, r, nil); err != nil {
				t.Fatalf("case %d: push: %v", i, err)
			}
		}
	}
	// A push monitor whose stored settings do not compile is visible.
	putMonitors(t, st, monitor.Monitor{Host: "push://probed", Settings: monitor.Settings{Conditions: []string{"[CONNECTED] == true"}}})

	for run := 0; run < 2; run++ { // a retried round changes nothing
		r := newRunner(t, st)
		r.Interval = interval
		sum, err := r.Run(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		// Judged up: on-time, said-down, down-then-up (whose slots keep
		// their pushes' results), nightly.
		if sum.Push != len(cases) || sum.PushUp != 4 || sum.PushDown != 2 || sum.Targets != 1 || sum.Invalid != 1 || sum.Up != 0 || sum.Down != 1 {
			t.Errorf("run %d: summary %+v: want %d push monitors, 4 judged up, 2 down; 1 invalid target", run, sum, len(cases))
		}
	}
	for _, c := range cases {
		rs := results(t, st, c.host)
		var got *store.Result
		for _, r := range rs {
			if r.Slot.Equal(slot) {
				t.Errorf("%s: a result in the round's own slot: %+v", c.host, r)
			}
			if r.Slot.Equal(prev) {
				r := r
				got = &r
			}
		}
		switch {
		case c.want == nil && got != nil:
			t.Errorf("%s: judged %+v, want no judgement", c.host, *got)
		case c.want == nil:
		case got == nil:
			t.Errorf("%s: no result for the previous slot; results %+v", c.host, rs)
		case got.Location != "" || got.Up != c.want.Up || got.Reason != c.want.Reason:
			t.Errorf("%s: previous slot %+v, want up %v, reason %q, location \"\"", c.host, *got, c.want.Up, c.want.Reason)
		}
	}
	rs := results(t, st, "push://probed")
	if len(rs) != 1 || rs[0].Up || rs[0].Reason != "conditions: do not apply to push:// monitors, which are not probed" || !rs[0].Slot.Equal(slot) || rs[0].Location != "test" {
		t.Errorf("invalid push monitor: %+v", rs)
	}
}

// Push monitors are sharded like every other monitor: each is judged by
// exactly one shard.
func TestShardsSplitPushMonitors(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	const n = 30
	for i := range n {
		token := monitor.NewPushToken()
		host := "push://job-" + strconv.Itoa(i)
		putMonitors(t, st, monitor.Monitor{Host: host, Settings: monitor.Settings{PushToken: token}})
		at := time.Now().Add(-2 * time.Second)
		if _, err := st.RecordPush(ctx, token, at, store.Result{Slot: at.Truncate(time.Second), Up: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	total := 0
	for i := range 3 {
		r := newRunner(t, st)
		r.Shard = round.Shard{Index: i, Count: 3}
		sum, err := r.Run(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Push == 0 || sum.Push == n || sum.PushUp+sum.PushDown != sum.Push {
			t.Errorf("shard %d: %+v", i, sum)
		}
		total += sum.Push
	}
	if total != n {
		t.Errorf("the shards judged %d push monitors, want %d", total, n)
	}
}
