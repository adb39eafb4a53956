package monitor_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
	"github.com/srvmon/srvmon/pkg/store/ql"
)

const (
	hostA    = "http://127.0.0.1:8081/a"
	hostB    = "http://127.0.0.1:8082/b"
	hostC    = "127.0.0.1:8083"
	hostPush = "push://backup"
	tokenOld = "stored-token-0123456789"
	tokenNew = "new-token-0123456789abcd"
	tokenCfg = "config-token-0123456789"
)

func cfg(host string, s monitor.Settings) monitor.Monitor {
	return monitor.Monitor{Host: host, Settings: s, Source: monitor.SourceConfig}
}

func api(host string, s monitor.Settings) monitor.Monitor {
	return monitor.Monitor{Host: host, Settings: s}
}

func decl(host string, s monitor.Settings) monitor.Monitor {
	return monitor.Monitor{Host: host, Settings: s}
}

func TestPlanReconcile(t *testing.T) {
	named := func(n string) monitor.Settings { return monitor.Settings{Name: n} }
	no := false
	tests := []struct {
		name             string
		stored, declared []monitor.Monitor
		put              []monitor.Monitor
		created          []bool
		del              []string
	}{
		{name: "nothing stored, nothing declared"},
		{
			name:     "new monitors are created with source config",
			declared: []monitor.Monitor{decl(hostA, named("a")), decl(hostC, monitor.Settings{})},
			put:      []monitor.Monitor{cfg(hostA, named("a")), cfg(hostC, monitor.Settings{})},
			created:  []bool{true, true},
		},
		{
			name:     "the same stored monitors: nothing to do",
			stored:   []monitor.Monitor{cfg(hostA, monitor.Settings{Name: "a", Headers: map[string]string{"X": "1"}, FollowRedirects: &no}), cfg(hostC, monitor.Settings{})},
			declared: []monitor.Monitor{decl(hostA, monitor.Settings{Name: "a", Headers: map[string]string{"X": "1"}, FollowRedirects: new(bool)}), decl(hostC, monitor.Settings{})},
		},
		{
			name:     "empty and nil lists are the same",
			stored:   []monitor.Monitor{cfg(hostA, monitor.Settings{Conditions: []string{}, Headers: map[string]string{}})},
			declared: []monitor.Monitor{decl(hostA, monitor.Settings{})},
		},
		{
			name:     "changed settings are updated",
			stored:   []monitor.Monitor{cfg(hostA, named("a")), cfg(hostB, monitor.Settings{Timeout: monitor.Duration(time.Second)})},
			declared: []monitor.Monitor{decl(hostA, named("a2")), decl(hostB, monitor.Settings{Timeout: monitor.Duration(2 * time.Second)})},
			put:      []monitor.Monitor{cfg(hostA, named("a2")), cfg(hostB, monitor.Settings{Timeout: monitor.Duration(2 * time.Second)})},
			created:  []bool{false, false},
		},
		{
			name:     "an API monitor with a declared host is taken over, even with the same settings",
			stored:   []monitor.Monitor{api(hostA, named("a"))},
			declared: []monitor.Monitor{decl(hostA, named("a"))},
			put:      []monitor.Monitor{cfg(hostA, named("a"))},
			created:  []bool{false},
		},
		{
			name:   "config monitors no longer declared are deleted; API monitors are kept",
			stored: []monitor.Monitor{cfg(hostA, monitor.Settings{}), api(hostB, named("b")), cfg(hostC, monitor.Settings{})},
			del:    []string{hostA, hostC},
		},
		{
			name:     "add, change and remove at once",
			stored:   []monitor.Monitor{cfg(hostA, named("a")), api(hostB, monitor.Settings{}), cfg(hostC, monitor.Settings{})},
			declared: []monitor.Monitor{decl(hostC, named("c")), decl(hostA, named("a")), decl(hostPush, monitor.Settings{PushToken: tokenCfg})},
			put:      []monitor.Monitor{cfg(hostC, named("c")), cfg(hostPush, monitor.Settings{PushToken: tokenCfg})},
			created:  []bool{false, true},
		},
		{
			name:     "a new push monitor without a token gets a new one",
			declared: []monitor.Monitor{decl(hostPush, monitor.Settings{})},
			put:      []monitor.Monitor{cfg(hostPush, monitor.Settings{PushToken: tokenNew})},
			created:  []bool{true},
		},
		{
			name:     "a stored push token is kept when the file gives none",
			stored:   []monitor.Monitor{cfg(hostPush, monitor.Settings{PushToken: tokenOld})},
			declared: []monitor.Monitor{decl(hostPush, monitor.Settings{})},
		},
		{
			name:     "an API push monitor taken over keeps its token",
			stored:   []monitor.Monitor{api(hostPush, monitor.Settings{PushToken: tokenOld})},
			declared: []monitor.Monitor{decl(hostPush, monitor.Settings{Grace: monitor.Duration(time.Minute)})},
			put:      []monitor.Monitor{cfg(hostPush, monitor.Settings{PushToken: tokenOld, Grace: monitor.Duration(time.Minute)})},
			created:  []bool{false},
		},
		{
			name:     "the file's push token replaces the stored one",
			stored:   []monitor.Monitor{cfg(hostPush, monitor.Settings{PushToken: tokenOld})},
			declared: []monitor.Monitor{decl(hostPush, monitor.Settings{PushToken: tokenCfg})},
			put:      []monitor.Monitor{cfg(hostPush, monitor.Settings{PushToken: tokenCfg})},
			created:  []bool{false},
		},
		{
			name:     "no token is made for a monitor that is not push://",
			declared: []monitor.Monitor{decl(hostA, monitor.Settings{})},
			put:      []monitor.Monitor{cfg(hostA, monitor.Settings{})},
			created:  []bool{true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := monitor.PlanReconcile(tt.stored, tt.declared, func() string { return tokenNew })
			if !reflect.DeepEqual(p.Put, tt.put) || !reflect.DeepEqual(p.Created, tt.created) || !slices.Equal(p.Delete, tt.del) {
				t.Errorf("plan:\n put %+v created %v delete %q\nwant:\n put %+v created %v delete %q", p.Put, p.Created, p.Delete, tt.put, tt.created, tt.del)
			}
			// Applied, the plan leaves nothing to do.
			after := apply(tt.stored, p)
			if again := monitor.PlanReconcile(after, tt.declared, func() string { return "another-token-0123456789" }); len(again.Put)+len(again.Delete) != 0 {
				t.Errorf("second plan is not empty: %+v", again)
			}
		})
	}
}

