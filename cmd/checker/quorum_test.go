package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/notify/notifytest"
	"github.com/srvmon/srvmon/pkg/store"
)

// Quorum across locations, with a checker process per location on one
// PostgreSQL database, as two Lambdas in two regions and a VPS would run:
// at quorum 2, one location's blip sends nothing; an outage seen from two
// locations sends one alert that names them; its end one recovery.
func TestQuorumAcrossCheckerProcesses(t *testing.T) {
	for _, locations := range [][]string{{"eu", "us"}, {"eu", "us", "vps"}} {
		t.Run(strings.Join(locations, "+"), func(t *testing.T) {
			testQuorum(t, locations)
		})
	}
}

func testQuorum(t *testing.T, locations []string) {
	st, env := pgStore(t)
	const interval = 3 * time.Second
	env = append(env, "SRVMON_CHECKS_INTERVAL=3", "SRVMON_CHECKS_TIMEOUT=1")

	var targetUp atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !targetUp.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer target.Close()
	receiver := notifytest.NewReceiver(t, "")
	ctx := context.Background()
	if err := st.AddHost(ctx, target.URL); err != nil {
		t.Fatal(err)
	}
	rule := store.Rule{Host: target.URL, Threshold: 1, Quorum: "2", Channels: []string{receiver.URL},
		Message: "{STATE} at {LOCATIONS}"}
	if err := st.SetRule(ctx, rule); err != nil {
		t.Fatal(err)
	}

	// slot runs one checker per location in one slot, the target up or
	// down as each location's entry in up says.
	slot := func(up ...bool) {
		t.Helper()
		freshSlot(interval, interval*3/4)
		for i, loc := range locations {
			targetUp.Store(up[i])
			code, stdout, stderr := runBinary(t, binary, append(env, "SRVMON_CHECKS_LOCATION="+loc))
			if code != 0 {
				t.Fatalf("%s: exit %d, %s %s", loc, code, stdout, stderr)
			}
		}
		time.Sleep(time.Until(time.Now().Truncate(interval).Add(interval))) // the next slot
	}
	want := func(what string, w ...string) {
		t.Helper()
		if got := receiver.Texts(); !slices.Equal(got, w) {
			t.Fatalf("%s: messages %q, want %q", what, got, w)
		}
	}
	all := func(up bool) []bool {
		v := make([]bool, len(locations))
		for i := range v {
			v[i] = up
		}
		return v
	}
	slot(all(true)...)
	want("all up")
	blip := all(true)
	blip[0] = false
	slot(blip...)
	want("one location's blip")
	outage := all(true)
	outage[0], outage[1] = false, false
	slot(outage...)
	want("two locations down", "down at "+locations[0]+", "+locations[1])
	slot(all(true)...)
	want("recovered", "down at "+locations[0]+", "+locations[1], "up at ")
}
