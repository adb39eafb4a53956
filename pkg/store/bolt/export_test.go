package bolt

import "context"

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
