package postgres_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// queryRows runs a query on the database at u and returns its rows, each
// made by scan (pgx.RowTo[int] for a first column of ints).
func queryRows[T any](t *testing.T, u, sql string, scan pgx.RowToFunc[T], args ...any) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, sql, args...)
	vs, err := pgx.CollectRows(rows, scan)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return vs
}

// queryInts runs a query on the database at u and returns its first
// column as ints.
func queryInts(t *testing.T, u, sql string, args ...any) []int {
	t.Helper()
	return queryRows(t, u, sql, pgx.RowTo[int], args...)
}

func appliedVersions(t *testing.T, u string) []int {
	t.Helper()
	return queryInts(t, u, "SELECT version FROM schema_migrations ORDER BY version")
}

// wantVersions returns the versions of the files in migrations/, which
// may skip a number (see postgres.SchemaVersion).
func wantVersions(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var vs []int
	for _, e := range entries {
		prefix, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if err != nil {
			t.Fatalf("migration file %q: %v", e.Name(), err)
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	if len(vs) == 0 || vs[len(vs)-1] != postgres.SchemaVersion() {
		t.Fatalf("migrations %v, SchemaVersion %d: want it the newest", vs, postgres.SchemaVersion())
	}
	return vs
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMigrations(t *testing.T) {
	if postgres.SchemaVersion() < 2 {
		t.Fatalf("SchemaVersion() = %d, want at least 2 (gosrvmon's schema and srvmon's)", postgres.SchemaVersion())
	}

	t.Run("FreshDatabaseThenReopen", func(t *testing.T) {
		u := pgtest.NewDatabase(t)
		s := openURL(t, u)
		if got := appliedVersions(t, u); !equalInts(got, wantVersions(t)) {
			t.Fatalf("schema_migrations after Open = %v, want %v", got, wantVersions(t))
		}
		if err := s.AddHost(t.Context(), "a.test"); err != nil {
			t.Fatal(err)
		}
		s.Close()
		// A second Open, and Init, apply nothing and keep the data.
		s = openURL(t, u)
		if err := postgres.Init(t.Context(), postgres.Config{URL: u}); err != nil {
			t.Fatalf("Init: %v", err)
		}
		if got := queryInts(t, u, "SELECT count(*) FROM schema_migrations"); got[0] != len(wantVersions(t)) {
			t.Errorf("%d rows in schema_migrations after reopening, want %d", got[0], len(wantVersions(t)))
		}
		if ok, err := s.HostExists(t.Context(), "a.test"); !ok || err != nil {
			t.Errorf("HostExists after reopening = %v, %v", ok, err)
		}
	})

	t.Run("InitOnEmptyDatabase", func(t *testing.T) {
		u := pgtest.NewDatabase(t)
		if err := postgres.Init(t.Context(), postgres.Config{URL: u}); err != nil {
			t.Fatalf("Init: %v", err)
		}
		if got := appliedVersions(t, u); !equalInts(got, wantVersions(t)) {
			t.Errorf("schema_migrations after Init = %v, want %v", got, wantVersions(t))
		}
	})

	t.Run("NewerSchemaRefused", func(t *testing.T) {
		u := pgtest.NewDatabase(t)
		openURL(t, u).Close()
		pgtest.Exec(t, u, "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future.sql')", postgres.SchemaVersion()+1)
		s, err := postgres.Open(t.Context(), postgres.Config{URL: u})
		if err == nil {
			s.Close()
			t.Fatal("Open of a database migrated by a newer srvmon succeeded")
		}
		if !strings.Contains(err.Error(), "newer") {
			t.Errorf("Open: %v, want an error that says the schema is newer", err)
		}
	})

	t.Run("FailedMigrationChangesNothing", func(t *testing.T) {
		// A table in the way of one that migration 2 creates makes it fail
		// after migration 1 ran, in the same transaction.
		u := pgtest.NewDatabase(t)
		pgtest.Exec(t, u, "CREATE TABLE deliveries (id integer)")
		s, err := postgres.Open(t.Context(), postgres.Config{URL: u})
		if err == nil {
			s.Close()
			t.Fatal("Open succeeded although migration 2 cannot create its deliveries table")
		}
		if !strings.Contains(err.Error(), "0002_srvmon.sql") {
			t.Errorf("Open: %v, want an error naming the failed migration", err)
		}
		got := queryInts(t, u, `SELECT count(*) FROM pg_tables
			WHERE schemaname = current_schema() AND tablename IN ('hosts', 'checks', 'schema_migrations')`)
		if got[0] != 0 {
			t.Errorf("%d of srvmon's tables exist after a failed migration, want none (one transaction)", got[0])
		}
	})
}

// TestConcurrentOpen opens ten stores at once on one fresh database, as
// ten Lambdas starting together do: the advisory lock lets one migrate
// and the others find the work done.
func TestConcurrentOpen(t *testing.T) {
	u := pgtest.NewDatabase(t)
	const n = 10
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), postgres.Config{URL: u})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if got := appliedVersions(t, u); !equalInts(got, wantVersions(t)) {
		t.Errorf("schema_migrations after %d concurrent Opens = %v, want %v", n, got, wantVersions(t))
	}
	// Every store works on the one schema.
	for i, s := range stores {
		if s == nil {
			continue
		}
		if err := s.AddHost(t.Context(), "h"+string(rune('a'+i))+".test"); err != nil {
			t.Errorf("AddHost through store %d: %v", i, err)
		}
	}
	if stores[0] != nil {
		if hs, err := stores[0].Hosts(t.Context()); err != nil || len(hs) != n {
			t.Errorf("Hosts = %v, %v; want %d hosts", hs, err, n)
		}
	}
}

// gosrvmonInitSQL is gosrvmon's init.sql, as its -init flag ran it.
const gosrvmonInitSQL = `
CREATE TABLE public.hosts
(
  host text NOT NULL,
  CONSTRAINT hosts_host_pkey PRIMARY KEY (host)
);

CREATE TABLE public.checks
(
  host text NOT NULL,
  check_time timestamp without time zone NOT NULL,
  rtt bigint NOT NULL,
  up boolean NOT NULL,
  CONSTRAINT checks_pkey PRIMARY KEY (host, check_time),
  CONSTRAINT checks_host_fkey FOREIGN KEY (host)
      REFERENCES public.hosts (host) MATCH SIMPLE
      ON UPDATE NO ACTION ON DELETE CASCADE
);

CREATE INDEX checks_check_time_idx
  ON public.checks
  USING brin
  (host, check_time);

CREATE TABLE public.state_change_params
(
  host text NOT NULL,
  change_threshold bigint NOT NULL,
  action text NOT NULL,
  CONSTRAINT state_change_params_pkey PRIMARY KEY (host),
  CONSTRAINT state_change_params_host_fkey FOREIGN KEY (host)
      REFERENCES public.hosts (host) MATCH SIMPLE
      ON UPDATE NO ACTION ON DELETE CASCADE
);

CREATE INDEX state_change_params_host_idx
  ON public.state_change_params
  USING brin
  (host);
`

// gosrvmonIDInitSQL is the init.sql of gosrvmon's later schema (2021):
// hosts get an id, which checks and notifications_params refer to.
const gosrvmonIDInitSQL = `
CREATE TABLE public.hosts
(
  id SERIAL NOT NULL,
  host text NOT NULL,
  UNIQUE(id),
  CONSTRAINT hosts_host_pkey PRIMARY KEY (host)
);

CREATE TABLE public.checks
(
  host integer NOT NULL,
  check_time timestamp without time zone NOT NULL,
  rtt bigint NOT NULL,
  up boolean NOT NULL,
  CONSTRAINT checks_pkey PRIMARY KEY (host, check_time),
  CONSTRAINT checks_host_fkey FOREIGN KEY (host)
      REFERENCES public.hosts (id) MATCH SIMPLE
      ON UPDATE NO ACTION ON DELETE CASCADE
);

CREATE INDEX checks_check_time_idx
  ON public.checks
  USING brin
  (host, check_time);

CREATE TABLE public.notifications_params
(
  host integer NOT NULL,
  change_threshold bigint NOT NULL,
  action text NOT NULL,
  CONSTRAINT notifications_params_pkey PRIMARY KEY (host),
  CONSTRAINT notifications_params_host_fkey FOREIGN KEY (host)
      REFERENCES public.hosts (id) MATCH SIMPLE
      ON UPDATE NO ACTION ON DELETE CASCADE
);

CREATE INDEX notifications_params_host_idx
  ON public.notifications_params
  USING brin
  (host);
`

// gosrvmonChecks and gosrvmonRule are the rows that TestUpgradeGosrvmon
// stores as gosrvmon did, by host name: (host, check_time, rtt, up) and
// (host, change_threshold, action).
const (
	gosrvmonChecks = `(VALUES
		('example.test', timestamp '2020-03-01 10:00:00', 12000000, true),
		('example.test', timestamp '2020-03-01 10:01:00', 5000000000, false),
		('example.test', timestamp '2020-03-01 10:02:00.123456', 11000000, true),
		('example.test', timestamp '2020-03-01 10:02:30', -1, false),
		('https://b.test/health', timestamp '2020-03-01 10:00:00', 250000000, true)
	) AS v (host, check_time, rtt, up)`
	gosrvmonRule = `(VALUES ('example.test', 3, 'http://127.0.0.1:9/notify?host=%host%'))
		AS v (host, change_threshold, action)`
)

// TestUpgradeGosrvmon makes a database as each of gosrvmon's schemas did,
// with data, and opens it: the data must read back through the store, and
// the store must work on the upgraded tables.
func TestUpgradeGosrvmon(t *testing.T) {
	for _, tc := range []struct {
		name string
		init string
		// seed stores gosrvmonChecks and gosrvmonRule.
		seed string
		// gosrvmonInsert is an insert of gosrvmon's that must still work
		// on the upgraded tables; empty when it cannot (the id is gone).
		gosrvmonInsert string
	}{{
		name: "ByName",
		init: gosrvmonInitSQL,
		seed: `INSERT INTO checks (host, check_time, rtt, up) SELECT * FROM ` + gosrvmonChecks + `;
			INSERT INTO state_change_params (host, change_threshold, action) SELECT * FROM ` + gosrvmonRule,
		gosrvmonInsert: "INSERT INTO checks (host, check_time, rtt, up) VALUES ('tcp.test:22', '2020-03-01 10:05:00', 1000, true)",
	}, {
		name: "ByID",
		init: gosrvmonIDInitSQL,
		seed: `INSERT INTO checks (host, check_time, rtt, up)
				SELECT h.id, v.check_time, v.rtt, v.up FROM ` + gosrvmonChecks + ` JOIN hosts h USING (host);
			INSERT INTO notifications_params (host, change_threshold, action)
				SELECT h.id, v.change_threshold, v.action FROM ` + gosrvmonRule + ` JOIN hosts h USING (host)`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			u := pgtest.NewDatabase(t)
			// gosrvmon's sessions were UTC (TimeZone=utc); the database's default
			// here is not, to show that it does not matter.
			pgtest.Exec(t, u, "ALTER DATABASE "+dbName(t, u)+" SET timezone = 'America/New_York'")
			pgtest.Exec(t, u, tc.init)
			// The hosts in an order unlike their names', so that ids and
			// names sort apart.
			pgtest.Exec(t, u, `INSERT INTO hosts (host) VALUES ('tcp.test:22'), ('https://b.test/health'), ('example.test')`)
			pgtest.Exec(t, u, tc.seed)
			testUpgradedGosrvmon(t, u, tc.gosrvmonInsert)
		})
	}
}

