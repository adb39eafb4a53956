package bolt

import (
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/store"
)

var _ store.Snapshotter = (*Store)(nil)

// Snapshot calls fn with a Reader on one read transaction, so it sees the
// file as it was when Snapshot began. Unlike the Store's own streams, the
// Reader calls back inside that transaction, for as long as fn runs; while
// it lasts, pages that writes free are not reused (the file may grow), and
// a write that must grow the file past its mapping waits for it to end.
func (s *Store) Snapshot(ctx context.Context, fn func(store.Reader) error) error {
	return s.view(ctx, func(tx *bbolt.Tx) error {
		return fn(snapshot{tx: tx})
	})
}

// snapshot is a store.Reader on one read transaction.
type snapshot struct {
	tx *bbolt.Tx
}

func (sn snapshot) Hosts(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return hostsIn(sn.tx)
}

func (sn snapshot) Rules(ctx context.Context) ([]store.Rule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return rulesIn(sn.tx)
}

// Results streams the host's raw results in [start, end) as the
// transaction sees them.
func (sn snapshot) Results(ctx context.Context, host string, start, end time.Time, fn func(store.Result) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !hostStored(sn.tx, host) {
		return fmt.Errorf("bolt: results of %q: %w", host, store.ErrNotFound)
	}
	if !start.Before(end) {
		return nil
	}
	var last lastStrings
	it := newRangeIter(sn.tx, host, timeKey(start), timeKey(end))
	for k, v := it.next(); k != nil; k, v = it.next() {
		r, err := decodeResult(host, k, v, &last)
		if err != nil {
			return fmt.Errorf("bolt: results of %q: result at %x: %w", host, k, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
