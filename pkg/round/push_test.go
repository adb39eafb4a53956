package round_test

import (
	"cmp"
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
	pushed := func(at time.Time) store.Facts { return store.Facts{LastPush: at, LastPushUp: true} }
	pushedDown := func(at time.Time, reason string) store.Facts {
		return store.Facts{LastPush: at, LastPushReason: reason}
	}
	added := func(at time.Time) store.Facts { return store.Facts{Added: at} }
	for _, c := range []struct {
		name     string
		interval time.Duration
		grace    time.Duration
		facts    store.Facts
		judged   bool
		up       bool
		reason   string // of a down judgement; ReasonNoPush when empty
	}{
		{"never pushed, added before facts were: not judged", min, 0, store.Facts{}, false, false, ""},
		{"never pushed, long grace, added before facts were: not judged", min, 25 * time.Hour, store.Facts{}, false, false, ""},
		{"never pushed, grace from added run out", min, 0, added(p.Add(-time.Nanosecond)), true, false, ""},
		{"never pushed, added in the slot judged, grace run out", min, 10 * time.Second, added(p.Add(30 * time.Second)), true, false, ""},
		{"never pushed, grace from added exactly run out", min, 0, added(p), false, false, ""},
		{"never pushed, added within grace", min, 25 * time.Hour, added(s.Add(-24 * time.Hour)), false, false, ""},
		{"never pushed, added 26h ago, 25h grace", min, 25 * time.Hour, added(s.Add(-26 * time.Hour)), true, false, ""},
		{"never pushed, added in the round's own slot", min, 0, added(s.Add(time.Second)), false, false, ""},
		{"never pushed, added after the round's slot", min, 0, added(s.Add(time.Hour)), false, false, ""},
		{"pushed in the slot judged", min, 0, pushed(p.Add(30 * time.Second)), true, true, ""},
		{"pushed at the slot's start", min, 0, pushed(p), true, true, ""},
		{"pushed just before it, within grace", min, 0, pushed(p.Add(-time.Nanosecond)), true, false, ""},
		{"pushed two slots before", min, 0, pushed(p.Add(-30 * time.Second)), true, false, ""},
		{"pushed during the round's own slot", min, 0, pushed(s.Add(10 * time.Second)), true, true, ""},
		{"grace longer than the interval", min, 90 * time.Second, pushed(p.Add(-30 * time.Second)), true, true, ""},
		{"grace exactly run out", min, 90 * time.Second, pushed(s.Add(-90 * time.Second)), true, true, ""},
		{"grace run out", min, 90 * time.Second, pushed(s.Add(-90*time.Second - time.Nanosecond)), true, false, ""},
		{"nightly job, 25h grace, pushed 24h ago", min, 25 * time.Hour, pushed(s.Add(-24 * time.Hour)), true, true, ""},
		{"nightly job, 25h grace, pushed 26h ago", min, 25 * time.Hour, pushed(s.Add(-26 * time.Hour)), true, false, ""},
		{"grace shorter than the interval", 5 * min, time.Minute, pushed(s.Add(-2 * time.Minute)), true, false, ""},
		{"pushed and added: the push counts", min, 0, store.Facts{Added: p.Add(-time.Hour), LastPush: p, LastPushUp: true}, true, true, ""},
		{"down push in the slot judged", min, 0, pushedDown(p.Add(30*time.Second), "backup failed"), true, false, "backup failed"},
		{"down push carried within grace", min, 25 * time.Hour, pushedDown(s.Add(-24*time.Hour), "disk full"), true, false, "disk full"},
		{"down push, grace run out", min, 25 * time.Hour, pushedDown(s.Add(-26*time.Hour), "disk full"), true, false, ""},
		{"up push carried within grace", min, 25 * time.Hour, pushed(s.Add(-24 * time.Hour)), true, true, ""},
		{"down verdict without a reason (recorded before verdicts): up", min, 0, pushedDown(p, ""), true, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, ok := round.JudgePush("push://job", s, c.interval, c.grace, c.facts)
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
				want.Reason = cmp.Or(c.reason, round.ReasonNoPush)
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
	type push struct {
		ago    time.Duration // before the slot judged
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
		{"push://on-time", 0, []push{{-30 * time.Second, true, ""}}, &store.Result{Up: true}},
		{"push://late", 0, []push{{10 * time.Second, true, ""}}, &store.Result{Reason: round.ReasonNoPush}},
		{"push://said-down", 0, []push{{-20 * time.Second, false, "backup failed"}}, &store.Result{Reason: "backup failed"}},
		{"push://down-then-up", 0, []push{{-5 * time.Second, false, "retrying"}, {-40 * time.Second, true, ""}},
			&store.Result{Reason: "retrying"}}, // the slot's first push is its result
		{"push://nightly", 25 * time.Hour, []push{{19 * time.Hour, true, ""}}, &store.Result{Up: true}},
		{"push://nightly-said-down", 25 * time.Hour, []push{{19 * time.Hour, false, "dump failed"}}, &store.Result{Reason: "dump failed"}},
		{"push://nightly-missed", 25 * time.Hour, []push{{48 * time.Hour, true, ""}}, &store.Result{Reason: round.ReasonNoPush}},
		// Never pushed, added about 5 minutes before the round's slot
		// (see below): down once the grace has passed since.
		{"push://new", 0, nil, &store.Result{Reason: round.ReasonNoPush}},
		{"push://new-in-grace", 10 * time.Minute, nil, nil},
		{"push://new-nightly", 25 * time.Hour, nil, nil},
	}
	tokens := make([]string, len(cases))
	added := store.AddedNow()
	for i, c := range cases {
		tokens[i] = monitor.NewPushToken()
		putMonitors(t, st, monitor.Monitor{Host: c.host, Settings: monitor.Settings{Grace: monitor.Duration(c.grace), PushToken: tokens[i]}})
	}
	// The monitors were added in [added, now]: the round of slot now + 5
	// intervals judges them more than 4 intervals and less than 10
	// minutes after they were added.
	slot := time.Now().Truncate(interval).Add(5 * interval)
	if slot.Sub(added) >= 10*time.Minute {
		t.Fatalf("adding the monitors took %v", slot.Sub(added)-5*interval)
	}
	now := slot.Add(7 * time.Second)
	prev := slot.Add(-interval)
	for i, c := range cases {
		for _, p := range c.pushes {
			at := prev.Add(-p.ago)
			r := store.Result{Slot: at.Truncate(interval), Up: p.up, Reason: p.reason}
			if _, err := st.RecordPush(ctx, tokens[i], at, r, nil); err != nil {
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
		// Judged up: on-time, down-then-up (whose slot keeps its first
		// push's result), nightly; down: late, said-down,
		// nightly-said-down, nightly-missed, new.
		if sum.Push != len(cases) || sum.PushUp != 3 || sum.PushDown != 5 || sum.Targets != 1 || sum.Invalid != 1 || sum.Up != 0 || sum.Down != 1 {
			t.Errorf("run %d: summary %+v: want %d push monitors, 3 judged up, 5 down; 1 invalid target", run, sum, len(cases))
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
		case c.want == nil && len(rs) > 0:
			t.Errorf("%s: results %+v, want none", c.host, rs)
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