// testUpgradedGosrvmon opens the gosrvmon database at u, which holds
// gosrvmonChecks and gosrvmonRule, and checks what srvmon makes of it.
func testUpgradedGosrvmon(t *testing.T, u, gosrvmonInsert string) {
	s := openURL(t, u)
	ctx := t.Context()
	if got := appliedVersions(t, u); !equalInts(got, wantVersions(t)) {
		t.Fatalf("schema_migrations after the upgrade = %v, want %v", got, wantVersions(t))
	}
	// The upgrade summarised the history: the hour of each host, every
	// check counted, so that the first charts read summaries.
	if n := queryInts(t, u, `SELECT up + down FROM check_summaries ORDER BY host`); !equalInts(n, []int{4, 1}) {
		t.Errorf("checks counted by the summaries after the upgrade = %v, want [4 1] (example.test, b.test)", n)
	}
	if n := queryInts(t, u, `SELECT count(*) FROM summary_progress WHERE summarised_until > '2020-03-01 11:00'`); !equalInts(n, []int{1}) {
		t.Errorf("summarised_until after the upgrade is not after the checks' hour")
	}
	at := func(min, sec, usec int) time.Time {
		return time.Date(2020, time.March, 1, 10, min, sec, usec*1000, time.UTC)
	}

	hosts, err := s.Hosts(ctx)
	if err != nil || strings.Join(hosts, " ") != "example.test https://b.test/health tcp.test:22" {
		t.Errorf("Hosts = %q, %v", hosts, err)
	}
	var got []store.Result
	err = s.Results(ctx, "example.test", at(0, 0, 0), at(3, 0, 0), func(r store.Result) error {
		got = append(got, r)
		return nil
	})
	want := []store.Result{
		{Host: "example.test", Slot: at(0, 0, 0), RTT: 12 * time.Millisecond, Up: true},
		{Host: "example.test", Slot: at(1, 0, 0), RTT: 5 * time.Second},
		{Host: "example.test", Slot: at(2, 0, 123456), RTT: 11 * time.Millisecond, Up: true},
		// gosrvmon's failed ping (rtt -1) reads as srvmon's down rtt: 0.
		{Host: "example.test", Slot: at(2, 30, 0)},
	}
	if err != nil || len(got) != len(want) {
		t.Fatalf("Results = %v, %v; want %v", got, err, want)
	}
	for i := range want {
		if got[i] != want[i] || got[i].Slot.Location() != time.UTC {
			t.Errorf("result %d = %+v, want %+v (in UTC)", i, got[i], want[i])
		}
	}
	c, ok, err := s.LastCheck(ctx, "example.test")
	if err != nil || !ok || !c.Time.Equal(at(2, 30, 0)) || c.RTT != 0 || c.Up {
		t.Errorf("LastCheck = %+v, %v, %v; want the failed ping, rtt 0", c, ok, err)
	}
	// The row itself is left as gosrvmon wrote it.
	if n := queryInts(t, u, "SELECT rtt FROM checks WHERE check_time = '2020-03-01 10:02:30'"); len(n) != 1 || n[0] != -1 {
		t.Errorf("stored rtt of the failed ping = %v, want [-1]", n)
	}
	rules, err := s.Rules(ctx)
	wantRule := store.Rule{Host: "example.test", Threshold: 3, Action: "http://127.0.0.1:9/notify?host=%host%"}
	if err != nil || len(rules) != 1 || !reflect.DeepEqual(rules[0], wantRule) {
		t.Errorf("Rules = %+v, %v; want [%+v]", rules, err, wantRule)
	}
	bs, err := s.Buckets(ctx, "example.test", at(0, 0, 0), at(4, 0, 0), 2)
	if err != nil || len(bs) != 2 || bs[0].Up != 1 || bs[0].Down != 1 || bs[1].Up != 1 || bs[1].Down != 1 || bs[1].MinRTT != 11*time.Millisecond {
		t.Errorf("Buckets = %+v, %v", bs, err)
	}

	// srvmon's own writes on the upgraded tables: a second location at a
	// stored slot, notification state, a delivery.
	rec := func(rule store.Rule, prev store.State, r store.Result) (store.State, *store.Delivery) {
		return store.State{Status: "down", Count: prev.Count + 1, LastSlot: r.Slot},
			&store.Delivery{URL: rule.Action, Created: r.Slot, NextAttempt: r.Slot}
	}
	err = s.SaveRound(ctx, []store.Result{
		{Host: "example.test", Location: "eu", Slot: at(2, 0, 123456), RTT: 9 * time.Millisecond, Up: true},
		{Host: "example.test", Slot: at(3, 0, 0), RTT: time.Second, Reason: "timeout"},
	}, storetest.PerResult(rec))
	if err != nil {
		t.Fatalf("SaveRound on the upgraded tables: %v", err)
	}
	c, _, _ = s.LastCheck(ctx, "example.test")
	if !c.Time.Equal(at(3, 0, 0)) || c.Error != "timeout" {
		t.Errorf("LastCheck after SaveRound = %+v", c)
	}
	// The upgraded host had no state: both results advance it.
	if ds, err := s.DueDeliveries(ctx, at(3, 0, 0), 10); err != nil || len(ds) != 2 {
		t.Errorf("DueDeliveries = %+v, %v; want two", ds, err)
	}
	if st, err := s.State(ctx, "example.test"); err != nil || st.Count != 2 || !st.LastSlot.Equal(at(3, 0, 0)) {
		t.Errorf("State = %+v, %v; want count 2 at 10:03", st, err)
	}
	var merged []store.Check
	s.Checks(ctx, "example.test", at(2, 0, 0), at(3, 0, 0), func(c store.Check) error {
		merged = append(merged, c)
		return nil
	})
	if len(merged) != 2 || merged[0].RTT != 9*time.Millisecond || merged[1].RTT != 0 || merged[1].Up {
		t.Errorf("Checks = %+v, want the slot with two locations at 9ms, then the failed ping at 0", merged)
	}

	if gosrvmonInsert != "" {
		pgtest.Exec(t, u, gosrvmonInsert)
		if c, ok, err := s.LastCheck(ctx, "tcp.test:22"); err != nil || !ok || !c.Time.Equal(at(5, 0, 0)) {
			t.Errorf("LastCheck of a row gosrvmon inserted = %+v, %v, %v", c, ok, err)
		}
	}

	// Maintenance (migration 0007) on the upgraded tables: gosrvmon's rows
	// and the upgrade's summaries read as not in maintenance, a result in
	// maintenance reads marked and is counted apart, late into a
	// summarised hour too, and windows are kept.
	if n := queryInts(t, u, `SELECT count(*) FROM checks WHERE maintenance`); n[0] != 0 {
		t.Errorf("%d of gosrvmon's rows in maintenance after the upgrade, want 0", n[0])
	}
	err = s.SaveRound(ctx, []store.Result{
		{Host: "https://b.test/health", Location: "eu", Slot: at(0, 0, 0), RTT: time.Millisecond, Up: true, Maintenance: true},
		{Host: "https://b.test/health", Slot: at(6, 0, 0), RTT: 2 * time.Millisecond, Up: true, Maintenance: true},
	}, nil)
	if err != nil {
		t.Fatalf("SaveRound in maintenance on the upgraded tables: %v", err)
	}
	if c, ok, err := s.LastCheck(ctx, "https://b.test/health"); err != nil || !ok || !c.Maintenance {
		t.Errorf("LastCheck of a result in maintenance = %+v, %v, %v; want it in maintenance", c, ok, err)
	}
	hour := time.Date(2020, time.March, 1, 10, 0, 0, 0, time.UTC)
	for _, n := range []int{1, 60} { // from the summary, from the checks
		bs, err := s.Buckets(ctx, "https://b.test/health", hour, hour.Add(time.Hour), n)
		var total store.Bucket
		for _, b := range bs {
			total.Up, total.Down, total.Maintenance = total.Up+b.Up, total.Down+b.Down, total.Maintenance+b.Maintenance
		}
		if err != nil || total.Up != 0 || total.Down != 0 || total.Maintenance != 2 {
			t.Errorf("Buckets of b.test in %d: %+v, %v; want 2 in maintenance, none up or down", n, total, err)
		}
	}
	if id, err := s.PutMaintenance(ctx, monitor.Maintenance{Cron: "@daily", Duration: monitor.Duration(time.Hour)}); err != nil || id <= 0 {
		t.Errorf("PutMaintenance on the upgraded database = %d, %v", id, err)
	}

	// Deleting a host deletes its results, although checks has no
	// foreign key any more.
	if err := s.DeleteHost(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if n := queryInts(t, u, "SELECT count(*) FROM checks WHERE host = 'example.test'"); n[0] != 0 {
		t.Errorf("%d results left of a deleted host", n[0])
	}
	if rules, err := s.Rules(ctx); err != nil || len(rules) != 0 {
		t.Errorf("Rules after deleting the host = %+v, %v; want none", rules, err)
	}
	if err := s.AddHost(ctx, "tcp.test:22"); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddHost of an upgraded host = %v, want ErrExists", err)
	}
}

