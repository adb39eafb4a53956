package ql_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/timekey"
	"github.com/srvmon/srvmon/pkg/store/ql"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// openFile opens a fresh file in the test's temporary directory.
func openFile(tb testing.TB) *ql.Store {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "srvmon.ql"))
}

func openAt(tb testing.TB, path string) *ql.Store {
	tb.Helper()
	s, err := ql.Open(tb.Context(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

// openMemory opens a fresh database in memory.
func openMemory(tb testing.TB) *ql.Store {
	tb.Helper()
	return openAt(tb, "")
}

// TestConformance runs the suite on a file and in memory, then in memory
// with tiny statements and chunks, so that inserts and streams cross their
// boundaries, and with sorted range queries, the fallback for a ql whose
// plan would not read the index in order.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"File", func(t *testing.T) store.Store { return openFile(t) }},
		{"Memory", func(t *testing.T) store.Store { return openMemory(t) }},
		{"SmallBatches", func(t *testing.T) store.Store {
			s := openMemory(t)
			ql.SetSizes(s, 3, 5)
			return s
		}},
		{"SortedRanges", func(t *testing.T) store.Store {
			s := openMemory(t)
			ql.ForceSortedRanges(s)
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { storetest.Run(t, tc.open) })
	}
}

func BenchmarkFile(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return openFile(b) })
}

func BenchmarkMemory(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return openMemory(b) })
}

