package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// open opens a store on a fresh database of the test server.
func open(tb testing.TB) *postgres.Store {
	tb.Helper()
	return openURL(tb, pgtest.NewDatabase(tb))
}

// openURL opens a store on the database at u and closes it when the test ends.
func openURL(tb testing.TB, u string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), postgres.Config{URL: u})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// addHosts adds hosts to s.
func addHosts(tb testing.TB, s *postgres.Store, hosts ...string) {
	tb.Helper()
	for _, h := range hosts {
		if err := s.AddHost(tb.Context(), h); err != nil {
			tb.Fatalf("AddHost(%q): %v", h, err)
		}
	}
}

// schemaOpener returns a func that opens a store in a new, empty schema
// (its search_path) of one database made for tb. A schema takes
// milliseconds where a database takes a fraction of a second, and the
// conformance suite opens more than a hundred stores.
func schemaOpener(tb testing.TB) func(tb testing.TB) *postgres.Store {
	dbURL := pgtest.NewDatabase(tb)
	var n atomic.Int64
	return func(tb testing.TB) *postgres.Store {
		tb.Helper()
		schema := fmt.Sprintf("s%d", n.Add(1))
		pgtest.Exec(tb, dbURL, "CREATE SCHEMA "+schema)
		u, err := url.Parse(dbURL)
		if err != nil {
			tb.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		s, err := postgres.Open(tb.Context(), postgres.Config{URL: u.String()})
		if err != nil {
			tb.Fatalf("Open: %v", err)
		}
		return s
	}
}

func TestConformance(t *testing.T) {
	open := schemaOpener(t)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		s, err := postgres.Open(b.Context(), postgres.Config{URL: pgtest.NewDatabase(b)})
		if err != nil {
			b.Fatalf("Open: %v", err)
		}
		return s
	})
}

// BenchmarkFleet runs storetest.BenchFleet (issue 13's fleet reads).
func BenchmarkFleet(b *testing.B) {
	storetest.BenchFleet(b, func(b *testing.B) store.Store {
		s, err := postgres.Open(b.Context(), postgres.Config{URL: pgtest.NewDatabase(b)})
		if err != nil {
			b.Fatalf("Open: %v", err)
		}
		return s
	})
}

