package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
)

// DeleteResultsBefore deletes at most deleteBatch rows per statement,
// looking at deleteHosts hosts at a time.
const (
	deleteBatch = 10000
	deleteHosts = 1000
)

// insertRoundSQL stores a round's results in one statement. Results of
// hosts that are not stored are dropped by the join. A host being deleted
// is either gone already or waits for this transaction and then deletes
// what it stored, since DeleteHost takes the summaries lock exclusively
// and SaveRound holds it shared (checks has no foreign key: see
// migrations/0002_srvmon.sql; locking the host rows instead, FOR KEY
// SHARE, cost a quarter of a round's insert). Rows go in key order so that
// overlapping rounds lock keys in one order and cannot deadlock. A result
// stored already fails it (see insertRound).
const insertRoundSQL = `INSERT INTO checks (host, check_time, location, rtt, up, reason, maintenance)
SELECT r.host, r.slot, r.location, r.rtt, r.up, r.reason, r.maintenance
FROM unnest($1::text[], $2::timestamp[], $3::text[], $4::bigint[], $5::boolean[], $6::text[], $7::boolean[])
	AS r (host, slot, location, rtt, up, reason, maintenance)
JOIN hosts h ON h.host = r.host
ORDER BY r.host, r.slot, r.location`

// insertResultsSQL is insertRoundSQL that skips the results stored already.
const insertResultsSQL = insertRoundSQL + `
ON CONFLICT DO NOTHING`

// restoreResultsSQL stores a batch of a restore's results, whose hosts
// Restore has checked and locked already.
const restoreResultsSQL = `INSERT INTO checks (host, check_time, location, rtt, up, reason, maintenance)
SELECT * FROM unnest($1::text[], $2::timestamp[], $3::text[], $4::bigint[], $5::boolean[], $6::text[], $7::boolean[])
ON CONFLICT DO NOTHING`

// restoreNewSQL stores a batch of a restore's results that cannot be
// stored already (see restorer): without ON CONFLICT, which costs a second
// index search and a confirmation record per row.
const restoreNewSQL = `INSERT INTO checks (host, check_time, location, rtt, up, reason, maintenance)
SELECT * FROM unnest($1::text[], $2::timestamp[], $3::text[], $4::bigint[], $5::boolean[], $6::text[], $7::boolean[])`

// resultColumns holds a batch of results as the columns the inserts
// take; reused from batch to batch.
type resultColumns struct {
	hosts, locations, reasons []string
	slots                     []time.Time
	rtts                      []int64
	ups, maintenance          []bool
}

func (c *resultColumns) reset() {
	c.hosts, c.locations, c.reasons = c.hosts[:0], c.locations[:0], c.reasons[:0]
	c.slots, c.rtts, c.ups, c.maintenance = c.slots[:0], c.rtts[:0], c.ups[:0], c.maintenance[:0]
}

func (c *resultColumns) add(r store.Result) {
	c.hosts = append(c.hosts, r.Host)
	c.slots = append(c.slots, utc(r.Slot))
	c.locations = append(c.locations, r.Location)
	c.rtts = append(c.rtts, int64(r.RTT))
	c.ups = append(c.ups, r.Up)
	c.reasons = append(c.reasons, r.Reason)
	c.maintenance = append(c.maintenance, r.Maintenance)
}

func (c *resultColumns) len() int { return len(c.hosts) }

// insert stores the batch with sql: insertRoundSQL, insertResultsSQL,
// restoreNewSQL or restoreResultsSQL.
func (c *resultColumns) insert(ctx context.Context, q querier, sql string) error {
	_, err := q.Exec(ctx, sql, c.hosts, c.slots, c.locations, c.rtts, c.ups, c.reasons, c.maintenance)
	if err != nil {
		return fmt.Errorf("store %d results: %w", c.len(), err)
	}
	return nil
}

// SaveRound stores a round's results with one statement, records their
// certificate expiries, and in the same transaction advances the
// notification state of the hosts with a rule and enqueues their
// deliveries (see alert).
func (s *Store) SaveRound(ctx context.Context, results []store.Result, alerting *store.Alerting) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(results) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return saveIn(ctx, tx, results, alerting) })
	if err != nil {
		return fmt.Errorf("postgres: save round: %w", err)
	}
	return nil
}

