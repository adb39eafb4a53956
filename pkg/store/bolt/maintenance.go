package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// Maintenance windows are kept in the maintenance bucket, one JSON
// document (monitor.Maintenance's own) per window under its ID as 8
// bytes, so that a cursor lists them by ID. The bucket's sequence is the
// highest ID given out or restored: IDs are never reused.

// Maintenances lists every window, by ID; never nil.
func (s *Store) Maintenances(ctx context.Context) ([]monitor.Maintenance, error) {
	var ws []monitor.Maintenance
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		ws, err = maintenancesIn(tx)
		return err
	})
	return ws, err
}

// maintenancesIn lists the windows tx sees, by ID; never nil.
func maintenancesIn(tx *bbolt.Tx) ([]monitor.Maintenance, error) {
	ws, err := decodeAll(tx.Bucket(bucketMaintenance), 0, decodeMaintenance)
	if err != nil {
		return nil, fmt.Errorf("bolt: maintenance windows: %w", err)
	}
	return ws, nil
}

func decodeMaintenance(k, v []byte) (monitor.Maintenance, error) {
	var w monitor.Maintenance
	if len(k) != 8 {
		return w, fmt.Errorf("maintenance window at %x: %w", k, errCorrupt)
	}
	if err := json.Unmarshal(v, &w); err != nil {
		return w, fmt.Errorf("maintenance window at %x: %w: %v", k, errCorrupt, err)
	}
	w.ID = int64(binary.BigEndian.Uint64(k))
	return w, nil
}

// putMaintenance writes w under w.ID and raises the bucket's sequence to
// it.
func putMaintenance(tx *bbolt.Tx, w monitor.Maintenance) error {
	b := tx.Bucket(bucketMaintenance)
	doc, err := json.Marshal(store.MaintenanceInUTC(w))
	if err != nil {
		return fmt.Errorf("maintenance window %d: %w", w.ID, err)
	}
	if err := b.Put(idKey(uint64(w.ID)), doc); err != nil {
		return err
	}
	if uint64(w.ID) > b.Sequence() {
		return b.SetSequence(uint64(w.ID))
	}
	return nil
}

// restoreMaintenance writes a restore's windows, each under its ID, then
// those without an ID under the next ones: after every ID the restore
// brings, so that none replaces them.
func restoreMaintenance(tx *bbolt.Tx, ws []monitor.Maintenance) error {
	for _, w := range ws {
		if w.ID == 0 {
			continue
		}
		if err := putMaintenance(tx, w); err != nil {
			return err
		}
	}
	for _, w := range ws {
		if w.ID != 0 {
			continue
		}
		id, err := tx.Bucket(bucketMaintenance).NextSequence()
		if err != nil {
			return err
		}
		w.ID = int64(id)
		if err := putMaintenance(tx, w); err != nil {
			return err
		}
	}
	return nil
}

func windowNotFound(id int64) error {
	return fmt.Errorf("bolt: maintenance window %d: %w", id, store.ErrNotFound)
}

// Maintenance returns window id; ErrNotFound if there is none.
func (s *Store) Maintenance(ctx context.Context, id int64) (monitor.Maintenance, error) {
	var w monitor.Maintenance
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketMaintenance).Get(idKey(uint64(id)))
		if v == nil || id <= 0 {
			return windowNotFound(id)
		}
		var err error
		w, err = decodeMaintenance(idKey(uint64(id)), v)
		return err
	})
	return w, err
}

// PutMaintenance adds w with the next ID when w.ID is zero, else replaces
// window w.ID (ErrNotFound if there is none).
func (s *Store) PutMaintenance(ctx context.Context, w monitor.Maintenance) (int64, error) {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMaintenance)
		if w.ID == 0 {
			id, err := b.NextSequence()
			if err != nil {
				return err
			}
			w.ID = int64(id)
		} else if w.ID < 0 || b.Get(idKey(uint64(w.ID))) == nil {
			return windowNotFound(w.ID)
		}
		return putMaintenance(tx, w)
	})
	if err != nil {
		return 0, fmt.Errorf("bolt: put maintenance window: %w", err)
	}
	return w.ID, nil
}

// DeleteMaintenance deletes window id; ErrNotFound if there is none.
func (s *Store) DeleteMaintenance(ctx context.Context, id int64) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMaintenance)
		if id <= 0 || b.Get(idKey(uint64(id))) == nil {
			return windowNotFound(id)
		}
		return b.Delete(idKey(uint64(id)))
	})
}

// Maintenances lists the windows as the transaction sees them.
func (sn snapshot) Maintenances(ctx context.Context) ([]monitor.Maintenance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return maintenancesIn(sn.tx)
}
