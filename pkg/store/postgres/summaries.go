package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
)

// How the hourly summaries (check_summaries, see store.SummarySpan) stay
// exact. A summary of (host, hour) exists only for an hour before
// summary_progress.summarised_until, and when it exists it counts exactly
// the host's merged checks of that hour:
//
//   - Summarise summarises, for every host, the hours from
//     summarised_until to the last one that ended store.SummaryMargin
//     before now, and moves summarised_until on;
//   - a transaction that adds results to an hour before summarised_until
//     (a late or retried round, another location, a restore) summarises
//     that hour of that host again before it commits;
//   - a restore into a database never summarised (summarised_until NULL:
//     a new one) summarises all of it and sets summarised_until in its
//     transaction (summariseFirst), and a migration of a database with
//     checks never summarised (gosrvmon's) summarises them right after
//     (summariseAll), so that the first charts read summaries;
//   - retention deletes the summaries of every hour it deletes results of,
//     the hour it cuts included, which it then summarises again from the
//     checks it keeps, as it does the hours of the late results older
//     than its cut that its delete of checks did not see (summariseCut),
//     and DeleteHost deletes the host's.
//
// So an hour before summarised_until without a summary has no check: a
// read plans the same summaries and spans for every host (bucketsOf).
//
// The daily rollups (check_summaries_daily, see store.DaySpan) stay exact
// the same way: a rollup of (host, day) exists for each UTC day wholly
// before summarised_until that has an hourly summary, and equals the sum
// of the day's hourly summaries (store.Summary.Merge). Every transaction
// that writes hourly summaries writes the rollups of the days they touch
// that are wholly before summarised_until, with one statement (rollupSQL,
// which recomputes them from check_summaries and deletes those of days
// left without an hour), before it commits:
//
//   - Summarise rolls up, for every host, the days that its hours touch
//     and that its new summarised_until leaves complete (a day is
//     complete once summarised_until reaches its end), as do
//     summariseFirst and so summariseAll;
//   - resummarise (a late round, another location, a restore into
//     summarised hours) rolls up again the touched days that are wholly
//     before summarised_until;
//   - retention deletes the rollups of the days before the day it cuts,
//     and rolls up the day it cuts again in summariseCut's
//     transaction, after that hour's summary; DeleteHost deletes the
//     host's.
//
// So a day before summarised_until's day without a rollup has no check,
// and a read takes the whole days of its buckets from the rollups and the
// hours at their edges from the hourly summaries (store.SummaryRuns).
//
// So that no summary is computed from checks that another transaction is
// changing, every transaction that writes checks or summaries holds the
// advisory lock summariesLockKey: shared, or exclusive for Summarise,
// which only tries for it (a busy Summarise waits for its next call, and
// never holds up a round), and for DeleteHost, which so also waits for the
// rounds and restores that may store results of the host it deletes.
//
// The lock held shared lets transactions store checks of one host at
// once: rounds of several locations, a restore, retention. Each computes
// the summaries and rollups it writes again with a statement that sees
// what committed before it began (READ COMMITTED), so that, of two that
// store late results of one host and day, the one that commits last
// would write values that miss the other's checks: its statement began
// before the other committed, and an ON CONFLICT that waits for the
// other's row writes its own values still. So every transaction that
// computes summaries or rollups of hours before summarised_until while
// holding the lock shared (resummarise, summariseCut), or deletes them
// (retention's deleteSummariesBefore), first locks the rows of their
// hosts (lockHosts), until it commits: the second of
// two waits there for the first's commit, and its statements that
// compute, which begin after, see the first's checks and summaries (the
// first's missed the second's, which the second then writes). Hence the
// last to commit computes from every check committed, whatever the
// order. A round of the current hours summarises nothing, and locks
// nothing more.
//
// The rows of hosts rather than an advisory lock per (host, day): a
// restore or retention's cut may touch every day of 10,000 hosts, which
// would fill the server's shared lock table, while a row lock is kept in
// the row. FOR NO KEY UPDATE conflicts with itself, and not with the FOR
// KEY SHARE of foreign-key checks and of restores. A transaction takes
// them after storing its checks (and their rows of last_results), before
// writing summaries, rules and locations, in byte order: the order of
// every other that takes them, so that none can deadlock on them.
// Retention deletes checks without them: its delete's trigger writes
// rows of last_results, which a late writer locks before it takes its
// hosts' rows (TestRetentionDeletesResultsWithoutTheHostsRows).
//
// Buckets and BucketsAll read the summaries of the hours before
// summarised_until that lie wholly inside one of their buckets, and the
// checks of the rest (store.Bucketer.SummaryPlan): before summarised_until,
// an hour without a summary has no check.