// apply is what a store holds after p: the stored monitors with p's puts
// and deletes.
func apply(stored []monitor.Monitor, p monitor.Plan) []monitor.Monitor {
	out := slices.Clone(stored)
	for _, m := range p.Put {
		if i := slices.IndexFunc(out, func(s monitor.Monitor) bool { return s.Host == m.Host }); i >= 0 {
			out[i] = m
		} else {
			out = append(out, m)
		}
	}
	return slices.DeleteFunc(out, func(m monitor.Monitor) bool { return slices.Contains(p.Delete, m.Host) })
}

func TestPlanChanges(t *testing.T) {
	p := monitor.Plan{
		Put:     []monitor.Monitor{{Host: hostA}, {Host: hostB}},
		Created: []bool{true, false},
		Delete:  []string{hostC},
	}
	want := monitor.Changes{Created: []string{hostA}, Updated: []string{hostB}, Deleted: []string{hostC}}
	if got := p.Changes(); !reflect.DeepEqual(got, want) || got.Empty() || !(monitor.Changes{}).Empty() {
		t.Errorf("Changes() = %+v, want %+v", got, want)
	}
}

func TestIsPush(t *testing.T) {
	for host, want := range map[string]bool{
		"push://backup": true, "PUSH://x": true, "http://127.0.0.1/push://": false, "push:/x": false, "127.0.0.1": false,
	} {
		if got := monitor.IsPush(host); got != want {
			t.Errorf("IsPush(%q) = %v", host, got)
		}
	}
}

