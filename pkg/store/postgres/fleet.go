package postgres

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
)

// A fleet read (store.FleetReader) is one statement for every host, whose
// rows come by host, so that what Go holds is one host's at a time: never
// a query per host. The per-host reads (LastCheck, Buckets) are the same
// statements for one host.

// hostsSQL picks the hosts of a fleet read, in Hosts's order: %s is
// "$1::text IS NULL" (every host; $1 is NULL), "h.host = $1" (one) or
// "h.host = ANY($1::text[])" (some).
const hostsSQL = `SELECT h.host FROM hosts h WHERE %s ORDER BY h.host COLLATE "C"`

// lastResultsSQL reads last_results (migration 0010): each location's
// newest result, of every stored host (%s is "true") or of the host $1
// (%s is "l.host = $1"), by host in byte order (the key's order: host and
// location are COLLATE "C"), by location within a host: one scan of the
// key's index. The table is stored hosts × locations rows, kept by
// triggers on checks and hosts in the statement that changes them; a
// host's last check is its rows of its newest slot (see lastChecks).
const lastResultsSQL = `SELECT l.host, l.check_time, l.location, l.rtt, l.up, l.reason, l.maintenance
FROM last_results l
WHERE %s
ORDER BY l.host, l.location`

// lastChecks calls fn with the newest merged check of host (nil: of every
// host), by host; hosts without a check are left out. fn's error is
// returned as it is. Of a host's rows, by location (COLLATE "C": byte
// order, as store.MergeSlot wants them), those of its newest slot are
// merged, as the results of that slot: a location whose newest result is
// older has none in it.
func lastChecks(ctx context.Context, q querier, host *string, fn func(host string, c store.Check) error) error {
	query, args := statements().lastChecksAll, []any(nil)
	if host != nil {
		query, args = statements().lastCheckOne, []any{*host}
	}
	rows, _ := q.Query(ctx, query, args...)
	var (
		cur   string
		rs    []store.Result
		r     store.Result
		rtt   int64
		fnErr error
	)
	emit := func() error {
		if len(rs) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		c := store.MergeSlot(rs)
		rs = rs[:0]
		if err := fn(cur, c); err != nil {
			fnErr = err
			return err
		}
		return nil
	}
	_, err := pgx.ForEachRow(rows, []any{&r.Host, &r.Slot, &r.Location, &rtt, &r.Up, &r.Reason, &r.Maintenance}, func() error {
		if r.Host != cur {
			if err := emit(); err != nil {
				return err
			}
			cur = r.Host
		}
		switch {
		case len(rs) > 0 && r.Slot.Before(rs[0].Slot):
			return nil // an older slot's
		case len(rs) > 0 && r.Slot.After(rs[0].Slot):
			rs = rs[:0] // the slots before were older
		}
		r.RTT, _ = store.GosrvmonRTT(rtt, r.Up)
		rs = append(rs, r)
		return nil
	})
	if err == nil {
		err = emit()
	}
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("read the last checks: %w", err)
	}
	return nil
}

// fleetTx runs a fleet read in a read-only transaction that sees one
// snapshot (summarised_until and the summaries agree), without JIT
// compilation: the planner's cost of a statement over every host is high
// enough for it, and compiling took longer than the statement runs.
func (s *Store) fleetTx(ctx context.Context, fn func(q querier) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
			return err
		}
		return fn(tx)
	})
}

