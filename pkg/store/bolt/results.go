package bolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/store"
)

const (
	// appendFill is the fill percent of host buckets, whose keys mostly
	// arrive in order: split pages are left fuller than bbolt's default.
	appendFill = 0.9
)

// encoded is a result with its key and value, ready to be written.
type encoded struct {
	host   string
	key    []byte // result key: time + location
	value  []byte
	recent []byte // key in the recent bucket, when asked for
}

// encodeAll encodes results into one backing array. With recent, it adds
// their keys in the recent bucket and sorts them by it; otherwise it sorts
// them by host then key. The sort is stable, so the first of equal keys
// stays first, and a transaction appends in key order (bbolt inserts into
// a node's sorted slice: out of order, every insertion moves the rest).
func encodeAll(results []store.Result, recent bool) []encoded {
	size := 0
	for i := range results {
		n := timeLen + len(results[i].Location) + resultHead + len(results[i].Reason)
		if recent {
			n += timeLen + binary.MaxVarintLen64 + len(results[i].Host) + len(results[i].Location)
		}
		size += n
	}
	buf := make([]byte, 0, size)
	es := make([]encoded, len(results))
	var hp []byte
	for i := range results {
		r := &results[i]
		start := len(buf)
		buf = appendResultKey(buf, r)
		mid := len(buf)
		buf = appendResultValue(buf, r)
		e := encoded{host: r.Host, key: buf[start:mid:mid], value: buf[mid:len(buf):len(buf)]}
		if recent {
			if i == 0 || r.Host != results[i-1].Host {
				hp = hostPrefix(r.Host)
			}
			rs := len(buf)
			buf = appendRecentKey(buf, hp, e.key)
			e.recent = buf[rs:len(buf):len(buf)]
		}
		es[i] = e
	}
	if recent {
		slices.SortStableFunc(es, func(a, b encoded) int { return bytes.Compare(a.recent, b.recent) })
	} else {
		slices.SortStableFunc(es, func(a, b encoded) int {
			return cmp.Or(cmp.Compare(a.host, b.host), bytes.Compare(a.key, b.key))
		})
	}
	return es
}

// putRecent writes the results of stored hosts that are not stored yet
// into the recent bucket.
func putRecent(tx *bbolt.Tx, es []encoded) error {
	hosts, results, recent := tx.Bucket(bucketHosts), tx.Bucket(bucketResults), tx.Bucket(bucketRecent)
	recent.FillPercent = recentFill
	newest := newestInBuckets(tx)
	last, _ := recent.Cursor().Last()
	last = bytes.Clone(last)
	type hostBucket struct {
		stored, looked bool
		b              *bbolt.Bucket // once looked for; nil until its first compaction
	}
	seen := map[string]*hostBucket{}
	for i := range es {
		e := &es[i]
		hb := seen[e.host]
		if hb == nil {
			hb = &hostBucket{stored: e.host != "" && hosts.Get([]byte(e.host)) != nil}
			seen[e.host] = hb
		}
		if !hb.stored {
			continue
		}
		// Only results up to newest can be in a host bucket.
		if newest != nil && bytes.Compare(e.key[:timeLen], newest) <= 0 {
			if !hb.looked {
				hb.b, hb.looked = results.Bucket([]byte(e.host)), true
			}
			if hb.b != nil && hb.b.Get(e.key) != nil {
				continue
			}
		}
		// Keys come in order: those after the bucket's last are not there.
		if bytes.Compare(e.recent, last) <= 0 && recent.Get(e.recent) != nil {
			continue
		}
		if err := recent.Put(e.recent, e.value); err != nil {
			return fmt.Errorf("host %q: %w", e.host, err)
		}
		if bytes.Compare(e.recent, last) > 0 {
			last = e.recent
		}
	}
	return nil
}

// SaveRound stores a round in one write transaction, into the recent
// bucket; see store.Store. When the recent bucket is full, it then
// compacts it into the host buckets; if that fails, the round is stored
// all the same, and the error says so.
func (s *Store) SaveRound(ctx context.Context, results []store.Result, alerting *store.Alerting) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: save round: %w", err)
	}
	if len(results) == 0 {
		return nil
	}
	// Encode and sort before taking the write lock.
	es := encodeAll(results, true)
	err := s.update(ctx, func(tx *bbolt.Tx) error { return saveIn(tx, es, results, alerting) })
	if err != nil {
		return fmt.Errorf("bolt: save round of %d results: %w", len(results), err)
	}
	if err := s.compactIfFull(ctx); err != nil {
		return fmt.Errorf("bolt: round of %d results saved, but compacting recent results failed: %w", len(results), err)
	}
	return nil
}

