package bolt_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// open opens a fresh file in the test's temporary directory.
func open(tb testing.TB, opts ...bolt.Option) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(filepath.Join(tb.TempDir(), "srvmon.db"), opts...)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

// TestConformance runs the suite as the store is opened, then with a
// compaction after every round (results are read from the host buckets),
// with none (they are read from the recent bucket), and with tiny batches,
// so that streams, restores, retention and compaction cross their
// transaction boundaries.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []bolt.Option
		setup func(s *bolt.Store)
	}{
		{"Default", nil, func(*bolt.Store) {}},
		{"CompactEveryRound", nil, func(s *bolt.Store) { bolt.SetCompaction(s, 0, -1) }},
		{"NeverCompact", nil, func(s *bolt.Store) { bolt.SetCompaction(s, math.MaxInt, math.MaxInt) }},
		// Without fsync: these batches make a few thousand transactions.
		{"SmallBatches", []bolt.Option{bolt.WithNoSync()}, func(s *bolt.Store) {
			bolt.SetCompaction(s, 10, 3)
			bolt.SetBatchSizes(s, 3, 50, 40, 2)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				s := open(t, tc.opts...)
				tc.setup(s)
				return s
			})
		})
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return open(b) })
}
