package bolt

import (
	"context"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// SetCompaction sets the thresholds that make a round compact the recent
// bucket, so that tests can compact after every round or never.
func SetCompaction(s *Store, maxResults, maxSlots int) {
	s.recentMaxResults, s.recentMaxSlots = maxResults, maxSlots
}

// SetBatchSizes sets how much work one transaction does, so that tests
// cross the batch boundaries with little data.
func SetBatchSizes(s *Store, chunk, restore, delete, compact int) {
	s.sizes = batchSizes{chunk: chunk, restore: restore, delete: delete, compact: compact}
}

// Compact compacts the recent bucket now.
func Compact(ctx context.Context, s *Store) error {
	s.maint.Lock()
	defer s.maint.Unlock()
	return s.compact(ctx)
}

// UpdateFile runs update in one write transaction on the closed file at
// path, opened as a plain bbolt file: how tests take a file back to what
// an older srvmon, a crash or a foreign program left. It fails t with
// what when the transaction does.
func UpdateFile(t testing.TB, path, what string, update func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(update)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
