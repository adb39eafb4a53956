package ql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/batch"
)

// restoreBatch is how many results Restore buffers before it inserts them.
const restoreBatch = 5000

// Restore applies a backup in one transaction: hosts, rules, settings, then the
// results as they stream, restoreBatch at a time in multi-row INSERTs. ql
// keeps an uncommitted transaction of the ql2 file format on disk, not in
// memory; a memory database holds it in memory, as it holds everything.
// The transaction holds the database: rounds wait for the restore, and
// r.Results must not call the Store.
func (s *Store) Restore(ctx context.Context, r store.Restore) error {
	for _, h := range r.Hosts {
		if err := checkHostName(h); err != nil {
			return fmt.Errorf("ql: restore: %w", err)
		}
	}
	if err := store.CheckRestoredMaintenance(r.Maintenance); err != nil {
		return fmt.Errorf("ql: restore: %w", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		added := store.AddedNow()
		for _, h := range r.Hosts {
			if _, err := addHost(ctx, tx, h, added); err != nil {
				return fmt.Errorf("host %q: %w", h, err)
			}
		}
		for _, rl := range r.Rules {
			if err := putRule(ctx, tx, rl); err != nil {
				return err
			}
		}
		for _, m := range r.Monitors {
			if err := putMonitor(ctx, tx, m); err != nil {
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
		if err := s.restoreResults(ctx, tx, store.TrackLocations(r.Results, &locs)); err != nil {
			return err
		}
		return saveLocations(ctx, tx, locs.Locations())
	})
	if err != nil {
		return fmt.Errorf("ql: restore: %w", err)
	}
	return nil
}

// restoreResults inserts the results a backup streams, in tx, which holds
// the backup's hosts already, and raises the newest slot to theirs.
func (s *Store) restoreResults(ctx context.Context, tx *sql.Tx, results func(context.Context, func(store.Result) error) error) error {
	ids := map[string]int64{}
	err := query(ctx, tx, `SELECT id(), name FROM hosts`, nil, func(rows *sql.Rows) error {
		var (
			id   int64
			name string
		)
		err := rows.Scan(&id, &name)
		ids[name] = id
		return err
	})
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	var (
		newest time.Time
		seen   bool
	)
	add := func(res store.Result) (row, error) {
		id, ok := ids[res.Host]
		if !ok {
			return row{}, batch.UnknownHost(res)
		}
		if !seen || res.Slot.After(newest) {
			newest, seen = res.Slot, true
		}
		return rowOf(resultKey(id, &res), &res), nil
	}
	b := batch.New(ctx, restoreBatch, add, func(rows []row) error { return s.insert(ctx, tx, rows) })
	if err := b.Run(results); err != nil {
		return err
	}
	if err := s.insert(ctx, tx, b.Pending()); err != nil {
		return err
	}
	if !seen {
		return nil
	}
	return raiseNewest(ctx, tx, newest)
}