// BenchmarkSaveRoundWithRules saves rounds of 10,000 results whose hosts
// all have a rule, in the steady state: every round advances 10,000
// states (their last slot) and enqueues a delivery for one host in 100.
func BenchmarkSaveRoundWithRules(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	const n = 10000
	hosts := make([]string, n)
	rules := make([]store.Rule, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%05d.test", i)
		rules[i] = store.Rule{Host: hosts[i], Threshold: 3, Action: "http://127.0.0.1:9/"}
	}
	if err := s.Restore(ctx, store.Restore{Hosts: hosts, Rules: rules}); err != nil {
		b.Fatal(err)
	}
	advance := func(rule store.Rule, prev store.State, r store.Result) (store.State, *store.Delivery) {
		next := store.State{Status: "up", Count: prev.Count + 1, LastSlot: r.Slot}
		if next.Count%100 != 0 {
			return next, nil
		}
		return next, &store.Delivery{URL: rule.Action, Created: r.Slot, NextAttempt: r.Slot}
	}
	round := make([]store.Result, n)
	base := time.Date(2024, time.May, 1, 0, 0, 0, 0, time.UTC)
	for i := range round {
		round[i] = store.Result{Host: hosts[i], RTT: time.Millisecond, Up: true}
	}
	save := func(slot int) {
		for i := range round {
			round[i].Slot = base.Add(time.Duration(slot) * time.Minute)
			round[i].RTT = time.Duration(i+slot) * time.Microsecond
		}
		if err := s.SaveRound(ctx, round, storetest.PerResult(advance)); err != nil {
			b.Fatalf("SaveRound: %v", err)
		}
	}
	save(0) // the states exist from here on
	slot := 1
	for b.Loop() {
		save(slot)
		slot++
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkSaveLateRound saves late rounds of 10,000 results: each slot
// is in an hour already summarised, so that each round summarises again
// an hour of every host (locking the hosts' rows first, see summaries.go).
func BenchmarkSaveLateRound(b *testing.B) {
	s := open(b)
	ctx := b.Context()
	const n = 10000
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%05d.test", i)
	}
	if err := s.Restore(ctx, store.Restore{Hosts: hosts}); err != nil {
		b.Fatal(err)
	}
	base := time.Date(2024, time.May, 1, 0, 0, 0, 0, time.UTC)
	round := make([]store.Result, n)
	save := func(slot time.Time) {
		for i := range round {
			round[i] = store.Result{Host: hosts[i], Slot: slot, RTT: time.Duration(i) * time.Microsecond, Up: true}
		}
		if err := s.SaveRound(ctx, round, nil); err != nil {
			b.Fatalf("SaveRound: %v", err)
		}
	}
	save(base)
	for more := true; more; {
		var err error
		if more, err = s.Summarise(ctx, base.Add(2*time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	i := 1
	for b.Loop() {
		save(base.Add(time.Duration(i) * time.Second)) // hour 0, summarised
		i++
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "results/s")
}

// A restore into a new database leaves the hours it brings summarised.
func TestRestoredSummariesAreRead(t *testing.T) {
	u := pgtest.NewDatabase(t)
	storetest.RestoredSummariesAreRead(t, openURL(t, u), func(t *testing.T) {
		pgtest.Exec(t, u, "UPDATE checks SET up = false WHERE host = 'a.test'")
	})
}

func TestSummariesAreRead(t *testing.T) {
	u := pgtest.NewDatabase(t)
	storetest.SummariesAreRead(t, openURL(t, u), func(t *testing.T) {
		pgtest.Exec(t, u, "UPDATE checks SET up = false WHERE host = 'a.test'")
	})
}

// TestRestoreVacuums checks that a restore of vacuumAfterRestore results
// or more leaves checks and check_summaries vacuumed and analysed, so
// that the fleet's pages are fast from the first request, and that a
// small one leaves that to autovacuum.
func TestRestoreVacuums(t *testing.T) {
	for _, tc := range []struct {
		results int
		want    bool
	}{{1000, false}, {100000, true}} {
		t.Run(fmt.Sprint(tc.results), func(t *testing.T) {
			u := pgtest.NewDatabase(t)
			s := openURL(t, u)
			hosts := []string{"a.test", "b.test", "c.test", "d.test"}
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			err := s.Restore(t.Context(), store.Restore{Hosts: hosts, Results: func(ctx context.Context, emit func(store.Result) error) error {
				for i := range tc.results {
					r := store.Result{Host: hosts[i%len(hosts)], Slot: start.Add(time.Duration(i/len(hosts)) * time.Minute), RTT: time.Millisecond, Up: true}
					if err := emit(r); err != nil {
						return err
					}
				}
				return nil
			}})
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			conn, err := pgx.Connect(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			for _, table := range []string{"checks", "check_summaries"} {
				var vacuumed, analysed bool
				err := conn.QueryRow(t.Context(), `SELECT last_vacuum IS NOT NULL, last_analyze IS NOT NULL
					FROM pg_stat_user_tables WHERE relname = $1`, table).Scan(&vacuumed, &analysed)
				if err != nil {
					t.Fatalf("%s: %v", table, err)
				}
				if vacuumed != tc.want || analysed != tc.want {
					t.Errorf("after restoring %d results, %s vacuumed %v, analysed %v; want %v", tc.results, table, vacuumed, analysed, tc.want)
				}
			}
		})
	}
}

// BenchmarkDeleteResultsBefore measures retention on a history of one
// result a minute per host, summarised and rolled up:
//   - Round10k: 10,000 hosts × 3 hours, the cut a minute later at each
//     call, as retention after each round (10,000 results deleted, and
//     the hour it cuts summarised again);
//   - Backlog1k: 1,000 hosts × a day, of which one call deletes 23 hours
//     (1.38 million results, 23,000 summaries), as the first retention
//     of a long history.
func BenchmarkDeleteResultsBefore(b *testing.B) {
	base := time.Date(2024, time.May, 1, 0, 0, 0, 0, time.UTC)
	load := func(b *testing.B, hosts, minutes int) *postgres.Store {
		s := open(b)
		names := make([]string, hosts)
		for i := range names {
			names[i] = fmt.Sprintf("h%05d.test", i)
		}
		err := s.Restore(b.Context(), store.Restore{Hosts: names, Results: func(ctx context.Context, emit func(store.Result) error) error {
			for _, h := range names {
				for m := range minutes {
					r := store.Result{Host: h, Slot: base.Add(time.Duration(m) * time.Minute), RTT: time.Duration(m%97) * time.Millisecond, Up: m%7 != 0}
					if err := emit(r); err != nil {
						return err
					}
				}
			}
			return nil
		}})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	b.Run("Round10k", func(b *testing.B) {
		s := load(b, 10000, 3*60)
		cut := base.Add(30 * time.Minute)
		for b.Loop() {
			if _, err := s.DeleteResultsBefore(b.Context(), cut); err != nil {
				b.Fatal(err)
			}
			cut = cut.Add(time.Minute)
		}
	})
	b.Run("Backlog1k", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			s := load(b, 1000, 24*60)
			b.StartTimer()
			n, err := s.DeleteResultsBefore(b.Context(), base.Add(23*time.Hour))
			if err != nil || n != 1000*23*60 {
				b.Fatalf("DeleteResultsBefore = %d, %v; want %d", n, err, 1000*23*60)
			}
		}
		b.ReportMetric(float64(1000*23*60)*float64(b.N)/b.Elapsed().Seconds(), "results/s")
	})
}
