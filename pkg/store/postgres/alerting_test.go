package postgres_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// TestUpgradeFromSchema5Alerting migrates a database of schema version 5
// (before alerting; made here with migrations 1 to 5), holding a rule, a
// state and a delivery, to the current one: they read as they were with
// srvmon's fields zero, gosrvmon's insert of a rule still works, and
// alerting's writes work on the upgraded rows.
func TestUpgradeFromSchema5Alerting(t *testing.T) {
	u := pgtest.NewDatabase(t)
	files, err := filepath.Glob(filepath.Join("migrations", "000[1-5]_*.sql"))
	if err != nil || len(files) != 5 {
		t.Fatalf("migrations 1 to 5: %v, %v", files, err)
	}
	pgtest.Exec(t, u, `CREATE TABLE schema_migrations (version integer NOT NULL PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`)
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pgtest.Exec(t, u, string(b))
		pgtest.Exec(t, u, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, i+1, filepath.Base(f))
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	pgtest.Exec(t, u, `INSERT INTO hosts VALUES ('a.test'), ('b.test')`)
	pgtest.Exec(t, u, `INSERT INTO state_change_params VALUES ('a.test', 2, 'http://127.0.0.1:9/a')`)
	pgtest.Exec(t, u, `INSERT INTO notification_states VALUES ('a.test', 'down', 1, $1)`, at)
	pgtest.Exec(t, u, `INSERT INTO deliveries (host, url, created, next_attempt) VALUES ('a.test', 'http://127.0.0.1:9/a', $1, $1)`, at)

	s, err := postgres.Open(t.Context(), postgres.Config{URL: u})
	if err != nil {
		t.Fatalf("Open of a schema 5 database: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	rule := store.Rule{Host: "a.test", Threshold: 2, Action: "http://127.0.0.1:9/a"}
	if rl, err := s.Rule(ctx, "a.test"); err != nil || !reflect.DeepEqual(rl, rule) {
		t.Errorf("Rule: %+v, %v; want %+v", rl, err, rule)
	}
	wantState := store.State{Host: "a.test", Status: "down", Count: 1, LastSlot: at}
	if st, err := s.State(ctx, "a.test"); err != nil || !reflect.DeepEqual(st, wantState) {
		t.Errorf("State: %+v, %v; want %+v", st, err, wantState)
	}
	ds, err := s.ClaimDeliveries(ctx, at, at.Add(time.Minute), 10)
	if err != nil || len(ds) != 1 || ds[0].URL != rule.Action || ds[0].Channel != "" || ds[0].Event != "" {
		t.Fatalf("ClaimDeliveries: %+v, %v", ds, err)
	}
	// gosrvmon's insert of a rule, on the upgraded table.
	pgtest.Exec(t, u, `INSERT INTO state_change_params (host, change_threshold, action) VALUES ('b.test', 1, 'http://127.0.0.1:9/b')`)
	if rl, err := s.Rule(ctx, "b.test"); err != nil || rl.Threshold != 1 || rl.Channels != nil {
		t.Errorf("Rule of gosrvmon's insert: %+v, %v", rl, err)
	}

	next := store.State{Host: "a.test", Status: "down", LastSlot: at.Add(time.Minute), Since: at, Locations: []string{"eu"},
		Reason: "timeout", Recent: 3, RecentLen: 2}
	d := store.Delivery{Host: "a.test", Channel: "ntfy://127.0.0.1:9/t", Event: store.EventDown, Title: "a.test is down",
		Message: strings.Repeat("x", 10), Created: next.LastSlot, NextAttempt: next.LastSlot, Status: store.DeliveryPending}
	alerting := &store.Alerting{Decide: func(in store.AlertInput) ([]store.State, []store.Delivery) {
		return []store.State{next}, []store.Delivery{d}
	}}
	if err := s.SaveRound(ctx, []store.Result{{Host: "a.test", Location: "eu", Slot: next.LastSlot, Reason: "timeout"}}, alerting); err != nil {
		t.Fatalf("SaveRound: %v", err)
	}
	if st, err := s.State(ctx, "a.test"); err != nil || !reflect.DeepEqual(st, next) {
		t.Errorf("State after SaveRound: %+v, %v; want %+v", st, err, next)
	}
	got, err := s.Deliveries(ctx, "a.test", 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("Deliveries after SaveRound: %+v, %v; want one", got, err)
	}
	if d.ID = got[0].ID; !reflect.DeepEqual(got[0], d) {
		t.Errorf("Deliveries after SaveRound: %+v, %v; want %+v", got, err, d)
	}
	if ls, err := s.Locations(ctx); err != nil || len(ls) != 1 || ls[0].Name != "eu" || !ls[0].LastSlot.Equal(next.LastSlot) {
		t.Errorf("Locations after SaveRound: %+v, %v", ls, err)
	}
}