// dbName returns the database name of a URL made by pgtest.
func dbName(t *testing.T, u string) string {
	t.Helper()
	i := strings.LastIndexByte(u, '/')
	name, _, _ := strings.Cut(u[i+1:], "?")
	if name == "" || strings.ContainsAny(name, `"' ;`) {
		t.Fatalf("no plain database name in %q", u)
	}
	return name
}

// TestOpenWaitsForAMigrationBoundedly holds the migration lock, as a
// process that froze while migrating would: Open must fail after its wait,
// naming the lock, rather than hang.
func TestOpenWaitsForAMigrationBoundedly(t *testing.T) {
	u := pgtest.NewDatabase(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(0x7372766d6f6e)); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx, postgres.Config{URL: u, MigrationLockWait: 200 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded while another session held the migration lock")
	}
	if !strings.Contains(err.Error(), "migration lock") {
		t.Errorf("Open: %v, want an error about the migration lock", err)
	}
}

// TestUpgradeBeforeMaintenance opens a database as it was before
// migration 0007 (maintenance windows), made by this package and then
// taken back: checks and check_summaries without their maintenance
// columns, no maintenance_windows, 0007 not recorded. The migration adds
// them; results and the summaries written before it read as not in
// maintenance, and maintenance is kept from then on (see
// storetest.ExpectUpgradedFromBeforeMaintenance).
func TestUpgradeBeforeMaintenance(t *testing.T) {
	u := pgtest.NewDatabase(t)
	s := openURL(t, u)
	ctx := t.Context()
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	rs := storetest.ResultsBeforeMaintenance()
	if err := s.SaveRound(ctx, rs, nil); err != nil {
		t.Fatal(err)
	}
	for more := true; more; {
		var err error
		if more, err = s.Summarise(ctx, rs[len(rs)-1].Slot.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	takeBackCoveringSummaries(t, u) // first: its key includes maintenance
	pgtest.Exec(t, u, `DROP INDEX checks_maintenance_idx;
		ALTER TABLE checks DROP COLUMN maintenance;
		ALTER TABLE check_summaries DROP COLUMN maintenance;
		DROP TABLE maintenance_windows;`)
	pgtest.Exec(t, u, `DELETE FROM schema_migrations WHERE name = '0007_maintenance.sql'`)
	if n := queryInts(t, u, `SELECT count(*) FROM check_summaries WHERE host = 'a.test'`); n[0] != 3 {
		t.Fatalf("%d summaries of a.test before the upgrade, want 3", n[0])
	}

	s = openURL(t, u)
	if got := appliedVersions(t, u); !equalInts(got, wantVersions(t)) {
		t.Fatalf("schema_migrations after the upgrade = %v, want %v", got, wantVersions(t))
	}
	if n := queryInts(t, u, `SELECT count(*) FROM check_summaries WHERE maintenance <> 0`); n[0] != 0 {
		t.Errorf("%d summaries of before the upgrade count maintenance, want 0", n[0])
	}
	storetest.ExpectUpgradedFromBeforeMaintenance(t, s)
}

// takeBackCoveringSummaries takes the database at u back to before
// migration 0008: check_summaries's key without its INCLUDE and the
// table's default autovacuum settings, 0008 not recorded.
func takeBackCoveringSummaries(t *testing.T, u string) {
	t.Helper()
	takeBackDailyRollups(t, u) // first: it came after
	pgtest.Exec(t, u, `ALTER TABLE check_summaries DROP CONSTRAINT check_summaries_pkey;
		ALTER TABLE check_summaries ADD CONSTRAINT check_summaries_pkey PRIMARY KEY (host, hour);
		ALTER TABLE check_summaries RESET (autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold);
		DELETE FROM schema_migrations WHERE name = '0008_summaries_covering.sql'`)
}

// TestUpgradeBeforeCoveringSummaries opens a database as it was before
// migration 0008 (check_summaries's key without the counters in its
// INCLUDE), with summarised hours. The migration rebuilds the key with
// them; every bucket reads as before, from the summaries, and a late
// result into a summarised hour (whose summary is written again through
// the new key, ON CONFLICT) is counted.
func TestUpgradeBeforeCoveringSummaries(t *testing.T) {
	u := pgtest.NewDatabase(t)
	s := openURL(t, u)
	ctx := t.Context()
	addHosts(t, s, "a.test", "b.test")
	start := time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)
	var rs []store.Result
	for m := range 3 * 60 {
		slot := start.Add(time.Duration(m) * time.Minute)
		rs = append(rs, store.Result{Host: "a.test", Slot: slot, RTT: time.Duration(m+1) * time.Millisecond, Up: m%7 != 0},
			store.Result{Host: "b.test", Slot: slot, Location: "x", RTT: time.Duration(2*m+1) * time.Millisecond, Up: m%5 != 0})
	}
	if err := s.SaveRound(ctx, rs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Summarise(ctx, start.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	q := store.BucketQuery{Bounds: []time.Time{start, start.Add(time.Hour), start.Add(150 * time.Minute), start.Add(3 * time.Hour)}}
	before := bucketsAll(t, s, q)
	s.Close()
	takeBackCoveringSummaries(t, u)

	s = openURL(t, u)
	if got := appliedVersions(t, u); !equalInts(got, wantVersions(t)) {
		t.Fatalf("schema_migrations after the upgrade = %v, want %v", got, wantVersions(t))
	}
	if got := queryInts(t, u, `SELECT i.indnatts - i.indnkeyatts FROM pg_index i
		WHERE i.indexrelid = 'check_summaries_pkey'::regclass AND i.indisprimary`); !equalInts(got, []int{6}) {
		t.Errorf("check_summaries_pkey includes %v columns, want [6]", got)
	}
	if got := bucketsAll(t, s, q); !reflect.DeepEqual(got, before) {
		t.Errorf("buckets after the upgrade:\n%v\nwant\n%v", got, before)
	}
	// A second location's result in the first (summarised) hour: down,
	// where a.test was down, makes nothing up; up makes the slot up.
	late := store.Result{Host: "a.test", Slot: start, Location: "y", RTT: 5 * time.Millisecond, Up: true}
	if err := s.SaveRound(ctx, []store.Result{late}, nil); err != nil {
		t.Fatal(err)
	}
	got := bucketsAll(t, s, q)["a.test"]
	if want := before["a.test"][0].Up + 1; got[0].Up != want || got[0].Down != before["a.test"][0].Down-1 {
		t.Errorf("first hour of a.test after a late up result: up %d down %d, want up %d down %d",
			got[0].Up, got[0].Down, want, before["a.test"][0].Down-1)
	}
}

// bucketsAll returns s.BucketsAll(q) by host.
func bucketsAll(t *testing.T, s store.FleetReader, q store.BucketQuery) map[string][]store.Bucket {
	t.Helper()
	all := map[string][]store.Bucket{}
	err := s.BucketsAll(t.Context(), q, func(h string, bs []store.Bucket) error {
		all[h] = slices.Clone(bs)
		return nil
	})
	if err != nil {
		t.Fatalf("BucketsAll: %v", err)
	}
	return all
}

// takeBackDailyRollups takes the database at u back to before migration
// 0009: no check_summaries_daily, 0009 not recorded.
func takeBackDailyRollups(t *testing.T, u string) {
	t.Helper()
	pgtest.Exec(t, u, `DROP TABLE check_summaries_daily;
		DELETE FROM schema_migrations WHERE name = '0009_summaries_daily.sql'`)
}

// TestUpgradeBeforeDailyRollups opens a database as it was before
// migration 0009 (no daily rollups), with days of summarised hours of two
// hosts, one of them at two locations. The migration rolls up every day
// wholly before summarised_until: the rollups equal those that Summarise
// wrote, and every bucket reads as before; a late result into a
// summarised day is counted in its day's bucket.
func TestUpgradeBeforeDailyRollups(t *testing.T) {
	u := pgtest.NewDatabase(t)
	s := openURL(t, u)
	ctx := t.Context()
	hosts := []string{"a.test", "b.test"}
	addHosts(t, s, hosts...)
	const day = 24 * 60
	saveDays(t, s, hosts, 0, 3*day+5*60)
	var other []store.Result
	for m := day; m < 2*day; m += 3 {
		other = append(other, dayResult("b.test", "x", m))
	}
	if err := s.SaveRound(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	summariseUntil(t, s, daysStart.Add(3*24*time.Hour+7*time.Hour))
	written := rollups(t, u)
	if len(written) != 2*3 {
		t.Fatalf("%d rollups before the upgrade, want 6 (2 hosts × 3 days)", len(written))
	}
	queries := []store.BucketQuery{
		{Bounds: store.EvenBounds(daysStart, daysStart.Add(4*24*time.Hour), 4)},
		{Bounds: store.EvenBounds(daysStart.Add(12*time.Hour), daysStart.Add(4*24*time.Hour), 1)},
		{Bounds: store.EvenBounds(daysStart, daysStart.Add(3*24*time.Hour), 72)},
	}
	var before []map[string][]store.Bucket
	for _, q := range queries {
		before = append(before, bucketsAll(t, s, q))
	}
	s.Close()
	takeBackDailyRollups(t, u)

	s = openURL(t, u)
	if got := appliedVersions(t, u); !equalInts(got, wantVersions(t)) {
		t.Fatalf("schema_migrations after the upgrade = %v, want %v", got, wantVersions(t))
	}
	if got := rollups(t, u); !reflect.DeepEqual(got, written) {
		t.Errorf("rollups after the upgrade:\n%s\nwant, as Summarise wrote them:\n%s", fmtRollups(got), fmtRollups(written))
	}
	if got := queryInts(t, u, `SELECT i.indnatts - i.indnkeyatts FROM pg_index i
		WHERE i.indexrelid = 'check_summaries_daily_pkey'::regclass AND i.indisprimary`); !equalInts(got, []int{6}) {
		t.Errorf("check_summaries_daily_pkey includes %v columns, want [6]", got)
	}
	for i, q := range queries {
		if got := bucketsAll(t, s, q); !reflect.DeepEqual(got, before[i]) {
			t.Errorf("buckets %d after the upgrade:\n%v\nwant\n%v", i, got, before[i])
		}
	}
	// A second location's result, up, in a slot of the second day where
	// a.test was down.
	late := dayResult("a.test", "y", day+2+7*10) // a multiple of 7
	late.Up, late.Reason = true, ""
	if err := s.SaveRound(ctx, []store.Result{late}, nil); err != nil {
		t.Fatal(err)
	}
	got := bucketsAll(t, s, queries[0])["a.test"]
	if was := before[0]["a.test"][1]; got[1].Up != was.Up+1 || got[1].Down != was.Down-1 {
		t.Errorf("second day of a.test after a late up result: up %d down %d, want up %d down %d",
			got[1].Up, got[1].Down, was.Up+1, was.Down-1)
	}
	expectExactRollups(t, u)
}