// LastChecks calls fn with each host's newest check, by host (see
// store.FleetReader), from one statement: one snapshot without a
// transaction of its own (its plan is far too cheap for JIT compilation,
// which fleetTx turns off).
func (s *Store) LastChecks(ctx context.Context, fn func(host string, c store.Check) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fnErr error
	err := lastChecks(ctx, s.pool, nil, func(host string, c store.Check) error {
		fnErr = fn(host, c)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("postgres: last checks: %w", err)
	}
	return err
}

// bucketsSQL counts, for each host that hostsSQL picks, its summaries of
// the summarised time that lies wholly inside a bucket, a row per bucket
// (kind 0, the bucket's index), and its checks of the spans left, a row
// per span (kind 1, the span's index, see spansSQL); a host with neither
// has one row of NULLs. The rows come by host, in no order within a host
// (what they count adds up in any order): the hosts come sorted and the
// join keeps their order, where sorting the rows of each host as well
// cost a fifth of the statement. Each row holds the checks not in
// maintenance, those of them up, those in maintenance, and the min, max
// and sum of the rtt of those up and not in maintenance. The parameters:
// $2 and $3 hold the runs of hours to read from the hourly summaries, $5
// and $6 the runs of whole days to read from the daily rollups
// (store.SummaryRuns of store.Bucketer.SummaryPlan's hours); $4 holds the
// buckets' starts (rounded up to the microsecond, which keeps every whole
// hour in its bucket); $7 and $8 the spans.
//
// Each run is one range scan of its table's key per host, from the index
// alone (the keys include the counters: migrations 0008 and 0009), and
// each row goes to its bucket by its start (width_bucket, a binary search
// of $4): a run lies inside its buckets' summarised hours, and a day
// wholly inside one bucket. A year of a host is 365 rollups and the hours
// at the window's edges, which PostgreSQL adds up rather than send.
// OFFSET 0 keeps each run's scan a subquery of its own, run per host and
// run with the run's bounds in the index condition, whatever the planner
// guesses of the arrays' lengths. The runs that end before the host's
// first hourly summary (f, one index descent) are skipped: they have
// neither summaries nor rollups, and a short history (a new host, or 2
// days of 10,000 hosts read over a year's windows) would otherwise pay a
// descent per run for nothing.
const bucketsSQL = `SELECT h.host, coalesce(x.kind, -1), coalesce(x.i, 0), coalesce(x.n, 0), coalesce(x.up, 0), coalesce(x.maint, 0),
	coalesce(x.min_rtt, 0), coalesce(x.max_rtt, 0), coalesce(x.sum_rtt, 0)
FROM (` + hostsSQL + `) h
LEFT JOIN LATERAL (
	SELECT 0 AS kind, q.b AS i, sum(q.up + q.down)::bigint AS n, sum(q.up)::bigint AS up, sum(q.maintenance)::bigint AS maint,
		coalesce(min(q.min_rtt) FILTER (WHERE q.up > 0), 0)::bigint AS min_rtt,
		coalesce(max(q.max_rtt) FILTER (WHERE q.up > 0), 0)::bigint AS max_rtt, coalesce(sum(q.sum_rtt), 0)::bigint AS sum_rtt
	FROM (SELECT min(f.hour) AS first FROM check_summaries f WHERE f.host = h.host) f
	CROSS JOIN LATERAL (
		SELECT width_bucket(s.hour, $4::timestamp[]) - 1 AS b, s.up, s.down, s.maintenance, s.min_rtt, s.max_rtt, s.sum_rtt
		FROM unnest($2::timestamp[], $3::timestamp[]) AS r (lo, hi)
		CROSS JOIN LATERAL (
			SELECT s.hour, s.up, s.down, s.maintenance, s.min_rtt, s.max_rtt, s.sum_rtt
			FROM check_summaries s
			WHERE s.host = h.host AND s.hour >= r.lo AND s.hour < r.hi
			OFFSET 0
		) s
		WHERE r.hi > f.first
		UNION ALL
		SELECT width_bucket(d.day, $4::timestamp[]) - 1, d.up, d.down, d.maintenance, d.min_rtt, d.max_rtt, d.sum_rtt
		FROM unnest($5::timestamp[], $6::timestamp[]) AS r (lo, hi)
		CROSS JOIN LATERAL (
			SELECT d.day, d.up, d.down, d.maintenance, d.min_rtt, d.max_rtt, d.sum_rtt
			FROM check_summaries_daily d
			WHERE d.host = h.host AND d.day >= r.lo AND d.day < r.hi
			OFFSET 0
		) d
		WHERE r.hi > f.first
	) q
	GROUP BY q.b
	UNION ALL
	SELECT 1, y.* FROM (%s) y
) x ON true
ORDER BY h.host COLLATE "C"`

// hostFilter is the hosts a fleet read reads: every host (the zero
// value), one, or some.
type hostFilter struct {
	one  *string
	some []string
}

// bucketsOf calls fn with the buckets of the hosts that hf picks, by host,
// as Buckets gives them: from the daily rollups of the days and the
// summaries of the hours before summarised_until wholly inside a bucket,
// and from the checks of the rest, one statement for all of it after the
// one that reads summarised_until. bs is reused from host to host. fn's
// error is returned as it is.
func bucketsOf(ctx context.Context, q querier, hf hostFilter, bk *store.Bucketer, fn func(host string, bs []store.Bucket) error) error {
	var until *time.Time
	if err := q.QueryRow(ctx, "SELECT summarised_until FROM summary_progress").Scan(&until); err != nil {
		return fmt.Errorf("read summary_progress: %w", err)
	}
	u := time.Time{} // nothing summarised
	if until != nil {
		u = until.UTC()
	}
	hours, spans := bk.SummaryPlan(u)
	// The runs read: whole days from the rollups, hours from the
	// summaries.
	var hourLos, hourHis, dayLos, dayHis []time.Time
	for _, r := range store.SummaryRuns(hours) {
		if r.Daily {
			dayLos, dayHis = append(dayLos, r.Start), append(dayHis, r.End)
		} else {
			hourLos, hourHis = append(hourLos, r.Start), append(hourHis, r.End)
		}
	}
	los, his, idx := make([]time.Time, len(spans)), make([]time.Time, len(spans)), make([]int, len(spans))
	for i, sp := range spans {
		los[i], his[i], idx[i] = bound(sp.Start), bound(sp.End), sp.Bucket
	}
	query, hosts := statements().bucketsAll, any(nil)
	switch {
	case hf.one != nil:
		query, hosts = statements().bucketsOne, *hf.one
	case hf.some != nil:
		query, hosts = statements().bucketsSome, hf.some
	}
	starts := make([]time.Time, len(hours))
	for i, b := range bk.Buckets() {
		starts[i] = bound(b.Start)
	}
	rows, _ := q.Query(ctx, query, hosts, hourLos, hourHis, starts, dayLos, dayHis, los, his)
	var (
		cur                                      []byte
		started                                  bool
		kind, i                                  int
		count, up, maint, minRTT, maxRTT, sumRTT int64
		fnErr                                    error
	)
	emit := func() error {
		if !started {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(string(cur), bk.Buckets()); err != nil {
			fnErr = err
			return err
		}
		return nil
	}
	// The host is compared as it came, and made a string once a host.
	err := func() error {
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(nil, &kind, &i, &count, &up, &maint, &minRTT, &maxRTT, &sumRTT); err != nil {
				return err
			}
			if h := rows.RawValues()[0]; !started || !bytes.Equal(h, cur) {
				if err := emit(); err != nil {
					return err
				}
				if started {
					bk.Reset()
				}
				cur, started = append(cur[:0], h...), true
			}
			if kind < 0 {
				continue // a host with nothing in the range
			}
			b := i
			if kind == 1 {
				if b < 0 || b >= len(idx) {
					return fmt.Errorf("span %d out of %d", b, len(idx))
				}
				b = idx[b]
			}
			if b < 0 || b >= len(hours) {
				return fmt.Errorf("bucket %d out of %d", b, len(hours))
			}
			bk.AddSummary(b, store.Summary{Up: up, Down: count - up, Maintenance: maint,
				MinRTT: time.Duration(minRTT), MaxRTT: time.Duration(maxRTT), SumRTT: time.Duration(sumRTT)})
		}
		return rows.Err()
	}()
	if err == nil {
		err = emit()
	}
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("read the buckets: %w", err)
	}
	return nil
}

// BucketsAll calls fn with each host's buckets, by host (see
// store.FleetReader), from two statements in one snapshot:
// summarised_until, then bucketsSQL. bs is reused from host to host.
func (s *Store) BucketsAll(ctx context.Context, q store.BucketQuery, fn func(host string, bs []store.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bk, err := store.NewBucketerAt(q.Bounds)
	if err != nil {
		return fmt.Errorf("postgres: buckets of every host: %w", err)
	}
	if q.Hosts != nil && len(q.Hosts) == 0 {
		return nil
	}
	var fnErr error
	err = s.fleetTx(ctx, func(tx querier) error {
		return bucketsOf(ctx, tx, hostFilter{some: q.Hosts}, bk, func(host string, bs []store.Bucket) error {
			fnErr = fn(host, bs)
			return fnErr
		})
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("postgres: buckets of every host: %w", err)
	}
	return err
}