// backends opens a new, empty store of every backend.
func backends() map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"memory": func(t *testing.T) store.Store { return memory.New() },
		"bolt": func(t *testing.T) store.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "srvmon.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"ql": func(t *testing.T) store.Store {
			s, err := ql.Open(t.Context(), filepath.Join(t.TempDir(), "srvmon.ql"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) store.Store {
			s, err := postgres.Open(t.Context(), postgres.Config{URL: pgtest.NewDatabase(t)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

// countingStore counts the writes that reach the store.
type countingStore struct {
	store.Store
	writes int
}

func (s *countingStore) PutMonitor(ctx context.Context, m monitor.Monitor) (bool, error) {
	s.writes++
	return s.Store.PutMonitor(ctx, m)
}

func (s *countingStore) DeleteHost(ctx context.Context, host string) error {
	s.writes++
	return s.Store.DeleteHost(ctx, host)
}

// Reconcile against every backend: created, kept, updated, taken over,
// deleted with results; API monitors untouched; a second call writes
// nothing.
func TestReconcileStores(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() { st.Close() })
			ctx := t.Context()
			cs := &countingStore{Store: st}

			// An API monitor, and one the config will take over.
			for _, m := range []monitor.Monitor{api(hostB, monitor.Settings{Name: "api b"}), api(hostC, monitor.Settings{Name: "api c"})} {
				if _, err := st.PutMonitor(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			declared := []monitor.Monitor{
				decl(hostA, monitor.Settings{Name: "a", Conditions: []string{"status == 200"}, Headers: map[string]string{"X-Key": "1"}}),
				decl(hostC, monitor.Settings{Name: "config c"}),
				decl(hostPush, monitor.Settings{}),
			}
			ch := reconcile(t, cs, declared)
			wantChanges(t, ch, monitor.Changes{Created: []string{hostA, hostPush}, Updated: []string{hostC}})
			stored := monitors(t, st)
			token := stored[hostPush].PushToken
			if monitor.CheckPushToken(token) != nil || stored[hostPush].Source != monitor.SourceConfig {
				t.Fatalf("push monitor stored as %+v", stored[hostPush])
			}
			if m := stored[hostB]; m.Source != monitor.SourceAPI || m.Name != "api b" {
				t.Errorf("API monitor changed: %+v", m)
			}
			if m := stored[hostC]; m.Source != monitor.SourceConfig || m.Name != "config c" {
				t.Errorf("taken-over monitor: %+v", m)
			}

			// Idempotent: no change, no write, the token kept.
			cs.writes = 0
			wantChanges(t, reconcile(t, cs, declared), monitor.Changes{})
			if cs.writes != 0 {
				t.Errorf("second Reconcile wrote %d times", cs.writes)
			}
			if got := monitors(t, st)[hostPush].PushToken; got != token {
				t.Errorf("push token changed from %q to %q", token, got)
			}

			// A result of hostA, then hostA removed from the list, hostC changed.
			slot := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
			if err := st.SaveRound(ctx, []store.Result{{Host: hostA, Slot: slot, Up: true, RTT: time.Millisecond}}, nil); err != nil {
				t.Fatal(err)
			}
			declared = []monitor.Monitor{decl(hostC, monitor.Settings{Name: "config c2"}), decl(hostPush, monitor.Settings{})}
			wantChanges(t, reconcile(t, cs, declared), monitor.Changes{Updated: []string{hostC}, Deleted: []string{hostA}})
			if ok, err := st.HostExists(ctx, hostA); err != nil || ok {
				t.Errorf("HostExists(%s) = %v, %v after its removal from the list", hostA, ok, err)
			}
			n := 0
			if err := st.Results(ctx, hostA, slot.Add(-time.Hour), slot.Add(time.Hour), func(store.Result) error { n++; return nil }); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d results of the deleted host remain", n)
			}

			// An empty list deletes every config monitor, no API one.
			wantChanges(t, reconcile(t, cs, []monitor.Monitor{}), monitor.Changes{Deleted: []string{hostC, hostPush}})
			stored = monitors(t, st)
			if len(stored) != 1 || stored[hostB].Name != "api b" {
				t.Errorf("after an empty list: %+v", stored)
			}
		})
	}
}

// A push token another monitor holds fails that put, not the others.
func TestReconcilePartialFailure(t *testing.T) {
	st := memory.New()
	ctx := t.Context()
	if _, err := st.PutMonitor(ctx, api(hostB, monitor.Settings{PushToken: tokenOld})); err != nil {
		t.Fatal(err)
	}
	ch, err := monitor.Reconcile(ctx, st, []monitor.Monitor{
		decl(hostPush, monitor.Settings{PushToken: tokenOld}),
		decl(hostA, monitor.Settings{}),
	})
	if err == nil || !errors.Is(err, store.ErrExists) {
		t.Fatalf("Reconcile error = %v, want ErrExists", err)
	}
	wantChanges(t, ch, monitor.Changes{Created: []string{hostA}})
	if ok, _ := st.HostExists(ctx, hostPush); ok {
		t.Errorf("%s stored despite its token conflict", hostPush)
	}
}

// A store that cannot list changes nothing.
func TestReconcileListFails(t *testing.T) {
	st := memory.New()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ch, err := monitor.Reconcile(ctx, st, []monitor.Monitor{decl(hostA, monitor.Settings{})})
	if err == nil || !ch.Empty() {
		t.Fatalf("Reconcile = %+v, %v; want an error and no change", ch, err)
	}
}

func reconcile(t *testing.T, st monitor.ReconcileStore, declared []monitor.Monitor) monitor.Changes {
	t.Helper()
	ch, err := monitor.Reconcile(t.Context(), st, declared)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func wantChanges(t *testing.T, got, want monitor.Changes) {
	t.Helper()
	slices.Sort(got.Deleted)
	if !slices.Equal(got.Created, want.Created) || !slices.Equal(got.Updated, want.Updated) || !slices.Equal(got.Deleted, want.Deleted) {
		t.Errorf("Changes = %+v, want %+v", got, want)
	}
}

func monitors(t *testing.T, st store.Store) map[string]monitor.Monitor {
	t.Helper()
	ms, err := st.Monitors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]monitor.Monitor{}
	for _, m := range ms {
		out[m.Host] = m
	}
	return out
}