// saveIn is SaveRound's transaction: the results with one statement, the
// certificate expiries with another (when any), alerting's reads and
// writes (see alert), then the locations.
func saveIn(ctx context.Context, tx pgx.Tx, results []store.Result, alerting *store.Alerting) error {
	var cols resultColumns
	for _, r := range results {
		cols.add(r)
	}
	until, err := summarised(ctx, tx)
	if err != nil {
		return err
	}
	if err := insertRound(ctx, tx, &cols); err != nil {
		return err
	}
	if err := certExpiriesOf(results).record(ctx, tx); err != nil {
		return err
	}
	// A late round, or another location's, adds to summarised hours.
	if firstSlot(results).Before(until) {
		late := store.TouchedHours{}
		for _, r := range results {
			late.Add(r.Host, r.Slot)
		}
		if err := resummarise(ctx, tx, late, until); err != nil {
			return err
		}
	}
	if alerting != nil {
		if err := alert(ctx, tx, results, alerting); err != nil {
			return err
		}
	}
	// Last: the row of a location stays locked until the commit, and
	// every save of the location (its shards, a retried round) writes it.
	return saveLocations(ctx, tx, store.SavedLocations(results))
}

// firstSlot returns the earliest slot of results, which is not empty.
func firstSlot(results []store.Result) time.Time {
	first := results[0].Slot
	for _, r := range results[1:] {
		if r.Slot.Before(first) {
			first = r.Slot
		}
	}
	return first
}

// insertRound stores a round's results. A round's first save conflicts
// with nothing: it is tried as a plain INSERT (insertRoundSQL), cheaper
// than INSERT … ON CONFLICT DO NOTHING, whose speculative
// insertion searches the index twice and writes a confirmation per row.
// A retried or overlapping round fails it with a unique violation; it is
// rolled back to a savepoint and stored with insertResultsSQL.
func insertRound(ctx context.Context, tx pgx.Tx, cols *resultColumns) error {
	sp, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		return err
	}
	err = cols.insert(ctx, sp, insertRoundSQL)
	if err == nil {
		return sp.Commit(ctx)
	}
	if !isCode(err, codeUniqueViolation) {
		return err
	}
	if err := sp.Rollback(ctx); err != nil {
		return err
	}
	return cols.insert(ctx, tx, insertResultsSQL)
}

// Results streams a host's results in [start, end), by slot and location.
// A row gosrvmon stored with rtt -1 (a ping without an answer, down) reads
// with srvmon's meaning, store.GosrvmonRTT: the upgrade leaves such rows as
// they are, and gosrvmon's own inserts still work on the upgraded table.
func (s *Store) Results(ctx context.Context, host string, start, end time.Time, fn func(store.Result) error) error {
	return resultsOf(ctx, s.pool, host, start, end, fn)
}

// resultsOf streams the host's raw results in [start, end) that q sees.
func resultsOf(ctx context.Context, q querier, host string, start, end time.Time, fn func(store.Result) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rows, err := q.Query(ctx, `SELECT check_time, location, rtt, up, reason, maintenance FROM checks
		WHERE host = $1 AND check_time >= $2::timestamp AND check_time < $3::timestamp
		ORDER BY check_time, location`, host, bound(start), bound(end))
	if err != nil {
		return fmt.Errorf("postgres: results of %q: %w", host, err)
	}
	defer rows.Close()
	r := store.Result{Host: host}
	var rtt int64
	dest := []any{&r.Slot, &r.Location, &rtt, &r.Up, &r.Reason, &r.Maintenance} // made once: no allocation per row
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("postgres: results of %q: %w", host, err)
		}
		r.RTT, _ = store.GosrvmonRTT(rtt, r.Up) // gosrvmon's rows may hold -1
		n++
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: results of %q: %w", host, err)
	}
	if n == 0 {
		return mustExist(ctx, q, host)
	}
	return nil
}

// mustExist returns ErrNotFound when the host is not stored. Reads that
// return no rows call it to tell an unknown host from one without data.
func mustExist(ctx context.Context, q querier, host string) error {
	ok, err := hostExists(ctx, q, host)
	if err != nil {
		return err
	}
	if !ok {
		return notFound(host)
	}
	return nil
}

// Checks streams a host's merged checks in [start, end), oldest first:
// the results in (slot, location) order, merged slot by slot as they
// arrive (store.ChecksFromResults), so that every backend merges alike.
func (s *Store) Checks(ctx context.Context, host string, start, end time.Time, fn func(store.Check) error) error {
	return store.ChecksFromResults(ctx, s, host, start, end, fn)
}