// saveIn is SaveRound's transaction: es are results encoded by encodeAll
// for the recent bucket.
func saveIn(tx *bbolt.Tx, es []encoded, results []store.Result, alerting *store.Alerting) error {
	if err := putRecent(tx, es); err != nil {
		return err
	}
	// A late round, or another location's, adds to summarised hours.
	if until := summarisedUntil(tx); !until.IsZero() {
		late := store.TouchedHours{}
		for _, r := range results {
			if r.Slot.Before(until) {
				late.Add(r.Host, r.Slot)
			}
		}
		if err := resummarise(tx, late, until); err != nil {
			return err
		}
	}
	if err := recordCertExpiries(tx, results); err != nil {
		return err
	}
	if err := saveLocations(tx, store.SavedLocations(results)); err != nil {
		return err
	}
	if alerting == nil {
		return nil
	}
	return alert(tx, results, alerting)
}

// rangeIter walks a host's results in [from, to), by result key: the
// cursor of its bucket merged with its results in the recent bucket. A key
// in both is read once.
type rangeIter struct {
	c      *bbolt.Cursor // nil when the host has no bucket
	k, v   []byte        // the cursor's current result, nil past to
	toSec  uint64
	toNsec uint32
	recent []keyValue
}

// newRangeIter starts at from; to must be a time key.
func newRangeIter(tx *bbolt.Tx, host string, from, to []byte) *rangeIter {
	return newRangeIterWith(tx, host, from, to, recentOf(tx, host, from, to))
}

// newRangeIterWith is newRangeIter given the host's recent results in
// [from, to), by result key (recentOf's answer, or a fleet read's part of
// the recent bucket read once for every host, see recentIn).
func newRangeIterWith(tx *bbolt.Tx, host string, from, to []byte, recent []keyValue) *rangeIter {
	return newRangeIterIn(tx.Bucket(bucketResults).Bucket([]byte(host)), from, to, recent)
}

// newRangeIterIn is newRangeIterWith given the host's bucket (nil when it
// has none), for a read that walks it more than once (bucketsIn).
func newRangeIterIn(b *bbolt.Bucket, from, to []byte, recent []keyValue) *rangeIter {
	it := &rangeIter{
		toSec:  binary.BigEndian.Uint64(to),
		toNsec: binary.BigEndian.Uint32(to[8:]),
		recent: recent,
	}
	if b != nil {
		it.c = b.Cursor()
		it.k, it.v = it.c.Seek(from)
		it.clip()
	}
	return it
}

// clip ends the cursor's side at to, comparing the time as two integers:
// cheaper than bytes.Compare on every row. A key too short to hold a time
// is left for the decoder to report.
func (it *rangeIter) clip() {
	if len(it.k) < timeLen {
		return
	}
	sec, nsec := binary.BigEndian.Uint64(it.k), binary.BigEndian.Uint32(it.k[8:])
	if sec > it.toSec || sec == it.toSec && nsec >= it.toNsec {
		it.k, it.v = nil, nil
	}
}

func (it *rangeIter) advance() {
	it.k, it.v = it.c.Next()
	it.clip()
}

// next returns the next result's key and value, nil at the end.
func (it *rangeIter) next() (k, v []byte) {
	if len(it.recent) > 0 {
		r := it.recent[0]
		if it.k == nil || bytes.Compare(r.k, it.k) <= 0 {
			it.recent = it.recent[1:]
			if it.k != nil && bytes.Equal(r.k, it.k) {
				it.advance()
			}
			return r.k, r.v
		}
	}
	k, v = it.k, it.v
	if k != nil {
		it.advance()
	}
	return k, v
}

