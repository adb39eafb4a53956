package postgres_test

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// queryStrings runs a query on the database at u and returns its first
// column as strings.
func queryStrings(t *testing.T, u, sql string, args ...any) []string {
	t.Helper()
	return queryRows(t, u, sql, pgx.RowTo[string], args...)
}

// withSearchPath returns the database URL u whose sessions use schema.
func withSearchPath(t testing.TB, u, schema string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	q.Set("search_path", schema)
	pu.RawQuery = q.Encode()
	return pu.String()
}

// lastResultsRow formats a row of last_results, or of checks, for
// comparing.
const lastResultsRow = `format('%s|%s|%s|%s|%s|%s|%s', host, location, check_time, rtt, up, reason, maintenance)`

// expectLastResults checks that last_results, at u, holds each stored
// host and location's newest row of checks, computed again from checks.
func expectLastResults(t *testing.T, u string) {
	t.Helper()
	got := queryStrings(t, u, `SELECT `+lastResultsRow+` FROM last_results`)
	want := queryStrings(t, u, `SELECT `+lastResultsRow+` FROM (
		SELECT DISTINCT ON (host, location) * FROM checks ORDER BY host, location, check_time DESC
	) c WHERE host IN (SELECT host FROM hosts)`)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("last_results:\n%s\nwant (from checks):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// oldLastChecksSQL is how LastChecks read each stored host's newest slot
// before last_results (migration 0010): straight from checks.
const oldLastChecksSQL = `SELECT h.host, c.*
FROM (SELECT h.host FROM hosts h ORDER BY h.host COLLATE "C") h
CROSS JOIN LATERAL (
	SELECT l.check_time, l.location, l.rtt, l.up, l.reason,
		EXISTS (SELECT FROM checks m WHERE m.host = h.host AND m.maintenance AND m.check_time = l.check_time) AS maintenance
	FROM (
		SELECT check_time, location, rtt, up, reason, rank() OVER (ORDER BY check_time DESC) AS r
		FROM checks WHERE host = h.host
	) l
	WHERE l.r <= 1
) c`

// oldLastChecks returns what oldLastChecksSQL gives at u, merged by host.
func oldLastChecks(t *testing.T, u string) map[string]store.Check {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, oldLastChecksSQL)
	byHost := map[string][]store.Result{}
	var (
		r   store.Result
		rtt int64
	)
	_, err = pgx.ForEachRow(rows, []any{&r.Host, &r.Slot, &r.Location, &rtt, &r.Up, &r.Reason, &r.Maintenance}, func() error {
		r.RTT, _ = store.GosrvmonRTT(rtt, r.Up)
		byHost[r.Host] = append(byHost[r.Host], r)
		return nil
	})
	if err != nil {
		t.Fatalf("the old statement: %v", err)
	}
	checks := map[string]store.Check{}
	for h, rs := range byHost {
		slices.SortFunc(rs, func(a, b store.Result) int { return strings.Compare(a.Location, b.Location) })
		checks[h] = store.MergeSlot(rs)
	}
	return checks
}

// expectLastChecks checks that LastChecks, and LastCheck of each host,
// give what the old statement gives at u.
func expectLastChecks(t *testing.T, s *postgres.Store, u string) {
	t.Helper()
	want := oldLastChecks(t, u)
	got := map[string]store.Check{}
	var order []string
	err := s.LastChecks(t.Context(), func(h string, c store.Check) error {
		got[h] = c
		order = append(order, h)
		return nil
	})
	if err != nil {
		t.Fatalf("LastChecks: %v", err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("LastChecks:\n%v\nwant (the old statement):\n%v", got, want)
	}
	if !slices.IsSorted(order) {
		t.Errorf("LastChecks gave the hosts in the order %q, want byte order", order)
	}
	hosts, err := s.Hosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		c, ok, err := s.LastCheck(t.Context(), h)
		if w, wok := want[h]; err != nil || ok != wok || c != w {
			t.Errorf("LastCheck(%q) = %+v, %v, %v; want %+v, %v", h, c, ok, err, w, wok)
		}
	}
}

// TestLastResultsKept runs every way of changing checks, srvmon's and
// statements typed by hand (gosrvmon's too, from a session whose
// search_path is another schema), and after each one checks last_results
// against checks and LastChecks against the statement it replaced.
func TestLastResultsKept(t *testing.T) {
	db := pgtest.NewDatabase(t)
	const schema = "srvmon"
	pgtest.Exec(t, db, "CREATE SCHEMA "+schema)
	u := withSearchPath(t, db, schema)
	s := openURL(t, u)
	ctx := t.Context()
	base := time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)
	slot := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	res := func(host string, i int, loc string, up bool, rtt int) store.Result {
		r := store.Result{Host: host, Slot: slot(i), Location: loc, Up: up, RTT: time.Duration(rtt) * time.Millisecond}
		if !up {
			r.Reason = fmt.Sprintf("down %d %s", i, loc)
		}
		return r
	}
	save := func(rs ...store.Result) func(t *testing.T) {
		return func(t *testing.T) {
			if err := s.SaveRound(ctx, rs, nil); err != nil {
				t.Fatalf("SaveRound: %v", err)
			}
		}
	}
	// byHand runs sql from a session of the database's default
	// search_path: it names the store's tables with their schema.
	byHand := func(sql string) func(t *testing.T) {
		return func(t *testing.T) { pgtest.Exec(t, db, sql) }
	}
	inMaintenance := res("a.test", 1, "", true, 7)
	inMaintenance.Maintenance = true
	for _, step := range []struct {
		name string
		do   func(t *testing.T)
		// empty: last_results must be empty after the step.
		empty bool
	}{{
		name: "Hosts",
		do: func(t *testing.T) {
			addHosts(t, s, "a.test", "b.test", "c.test", "d.test", "f.test")
		},
		empty: true,
	}, {
		name: "Rounds",
		do: func(t *testing.T) {
			save(res("a.test", 0, "", true, 5), res("b.test", 0, "", true, 6), res("c.test", 0, "", false, 0),
				res("f.test", 0, "", true, 1), res("b.test", 0, "old", true, 9))(t)
			save(inMaintenance, res("b.test", 1, "", false, 0), res("c.test", 1, "", true, 3),
				res("b.test", 1, "old", false, 0))(t)
			save(res("a.test", 2, "", false, 0), res("b.test", 2, "", true, 4), res("c.test", 2, "", true, 2))(t)
			// A host that is not stored: dropped, as by checks.
			save(res("nowhere.test", 2, "", true, 2))(t)
		},
	}, {
		// A statement of more than 100 pairs (the trigger sorts its
		// rows, where it finds the newest of a few pairs in a hash
		// table): two slots of each of many hosts, and a slot older than
		// the stored one of one of them.
		name: "ManyPairs",
		do: func(t *testing.T) {
			var hosts []string
			var rs []store.Result
			for i := range 120 {
				h := fmt.Sprintf("m%03d.test", i)
				hosts = append(hosts, h)
				rs = append(rs, res(h, 3, "", i%2 == 0, i), res(h, 2, "", true, i), res(h, 3, "eu", i%3 == 0, i))
			}
			if err := s.Restore(ctx, store.Restore{Hosts: hosts}); err != nil {
				t.Fatal(err)
			}
			save(res("m000.test", 5, "", true, 1))(t)
			save(rs...)(t)
		},
	}, {
		// The stored results of slot 1 stay (the first stored of a
		// key), a location's first result is older than the host's
		// newest slot, and a round holds a newer slot and an older one
		// of a host.
		name: "LateRoundOfAnOlderSlot",
		do: save(res("a.test", 1, "", false, 0), res("a.test", 0, "eu", true, 8), res("b.test", 1, "", true, 1),
			res("b.test", 3, "", true, 2), res("c.test", 0, "eu", false, 0)),
	}, {
		// Two locations of a slot, and one key twice in a round: checks
		// keeps one of them, and so must last_results.
		name: "TwoLocationsOneSlot",
		do: save(res("a.test", 4, "eu", true, 30), res("a.test", 4, "us", false, 0), res("a.test", 4, "", true, 20),
			res("b.test", 4, "eu", true, 3), res("b.test", 4, "eu", false, 0), res("c.test", 4, "us", true, 11)),
	}, {
		// Older and newer slots than the stored ones, keys stored
		// already, a location new to a host, a host new to the store.
		name: "Restore",
		do: func(t *testing.T) {
			rs := []store.Result{res("a.test", 3, "eu", false, 0), res("a.test", 6, "us", true, 12), res("c.test", 1, "", false, 0),
				res("c.test", 5, "ap", true, 40), res("e.test", 0, "", true, 1), res("e.test", 1, "", true, 2), res("e.test", 2, "", false, 0),
				res("f.test", 0, "eu", false, 0)}
			err := s.Restore(ctx, store.Restore{Hosts: []string{"a.test", "e.test"}, Results: func(ctx context.Context, emit func(store.Result) error) error {
				for _, r := range rs {
					if err := emit(r); err != nil {
						return err
					}
				}
				return nil
			}})
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
		},
	}, {
		// b.test's location "old", and f.test, have no result left: their
		// rows go; a.test's "eu" keeps its newer results.
		name: "RetentionDeletesAWholeLocation",
		do: func(t *testing.T) {
			if _, err := s.DeleteResultsBefore(ctx, slot(2)); err != nil {
				t.Fatal(err)
			}
			if n := queryInts(t, u, `SELECT count(*) FROM last_results WHERE host = 'f.test' OR location = 'old'`); n[0] != 0 {
				t.Errorf("%d rows of results that retention deleted", n[0])
			}
		},
	}, {
		name: "DeleteHost",
		do: func(t *testing.T) {
			if err := s.DeleteHost(ctx, "c.test"); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		// gosrvmon's insert: neither location nor reason nor maintenance,
		// a failed ping's rtt -1.
		name: "GosrvmonInsert",
		do:   byHand(`INSERT INTO srvmon.checks (host, check_time, rtt, up) VALUES ('b.test', '2026-03-01 00:09:00', -1, false)`),
	}, {
		// Results of a host that is not stored (checks has no foreign
		// key): no row until the host is added.
		name: "GosrvmonInsertOfAHostNotStored",
		do: byHand(`INSERT INTO srvmon.checks (host, check_time, rtt, up)
			VALUES ('g.test', '2026-03-01 00:07:00', 5000000, true), ('g.test', '2026-03-01 00:08:00', 6000000, true)`),
	}, {
		name: "AddAHostWithResults",
		do: func(t *testing.T) {
			if err := s.AddHost(ctx, "g.test"); err != nil {
				t.Fatal(err)
			}
			if n := queryInts(t, u, `SELECT count(*) FROM last_results WHERE host = 'g.test'`); n[0] != 1 {
				t.Errorf("%d rows of g.test once added, want 1", n[0])
			}
		},
	}, {
		name: "GosrvmonDeletesAHost",
		do:   byHand(`DELETE FROM srvmon.hosts WHERE host = 'g.test'`),
	}, {
		// A deleted newest result gives way to its location's newest
		// older one.
		name: "DeleteTheNewest",
		do:   byHand(`DELETE FROM srvmon.checks WHERE host = 'a.test' AND location = 'us' AND check_time = '2026-03-01 00:06:00'`),
	}, {
		name: "UpdateValues",
		do:   byHand(`UPDATE srvmon.checks SET up = NOT up, reason = 'changed', maintenance = true WHERE host = 'a.test' AND check_time = '2026-03-01 00:04:00'`),
	}, {
		name: "UpdateKeys",
		do:   byHand(`UPDATE srvmon.checks SET check_time = check_time + interval '1 hour' WHERE host = 'e.test' AND check_time = '2026-03-01 00:01:00'`),
	}, {
		name: "GosrvmonRetention",
		do:   byHand(`DELETE FROM srvmon.checks WHERE check_time < '2026-03-01 00:05:00'`),
	}, {
		name:  "Truncate",
		do:    byHand(`TRUNCATE srvmon.checks`),
		empty: true,
	}} {
		t.Run(step.name, func(t *testing.T) {
			step.do(t)
			expectLastResults(t, u)
			if n := queryInts(t, u, "SELECT count(*) FROM last_results"); (n[0] == 0) != step.empty {
				t.Errorf("%d rows in last_results, want them empty: %v", n[0], step.empty)
			}
			expectLastChecks(t, s, u)
		})
	}
}

// TestUpgradeBeforeLastResults opens a database as it was before
// migration 0010 (no last_results, no triggers on checks), holding
// results of several locations, in maintenance, late, of a host deleted
// by gosrvmon (not stored: no foreign key), and a host without results.
// The migration fills last_results from checks: LastChecks gives what the
// statement it replaced gave before the upgrade, and the triggers keep
// the table from then on.
func TestUpgradeBeforeLastResults(t *testing.T) {
	u := pgtest.NewDatabase(t)
	s := openURL(t, u)
	ctx := t.Context()
	addHosts(t, s, "a.test", "b.test", "c.test", "d.test")
	base := time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)
	slot := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	var rs []store.Result
	for i := range 30 {
		rs = append(rs,
			store.Result{Host: "a.test", Slot: slot(i), RTT: time.Duration(i+1) * time.Millisecond, Up: i%3 != 0, Maintenance: i >= 28},
			store.Result{Host: "a.test", Slot: slot(i), Location: "eu", RTT: time.Duration(2*i+1) * time.Millisecond, Up: i%4 != 0},
			store.Result{Host: "b.test", Slot: slot(i), Location: "us", RTT: time.Millisecond, Up: false, Reason: "refused"})
		if i < 20 {
			rs = append(rs, store.Result{Host: "b.test", Slot: slot(i), Location: "ap", RTT: time.Duration(i) * time.Millisecond, Up: true})
		}
	}
	if err := s.SaveRound(ctx, rs, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	pgtest.Exec(t, u, `DROP FUNCTION last_results_keep() CASCADE;
		DROP FUNCTION last_results_host_added() CASCADE;
		DROP TABLE last_results;
		DELETE FROM schema_migrations WHERE name IN ('0010_last_results.sql', '0011_last_results_retention.sql')`)
	// Written without the triggers: a late result of another location
	// at a.test's newest slot, in maintenance, and gosrvmon's results of
	// d.test, then of a host it deleted since.
	pgtest.Exec(t, u, `INSERT INTO checks (host, check_time, location, rtt, up, reason, maintenance)
			VALUES ('a.test', '2024-03-01 00:29:00', 'us', 4000000, true, '', true);
		INSERT INTO checks (host, check_time, rtt, up) VALUES ('d.test', '2024-03-01 00:01:00', 3000000, true),
			('d.test', '2024-03-01 00:02:00', -1, false), ('gone.test', '2024-03-01 00:02:00', 1000000, true)`)
	want := oldLastChecks(t, u)
	if len(want) != 3 || !want["a.test"].Maintenance || want["d.test"].Up {
		t.Fatalf("the old statement before the upgrade: %v; want a.test in maintenance, b.test, d.test down", want)
	}

	s = openURL(t, u)
	if got := appliedVersions(t, u); !equalInts(got, wantVersions(t)) {
		t.Fatalf("schema_migrations after the upgrade = %v, want %v", got, wantVersions(t))
	}
	expectLastResults(t, u)
	got := map[string]store.Check{}
	if err := s.LastChecks(ctx, func(h string, c store.Check) error { got[h] = c; return nil }); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("LastChecks after the upgrade:\n%v\nwant (the old statement before it):\n%v", got, want)
	}
	// Kept from then on.
	if err := s.SaveRound(ctx, []store.Result{{Host: "b.test", Slot: slot(30), Location: "ap", RTT: time.Millisecond, Up: true}}, nil); err != nil {
		t.Fatal(err)
	}
	expectLastResults(t, u)
	expectLastChecks(t, s, u)
	if c, ok, err := s.LastCheck(ctx, "b.test"); err != nil || !ok || !c.Time.Equal(slot(30)) || !c.Up {
		t.Errorf("LastCheck(b.test) after a round = %+v, %v, %v; want up at %v", c, ok, err, slot(30))
	}
}
