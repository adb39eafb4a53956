package ql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// restoreBatch is how many results Restore buffers before it inserts them.
const restoreBatch = 5000

// Restore applies a backup in one transaction: hosts, rules, then the
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, h := range r.Hosts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO hosts IF NOT EXISTS VALUES ($1)`, h); err != nil {
				return fmt.Errorf("host %q: %w", h, err)
			}
		}
		for _, rl := range r.Rules {
			if err := putRule(ctx, tx, rl); err != nil {
				return err
			}
		}
		if r.Results == nil {
			return nil
		}
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
		batch := make([]row, 0, restoreBatch)
		var (
			newest time.Time
			seen   bool
		)
		var emitErr error // the first error emit returned sticks, even if Results ignores it
		emit := func(res store.Result) error {
			if emitErr != nil {
				return emitErr
			}
			if err := ctx.Err(); err != nil {
				emitErr = err
				return err
			}
			id, ok := ids[res.Host]
			if !ok {
				emitErr = fmt.Errorf("result of %q at %v: %w: the host is neither in the backup's hosts nor stored", res.Host, res.Slot, store.ErrNotFound)
				return emitErr
			}
			batch = append(batch, row{k: resultKey(id, &res), rtt: int64(res.RTT), up: res.Up, reason: res.Reason})
			if !seen || res.Slot.After(newest) {
				newest, seen = res.Slot, true
			}
			if len(batch) == cap(batch) {
				if err := s.insert(ctx, tx, batch); err != nil {
					emitErr = err
					return err
				}
				batch = batch[:0]
			}
			return nil
		}
		if err := r.Results(ctx, emit); err != nil {
			return err
		}
		if emitErr != nil {
			return emitErr
		}
		if err := s.insert(ctx, tx, batch); err != nil {
			return err
		}
		if !seen {
			return nil
		}
		return raiseNewest(ctx, tx, newest)
	})
	if err != nil {
		return fmt.Errorf("ql: restore: %w", err)
	}
	return nil
}