// The range queries must read the index in key order without sorting:
// when a ql upgrade changes that plan, Open falls back to ORDER BY, about
// six times slower, and this test says so.
func TestRangesReadTheIndexInOrder(t *testing.T) {
	for _, s := range []*ql.Store{openFile(t), openMemory(t)} {
		if ql.SortsRanges(s) {
			t.Errorf("Open found that ql's plan for a range does not read the results index in key order; ranges are sorted")
		}
		s.Close()
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.ql")
	ctx := t.Context()
	s := openAt(t, path)
	at := time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)
	r := store.Result{Host: "a.test", Location: "eu", Slot: at, RTT: time.Millisecond, Reason: "timeout"}
	rule := store.Rule{Host: "a.test", Threshold: 2, Action: "http://127.0.0.1:9/"}
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRule(ctx, rule); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRound(ctx, []store.Result{r}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	defer s.Close()
	var got []store.Result
	if err := s.Results(ctx, "a.test", at, at.Add(time.Minute), func(r store.Result) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != r {
		t.Errorf("Results after reopening = %+v, want %+v", got, r)
	}
	if got, err := s.Rule(ctx, "a.test"); err != nil || !reflect.DeepEqual(got, rule) {
		t.Errorf("Rule after reopening = %+v, %v; want %+v", got, err, rule)
	}
}

func TestMemoryStoresAreSeparate(t *testing.T) {
	a, b := openMemory(t), openMemory(t)
	defer a.Close()
	defer b.Close()
	if err := a.AddHost(t.Context(), "a.test"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.HostExists(t.Context(), "a.test"); ok || err != nil {
		t.Errorf("a host added to one memory store exists in another: %v, %v", ok, err)
	}
}

func TestOpenRefusesOtherDatabases(t *testing.T) {
	for _, tc := range []struct {
		name, setup, want string
	}{
		{"Foreign", `CREATE TABLE checks (host string, check_time time)`, "not an srvmon store"},
		{"NewerSchema", `CREATE TABLE srvmon_schema (version int64 NOT NULL); INSERT INTO srvmon_schema VALUES (99)`, "schema version 99 is newer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "srvmon.ql")
			db, err := sql.Open("ql2", path)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(tc.setup); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, err := ql.Open(t.Context(), path)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// LastCheck searches for the newest slot with index seeks: it must find it
// wherever it is, before or after now, and whatever the host's neighbours
// in the key space hold.
func TestLastCheckSearch(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, tc := range []struct {
		name  string
		slots []time.Time
	}{
		{"One", []time.Time{now.Add(-time.Hour)}},
		{"JustBeforeNow", []time.Time{now.Add(-3 * time.Minute), now.Add(-time.Minute), now}},
		{"AfterNow", []time.Time{now.Add(-time.Minute), now.Add(time.Minute), now.Add(90 * 24 * time.Hour)}},
		{"FarPast", []time.Time{time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1990, 6, 1, 0, 0, 0, 1000, time.UTC)}},
		{"FarFuture", []time.Time{now, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"Microseconds", []time.Time{now.Add(-time.Hour), now.Add(-time.Hour + time.Microsecond), now.Add(-time.Hour + 2*time.Microsecond)}},
		{"YearEveryHour", func() []time.Time {
			var ts []time.Time
			start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range 365 * 24 {
				ts = append(ts, start.Add(time.Duration(i)*time.Hour))
			}
			return ts
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openMemory(t)
			defer s.Close()
			ctx := t.Context()
			for _, h := range []string{"a.test", "b.test", "c.test"} {
				if err := s.AddHost(ctx, h); err != nil {
					t.Fatal(err)
				}
			}
			var rs []store.Result
			for i, at := range tc.slots {
				rs = append(rs,
					store.Result{Host: "b.test", Slot: at, RTT: time.Duration(i+1) * time.Millisecond, Up: true},
					store.Result{Host: "b.test", Location: "eu", Slot: at, RTT: time.Duration(i+2) * time.Millisecond, Up: true},
					// Neighbours in the key space, older and newer.
					store.Result{Host: "a.test", Slot: at.Add(time.Hour), RTT: time.Second, Up: true},
					store.Result{Host: "c.test", Slot: at.Add(-time.Hour), RTT: time.Second, Up: true},
				)
			}
			if err := s.SaveRound(ctx, rs, nil); err != nil {
				t.Fatal(err)
			}
			last := len(tc.slots) - 1
			c, ok, err := s.LastCheck(ctx, "b.test")
			if err != nil || !ok || !c.Time.Equal(tc.slots[last]) || c.RTT != time.Duration(last+1)*time.Millisecond {
				t.Errorf("LastCheck = %+v, %v, %v; want the check at %v with rtt %v", c, ok, err, tc.slots[last], time.Duration(last+1)*time.Millisecond)
			}
		})
	}
}

func TestCancelledStreamLeavesStoreUsable(t *testing.T) {
	s := openFile(t)
	defer s.Close()
	ql.SetSizes(s, 100, 7)
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)
	var rs []store.Result
	for i := range 100 {
		rs = append(rs, store.Result{Host: "a.test", Slot: at.Add(time.Duration(i) * time.Minute), RTT: time.Millisecond, Up: true})
	}
	if err := s.SaveRound(ctx, rs, nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := s.Results(ctx, "a.test", at, at.Add(time.Hour*24), func(store.Result) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if err == nil || n >= 100 {
		t.Errorf("Results after cancel: %d rows, error %v; want it stopped with context.Canceled", n, err)
	}
	// The store goes on with another context.
	if err := s.SaveRound(t.Context(), []store.Result{{Host: "a.test", Slot: at.Add(-time.Minute), Up: true}}, nil); err != nil {
		t.Fatal(err)
	}
	c, ok, err := s.LastCheck(t.Context(), "a.test")
	if err != nil || !ok || !c.Time.Equal(at.Add(99*time.Minute)) {
		t.Errorf("LastCheck = %+v, %v, %v", c, ok, err)
	}
}

// TestOpenUpgradesSchema1 opens a database of schema version 1, written
// by srvmon before monitor settings (testdata/schema1.ql.gz: hosts, a
// rule, results; see storetest.ExpectUpgradedFromBeforeMonitors): it
// gains the tables monitors, facts, maintenance and locations, alerting's
// columns and schema version 4, keeps what it held, and opens again.
func TestOpenUpgradesSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.ql")
	storetest.Gunzip(t, filepath.Join("testdata", "schema1.ql.gz"), path)
	s := openAt(t, path)
	storetest.ExpectUpgradedFromBeforeMonitors(t, s)
	factsBefore, err := s.Facts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("ql2", path)
	if err != nil {
		t.Fatal(err)
	}
	var version int64
	if err := db.QueryRow(`SELECT version FROM srvmon_schema`).Scan(&version); err != nil || version != 4 {
		t.Errorf("schema version after Open: %d, %v; want 4", version, err)
	}
	db.Close()
	s = openAt(t, path)
	defer s.Close()
	if ms, err := s.Monitors(t.Context()); err != nil || len(ms) != 3 || ms[2].PushToken == "" {
		t.Errorf("Monitors after reopening: %+v, %v", ms, err)
	}
	// The facts survive: Added of the host added after the upgrade, the
	// push's verdict.
	if fs, err := s.Facts(t.Context()); err != nil || !reflect.DeepEqual(fs, factsBefore) {
		t.Errorf("Facts after reopening: %+v, %v; want %+v", fs, err, factsBefore)
	}
}

// TestOpenUpgradesSchema2Facts opens a database of schema version 2, whose
// facts table lacks the columns added, last_push_up and last_push_reason
// (made here with version 2's statements): it gains them and schema
// version 3, its facts read as they were with Added and the last push's
// verdict zero, and a push records its verdict.
func TestOpenUpgradesSchema2Facts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.ql")
	db, err := sql.Open("ql2", path)
	if err != nil {
		t.Fatal(err)
	}
	expiry := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	push := time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		q    string
		args []any
	}{
		{`CREATE TABLE srvmon_schema (version int64 NOT NULL);
			CREATE TABLE newest_slot (t string NOT NULL);
			CREATE TABLE hosts (name string NOT NULL);
			CREATE UNIQUE INDEX hosts_name ON hosts (name);
			CREATE TABLE monitors (host string NOT NULL, settings string NOT NULL, push_token string NOT NULL);
			CREATE UNIQUE INDEX monitors_host ON monitors (host);
			CREATE INDEX monitors_push_token ON monitors (push_token);
			CREATE TABLE facts (host string NOT NULL, cert_expiry string NOT NULL, last_push string NOT NULL);
			CREATE UNIQUE INDEX facts_host ON facts (host);
			INSERT INTO srvmon_schema VALUES (2); INSERT INTO newest_slot VALUES ("");
			INSERT INTO hosts VALUES ("push://job");
			INSERT INTO monitors VALUES ("push://job", "{\"push_token\":\"tok-0123456789abcdef\"}", "tok-0123456789abcdef");`, nil},
		{`INSERT INTO facts VALUES ("push://job", $1, $2)`, []any{factTime(expiry), factTime(push)}},
	} {
		if _, err := tx.Exec(st.q, st.args...); err != nil {
			t.Fatalf("make a schema 2 database: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openAt(t, path)
	defer s.Close()
	want := []store.Facts{{Host: "push://job", CertExpiry: expiry, LastPush: push}}
	if fs, err := s.Facts(t.Context()); err != nil || !reflect.DeepEqual(fs, want) {
		t.Errorf("Facts of a schema 2 database: %+v, %v; want %+v", fs, err, want)
	}
	later := push.Add(time.Minute)
	if _, err := s.RecordPush(t.Context(), "tok-0123456789abcdef", later, store.Result{Slot: later, Reason: "disk full"}, nil); err != nil {
		t.Fatalf("RecordPush: %v", err)
	}
	want[0].LastPush, want[0].LastPushReason = later, "disk full"
	if fs, err := s.Facts(t.Context()); err != nil || !reflect.DeepEqual(fs, want) {
		t.Errorf("Facts after a push: %+v, %v; want %+v", fs, err, want)
	}
}

// TestOpenUpgradesSchema3Alerting opens a database of schema version 3,
// whose rules, states and deliveries lack alerting's columns and which
// has no locations table (made here with version 3's statements): it
// gains them and schema version 4, its rule, state and delivery read as
// they were with srvmon's fields zero, and a claim and a save with
// alerting work on the upgraded rows.
func TestOpenUpgradesSchema3Alerting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.ql")
	db, err := sql.Open("ql2", path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		q    string
		args []any
	}{
		{`CREATE TABLE srvmon_schema (version int64 NOT NULL);
			CREATE TABLE newest_slot (t string NOT NULL);
			CREATE TABLE hosts (name string NOT NULL);
			CREATE UNIQUE INDEX hosts_name ON hosts (name);
			CREATE TABLE results (k string NOT NULL, rtt int64 NOT NULL, up bool NOT NULL, reason string NOT NULL);
			CREATE UNIQUE INDEX results_k ON results (k);
			CREATE TABLE rules (host string NOT NULL, threshold int64 NOT NULL, action string NOT NULL);
			CREATE UNIQUE INDEX rules_host ON rules (host);
			CREATE TABLE states (host string NOT NULL, status string NOT NULL, count int64 NOT NULL, last_slot time NOT NULL);
			CREATE UNIQUE INDEX states_host ON states (host);
			CREATE TABLE deliveries (host string NOT NULL, url string NOT NULL, created time NOT NULL,
				next_attempt time NOT NULL, attempts int64 NOT NULL, last_error string NOT NULL, status string NOT NULL);
			INSERT INTO srvmon_schema VALUES (3); INSERT INTO newest_slot VALUES ("");
			INSERT INTO hosts VALUES ("a.test");
			INSERT INTO rules VALUES ("a.test", 2, "http://127.0.0.1:9/a");`, nil},
		{`INSERT INTO states VALUES ("a.test", "down", 1, $1)`, []any{at}},
		{`INSERT INTO deliveries VALUES ("a.test", "http://127.0.0.1:9/a", $1, $1, 0, "", "pending")`, []any{at}},
	} {
		if _, err := tx.Exec(st.q, st.args...); err != nil {
			t.Fatalf("make a schema 3 database: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openAt(t, path)
	defer s.Close()
	ctx := t.Context()
	rule := store.Rule{Host: "a.test", Threshold: 2, Action: "http://127.0.0.1:9/a"}
	if rl, err := s.Rule(ctx, "a.test"); err != nil || !reflect.DeepEqual(rl, rule) {
		t.Errorf("Rule of a schema 3 database: %+v, %v; want %+v", rl, err, rule)
	}
	wantState := store.State{Host: "a.test", Status: "down", Count: 1, LastSlot: at}
	if st, err := s.State(ctx, "a.test"); err != nil || !reflect.DeepEqual(st, wantState) {
		t.Errorf("State of a schema 3 database: %+v, %v; want %+v", st, err, wantState)
	}
	d := store.Delivery{Host: "a.test", URL: "http://127.0.0.1:9/a", Created: at, NextAttempt: at, Status: store.DeliveryPending}
	ds, err := s.ClaimDeliveries(ctx, at, at.Add(time.Minute), 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("ClaimDeliveries: %+v, %v", ds, err)
	}
	d.ID, d.Attempts, d.NextAttempt = ds[0].ID, 1, at.Add(time.Minute)
	if !reflect.DeepEqual(ds[0], d) {
		t.Errorf("claimed %+v, want %+v", ds[0], d)
	}
	next := store.State{Host: "a.test", Status: "down", LastSlot: at.Add(time.Minute), Locations: []string{"eu"}, Reason: "timeout"}
	alerting := &store.Alerting{Decide: func(in store.AlertInput) ([]store.State, []store.Delivery) {
		return []store.State{next}, []store.Delivery{{Host: "a.test", Channel: "ntfy://127.0.0.1:9/t", Event: store.EventDown,
			Created: next.LastSlot, NextAttempt: next.LastSlot}}
	}}
	r := store.Result{Host: "a.test", Location: "eu", Slot: next.LastSlot, Reason: "timeout"}
	if err := s.SaveRound(ctx, []store.Result{r}, alerting); err != nil {
		t.Fatalf("SaveRound: %v", err)
	}
	if st, err := s.State(ctx, "a.test"); err != nil || !reflect.DeepEqual(st, next) {
		t.Errorf("State after SaveRound: %+v, %v; want %+v", st, err, next)
	}
	if ls, err := s.Locations(ctx); err != nil || len(ls) != 1 || ls[0].Name != "eu" {
		t.Errorf("Locations after SaveRound: %+v, %v", ls, err)
	}
	if ds, err := s.Deliveries(ctx, "", 10); err != nil || len(ds) != 2 || ds[0].Channel != "ntfy://127.0.0.1:9/t" || ds[1].Channel != "" {
		t.Errorf("Deliveries after SaveRound: %+v, %v", ds, err)
	}
}

// factTime is a time of facts as schema version 2 stored it.
func factTime(t time.Time) string {
	return string(timekey.Append(nil, t))
}

// TestOpenUpgradesBeforeMaintenance opens a database of schema version 3, the layout
// before maintenance windows (made here with version 3's statements):
// results without the column maint, no tables maintenance and
// maintenance_last_id. It gains them and schema version 4, its results
// read as they were (maint NULL: not in maintenance), and it keeps
// maintenance from then on (see
// storetest.ExpectUpgradedFromBeforeMaintenance).
func TestOpenUpgradesBeforeMaintenance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.ql")
	db, err := sql.Open("ql2", path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(`CREATE TABLE srvmon_schema (version int64 NOT NULL);
		CREATE TABLE newest_slot (t string NOT NULL);
		CREATE TABLE hosts (name string NOT NULL);
		CREATE UNIQUE INDEX hosts_name ON hosts (name);
		CREATE TABLE results (k string NOT NULL, rtt int64 NOT NULL, up bool NOT NULL, reason string NOT NULL);
		CREATE UNIQUE INDEX results_k ON results (k);
		INSERT INTO srvmon_schema VALUES (3); INSERT INTO newest_slot VALUES ("");
		INSERT INTO hosts VALUES ("a.test");`)
	if err != nil {
		t.Fatalf("make a schema 3 database: %v", err)
	}
	var id int64
	if err := tx.QueryRow(`SELECT id() FROM hosts WHERE name == "a.test"`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	rs := storetest.ResultsBeforeMaintenance()
	for _, r := range rs {
		if _, err := tx.Exec(`INSERT INTO results VALUES ($1, $2, $3, $4)`, ql.ResultKey(id, r), int64(r.RTT), r.Up, r.Reason); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openAt(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = sql.Open("ql2", path); err != nil {
		t.Fatal(err)
	}
	var version, nulls int64
	if err := db.QueryRow(`SELECT version FROM srvmon_schema`).Scan(&version); err != nil || version != 4 {
		t.Errorf("schema version after Open: %d, %v; want 4", version, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM results WHERE maint IS NULL`).Scan(&nulls); err != nil || nulls != int64(len(rs)) {
		t.Errorf("results whose maint is NULL after Open: %d, %v; want all %d", nulls, err, len(rs))
	}
	db.Close()
	s = openAt(t, path)
	defer s.Close()
	storetest.ExpectUpgradedFromBeforeMaintenance(t, s)
}
