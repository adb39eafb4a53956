package ql

import "github.com/srvmon/srvmon/pkg/store"

// SetSizes sets how many rows an INSERT writes and a stream reads per
// query, so that tests cross those boundaries with little data.
func SetSizes(s *Store, insertRows, chunk int) {
	s.insertRows, s.chunk = insertRows, chunk
}

// SortsRanges reports whether range queries sort with ORDER BY because
// Open found that ql's plan does not read the index in key order.
func SortsRanges(s *Store) bool { return s.sortRanges }

// ForceSortedRanges makes range queries sort, as they do with a ql whose
// plan does not read the index in key order.
func ForceSortedRanges(s *Store) { s.sortRanges = true }

// ResultKey is the key of r, of the host whose id() is id, in results.
func ResultKey(id int64, r store.Result) string { return resultKey(id, &r) }
