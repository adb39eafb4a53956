package storetest

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// Contents is everything a store holds that a backup covers, read through
// the store's own methods, so that tests of a backup compare what was
// stored independently of how a backup writes it.
type Contents struct {
	Hosts    []string
	Monitors []monitor.Monitor
	Rules    []store.Rule
	Results  []store.Result
	// Maintenance are the maintenance windows.
	Maintenance []monitor.Maintenance
}

// ContentsOf reads st's hosts, monitors, rules, maintenance windows and
// every host's results.
func ContentsOf(t testing.TB, st store.Reader) Contents {
	t.Helper()
	ctx := context.Background()
	var c Contents
	var err error
	if c.Hosts, err = st.Hosts(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Monitors, err = st.Monitors(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Rules, err = st.Rules(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Maintenance, err = st.Maintenances(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range c.Hosts {
		err := st.Results(ctx, h, store.MinTime(), store.MaxTime(), func(r store.Result) error {
			c.Results = append(c.Results, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Equal reports whether c and o hold the same; slots are compared as
// instants, monitors and maintenance windows exactly
// (reflect.DeepEqual, but for the windows' times, compared as instants).
func (c Contents) Equal(o Contents) bool {
	return slices.Equal(c.Hosts, o.Hosts) && reflect.DeepEqual(c.Monitors, o.Monitors) && reflect.DeepEqual(c.Rules, o.Rules) &&
		slices.EqualFunc(c.Maintenance, o.Maintenance, sameWindow) &&
		slices.EqualFunc(c.Results, o.Results, func(x, y store.Result) bool {
			return x.Host == y.Host && x.Location == y.Location && x.Slot.Equal(y.Slot) &&
				x.RTT == y.RTT && x.Up == y.Up && x.Reason == y.Reason && x.Maintenance == y.Maintenance
		})
}
