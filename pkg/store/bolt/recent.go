package bolt

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	bbolt "go.etcd.io/bbolt"
)

// Why a recent bucket: bbolt copies on write, so a transaction rewrites
// every page it changes, and the pages above it, up to the root. Were a
// round written straight into the host buckets, it would rewrite a leaf
// page and its branch pages in each host's bucket: pages by the thousand,
// written and allocated, for every round of many hosts. Rounds append to
// the recent bucket instead, whose keys start with the slot, so a round
// rewrites only the few pages its own results fill. Now and then, compact
// moves the recent results into the host buckets, rewriting each host's
// pages once for many rounds.
//
// Readers merge a host's recent results (at most recentMaxSlots seeks, one
// per slot in the bucket) with its bucket's. A key in both, as during a
// compaction, is read once.

// Compaction thresholds: a round is followed by a compaction when the
// recent bucket holds more results or more slots than these.
const (
	defaultRecentMaxResults = 100000
	defaultRecentMaxSlots   = 64
	// recentFill: the recent bucket's keys arrive in order.
	recentFill = 0.95
)

// raiseNewest records in meta that a host bucket holds a result at the
// time of key k. Host buckets are written only by compaction and restore.
func raiseNewest(tx *bbolt.Tx, k []byte) error {
	if len(k) < timeLen {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	if cur := meta.Get(keyNewest); cur != nil && bytes.Compare(k[:timeLen], cur) <= 0 {
		return nil
	}
	return meta.Put(keyNewest, bytes.Clone(k[:timeLen]))
}

// newestInBuckets returns a time key that no result of a host bucket is
// after, nil when no host bucket ever held one. A round's results are
// mostly after it: they need not be looked for in host buckets.
func newestInBuckets(tx *bbolt.Tx) []byte {
	return bytes.Clone(tx.Bucket(bucketMeta).Get(keyNewest))
}

// recentOf returns host's results in the recent bucket with a result key
// in [from, to), by result key, with their keys as result keys. The slices
// are copies. to must be a time key.
func recentOf(tx *bbolt.Tx, host string, from, to []byte) []keyValue {
	var out []keyValue
	hp := hostPrefix(host)
	c := tx.Bucket(bucketRecent).Cursor()
	seek := make([]byte, 0, timeLen+len(hp)+len(from))
	for k, _ := c.Seek(from[:timeLen]); k != nil && len(k) >= timeLen && timeBefore(k, to); {
		t := bytes.Clone(k[:timeLen])
		seek = append(append(seek[:0], t...), hp...)
		prefix := len(seek)
		if bytes.Equal(t, from[:timeLen]) {
			seek = append(seek, from[timeLen:]...) // locations from from's on
		}
		var v []byte
		for k, v = c.Seek(seek); k != nil && bytes.HasPrefix(k, seek[:prefix]); k, v = c.Next() {
			out = append(out, keyValue{k: append(bytes.Clone(t), k[prefix:]...), v: bytes.Clone(v)})
		}
		next := nextTime(t)
		if next == nil {
			break
		}
		k, _ = c.Seek(next)
	}
	return out
}

// recentKeysOf returns the recent bucket's keys of host's results.
func recentKeysOf(tx *bbolt.Tx, host string) [][]byte {
	var keys [][]byte
	hp := hostPrefix(host)
	c := tx.Bucket(bucketRecent).Cursor()
	seek := make([]byte, 0, timeLen+len(hp))
	for k, _ := c.First(); k != nil && len(k) >= timeLen; {
		seek = append(append(seek[:0], k[:timeLen]...), hp...)
		next := nextTime(k[:timeLen])
		for k, _ = c.Seek(seek); k != nil && bytes.HasPrefix(k, seek); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		if next == nil {
			break
		}
		k, _ = c.Seek(next)
	}
	return keys
}

// recentFull reports whether the recent bucket is due for a compaction.
func (s *Store) recentFull(tx *bbolt.Tx) bool {
	b := tx.Bucket(bucketRecent)
	slots := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(k) >= timeLen; {
		if slots++; slots > s.recentMaxSlots {
			return true
		}
		next := nextTime(k[:timeLen])
		if next == nil {
			break
		}
		k, _ = c.Seek(next)
	}
	return slots > 0 && b.Stats().KeyN > s.recentMaxResults
}

// compactIfFull compacts the recent bucket when it is full and no other
// maintenance (a compaction, a restore, a retention run) is under way.
func (s *Store) compactIfFull(ctx context.Context) error {
	if !s.maint.TryLock() {
		return nil
	}
	defer s.maint.Unlock()
	var full bool
	if err := s.view(ctx, func(tx *bbolt.Tx) error { full = s.recentFull(tx); return nil }); err != nil || !full {
		return err
	}
	return s.compact(ctx)
}

// compact moves the results of the recent bucket into the host buckets: it
// reads them, writes them host by host, s.sizes.compact hosts per transaction
// (results already in a host's bucket are kept), then deletes them from
// the recent bucket in one transaction. Until then, readers see them in
// both places and read them once. Results that rounds add meanwhile stay
// for the next compaction. The caller holds s.maint.
func (s *Store) compact(ctx context.Context) error {
	var byHost recentByHost
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		byHost, err = readRecent(tx)
		return err
	})
	if err != nil || len(byHost) == 0 {
		return err
	}
	for batch := range slices.Chunk(byHost.sorted(), s.sizes.compact) {
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			for _, hr := range batch {
				if err := moveToHost(tx, hr); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("compact: %w", err)
		}
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error { return dropMoved(tx, byHost.moved) })
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return nil
}