// summariesLockKey is the advisory lock of the summaries ("srvmoo").
const summariesLockKey int64 = migrationLockKey + 1

// setSummariseWorkMem gives the sorts of a transaction that summarises
// many hours the memory to sort in: a host's year is 525,600 checks, which
// PostgreSQL's default work_mem (4MB) sorts twice on disk, a third slower.
// The hosts are summarised one after another, so the server holds at most
// a few times this at once.
const setSummariseWorkMem = "SET LOCAL work_mem = '64MB'"

// summariseBudget bounds one Summarise transaction: it summarises at most
// this many host-hours (about 60 checks each at a one-minute interval).
const summariseBudget = 20000

// summarised begins a transaction that writes checks, in one round trip:
// it takes the summaries lock shared and returns summary_progress, the
// hour before which summaries may exist (the zero time when none do).
//
// It also plans every statement of the transaction anew: pgx prepares
// statements, and after five runs PostgreSQL may switch to a generic plan,
// which cannot see how long the arrays of a round or a restore are (it
// assumes short arrays, and joins a large round by index lookups). Reads
// keep their cached plans, which a LastCheck would otherwise spend much
// of its time making again.
func summarised(ctx context.Context, tx pgx.Tx) (time.Time, error) {
	b := &pgx.Batch{}
	b.Queue("SET LOCAL plan_cache_mode = force_custom_plan")
	b.Queue("SELECT pg_advisory_xact_lock_shared($1)", summariesLockKey)
	// A statement of its own: its snapshot is taken once the lock is held.
	b.Queue("SELECT summarised_until FROM summary_progress")
	br := tx.SendBatch(ctx, b)
	var until *time.Time
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&until)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return time.Time{}, fmt.Errorf("lock the summaries: %w", err)
	case until == nil:
		return time.Time{}, nil
	}
	return until.UTC(), nil
}

// lockHostsSQL and lockAllHostsSQL lock the rows of the hosts $1, or of
// every host, in byte order, until the commit (see the comment at the
// top): the lock of a transaction that computes their summaries again.
const (
	lockHostsSQL    = `SELECT FROM hosts WHERE host = ANY ($1::text[]) ORDER BY host COLLATE "C" FOR NO KEY UPDATE`
	lockAllHostsSQL = `SELECT FROM hosts ORDER BY host COLLATE "C" FOR NO KEY UPDATE`
)

// lockHosts locks the rows of hosts (nil: of every host) before tx
// computes their summaries or rollups again: it waits for any other
// transaction doing so for one of them to commit.
func lockHosts(ctx context.Context, tx pgx.Tx, hosts []string) error {
	var err error
	if hosts == nil {
		_, err = tx.Exec(ctx, lockAllHostsSQL)
	} else {
		_, err = tx.Exec(ctx, lockHostsSQL, hosts)
	}
	if err != nil {
		return fmt.Errorf("lock the hosts to summarise: %w", err)
	}
	return nil
}

