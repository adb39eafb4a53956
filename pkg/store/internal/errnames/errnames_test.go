// Package errnames tests that each backend names itself in the errors it
// wraps store's sentinels in, so that a log line or a command's one-line
// error tells which store failed.
package errnames

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
	"github.com/srvmon/srvmon/pkg/store/ql"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

func TestSentinelsNameTheBackend(t *testing.T) {
	ctx := context.Background()
	for _, b := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"memory", func(t *testing.T) store.Store { return memory.New() }},
		{"bolt", func(t *testing.T) store.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "bolt.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"ql", func(t *testing.T) store.Store {
			s, err := ql.Open(ctx, filepath.Join(t.TempDir(), "ql.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"postgres", func(t *testing.T) store.Store {
			s, err := postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(t)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			t.Cleanup(func() { s.Close() })
			for name, err := range sentinelErrors(t, s) {
				sentinel := errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) ||
					errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrEmptyHost)
				if !sentinel {
					t.Errorf("%s: %v, want a store sentinel", name, err)
					continue
				}
				if !strings.HasPrefix(err.Error(), b.name+": ") {
					t.Errorf("%s: %q does not name the backend (%s: …)", name, err, b.name)
				}
			}
		})
	}
}

// sentinelErrors makes s return each of store's sentinel errors, by call.
func sentinelErrors(t *testing.T, s store.Store) map[string]error {
	ctx := context.Background()
	t0 := time.Unix(0, 0).UTC()
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRule(ctx, store.Rule{Host: "a.test", Threshold: 1, Action: "http://127.0.0.1/"}); err != nil {
		t.Fatal(err)
	}
	advance := func(_ store.Rule, _ store.State, r store.Result) (store.State, *store.Delivery) {
		return store.State{Status: "up", Count: 1, LastSlot: r.Slot}, &store.Delivery{URL: "http://127.0.0.1/", Created: t0}
	}
	if err := s.SaveRound(ctx, []store.Result{{Host: "a.test", Slot: time.Unix(60, 0).UTC(), Up: true}}, storetest.PerResult(advance)); err != nil {
		t.Fatal(err)
	}
	ds, err := s.ClaimDeliveries(ctx, time.Now(), time.Now().Add(time.Hour), 1)
	if err != nil || len(ds) != 1 {
		t.Fatalf("ClaimDeliveries: %v, %v; want one", ds, err)
	}
	unknownResult := func(ctx context.Context, emit func(store.Result) error) error {
		return emit(store.Result{Host: "x.test", Slot: t0})
	}
	errs := map[string]error{
		"AddHost of a stored host":      s.AddHost(ctx, "a.test"),
		"AddHost of an empty name":      s.AddHost(ctx, ""),
		"DeleteHost":                    s.DeleteHost(ctx, "x.test"),
		"Results":                       s.Results(ctx, "x.test", t0, time.Now(), func(store.Result) error { return nil }),
		"Checks":                        s.Checks(ctx, "x.test", t0, time.Now(), func(store.Check) error { return nil }),
		"SetRule":                       s.SetRule(ctx, store.Rule{Host: "x.test"}),
		"DeleteRule":                    s.DeleteRule(ctx, "x.test"),
		"UpdateDelivery of no delivery": s.UpdateDelivery(ctx, store.Delivery{ID: ds[0].ID + 1000, Status: store.DeliveryPending}),
		"UpdateDelivery, stale":         s.UpdateDelivery(ctx, store.Delivery{ID: ds[0].ID, Status: store.DeliveryPending}),
		"Restore of an empty name":      s.Restore(ctx, store.Restore{Hosts: []string{""}}),
		"Restore of an unknown rule":    s.Restore(ctx, store.Restore{Rules: []store.Rule{{Host: "x.test"}}}),
		"Restore of an unknown result":  s.Restore(ctx, store.Restore{Results: unknownResult}),
	}
	_, _, errs["LastCheck"] = s.LastCheck(ctx, "x.test")
	_, errs["Buckets"] = s.Buckets(ctx, "x.test", t0, time.Now(), 3)
	_, errs["Rule"] = s.Rule(ctx, "x.test")
	return errs
}
