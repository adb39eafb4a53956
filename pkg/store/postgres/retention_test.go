package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// holdRow locks the rows that sql (a SELECT … FOR UPDATE) selects, in a
// transaction of its own on its own connection, until release is called
// (or the test ends): a statement of another transaction that reaches
// one of them waits there, at a point the test chooses.
func holdRow(t *testing.T, u, sql string, args ...any) (release func()) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("hold a row: %d rows, %v", tag.RowsAffected(), err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			tx.Rollback(context.Background())
			conn.Close(context.Background())
		}
	}
	t.Cleanup(release)
	return release
}

// expectExactSummaries fails t unless check_summaries holds, for every
// host and hour before summarised_until, exactly the merged checks of
// that hour (see summaries.go): no hour with results and no summary
// (a chart or an uptime, which read the summary, would miss them) and no
// summary that counts results no longer stored.
func expectExactSummaries(t *testing.T, u string) {
	t.Helper()
	wrong := queryStrings(t, u, `WITH m AS (
			SELECT c.host, date_trunc('hour', c.check_time) AS hour, bool_or(c.up) AS up, bool_or(c.maintenance) AS m
			FROM checks c, summary_progress p WHERE c.check_time < p.summarised_until
			GROUP BY c.host, c.check_time
		), h AS (
			SELECT host, hour, count(*) FILTER (WHERE up AND NOT m) AS up, count(*) FILTER (WHERE NOT up AND NOT m) AS down,
				count(*) FILTER (WHERE m) AS maintenance
			FROM m GROUP BY host, hour
		)
		SELECT coalesce(h.host, s.host) || ' ' || to_char(coalesce(h.hour, s.hour), 'YYYY-MM-DD HH24:MI')
			|| ': results up/down/maintenance ' || coalesce(h.up || '/' || h.down || '/' || h.maintenance, 'none')
			|| ', summary ' || coalesce(s.up || '/' || s.down || '/' || s.maintenance, 'none')
		FROM h FULL JOIN check_summaries s ON s.host = h.host AND s.hour = h.hour
		WHERE (h.up, h.down, h.maintenance) IS DISTINCT FROM (s.up, s.down, s.maintenance)
		ORDER BY 1`)
	for _, w := range wrong {
		t.Errorf("summary of %s", w)
	}
}

// expectRetainedExactly fails t unless, after retention and late
// results, the hourly summaries count the results stored, the rollups
// sum the summaries, and buckets of days (the rollups) count the results
// stored.
func expectRetainedExactly(t *testing.T, s *postgres.Store, u string, hosts []string) {
	t.Helper()
	expectExactSummaries(t, u)
	expectExactRollups(t, u)
	end := daysStart.Add(2 * store.DaySpan)
	expectBuckets(t, s, storedResults(t, s, hosts, end), end, 2)
}