// summariseSQL summarises the checks of each row (host, lo, hi) of the
// source that %s names, in [lo, hi), hour by hour, into check_summaries:
// the results of each slot merged first (up if any location was; the
// lowest rtt of those up; in maintenance if any location's result was),
// then counted as store.Summary counts them (a check in maintenance only
// in maintenance). lo and hi are whole hours, and no two rows of one host
// overlap.
const summariseSQL = `INSERT INTO check_summaries (host, hour, up, down, min_rtt, max_rtt, sum_rtt, maintenance)
SELECT t.host, m.hour, m.up, m.down, m.min_rtt, m.max_rtt, m.sum_rtt, m.maintenance
FROM %s CROSS JOIN LATERAL (
	SELECT date_trunc('hour', s.check_time) AS hour,
		count(*) FILTER (WHERE s.up AND NOT s.m) AS up, count(*) FILTER (WHERE NOT s.up AND NOT s.m) AS down,
		coalesce(min(s.rtt) FILTER (WHERE NOT s.m), 0) AS min_rtt, coalesce(max(s.rtt) FILTER (WHERE NOT s.m), 0) AS max_rtt,
		coalesce(sum(s.rtt) FILTER (WHERE NOT s.m), 0)::bigint AS sum_rtt, count(*) FILTER (WHERE s.m) AS maintenance
	FROM (
		SELECT c.check_time, bool_or(c.up) AS up, min(c.rtt) FILTER (WHERE c.up) AS rtt, bool_or(c.maintenance) AS m
		FROM checks c
		WHERE c.host = t.host AND c.check_time >= t.lo AND c.check_time < t.hi
		GROUP BY c.check_time
	) s
	GROUP BY 1
) m
ON CONFLICT (host, hour) DO UPDATE SET up = excluded.up, down = excluded.down,
	min_rtt = excluded.min_rtt, max_rtt = excluded.max_rtt, sum_rtt = excluded.sum_rtt,
	maintenance = excluded.maintenance`

// rollupSQL writes the daily rollups (check_summaries_daily) of each row
// (host, lo, hi) of the source that %s names, day by day in [lo, hi),
// from the hourly summaries: each day's rollup is the sum of its hours as
// store.Summary.Merge adds them (the lowest min_rtt and the highest
// max_rtt of the hours with a check up), and a day that has no hour left
// loses its rollup. lo and hi are whole UTC days wholly before
// summarised_until, and no two rows of one host overlap. Every path that
// writes hourly summaries runs it, so that the rollups are computed one
// way; a rollup that is already right is left as it is.
const rollupSQL = `WITH t AS MATERIALIZED (
	SELECT t.host, t.lo, t.hi FROM %s
), r AS MATERIALIZED (
	SELECT t.host, d.day, d.up, d.down, d.maintenance, d.min_rtt, d.max_rtt, d.sum_rtt
	FROM t CROSS JOIN LATERAL (
		SELECT date_trunc('day', s.hour) AS day, sum(s.up)::bigint AS up, sum(s.down)::bigint AS down,
			sum(s.maintenance)::bigint AS maintenance, coalesce(min(s.min_rtt) FILTER (WHERE s.up > 0), 0) AS min_rtt,
			coalesce(max(s.max_rtt) FILTER (WHERE s.up > 0), 0) AS max_rtt, sum(s.sum_rtt)::bigint AS sum_rtt
		FROM check_summaries s
		WHERE s.host = t.host AND s.hour >= t.lo AND s.hour < t.hi
		GROUP BY 1
	) d
), gone AS (
	DELETE FROM check_summaries_daily x USING t
	WHERE x.host = t.host AND x.day >= t.lo AND x.day < t.hi
		AND NOT EXISTS (SELECT FROM r WHERE r.host = x.host AND r.day = x.day)
)
INSERT INTO check_summaries_daily AS x (host, day, up, down, maintenance, min_rtt, max_rtt, sum_rtt)
SELECT * FROM r
ON CONFLICT (host, day) DO UPDATE SET up = excluded.up, down = excluded.down, maintenance = excluded.maintenance,
	min_rtt = excluded.min_rtt, max_rtt = excluded.max_rtt, sum_rtt = excluded.sum_rtt
WHERE (x.up, x.down, x.maintenance, x.min_rtt, x.max_rtt, x.sum_rtt)
	IS DISTINCT FROM (excluded.up, excluded.down, excluded.maintenance, excluded.min_rtt, excluded.max_rtt, excluded.sum_rtt)`

// The sources of summariseSQL and rollupSQL: every host in [$1, $2), or
// the hosts $1 in [$2, $3).
const (
	allHostsSource = `(SELECT host, $1::timestamp AS lo, $2::timestamp AS hi FROM hosts) t`
	spansSource    = `unnest($1::text[], $2::timestamp[], $3::timestamp[]) AS t (host, lo, hi)`
)