// LastCheck returns the host's newest merged check: the results of its
// newest slot, from the host's rows of last_results whatever the
// history's length (lastChecks, as LastChecks reads every host).
func (s *Store) LastCheck(ctx context.Context, host string) (store.Check, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.Check{}, false, err
	}
	var (
		c  store.Check
		ok bool
	)
	err := lastChecks(ctx, s.pool, &host, func(_ string, last store.Check) error {
		c, ok = last, true
		return nil
	})
	if err != nil {
		return store.Check{}, false, fmt.Errorf("postgres: last check of %q: %w", host, err)
	}
	if !ok {
		return store.Check{}, false, mustExist(ctx, s.pool, host)
	}
	return c, true, nil
}

// spansSQL summarises the merged checks of the host that %[1]s names,
// span by span: the arrays %[2]s and %[3]s hold the first and the end
// microsecond of each span (see bound), and it returns one row per span
// with data: its index, its checks not in maintenance, those of them up,
// the checks in maintenance, and the min, max and sum of the rtt of those
// up and not in maintenance.
//
// Each span is one range scan of the (host, check_time, location)
// index, aggregated as it is read, so that neither a sort nor a hash
// table nor a per-row bucket computation is needed, whatever the planner
// believes of the table's size. Which of three ways a span is counted is
// asked once per span (x: OFFSET 0 keeps the planner from copying the two
// probes into each way, which ran them twice) of two partial indexes:
//   - a span with no result in maintenance (checks_maintenance_idx) and
//     none from a named location (checks_located_idx) is counted row by
//     row from the key's index alone (the key makes a slot's
//     default-location result unique);
//   - one with results from named locations but none in maintenance is
//     merged slot by slot from the key's index alone (up and rtt are in
//     its INCLUDE): a fleet with several locations stays index-only;
//   - only one with a result in maintenance (not in the INCLUDE) reads
//     the table, merging slot by slot.
const spansSQL = `SELECT b.i - 1, a.n, a.up, a.maint, coalesce(a.min_rtt, 0), coalesce(a.max_rtt, 0), coalesce(a.sum_rtt, 0)::bigint
FROM unnest(%[2]s::timestamp[], %[3]s::timestamp[]) WITH ORDINALITY AS b (lo, hi, i)
CROSS JOIN LATERAL (
	SELECT EXISTS (
		SELECT FROM checks
		WHERE host = %[1]s AND maintenance AND check_time >= b.lo AND check_time < b.hi
	) AS maint, EXISTS (
		SELECT FROM checks
		WHERE host = %[1]s AND location <> '' AND check_time >= b.lo AND check_time < b.hi
	) AS located
	OFFSET 0
) x
CROSS JOIN LATERAL (
	SELECT count(*) AS n, count(*) FILTER (WHERE up) AS up, 0::bigint AS maint, min(rtt) FILTER (WHERE up) AS min_rtt,
		max(rtt) FILTER (WHERE up) AS max_rtt, sum(rtt) FILTER (WHERE up) AS sum_rtt
	FROM checks
	WHERE NOT x.maint AND NOT x.located AND host = %[1]s AND check_time >= b.lo AND check_time < b.hi
	UNION ALL
	SELECT count(*), count(*) FILTER (WHERE up), 0::bigint, min(rtt), max(rtt), sum(rtt)
	FROM (
		SELECT bool_or(up) AS up, min(rtt) FILTER (WHERE up) AS rtt
		FROM checks
		WHERE NOT x.maint AND x.located AND host = %[1]s AND check_time >= b.lo AND check_time < b.hi
		GROUP BY check_time
	) s
	UNION ALL
	SELECT count(*) FILTER (WHERE NOT m), count(*) FILTER (WHERE up AND NOT m), count(*) FILTER (WHERE m),
		min(rtt) FILTER (WHERE NOT m), max(rtt) FILTER (WHERE NOT m), sum(rtt) FILTER (WHERE NOT m)
	FROM (
		SELECT bool_or(up) AS up, min(rtt) FILTER (WHERE up) AS rtt, bool_or(maintenance) AS m
		FROM checks
		WHERE x.maint AND host = %[1]s AND check_time >= b.lo AND check_time < b.hi
		GROUP BY check_time
	) s
) a
WHERE a.n + a.maint > 0`