// TestRetentionKeepsALateResultSummarised stores a late result of z.test
// older than retention's cut (two days summarised and rolled up, cut
// mid-day 1) while retention runs. Retention's delete of checks, whose
// snapshot cannot see the uncommitted result, keeps it; the result's hour
// must then keep a summary that counts it, whatever retention deletes
// after. Both orders are forced:
//   - retention waits for the late round (which holds its transaction
//     open in Decide, after re-summarising z.test's hour): on main its
//     delete of summaries waited for the hour's row, and deleted it once
//     the round committed;
//   - the late round commits while retention is between its deletes of
//     checks and those of summaries: retention's delete of the
//     summaries of a first chunk of hosts waits for a row the test holds
//     (a.test's), and z.test is in the second chunk; on main that
//     chunk's delete of summaries, which began after the round committed,
//     deleted the hour's summary.
func TestRetentionKeepsALateResultSummarised(t *testing.T) {
	const day = 24 * 60 // minutes
	at := func(m int) time.Time { return daysStart.Add(time.Duration(m) * time.Minute) }
	cut := at(day + 13*60 + 30)
	late := store.Result{Host: "z.test", Location: "eu", Slot: at(day + 3*60 + 2), RTT: 900 * time.Millisecond, Up: true}
	for _, c := range []struct {
		name string
		// fillers are hosts without results, between a.test and z.test.
		fillers int
		// hold holds a.test's summary of an hour before the cut until the
		// late round committed.
		hold bool
	}{
		{name: "retention waits for the late round"},
		{name: "the late round commits between retention's deletes", fillers: postgres.DeleteHosts - 1, hold: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := pgtest.NewDatabase(t)
			s := openURL(t, u)
			ctx := t.Context()
			hosts := []string{"a.test", "z.test"}
			all := slices.Clone(hosts)
			for i := range c.fillers {
				all = append(all, fmt.Sprintf("f%04d.test", i))
			}
			if err := s.Restore(ctx, store.Restore{Hosts: all}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetRule(ctx, store.Rule{Host: "z.test", Threshold: 1}); err != nil {
				t.Fatal(err)
			}
			saveDays(t, s, hosts, 0, 2*day+60)
			summariseUntil(t, s, at(2*day+2*60)) // days 0 and 1 complete
			release := func() {}
			if c.hold {
				release = holdRow(t, u, `SELECT FROM check_summaries WHERE host = 'a.test' AND hour = $1 FOR UPDATE`, at(3*60))
			}
			interleave(t, u,
				func(a *store.Alerting) error {
					defer release() // once the round committed (or failed)
					return s.SaveRound(ctx, []store.Result{late}, a)
				},
				func() error {
					_, err := s.DeleteResultsBefore(ctx, cut)
					return err
				})
			expectRetainedExactly(t, s, u, hosts)
		})
	}
}

// TestRetentionAndALateRoundDoNotDeadlock runs retention while a late
// round stores a.test's results of two hours older than the cut, which
// it summarises again hour by hour (03:00, then a later one, second).
// Retention deletes summaries in the order of their rows in the table (a
// TID scan sorts them), which the test makes second, held, 03:00 (03:00
// updated, its row moves after theirs), and it holds held so that
// retention, having deleted second, waits there. The late round then runs until it waits for a
// lock, and the test lets retention go on. On main the round had
// updated 03:00 and waited for second, which retention had deleted, and
// retention then waited for 03:00: a deadlock, which PostgreSQL broke by
// failing one of them. Both must succeed, and the hours stay exact.
func TestRetentionAndALateRoundDoNotDeadlock(t *testing.T) {
	const day = 24 * 60 // minutes
	at := func(m int) time.Time { return daysStart.Add(time.Duration(m) * time.Minute) }
	cut := at(day + 13*60 + 30)
	u := pgtest.NewDatabase(t)
	s := openURL(t, u)
	ctx := t.Context()
	hosts := []string{"a.test", "b.test"}
	addHosts(t, s, hosts...)
	saveDays(t, s, hosts, 0, 2*day+60)
	summariseUntil(t, s, at(2*day+2*60)) // days 0 and 1 complete
	// The late round's hours: first, then second (two spans, summarised
	// in that order). Updated, first's row moves after the others, and
	// second and held are the first two after first's hour (but the
	// next) and before the cut, in the order of the rows.
	first := at(3 * 60)
	pgtest.Exec(t, u, `UPDATE check_summaries SET up = up WHERE host = 'a.test' AND hour = $1`, first)
	after := queryRows(t, u, `SELECT hour FROM check_summaries
		WHERE host = 'a.test' AND hour >= $1 AND hour < $2
			AND ctid < (SELECT ctid FROM check_summaries WHERE host = 'a.test' AND hour = $3)
		ORDER BY ctid LIMIT 2`, pgx.RowTo[time.Time], first.Add(2*time.Hour), store.Hour(cut), first)
	if len(after) != 2 {
		t.Fatalf("%d rows of summaries before 03:00's, want 2: the test cannot force the order", len(after))
	}
	second, held := after[0].UTC(), after[1].UTC()
	release := holdRow(t, u, `SELECT FROM check_summaries WHERE host = 'a.test' AND hour = $1 FOR UPDATE`, held)
	watcher := newLockWatcher(t, u)
	retained, saved := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := s.DeleteResultsBefore(ctx, cut)
		retained <- err
	}()
	retainedDone := make(chan struct{})
	if !watcher.waitForWaiters(ctx, 1, nil) {
		t.Fatal("retention never waited for the row held")
	}
	lateRound := []store.Result{
		{Host: "a.test", Location: "eu", Slot: first.Add(2 * time.Minute), RTT: 900 * time.Millisecond, Up: true},
		{Host: "a.test", Location: "eu", Slot: second.Add(2 * time.Minute), RTT: 900 * time.Millisecond, Up: true},
	}
	go func() { saved <- s.SaveRound(ctx, lateRound, nil) }()
	if !watcher.waitForWaiters(ctx, 2, retainedDone) {
		t.Error("the late round never waited for a lock while retention waited: the order was not forced")
	}
	release()
	if err := <-retained; err != nil {
		t.Errorf("retention: %v", err)
	}
	close(retainedDone)
	if err := <-saved; err != nil {
		t.Errorf("the late round: %v", err)
	}
	expectRetainedExactly(t, s, u, hosts)
}