// summariseAllHosts summarises the hours [from, to) of every host, then
// rolls up the days that they touch and that are wholly before until
// (which is to, or beyond it).
func summariseAllHosts(ctx context.Context, tx pgx.Tx, from, to, until time.Time) error {
	if _, err := tx.Exec(ctx, statements().summariseAll, from, to); err != nil {
		return fmt.Errorf("summarise [%v, %v): %w", from, to, err)
	}
	return rollupAllHosts(ctx, tx, from, to, until)
}

// rollupAllHosts rolls up, for every host, the days that the hours
// [from, to) touch and that are wholly before until.
func rollupAllHosts(ctx context.Context, tx pgx.Tx, from, to, until time.Time) error {
	dayLo, dayHi := store.RolledUpDays(from, to, until)
	if !dayLo.Before(dayHi) {
		return nil
	}
	if _, err := tx.Exec(ctx, statements().rollupAll, dayLo, dayHi); err != nil {
		return fmt.Errorf("roll up the days [%v, %v): %w", dayLo, dayHi, err)
	}
	return nil
}

// resummarise summarises again the hours that touched noted, as far as
// they are before until, then rolls up again the days they touch that are
// wholly before until, once it holds the rows of their hosts (lockHosts).
func resummarise(ctx context.Context, tx pgx.Tx, touched store.TouchedHours, until time.Time) error {
	spans := touched.Before(until)
	if len(spans) == 0 {
		return nil
	}
	hosts := make([]string, len(spans))
	los, his := make([]time.Time, len(spans)), make([]time.Time, len(spans))
	// The days, a run per host where its spans' days touch or overlap
	// (Before lists a host's spans together, in order), and the hosts.
	var dayHosts, locked []string
	var dayLos, dayHis []time.Time
	for i, sp := range spans {
		hosts[i], los[i], his[i] = sp.Host, sp.Start, sp.End
		if n := len(locked); n == 0 || locked[n-1] != sp.Host {
			locked = append(locked, sp.Host)
		}
		lo, hi := store.RolledUpDays(sp.Start, sp.End, until)
		if !lo.Before(hi) {
			continue
		}
		if n := len(dayHosts); n > 0 && dayHosts[n-1] == sp.Host && !lo.After(dayHis[n-1]) {
			dayHis[n-1] = hi
			continue
		}
		dayHosts, dayLos, dayHis = append(dayHosts, sp.Host), append(dayLos, lo), append(dayHis, hi)
	}
	if err := lockHosts(ctx, tx, locked); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, statements().summariseSpans, hosts, los, his); err != nil {
		return fmt.Errorf("summarise the hours of %d hosts again: %w", len(hosts), err)
	}
	if len(dayHosts) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, statements().rollupSpans, dayHosts, dayLos, dayHis); err != nil {
		return fmt.Errorf("roll up the days of %d hosts again: %w", len(dayHosts), err)
	}
	return nil
}

// Summarise summarises the hours that ended store.SummaryMargin before
// now and are not yet, for every host, at most summariseBudget host-hours
// in one transaction; more reports that hours are left. The first call
// starts at the oldest stored check. It does nothing, and reports more,
// when a transaction that writes checks holds the summaries lock.
func (s *Store) Summarise(ctx context.Context, now time.Time) (more bool, err error) {
	more, _, err = summariseStep(ctx, s.pool, now)
	if err != nil {
		return false, fmt.Errorf("postgres: summarise: %w", err)
	}
	return more, nil
}

