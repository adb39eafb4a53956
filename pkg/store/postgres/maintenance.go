package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// Maintenance windows are rows of maintenance_windows (see
// migrations/0007_maintenance.sql): the ID and the window's JSON
// (monitor.Maintenance's own). New IDs come from the column's identity
// sequence, which a restore moves past the IDs it brings, so that IDs are
// never reused.

// Maintenances lists every window, by ID; never nil.
func (s *Store) Maintenances(ctx context.Context) ([]monitor.Maintenance, error) {
	return maintenancesOf(ctx, s.pool)
}

// maintenancesOf lists the windows q sees, by ID; never nil.
func maintenancesOf(ctx context.Context, q querier) ([]monitor.Maintenance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, _ := q.Query(ctx, `SELECT id, doc FROM maintenance_windows ORDER BY id`)
	ws := []monitor.Maintenance{}
	var (
		id  int64
		doc []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &doc}, func() error {
		w, err := decodeMaintenance(id, doc)
		ws = append(ws, w)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: maintenance windows: %w", err)
	}
	return ws, nil
}

func decodeMaintenance(id int64, doc []byte) (monitor.Maintenance, error) {
	var w monitor.Maintenance
	if err := json.Unmarshal(doc, &w); err != nil {
		return w, fmt.Errorf("maintenance window %d: %w", id, err)
	}
	w.ID = id
	return w, nil
}

func windowNotFound(id int64) error {
	return fmt.Errorf("postgres: maintenance window %d: %w", id, store.ErrNotFound)
}

// Maintenance returns window id; ErrNotFound if there is none.
func (s *Store) Maintenance(ctx context.Context, id int64) (monitor.Maintenance, error) {
	if err := ctx.Err(); err != nil {
		return monitor.Maintenance{}, err
	}
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT doc FROM maintenance_windows WHERE id = $1`, id).Scan(&doc)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return monitor.Maintenance{}, windowNotFound(id)
	case err != nil:
		return monitor.Maintenance{}, fmt.Errorf("postgres: maintenance window %d: %w", id, err)
	}
	w, err := decodeMaintenance(id, doc)
	if err != nil {
		return monitor.Maintenance{}, fmt.Errorf("postgres: %w", err)
	}
	return w, nil
}

// PutMaintenance adds w with the next ID when w.ID is zero, else replaces
// window w.ID (ErrNotFound if there is none).
func (s *Store) PutMaintenance(ctx context.Context, w monitor.Maintenance) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	doc, err := json.Marshal(store.MaintenanceInUTC(w))
	if err != nil {
		return 0, fmt.Errorf("postgres: maintenance window: %w", err)
	}
	if w.ID == 0 {
		var id int64
		if err := s.pool.QueryRow(ctx, `INSERT INTO maintenance_windows (doc) VALUES ($1) RETURNING id`, string(doc)).Scan(&id); err != nil {
			return 0, fmt.Errorf("postgres: add maintenance window: %w", err)
		}
		return id, nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE maintenance_windows SET doc = $2 WHERE id = $1`, w.ID, string(doc))
	switch {
	case err != nil:
		return 0, fmt.Errorf("postgres: maintenance window %d: %w", w.ID, err)
	case tag.RowsAffected() == 0:
		return 0, windowNotFound(w.ID)
	}
	return w.ID, nil
}

// DeleteMaintenance deletes window id; ErrNotFound if there is none.
func (s *Store) DeleteMaintenance(ctx context.Context, id int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM maintenance_windows WHERE id = $1`, id)
	switch {
	case err != nil:
		return fmt.Errorf("postgres: delete maintenance window %d: %w", id, err)
	case tag.RowsAffected() == 0:
		return windowNotFound(id)
	}
	return nil
}

// restoreMaintenance writes a restore's windows in tx, each in place of
// the window with its ID, moves the identity sequence past every ID
// restored, then adds those without an ID with the next ones, so that
// none replaces a restored one. The table is locked against other
// writers until the restore commits, so that no window is added
// meanwhile with an ID the restore brings.
func restoreMaintenance(ctx context.Context, tx pgx.Tx, ws []monitor.Maintenance) error {
	if len(ws) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE maintenance_windows IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("lock the maintenance windows: %w", err)
	}
	var (
		ids        []int64
		docs, news []string
		last       int64
	)
	for _, w := range ws {
		doc, err := json.Marshal(store.MaintenanceInUTC(w))
		if err != nil {
			return fmt.Errorf("maintenance window %d: %w", w.ID, err)
		}
		if w.ID == 0 {
			news = append(news, string(doc))
			continue
		}
		ids, docs, last = append(ids, w.ID), append(docs, string(doc)), max(last, w.ID)
	}
	if len(ids) > 0 {
		_, err := tx.Exec(ctx, `INSERT INTO maintenance_windows (id, doc)
			SELECT * FROM unnest($1::bigint[], $2::text[])
			ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`, ids, docs)
		if err != nil {
			return fmt.Errorf("restore %d maintenance windows: %w", len(ids), err)
		}
		// is_called is false on a sequence that never gave out an ID:
		// its last_value is then the first ID to give out, not one given.
		_, err = tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('maintenance_windows', 'id'),
			greatest($1, (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM maintenance_windows_id_seq)))`, last)
		if err != nil {
			return fmt.Errorf("move the maintenance windows' IDs past %d: %w", last, err)
		}
	}
	for _, doc := range news {
		if _, err := tx.Exec(ctx, `INSERT INTO maintenance_windows (doc) VALUES ($1)`, doc); err != nil {
			return fmt.Errorf("add a maintenance window: %w", err)
		}
	}
	return nil
}

// Maintenances lists the windows as the snapshot sees them.
func (sn snapshot) Maintenances(ctx context.Context) ([]monitor.Maintenance, error) {
	return maintenancesOf(ctx, sn.q)
}
