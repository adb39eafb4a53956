package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// maintenanceWindows are the stored maintenance windows by ID, and the
// highest ID given out or restored, so that IDs are never reused. Its
// zero value holds none.
type maintenanceWindows struct {
	byID   map[int64]monitor.Maintenance
	lastID int64
}

// put stores a copy of w under w.ID.
func (ws *maintenanceWindows) put(w monitor.Maintenance) {
	if ws.byID == nil {
		ws.byID = make(map[int64]monitor.Maintenance)
	}
	ws.byID[w.ID] = cloneMaintenance(store.MaintenanceInUTC(w))
	ws.lastID = max(ws.lastID, w.ID)
}

// restore stores each of ws with its ID, in place of the window with
// that ID, then those without an ID with the next ones: after every ID
// the restore brings, so that none replaces them.
func (ws *maintenanceWindows) restore(restored []monitor.Maintenance) {
	for _, w := range restored {
		if w.ID != 0 {
			ws.put(w)
		}
	}
	for _, w := range restored {
		if w.ID == 0 {
			w.ID = ws.lastID + 1
			ws.put(w)
		}
	}
}

// cloneMaintenance copies w, so that the caller's slices are not the
// store's.
func cloneMaintenance(w monitor.Maintenance) monitor.Maintenance {
	w.Hosts, w.Groups = slices.Clone(w.Hosts), slices.Clone(w.Groups)
	return w
}

func windowNotFound(id int64) error {
	return fmt.Errorf("memory: maintenance window %d: %w", id, store.ErrNotFound)
}

// Maintenances lists every maintenance window, by ID; never nil.
func (s *Store) Maintenances(ctx context.Context) ([]monitor.Maintenance, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	ws := make([]monitor.Maintenance, 0, len(s.windows.byID))
	for _, w := range s.windows.byID {
		ws = append(ws, cloneMaintenance(w))
	}
	slices.SortFunc(ws, func(a, b monitor.Maintenance) int { return cmp.Compare(a.ID, b.ID) })
	return ws, nil
}

// Maintenance returns window id; ErrNotFound if there is none.
func (s *Store) Maintenance(ctx context.Context, id int64) (monitor.Maintenance, error) {
	if err := s.rlock(ctx); err != nil {
		return monitor.Maintenance{}, err
	}
	defer s.mu.RUnlock()
	w, ok := s.windows.byID[id]
	if !ok {
		return monitor.Maintenance{}, windowNotFound(id)
	}
	return cloneMaintenance(w), nil
}

// PutMaintenance adds w with the next ID when w.ID is zero, else replaces
// window w.ID (ErrNotFound if there is none).
func (s *Store) PutMaintenance(ctx context.Context, w monitor.Maintenance) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if w.ID == 0 {
		w.ID = s.windows.lastID + 1
	} else if _, ok := s.windows.byID[w.ID]; !ok {
		return 0, windowNotFound(w.ID)
	}
	s.windows.put(w)
	return w.ID, nil
}

// DeleteMaintenance deletes window id; ErrNotFound if there is none.
func (s *Store) DeleteMaintenance(ctx context.Context, id int64) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.windows.byID[id]; !ok {
		return windowNotFound(id)
	}
	delete(s.windows.byID, id)
	return nil
}