// beginner begins transactions: a pool or a connection.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// summariseStep is one Summarise transaction on db; busy reports that a
// transaction that writes checks held the summaries lock, and it did
// nothing (more is true then).
func summariseStep(ctx context.Context, db beginner, now time.Time) (more, busy bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, false, err
	}
	cutoff := store.Hour(now.Add(-store.SummaryMargin))
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", summariesLockKey).Scan(&locked); err != nil {
			return fmt.Errorf("lock the summaries: %w", err)
		}
		if !locked {
			more, busy = true, true
			return nil
		}
		var until *time.Time
		var hosts int64
		err := tx.QueryRow(ctx, "SELECT summarised_until, (SELECT count(*) FROM hosts) FROM summary_progress").Scan(&until, &hosts)
		if err != nil {
			return fmt.Errorf("read summary_progress: %w", err)
		}
		from := cutoff
		if until != nil {
			from = until.UTC()
		} else if from, err = oldestHour(ctx, tx, cutoff); err != nil {
			return err
		}
		if !from.Before(cutoff) {
			if until != nil {
				return nil
			}
			_, err := tx.Exec(ctx, "UPDATE summary_progress SET summarised_until = $1", cutoff)
			return err
		}
		to := from.Add(time.Duration(max(summariseBudget/max(hosts, 1), 1)) * store.SummarySpan)
		if to.Before(cutoff) {
			more = true
		} else {
			to = cutoff
		}
		if _, err := tx.Exec(ctx, setSummariseWorkMem); err != nil {
			return err
		}
		if err := summariseAllHosts(ctx, tx, from, to, to); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE summary_progress SET summarised_until = $1", to)
		return err
	})
	return more, busy, err
}

// oldestHour returns the hour of the oldest check, or cutoff when there
// is none before it: where summarising begins the first time. One index
// seek per host.
func oldestHour(ctx context.Context, tx pgx.Tx, cutoff time.Time) (time.Time, error) {
	var oldest *time.Time
	err := tx.QueryRow(ctx, `SELECT min(f.first) FROM hosts h
		CROSS JOIN LATERAL (SELECT min(check_time) AS first FROM checks WHERE host = h.host) f`).Scan(&oldest)
	if err != nil {
		return time.Time{}, fmt.Errorf("find the oldest check: %w", err)
	}
	if oldest != nil && store.Hour(*oldest).Before(cutoff) {
		return store.Hour(*oldest), nil
	}
	return cutoff, nil
}

// summariseAll runs Summarise's steps on db until every hour that ended
// store.SummaryMargin before now is summarised, or another process holds
// the summaries lock (that process, or the next maintenance, goes on).
// Each step is a transaction of its own, bounded by summariseBudget.
func summariseAll(ctx context.Context, db beginner, now time.Time) error {
	for {
		more, busy, err := summariseStep(ctx, db, now)
		if err != nil || !more || busy {
			return err
		}
	}
}

// summariseFirst is what a transaction that stores checks does when it
// finds that nothing was ever summarised (until is zero: a new database,
// before its first maintenance): it summarises every hour that ended
// store.SummaryMargin before now, from the oldest check on (in a new
// database, those the transaction brings), and sets summarised_until, as
// Summarise's steps would, so that the first charts read summaries. It
// needs the summaries lock exclusively, as Summarise does; the
// transaction holds it shared, and takes it exclusively only if no other
// transaction holds it (a round under way): otherwise it leaves the
// summaries to Summarise. It returns the new summarised_until, or zero.
func summariseFirst(ctx context.Context, tx pgx.Tx, now time.Time) (time.Time, error) {
	var locked bool
	if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", summariesLockKey).Scan(&locked); err != nil {
		return time.Time{}, fmt.Errorf("lock the summaries: %w", err)
	}
	if !locked {
		return time.Time{}, nil
	}
	// Another transaction may have set it before this one took the lock.
	var until *time.Time
	if err := tx.QueryRow(ctx, "SELECT summarised_until FROM summary_progress").Scan(&until); err != nil {
		return time.Time{}, fmt.Errorf("read summary_progress: %w", err)
	}
	if until != nil {
		return until.UTC(), nil
	}
	cutoff := store.Hour(now.Add(-store.SummaryMargin))
	from, err := oldestHour(ctx, tx, cutoff)
	if err != nil {
		return time.Time{}, err
	}
	if from.Before(cutoff) {
		if _, err := tx.Exec(ctx, setSummariseWorkMem); err != nil {
			return time.Time{}, err
		}
		if err := summariseAllHosts(ctx, tx, from, cutoff, cutoff); err != nil {
			return time.Time{}, err
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE summary_progress SET summarised_until = $1", cutoff); err != nil {
		return time.Time{}, fmt.Errorf("update summary_progress: %w", err)
	}
	return cutoff, nil
}
