package round_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/notify/notifytest"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
)

// Quorum across locations on bolt, through one process: a runner per
// location on one store, one round each per slot. At quorum 2 of 3, one
// location's blip sends nothing and an outage seen from two sends one
// message naming them; a maintenance window covering the outage's first
// slots holds it back until the window ends; a parent down with its
// child sends the parent's message only, naming the child.
func TestQuorumAcrossLocationsOnBolt(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "srvmon.db"), bolt.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()

	var up atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer target.Close()
	receiver := notifytest.NewReceiver(t, "")
	channel := receiver.URL
	router, web := target.URL+"/router", target.URL+"/web"
	putMonitors(t, st, monitor.Monitor{Host: router, Settings: monitor.Settings{Name: "router"}},
		monitor.Monitor{Host: web, Settings: monitor.Settings{Name: "web", Parent: router}})
	for _, h := range []string{router, web} {
		if err := st.SetRule(ctx, store.Rule{Host: h, Threshold: 1, Quorum: "2", Channels: []string{channel},
			Message: "{NAME} {STATE} at {LOCATIONS}; also down: {CHILDREN}"}); err != nil {
			t.Fatal(err)
		}
	}
	locations := []string{"eu", "us", "vps"}
	base := time.Now().Add(-time.Hour).Truncate(time.Second) // within the Sender's MaxAge
	slot := 0
	// round runs one round per location in the next slot, the target
	// up or down as each location's entry says.
	round := func(states ...bool) {
		t.Helper()
		slot++
		at := base.Add(time.Duration(slot) * time.Second)
		for i, loc := range locations {
			up.Store(states[i])
			r := newRunner(t, st)
			r.Location = loc
			if _, err := r.Run(ctx, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := func(what string, w ...string) {
		t.Helper()
		if got := receiver.Texts(); !slices.Equal(got, w) {
			t.Fatalf("%s: messages %q, want %q", what, got, w)
		}
	}
	round(true, true, true)
	round(false, true, true)
	want("one location's blip")
	round(false, true, false)
	down := "router down at eu, vps; also down: web"
	want("an outage seen from two of three: the parent's message alone", down)
	round(true, true, true)
	want("recovered", down, "router up at ; also down: ")

	// A window over the next two slots: the outage that outlasts it is
	// sent when it ends.
	if _, err := st.PutMaintenance(ctx, monitor.Maintenance{Hosts: []string{router, web},
		Start: base.Add(time.Duration(slot+1) * time.Second), End: base.Add(time.Duration(slot+3) * time.Second)}); err != nil {
		t.Fatal(err)
	}
	round(false, false, false)
	round(false, false, false)
	want("in maintenance", down, "router up at ; also down: ")
	round(false, false, false)
	want("after the window", down, "router up at ; also down: ", "router down at eu, us, vps; also down: web")
}