// scan calls fn with the host's results in [start, end), in key order. It
// reads them s.sizes.chunk at a time, each chunk in its own read transaction,
// and calls fn outside of it: a slow fn never holds the file. decode makes
// the result from a key and a value.
func (s *Store) scan(ctx context.Context, host string, start, end time.Time,
	decode func(k, v []byte) (store.Result, error), fn func(store.Result) error) error {
	from, to := timeKey(start), timeKey(end)
	empty := !start.Before(end)
	buf := make([]store.Result, 0, s.sizes.chunk)
	for first := true; ; first = false {
		buf = buf[:0]
		more := false
		err := s.view(ctx, func(tx *bbolt.Tx) error {
			if !hostStored(tx, host) {
				if first {
					return store.ErrNotFound
				}
				return nil // deleted meanwhile: the stream ends
			}
			if empty {
				return nil
			}
			it := newRangeIter(tx, host, from, to)
			for k, v := it.next(); k != nil; k, v = it.next() {
				if len(buf) == cap(buf) {
					from = bytes.Clone(k) // the next chunk starts here
					more = true
					return nil
				}
				r, err := decode(k, v)
				if err != nil {
					return fmt.Errorf("result at %x: %w", k, err)
				}
				buf = append(buf, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range buf {
			if err := fn(r); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// Results streams the host's raw results in [start, end).
func (s *Store) Results(ctx context.Context, host string, start, end time.Time, fn func(store.Result) error) error {
	var last lastStrings
	decode := func(k, v []byte) (store.Result, error) { return decodeResult(host, k, v, &last) }
	if err := s.scan(ctx, host, start, end, decode, fn); err != nil {
		return fmt.Errorf("bolt: results of %q: %w", host, err)
	}
	return nil
}

// Checks streams the host's merged checks in [start, end).
func (s *Store) Checks(ctx context.Context, host string, start, end time.Time, fn func(store.Check) error) error {
	add, flush := store.MergeResults(fn)
	var last lastStrings
	decode := func(k, v []byte) (store.Result, error) { return decodeCheck(k, v, &last) }
	err := s.scan(ctx, host, start, end, decode, add)
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("bolt: checks of %q: %w", host, err)
	}
	return nil
}

// newestSlot returns the time key of the host's newest slot, nil when it
// has no result: the last key of its bucket, unless the recent bucket has
// a newer slot of the host (looked for from the newest slot back).
func newestSlot(tx *bbolt.Tx, host string) []byte {
	var newest []byte
	if b := tx.Bucket(bucketResults).Bucket([]byte(host)); b != nil {
		if k, _ := b.Cursor().Last(); len(k) >= timeLen {
			newest = bytes.Clone(k[:timeLen])
		}
	}
	hp := hostPrefix(host)
	c := tx.Bucket(bucketRecent).Cursor()
	seek := make([]byte, 0, timeLen+len(hp))
	for k, _ := c.Last(); len(k) >= timeLen; {
		t := bytes.Clone(k[:timeLen])
		if newest != nil && bytes.Compare(t, newest) <= 0 {
			break
		}
		seek = append(append(seek[:0], t...), hp...)
		if k, _ = c.Seek(seek); bytes.HasPrefix(k, seek) {
			return t
		}
		c.Seek(t)
		k, _ = c.Prev()
	}
	return newest
}

// LastCheck merges the results of the host's newest slot. The answer is
// kept until the next write (see lastChecks).
func (s *Store) LastCheck(ctx context.Context, host string) (store.Check, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.Check{}, false, fmt.Errorf("bolt: last check of %q: %w", host, err)
	}
	v, found, gen := s.last.get(host)
	if found {
		return v.check, v.ok, nil
	}
	c, ok, err := s.lastCheck(ctx, host)
	if err == nil {
		s.last.put(gen, host, lastCheck{check: c, ok: ok})
	}
	return c, ok, err
}

// lastCheck is LastCheck read from the file.
func (s *Store) lastCheck(ctx context.Context, host string) (store.Check, bool, error) {
	var (
		c  store.Check
		ok bool
	)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if !hostStored(tx, host) {
			return store.ErrNotFound
		}
		var err error
		c, ok, err = lastCheckIn(tx, host, newestSlot(tx, host), recentOf)
		return err
	})
	if err != nil {
		return store.Check{}, false, fmt.Errorf("bolt: last check of %q: %w", host, err)
	}
	return c, ok, nil
}

// recentFunc returns a host's results in the recent bucket with a result
// key in [from, to), by result key: recentOf, which seeks them slot by
// slot, or a fleet read's recentIn, which read the bucket once for every
// host.
type recentFunc func(tx *bbolt.Tx, host string, from, to []byte) []keyValue

// lastCheckIn merges the host's results at newest (a time key; nil when
// the host has none): LastCheck's answer, for one host or every host.
func lastCheckIn(tx *bbolt.Tx, host string, newest []byte, recent recentFunc) (store.Check, bool, error) {
	if newest == nil {
		return store.Check{}, false, nil
	}
	to := nextTime(newest)
	if to == nil {
		return store.Check{}, false, fmt.Errorf("slot %x: %w", newest, errCorrupt)
	}
	rs := make([]store.Result, 0, 1)
	it := newRangeIterWith(tx, host, newest, to, recent(tx, host, newest, to))
	for k, v := it.next(); k != nil; k, v = it.next() {
		r, err := decodeResult(host, k, v, nil)
		if err != nil {
			return store.Check{}, false, fmt.Errorf("result at %x: %w", k, err)
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return store.Check{}, false, nil
	}
	return store.MergeSlot(rs), true, nil
}

// Buckets summarises [start, end) in one read transaction: from the
// daily rollups and the hourly summaries of what is summarised, when
// buckets are an hour wide or more, and from the results of the rest,
// which a cursor walks, merging the results of each slot; nothing but the
// buckets and one slot's results is kept.
func (s *Store) Buckets(ctx context.Context, host string, start, end time.Time, n int) ([]store.Bucket, error) {
	bk := store.NewBucketer(start, end, n)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if !hostStored(tx, host) {
			return store.ErrNotFound
		}
		return bucketsIn(ctx, tx, host, bk, recentOf, planIn(tx, bk))
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: buckets of %q: %w", host, err)
	}
	return bk.Buckets(), nil
}

// readPlan is what a read of buckets reads, the same for every host (see
// store.Bucketer.SummaryPlan): runs of summarised time, each from the
// rollups or from the summaries, and the spans left, from the results,
// as time keys. It can be the same for every host because every hour
// before "summarised" with a result has its summary (see summaries.go).
type readPlan struct {
	runs   []keyRange
	hourly bool // some run is of hours
	daily  bool // some run is of days
	// spans are SummaryPlan's, joined where one ends as the next begins:
	// bk.Add finds each check's bucket, so a range of narrow buckets is
	// one walk of the cursor, not one a bucket.
	spans []keyRange
}

// keyRange is [from, to) in time keys; daily when it is a run of days.
type keyRange struct {
	from, to []byte
	daily    bool
}

// planIn plans the read of bk's buckets in tx; nothing when there are
// none.
func planIn(tx *bbolt.Tx, bk *store.Bucketer) readPlan {
	var p readPlan
	hours, spans := bk.SummaryPlan(summarisedUntil(tx))
	for _, r := range store.SummaryRuns(hours) {
		p.runs = append(p.runs, keyRange{from: timeKey(r.Start), to: timeKey(r.End), daily: r.Daily})
		p.hourly, p.daily = p.hourly || !r.Daily, p.daily || r.Daily
	}
	for i := 0; i < len(spans); {
		j := i + 1
		for j < len(spans) && spans[j].Start.Equal(spans[j-1].End) {
			j++
		}
		p.spans = append(p.spans, keyRange{from: timeKey(spans[i].Start), to: timeKey(spans[j-1].End)})
		i = j
	}
	return p
}

// bucketsIn counts the host's checks in bk's range into bk (nothing
// counted yet) as plan says: Buckets's read, for one host or, in one
// transaction, every host (BucketsAll).
func bucketsIn(ctx context.Context, tx *bbolt.Tx, host string, bk *store.Bucketer, recent recentFunc, plan readPlan) error {
	if len(bk.Buckets()) == 0 {
		return nil
	}
	key := []byte(host)
	var hourly, daily *bbolt.Bucket
	if plan.hourly {
		hourly = tx.Bucket(bucketSummaries).Bucket(key)
	}
	if plan.daily {
		daily = tx.Bucket(bucketDays).Bucket(key)
	}
	for _, run := range plan.runs {
		b := hourly
		if run.daily {
			b = daily // each day wholly inside one bucket
		}
		if b == nil {
			continue
		}
		c := b.Cursor()
		for k, v := c.Seek(run.from); k != nil && bytes.Compare(k, run.to) < 0; k, v = c.Next() {
			h, err := decodeSummary(k, v)
			if err != nil {
				return fmt.Errorf("summary at %x: %w", k, err)
			}
			if i := bk.Index(h.Hour); i >= 0 {
				bk.AddSummary(i, h.Summary)
			}
		}
	}
	rows := 0
	add := func(c store.Check) error {
		bk.Add(c)
		if rows++; rows%65536 == 0 {
			return ctx.Err()
		}
		return nil
	}
	hostBucket := tx.Bucket(bucketResults).Bucket(key)
	for _, sp := range plan.spans {
		it := newRangeIterIn(hostBucket, sp.from, sp.to, recent(tx, host, sp.from, sp.to))
		if err := mergeSlots(it.next, add); err != nil {
			return err
		}
	}
	return nil
}

// DeleteResultsBefore deletes results whose slot is before t: those of the
// recent bucket, then those of each host bucket, then the summaries of the
// hours and the rollups of the days wholly before t, in transactions of
// at most s.sizes.delete deletions; then it summarises the hour it cuts
// again, and rolls up the day it cuts again (summariseCut), so that what
// it keeps stays summarised; then it deletes the finished deliveries
// created before t. No compaction or Summarise runs meanwhile, so no
// result is counted twice.
func (s *Store) DeleteResultsBefore(ctx context.Context, t time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("bolt: delete results: %w", err)
	}
	s.maint.Lock()
	defer s.maint.Unlock()
	to := timeKey(t)
	deleted, err := s.deleteFirst(ctx, to, func(tx *bbolt.Tx) *bbolt.Bucket { return tx.Bucket(bucketRecent) })
	if err != nil {
		return deleted, fmt.Errorf("bolt: delete recent results: %w", err)
	}
	// The host buckets' results, then the summaries of the hours and the
	// rollups of the days that end at t or before (they are not counted);
	// those of the hour and the day cut are replaced by summariseCut.
	for _, del := range []struct {
		top []byte
		to  []byte
	}{
		{bucketResults, to},
		{bucketSummaries, timeKey(store.Hour(t))},
		{bucketDays, timeKey(store.Day(t))},
	} {
		hosts, err := s.subBuckets(ctx, del.top)
		if err != nil {
			return deleted, fmt.Errorf("bolt: delete %s: %w", del.top, err)
		}
		for _, host := range hosts {
			n, err := s.deleteFirst(ctx, del.to, func(tx *bbolt.Tx) *bbolt.Bucket { return tx.Bucket(del.top).Bucket(host) })
			if bytes.Equal(del.top, bucketResults) {
				deleted += n
			}
			if err != nil {
				return deleted, fmt.Errorf("bolt: delete %s of %q: %w", del.top, host, err)
			}
		}
	}
	if err := s.summariseCut(ctx, t); err != nil {
		return deleted, fmt.Errorf("bolt: summarise the hour cut: %w", err)
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		return deleteDeliveries(tx, func(d *store.Delivery) bool {
			return d.Status != store.DeliveryPending && d.Created.Before(t)
		})
	})
	if err != nil {
		return deleted, fmt.Errorf("bolt: delete deliveries: %w", err)
	}
	return deleted, nil
}

// deleteFirst deletes the keys of the bucket that get returns (nil: none),
// from its first key on, while their time is before the time key to, up
// to s.sizes.delete a transaction, so that a large deletion does not hold
// the database in one transaction; it returns how many it deleted.
func (s *Store) deleteFirst(ctx context.Context, to []byte, get func(tx *bbolt.Tx) *bbolt.Bucket) (int64, error) {
	var deleted int64
	keys := make([][]byte, 0, s.sizes.delete)
	for {
		keys = keys[:0]
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			b := get(tx)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < cap(keys) && len(k) >= timeLen && timeBefore(k, to); k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			// Delete once the cursor is done with them: deleting under a
			// cursor moves it.
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
		deleted += int64(len(keys))
		if len(keys) < cap(keys) {
			return deleted, nil
		}
	}
}

// subBuckets lists the names of the sub-buckets of a top-level bucket.
func (s *Store) subBuckets(ctx context.Context, top []byte) ([][]byte, error) {
	var names [][]byte
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(top).ForEachBucket(func(k []byte) error {
			names = append(names, bytes.Clone(k))
			return nil
		})
	})
	return names, err
}
