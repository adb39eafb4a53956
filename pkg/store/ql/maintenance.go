package ql

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// Maintenance windows are rows of maintenance: wid, the window's ID, and
// doc, its JSON (monitor.Maintenance's own). maintenance_last_id holds,
// in its one row (none until the first window), the highest ID given out
// or restored, so that IDs are never reused.

// Maintenances lists every window, by ID; never nil.
func (s *Store) Maintenances(ctx context.Context) ([]monitor.Maintenance, error) {
	ws := []monitor.Maintenance{}
	err := s.do(ctx, func(q queryer) error {
		return query(ctx, q, `SELECT wid, doc FROM maintenance ORDER BY wid`, nil, func(rows *sql.Rows) error {
			w, err := scanMaintenance(rows)
			ws = append(ws, w)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ql: maintenance windows: %w", err)
	}
	return ws, nil
}

func scanMaintenance(rows *sql.Rows) (monitor.Maintenance, error) {
	var (
		w   monitor.Maintenance
		id  int64
		doc []byte
	)
	if err := rows.Scan(&id, &doc); err != nil {
		return w, err
	}
	if err := json.Unmarshal(doc, &w); err != nil {
		return w, fmt.Errorf("maintenance window %d: %w", id, err)
	}
	w.ID = id
	return w, nil
}

func windowNotFound(id int64) error {
	return fmt.Errorf("ql: maintenance window %d: %w", id, store.ErrNotFound)
}

// Maintenance returns window id; ErrNotFound if there is none.
func (s *Store) Maintenance(ctx context.Context, id int64) (monitor.Maintenance, error) {
	var (
		w     monitor.Maintenance
		found bool
	)
	err := s.do(ctx, func(q queryer) error {
		return query(ctx, q, `SELECT wid, doc FROM maintenance WHERE wid == $1`, []any{id}, func(rows *sql.Rows) error {
			var err error
			w, err = scanMaintenance(rows)
			found = true
			return err
		})
	})
	switch {
	case err != nil:
		return monitor.Maintenance{}, fmt.Errorf("ql: maintenance window %d: %w", id, err)
	case !found:
		return monitor.Maintenance{}, windowNotFound(id)
	}
	return w, nil
}

// PutMaintenance adds w with the next ID when w.ID is zero, else replaces
// window w.ID (ErrNotFound if there is none).
func (s *Store) PutMaintenance(ctx context.Context, w monitor.Maintenance) (int64, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if w.ID == 0 {
			last, err := lastWindowID(ctx, tx)
			if err != nil {
				return err
			}
			w.ID = last + 1
			return putMaintenance(ctx, tx, w)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM maintenance WHERE wid == $1`, w.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, windowNotFound(w.ID))
		}
		return putMaintenance(ctx, tx, w)
	})
	if err != nil {
		return 0, fmt.Errorf("ql: put maintenance window: %w", err)
	}
	return w.ID, nil
}

// DeleteMaintenance deletes window id; ErrNotFound if there is none.
func (s *Store) DeleteMaintenance(ctx context.Context, id int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM maintenance WHERE wid == $1`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ql: delete maintenance window %d: %w", id, err)
	}
	return nil
}

// lastWindowID returns the highest window ID given out or restored; 0
// when none was.
func lastWindowID(ctx context.Context, tx *sql.Tx) (int64, error) {
	var last int64
	if _, err := queryOne(ctx, tx, `SELECT id FROM maintenance_last_id`, nil, &last); err != nil {
		return 0, fmt.Errorf("last maintenance window ID: %w", err)
	}
	return last, nil
}

// putMaintenance inserts w (whose ID no row has) and raises the last ID
// to w.ID.
func putMaintenance(ctx context.Context, tx *sql.Tx, w monitor.Maintenance) error {
	doc, err := json.Marshal(store.MaintenanceInUTC(w))
	if err != nil {
		return fmt.Errorf("maintenance window %d: %w", w.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO maintenance VALUES ($1, $2)`, w.ID, string(doc)); err != nil {
		return fmt.Errorf("maintenance window %d: %w", w.ID, err)
	}
	last, err := lastWindowID(ctx, tx)
	switch {
	case err != nil:
		return err
	case w.ID <= last:
		return nil
	case last == 0: // no row yet (IDs are above 0): the first window
		_, err = tx.ExecContext(ctx, `INSERT INTO maintenance_last_id VALUES ($1)`, w.ID)
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE maintenance_last_id SET id = $1`, w.ID)
	return err
}

// restoreMaintenance writes a restore's windows, each in place of the
// window with its ID, then those without an ID with the next ones: after
// every ID the restore brings, so that none replaces them.
func restoreMaintenance(ctx context.Context, tx *sql.Tx, ws []monitor.Maintenance) error {
	for _, w := range ws {
		if w.ID == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM maintenance WHERE wid == $1`, w.ID); err != nil {
			return fmt.Errorf("maintenance window %d: %w", w.ID, err)
		}
		if err := putMaintenance(ctx, tx, w); err != nil {
			return err
		}
	}
	for _, w := range ws {
		if w.ID != 0 {
			continue
		}
		last, err := lastWindowID(ctx, tx)
		if err != nil {
			return err
		}
		w.ID = last + 1
		if err := putMaintenance(ctx, tx, w); err != nil {
			return err
		}
	}
	return nil
}
