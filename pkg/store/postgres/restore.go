package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/ruledoc"
)

// restoreBatch is how many results Restore sends per statement.
const restoreBatch = 10000

// Restore applies a backup in one transaction: the hosts, then the rules
// and settings, then the results as they stream, restoreBatch at a time
// with one INSERT … SELECT FROM unnest(…) each (see restorer). Memory stays at one
// batch whatever the backup's size. Any error rolls everything back.
//
// One case fails where SaveRound would not: a result restored for a host
// that had none while a checker stores a result with the same key at the
// same moment (a unique violation); the restore is rolled back and can
// be retried.
func (s *Store) Restore(ctx context.Context, r store.Restore) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, h := range r.Hosts {
		if err := store.CheckHostName(h); err != nil {
			return fmt.Errorf("postgres: restore: %w", err)
		}
	}
	if err := store.CheckRestoredMaintenance(r.Maintenance); err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	var restored int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		until, err := summarised(ctx, tx)
		if err != nil {
			return err
		}
		known, err := restoreHosts(ctx, tx, r.Hosts)
		if err != nil {
			return err
		}
		if err := restoreRules(ctx, tx, r.Rules); err != nil {
			return err
		}
		if len(r.Monitors) > 0 {
			if err := putMonitors(ctx, tx, r.Monitors); err != nil {
				return err
			}
		}
		if err := restoreMaintenance(ctx, tx, r.Maintenance); err != nil {
			return err
		}
		if r.Results == nil {
			return nil
		}
		var locs store.LocationSet
		if restored, err = restoreResults(ctx, tx, known, store.TrackLocations(r.Results, &locs), until); err != nil {
			return err
		}
		return saveLocations(ctx, tx, locs.Locations())
	})
	if err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	if restored >= vacuumAfterRestore {
		// Until a VACUUM sets the visibility map and the hint bits of
		// the restored rows, and ANALYZE gives the planner their
		// statistics, every fleet read visits the heap for each of
		// them, many times slower, until autovacuum comes by minutes
		// later (README, Benchmarks). Its error is not the restore's,
		// which is committed: autovacuum does the same later.
		_ = s.Vacuum(ctx)
	}
	return nil
}

// vacuumAfterRestore is how many results a restore brings before it
// vacuums the tables after its commit (see Restore); fewer are few enough
// for autovacuum.
const vacuumAfterRestore = 100000