// TestRetentionDeletesResultsWithoutTheHostsRows stores a late result of
// a location ("old") whose results are all older than retention's cut,
// in a summarised hour, while retention deletes them. The late round
// stores it, which locks the location's row of last_results, and the
// test holds it before it locks a.test's row (its record of certificate
// expiries waits for a row of host_facts the test holds); retention's
// delete of results then waits for the row of last_results (its trigger
// deletes the location's row). Retention must not hold a.test's row
// while it deletes results: the round, let go, would wait for it, and
// the two deadlock. Both must succeed, and the summaries, the rollups and
// last_results stay exact.
func TestRetentionDeletesResultsWithoutTheHostsRows(t *testing.T) {
	const day = 24 * 60 // minutes
	at := func(m int) time.Time { return daysStart.Add(time.Duration(m) * time.Minute) }
	u := pgtest.NewDatabase(t)
	s := openURL(t, u)
	ctx := t.Context()
	hosts := []string{"a.test"}
	addHosts(t, s, hosts...)
	saveDays(t, s, hosts, 0, 2*day+60)
	var old []store.Result
	for m := 0; m < 10; m += 2 {
		old = append(old, store.Result{Host: "a.test", Location: "old", Slot: at(m), RTT: time.Millisecond, Up: true})
	}
	if err := s.SaveRound(ctx, old, nil); err != nil {
		t.Fatal(err)
	}
	summariseUntil(t, s, at(2*day+2*60)) // days 0 and 1 complete
	release := holdRow(t, u, `SELECT FROM host_facts WHERE host = 'a.test' FOR UPDATE`)
	watcher := newLockWatcher(t, u)
	late := store.Result{Host: "a.test", Location: "old", Slot: at(5), RTT: time.Second, Reason: "late", CertExpiry: at(90 * day)}
	saved, retained := make(chan error, 1), make(chan error, 1)
	go func() { saved <- s.SaveRound(ctx, []store.Result{late}, nil) }()
	if !watcher.waitForWaiters(ctx, 1, nil) {
		t.Fatal("the late round never waited for the row of host_facts held")
	}
	go func() {
		_, err := s.DeleteResultsBefore(ctx, at(day+13*60+30))
		retained <- err
	}()
	if !watcher.waitForWaiters(ctx, 2, nil) {
		t.Error("retention never waited while the late round waited: the order was not forced")
	}
	release()
	if err := <-saved; err != nil {
		t.Errorf("the late round: %v", err)
	}
	if err := <-retained; err != nil {
		t.Errorf("retention: %v", err)
	}
	expectLastResults(t, u)
	expectRetainedExactly(t, s, u, hosts)
}