// hostResults is a host's results read from the recent bucket.
type hostResults struct {
	host string
	kvs  []keyValue // by result key
}

// recentByHost is the results of the recent bucket, by host.
type recentByHost map[string]*hostResults

// readRecent copies the results of the recent bucket, each host's sorted
// by result key.
func readRecent(tx *bbolt.Tx) (recentByHost, error) {
	byHost := recentByHost{}
	b := tx.Bucket(bucketRecent)
	// The copies share a few allocations: k, v and the result key fit.
	arena := make([]byte, 0, b.Stats().LeafInuse*5/4+4096)
	clone := func(a, b []byte) []byte { // a copy of a followed by b
		start := len(arena)
		arena = append(append(arena, a...), b...)
		return arena[start:len(arena):len(arena)]
	}
	err := b.ForEach(func(k, v []byte) error {
		host, loc, err := recentKeyParts(k)
		if err != nil {
			return fmt.Errorf("recent result %x: %w", k, err)
		}
		hr := byHost[string(host)] // no allocation
		if hr == nil {
			hr = &hostResults{host: string(host)}
			byHost[hr.host] = hr
		}
		// The result key: the time, then the location.
		hr.kvs = append(hr.kvs, keyValue{clone(k[:timeLen], loc), clone(v, nil)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, hr := range byHost {
		// Already in order, unless results of a slot arrived after those of
		// a later one.
		if !slices.IsSortedFunc(hr.kvs, compareKeys) {
			slices.SortFunc(hr.kvs, compareKeys)
		}
	}
	return byHost, nil
}

// compareKeys orders key-value pairs by key.
func compareKeys(a, b keyValue) int { return bytes.Compare(a.k, b.k) }

// sorted returns the hosts' results by host.
func (m recentByHost) sorted() []*hostResults {
	hosts := make([]*hostResults, 0, len(m))
	for _, hr := range m {
		hosts = append(hosts, hr)
	}
	slices.SortFunc(hosts, func(a, b *hostResults) int { return cmp.Compare(a.host, b.host) })
	return hosts
}

// moved reports whether the result under recent key k was read, and so
// moved: no key is deleted and stored again meanwhile, since DeleteHost
// and retention wait for the compaction.
func (m recentByHost) moved(k []byte) bool {
	host, loc, err := recentKeyParts(k)
	if err != nil {
		return false
	}
	hr := m[string(host)]
	if hr == nil {
		return false
	}
	rk := append(append(make([]byte, 0, timeLen+len(loc)), k[:timeLen]...), loc...)
	_, found := slices.BinarySearchFunc(hr.kvs, rk, func(kv keyValue, k []byte) int { return bytes.Compare(kv.k, k) })
	return found
}

// moveToHost writes a host's recent results into its bucket, keeping
// those it holds already; nothing if the host was deleted since
// (DeleteHost dropped its recent results too).
func moveToHost(tx *bbolt.Tx, hr *hostResults) error {
	if !hostStored(tx, hr.host) {
		return nil
	}
	if err := raiseNewest(tx, hr.kvs[len(hr.kvs)-1].k); err != nil {
		return err
	}
	b, err := tx.Bucket(bucketResults).CreateBucketIfNotExists([]byte(hr.host))
	if err != nil {
		return fmt.Errorf("host %q: %w", hr.host, err)
	}
	b.FillPercent = appendFill
	// Results after the bucket's last one are appended without looking
	// for them first: the usual case.
	last, _ := b.Cursor().Last()
	for _, kv := range hr.kvs {
		if (last == nil || bytes.Compare(kv.k, last) <= 0) && b.Get(kv.k) != nil {
			continue
		}
		if err := b.Put(kv.k, kv.v); err != nil {
			return fmt.Errorf("host %q: %w", hr.host, err)
		}
	}
	return nil
}

// dropMoved empties the recent bucket of the results that moved: it
// replaces the bucket by a new one holding those that rounds added
// meanwhile, rather than look for each key to delete.
func dropMoved(tx *bbolt.Tx, moved func(k []byte) bool) error {
	var added []keyValue
	c := tx.Bucket(bucketRecent).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if !moved(k) {
			added = append(added, keyValue{bytes.Clone(k), bytes.Clone(v)})
		}
	}
	if err := tx.DeleteBucket(bucketRecent); err != nil {
		return err
	}
	b, err := tx.CreateBucket(bucketRecent)
	if err != nil {
		return err
	}
	b.FillPercent = recentFill
	for _, kv := range added {
		if err := b.Put(kv.k, kv.v); err != nil {
			return err
		}
	}
	return nil
}