// restoreHosts adds the backup's hosts, keeping those stored, and locks
// them all (FOR KEY SHARE) so that none is deleted before the restore
// commits. It returns what the restore needs to know of each.
func restoreHosts(ctx context.Context, tx pgx.Tx, hosts []string) (map[string]*restoredHost, error) {
	known := make(map[string]*restoredHost, len(hosts))
	if len(hosts) == 0 {
		return known, nil
	}
	hosts = slices.Clone(hosts)
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	if _, err := tx.Exec(ctx, addHostsSQL, hosts, store.AddedNow()); err != nil {
		return nil, fmt.Errorf("add %d hosts: %w", len(hosts), err)
	}
	rows, _ := tx.Query(ctx, `SELECT h.host, NOT EXISTS (SELECT FROM checks c WHERE c.host = h.host)
		FROM hosts h WHERE h.host = ANY ($1::text[]) FOR KEY SHARE OF h`, hosts)
	var host string
	var fresh bool
	_, err := pgx.ForEachRow(rows, []any{&host, &fresh}, func() error {
		known[host] = &restoredHost{fresh: fresh}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock %d hosts: %w", len(hosts), err)
	}
	for _, h := range hosts {
		if known[h] == nil {
			return nil, fmt.Errorf("host %q was deleted during the restore: %w", h, store.ErrNotFound)
		}
	}
	return known, nil
}

// restoreRules adds or replaces the backup's rules (the last one of a
// host wins); ErrNotFound if one is for a host that is not stored.
func restoreRules(ctx context.Context, tx pgx.Tx, rules []store.Rule) error {
	if len(rules) == 0 {
		return nil
	}
	last := make(map[string]int, len(rules))
	for i, r := range rules {
		last[r.Host] = i
	}
	var hosts, actions, docs []string
	var thresholds []int64
	for i, r := range rules {
		if last[r.Host] == i {
			hosts = append(hosts, r.Host)
			thresholds = append(thresholds, r.Threshold)
			actions = append(actions, r.Action)
			docs = append(docs, ruledoc.Encode(r))
		}
	}
	missing, err := firstMissingHost(ctx, tx, hosts)
	switch {
	case err != nil:
		return fmt.Errorf("look up the rules' hosts: %w", err)
	case missing != "":
		return fmt.Errorf("a rule for host %q, which is neither in the backup's hosts nor stored: %w", missing, store.ErrNotFound)
	}
	_, err = tx.Exec(ctx, `INSERT INTO state_change_params (host, change_threshold, action, alerting)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[])
		ON CONFLICT (host) DO UPDATE SET change_threshold = excluded.change_threshold, action = excluded.action,
			alerting = excluded.alerting`,
		hosts, thresholds, actions, docs)
	if isCode(err, codeForeignKeyViolation) {
		return fmt.Errorf("a rule's host was deleted during the restore: %w (%w)", store.ErrNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("set %d rules: %w", len(hosts), err)
	}
	return nil
}

// restoreResults stores the results the backup streams, through a
// restorer, then summarises again the summarised hours they went to
// (until is where summaries end); when nothing was summarised yet (a new
// database), it summarises all there is (summariseFirst), so that the
// first charts after it read summaries. known holds the backup's hosts (see
// restoreHosts); a result for any other host that is not stored fails
// the restore.
func restoreResults(ctx context.Context, tx pgx.Tx, known map[string]*restoredHost,
	results func(context.Context, func(store.Result) error) error, until time.Time,
) (int64, error) {
	rs := &restorer{ctx: ctx, tx: tx, hosts: known, touched: store.TouchedHours{}}
	if err := results(ctx, rs.emit); err != nil {
		return 0, err
	}
	if rs.err != nil {
		return 0, rs.err
	}
	if err := rs.flush(); err != nil {
		return 0, err
	}
	if until.IsZero() {
		// Summarising all there is covers what the restore brings.
		_, err := summariseFirst(ctx, tx, time.Now())
		return rs.n, err
	}
	if len(rs.touched.Before(until)) > 0 {
		if _, err := tx.Exec(ctx, setSummariseWorkMem); err != nil {
			return 0, err
		}
	}
	return rs.n, resummarise(ctx, tx, rs.touched, until)
}

// restorer batches a restore's results. Most restores fill hosts that
// have no results yet, from a backup that lists each host's results in
// key order: such results cannot conflict, and go in with a plain INSERT
// (restoreNewSQL), cheaper than INSERT … ON CONFLICT DO NOTHING
// (restoreResultsSQL), whose speculative insertion searches the index
// twice; that one takes every other result.
type restorer struct {
	ctx          context.Context
	tx           pgx.Tx
	hosts        map[string]*restoredHost // stored and locked, by name
	fresh, other resultColumns
	touched      store.TouchedHours
	n            int64 // results emitted
	err          error // sticky: a Results func may ignore emit's error
}

// restoredHost is what a restore knows of one host of its results.
type restoredHost struct {
	// fresh: the host had no results when the restore began, and its
	// results so far came in strictly increasing (slot, location) order.
	fresh bool
	seen  bool      // whether slot and loc hold a result's
	slot  time.Time // the last result's, as stored (microseconds)
	loc   string
}

func (rs *restorer) emit(r store.Result) error {
	if rs.err != nil {
		return rs.err
	}
	// Stop at once when the context is done, not at the next batch.
	if rs.err = rs.ctx.Err(); rs.err != nil {
		return rs.err
	}
	h := rs.hosts[r.Host]
	if h == nil {
		if h, rs.err = rs.lookUp(r.Host); rs.err != nil {
			return rs.err
		}
		rs.hosts[r.Host] = h
	}
	rs.touched.Add(r.Host, r.Slot)
	rs.n++
	if h.fresh {
		slot := r.Slot.UTC().Truncate(time.Microsecond)
		if c := slot.Compare(h.slot); !h.seen || c > 0 || c == 0 && r.Location > h.loc {
			h.seen, h.slot, h.loc = true, slot, r.Location
			rs.fresh.add(r)
		} else {
			// Out of order: from here on, this host's results may
			// repeat stored ones (those in rs.fresh are stored first).
			h.fresh = false
			rs.other.add(r)
		}
	} else {
		rs.other.add(r)
	}
	if rs.fresh.len()+rs.other.len() >= restoreBatch {
		rs.err = rs.flush()
	}
	return rs.err
}

// lookUp checks that a host of the results that is not one of the
// backup's is stored, locks it, and tells whether it has results already.
func (rs *restorer) lookUp(host string) (*restoredHost, error) {
	var stored, hasResults bool
	err := rs.tx.QueryRow(rs.ctx, `SELECT
			EXISTS (SELECT FROM hosts WHERE host = $1 FOR KEY SHARE),
			EXISTS (SELECT FROM checks WHERE host = $1)`, host).Scan(&stored, &hasResults)
	switch {
	case err != nil:
		return nil, fmt.Errorf("look up host %q: %w", host, err)
	case !stored:
		return nil, fmt.Errorf("a result for host %q, which is neither in the backup's hosts nor stored: %w",
			host, store.ErrNotFound)
	}
	return &restoredHost{fresh: !hasResults}, nil
}

// flush stores the batched results: the fresh ones first, since the
// others may repeat them.
func (rs *restorer) flush() error {
	if rs.fresh.len() > 0 {
		if err := rs.fresh.insert(rs.ctx, rs.tx, restoreNewSQL); err != nil {
			return err
		}
		rs.fresh.reset()
	}
	if rs.other.len() > 0 {
		if err := rs.other.insert(rs.ctx, rs.tx, restoreResultsSQL); err != nil {
			return err
		}
		rs.other.reset()
	}
	return nil
}

// firstMissingHost returns the first of hosts that is not stored, or ""
// when every one is.
func firstMissingHost(ctx context.Context, tx pgx.Tx, hosts []string) (string, error) {
	var missing string
	err := tx.QueryRow(ctx, `SELECT h FROM unnest($1::text[]) h
		WHERE NOT EXISTS (SELECT 1 FROM hosts WHERE host = h) LIMIT 1`, hosts).Scan(&missing)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return missing, err
}