// Buckets summarises the host's merged checks in [start, end) in at most
// n buckets, as BucketsAll does for every host (see bucketsOf).
func (s *Store) Buckets(ctx context.Context, host string, start, end time.Time, n int) ([]store.Bucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var bs []store.Bucket
	err := bucketsOf(ctx, s.pool, hostFilter{one: &host}, store.NewBucketer(start, end, n), func(_ string, got []store.Bucket) error {
		bs = got
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: buckets of %q: %w", host, err)
	}
	if bs == nil {
		return nil, notFound(host)
	}
	return bs, nil
}

// DeleteResultsBefore deletes results before t, then the summaries of
// the hours that begin before t and the daily rollups of the days before
// t's (summariseCut writes those of t's hour and day again, from what
// is kept), at most deleteBatch rows per statement (each its own
// transaction), found through the index of deleteHosts hosts at a time,
// then finished deliveries created before t. The summaries go after the
// results, under the summaries lock: a Summarise that ran meanwhile is
// either deleted or saw the results gone; a late result that retention's
// delete of results did not see keeps a summary (summariseCut).
func (s *Store) DeleteResultsBefore(ctx context.Context, t time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	hosts, err := s.Hosts(ctx)
	if err != nil {
		return 0, err
	}
	deleted, err := s.deleteChecksBefore(ctx, hosts, t)
	if err != nil {
		return deleted, fmt.Errorf("postgres: delete results before %v: %w", t, err)
	}
	if err := s.deleteSummariesBefore(ctx, hosts, t); err != nil {
		return deleted, fmt.Errorf("postgres: delete summaries and daily rollups before %v: %w", t, err)
	}
	if err := s.summariseCut(ctx, hosts, t); err != nil {
		return deleted, fmt.Errorf("postgres: summarise the hour and day cut at %v: %w", t, err)
	}
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM deliveries WHERE ctid = ANY (ARRAY (
			SELECT ctid FROM deliveries WHERE status <> 'pending' AND created < $1 LIMIT $2))`,
			bound(t), deleteBatch)
		if err != nil {
			return deleted, fmt.Errorf("postgres: delete deliveries before %v: %w", t, err)
		}
		if tag.RowsAffected() < deleteBatch {
			return deleted, nil
		}
	}
}

// summariseCut writes again, from the results kept, the summaries that
// retention's cut at t left wrong, in one transaction that holds the
// rows of every host (late rounds may summarise the same hours and days
// meanwhile: see the comment at the top of summaries.go):
//   - the hour that t cuts, for every host, when it is summarised: its
//     summary was deleted with the results before t, and the results it
//     keeps must have one, since before summarised_until an hour without
//     a summary is an hour without results (see bucketsOf);
//   - the day that t cuts, when it is wholly before summarised_until:
//     its rollup still counts the hours deleted before t;
//   - the hours of the results before t of hosts that it sees
//     (summariseKept): results that late writers stored while retention
//     ran, which retention's delete of results (whose snapshot began
//     before they committed) kept, and whose summaries retention may have
//     deleted since.
//
// Why the last is enough, under READ COMMITTED: a late writer of a host
// locks the host's row before it summarises, and holds it until it
// commits. It committed either before this transaction locked the row,
// and the statements here, which begin after, see its results (and
// summarise their hours again from every result kept), or after, and its
// statements that summarise, which wait for the row, see what retention
// deleted and kept. Retention deleted the summaries before this, under
// the rows of the hosts (deleteSummariesBefore), so that none it deleted
// was written after this looked. So the hour of every result kept has a
// summary that counts it, until the next retention deletes both.
func (s *Store) summariseCut(ctx context.Context, hosts []string, t time.Time) error {
	hour, day := store.Hour(t), store.Day(t)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		until, err := summarised(ctx, tx)
		if err != nil || until.IsZero() {
			return err
		}
		if err := lockHosts(ctx, tx, nil); err != nil {
			return err
		}
		if !hour.Equal(t.UTC()) && !until.Before(hour.Add(store.SummarySpan)) {
			if _, err := tx.Exec(ctx, statements().summariseAll, hour, hour.Add(store.SummarySpan)); err != nil {
				return err
			}
		}
		if !day.Equal(t.UTC()) {
			if err := rollupAllHosts(ctx, tx, day, day.Add(store.DaySpan), until); err != nil {
				return err
			}
		}
		return summariseKept(ctx, tx, hosts, t, until)
	})
}

// deleteBeforeSQL deletes up to $3 rows of table %[1]s of the hosts $1
// whose time column %[2]s is before $2, through the index of each host.
const deleteBeforeSQL = `DELETE FROM %[1]s WHERE ctid = ANY (ARRAY (
	SELECT c.ctid FROM unnest($1::text[]) AS h (host)
	CROSS JOIN LATERAL (
		SELECT ctid FROM %[1]s c WHERE c.host = h.host AND c.%[2]s < $2::timestamp LIMIT $3
	) c
	LIMIT $3))`

// deleteChecksBefore deletes the results before t of hosts, deleteHosts
// at a time, until it deletes fewer than deleteBatch rows of them; each
// statement is a transaction of its own, which locks nothing but the rows
// it deletes (and, through the trigger of last_results, the rows of the
// pairs whose newest result it deletes: a writer holds those before it
// locks its hosts' rows, so that retention must not hold those while it
// deletes results). It returns how many rows it deleted.
func (s *Store) deleteChecksBefore(ctx context.Context, hosts []string, t time.Time) (int64, error) {
	var deleted int64
	for len(hosts) > 0 {
		chunk := hosts[:min(len(hosts), deleteHosts)]
		tag, err := s.pool.Exec(ctx, statements().deleteChecks, chunk, bound(t), deleteBatch)
		if err != nil {
			return deleted, err
		}
		deleted += tag.RowsAffected()
		if tag.RowsAffected() < deleteBatch {
			hosts = hosts[len(chunk):] // done with these hosts
		}
	}
	return deleted, nil
}

// deleteSummariesBefore deletes the hourly summaries of the hours before
// t and the daily rollups of the days before t's, of hosts, deleteHosts
// at a time, at most deleteBatch rows per statement, each run a
// transaction that holds the summaries lock shared and first locks the
// rows of its hosts (lockHosts, in byte order, as every writer of
// summaries does), so that:
//   - retention and a late round that summarises the same hours again
//     cannot deadlock on the summaries' rows, which retention deletes in
//     the order of the table, and a late round in the order of its hours;
//   - a late writer of one of the hosts committed either before the run
//     locked its row, and the run's deletes, which begin after, see its
//     summaries and delete them, or after the run committed, and it
//     summarised from what the run left; no summary that a late writer
//     computed from results retention has deleted is left (summariseCut
//     summarises again the hours of the results kept).
func (s *Store) deleteSummariesBefore(ctx context.Context, hosts []string, t time.Time) error {
	deletes := []struct {
		sql    string
		before time.Time
	}{{statements().deleteSummaries, t.UTC()}, {statements().deleteRollups, store.Day(t)}}
	for len(hosts) > 0 {
		chunk := hosts[:min(len(hosts), deleteHosts)]
		done := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := summarised(ctx, tx); err != nil {
				return err
			}
			if err := lockHosts(ctx, tx, chunk); err != nil {
				return err
			}
			for _, d := range deletes {
				tag, err := tx.Exec(ctx, d.sql, chunk, d.before, deleteBatch)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == deleteBatch {
					return nil // more rows: the next run goes on
				}
			}
			done = true
			return nil
		})
		if err != nil {
			return err
		}
		if done {
			hosts = hosts[len(chunk):]
		}
	}
	return nil
}

// keptBeforeSQL returns, of each of the hosts $1 that has results before
// $2 (those retention kept), the first one's time: one probe of the
// index per host, which usually finds none.
const keptBeforeSQL = `SELECT h.host, k.check_time FROM unnest($1::text[]) AS h (host)
CROSS JOIN LATERAL (
	SELECT c.check_time FROM checks c
	WHERE c.host = h.host AND c.check_time < $2::timestamp
	ORDER BY c.check_time LIMIT 1
) k`

// summariseKept summarises again, in tx, which holds the rows of hosts
// (see summariseCut), the hours from the first result before t of each
// host that it sees to t's, as far as they are before until, and rolls
// up their days again (resummarise). Usually there is none.
func summariseKept(ctx context.Context, tx pgx.Tx, hosts []string, t, until time.Time) error {
	if until.IsZero() {
		return nil
	}
	rows, _ := tx.Query(ctx, keptBeforeSQL, hosts, bound(t))
	kept := store.TouchedHours{}
	var host string
	var first time.Time
	if _, err := pgx.ForEachRow(rows, []any{&host, &first}, func() error {
		kept[host] = [][2]time.Time{{store.Hour(first), store.Hour(t)}}
		return nil
	}); err != nil {
		return fmt.Errorf("find the results kept before %v: %w", t, err)
	}
	if len(kept) == 0 {
		return nil
	}
	return resummarise(ctx, tx, kept, until)
}
