package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/timekey"
)

// How the hourly summaries (see store.SummarySpan) stay exact. The
// summaries bucket holds a sub-bucket per host: time(hour) → the summary
// of the host's merged checks in that hour. A summary exists only for an
// hour before the time that meta's "summarised" key holds, and when it
// exists it counts exactly the host's results of that hour, in its bucket
// and in the recent bucket:
//
//   - Summarise summarises, for every host, the hours from "summarised" to
//     the last one that ended store.SummaryMargin before now, in one write
//     transaction, and moves "summarised" on;
//   - a round that stores a result in an hour before "summarised" (late,
//     retried, or from another location) summarises that hour again in its
//     transaction; a restore summarises the hours it brings results to
//     with them, all or nothing, and into a new file, where "summarised"
//     is not set yet, sets it first (see Restore);
//   - retention deletes the summaries of every hour it deletes results of,
//     the hour it cuts included, and DeleteHost deletes the host's.
//
// Summarise holds s.maint, as compaction, restore, retention and
// DeleteHost do, so none of them runs in between.

// summariseBudget bounds one Summarise transaction: it summarises at most
// this many host-hours (about 60 results each at a one-minute interval).
const summariseBudget = 20000

// summaryLen is the length of a summary's value: up, down, min, max and
// sum of the rtt, and (since schema 5) the maintenance count, 8 bytes
// each. A value of schema 4 lacks the maintenance count (summaryLen4): it
// reads as 0, which it is, for no result of schema 4 was in maintenance.
const (
	summaryLen  = 6 * 8
	summaryLen4 = 5 * 8
)

func encodeSummary(s store.Summary) []byte {
	b := make([]byte, 0, summaryLen)
	for _, n := range []int64{s.Up, s.Down, int64(s.MinRTT), int64(s.MaxRTT), int64(s.SumRTT), s.Maintenance} {
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return b
}

func decodeSummary(k, v []byte) (store.HourSummary, error) {
	if len(k) != timeLen || (len(v) != summaryLen && len(v) != summaryLen4) {
		return store.HourSummary{}, errCorrupt
	}
	n := func(i int) int64 {
		if 8*i >= len(v) {
			return 0
		}
		return int64(binary.BigEndian.Uint64(v[8*i:]))
	}
	return store.HourSummary{Hour: timekey.Decode(k), Summary: store.Summary{
		Up: n(0), Down: n(1), MinRTT: time.Duration(n(2)), MaxRTT: time.Duration(n(3)), SumRTT: time.Duration(n(4)),
		Maintenance: n(5),
	}}, nil
}

// summarisedUntil returns the hour before which summaries may exist, the
// zero time when none do.
func summarisedUntil(tx *bbolt.Tx) time.Time {
	if k := tx.Bucket(bucketMeta).Get(keySummarised); len(k) == timeLen {
		return timekey.Decode(k)
	}
	return time.Time{}
}

// summariseHours replaces the host's summaries of the hours in [from, to)
// (whole hours) by summaries of its results there.
func summariseHours(tx *bbolt.Tx, host string, from, to time.Time) error {
	fromKey, toKey := timeKey(from), timeKey(to)
	b := tx.Bucket(bucketSummaries).Bucket([]byte(host)) // made at the first summary
	if b != nil {
		var stale [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(fromKey); k != nil && bytes.Compare(k, toKey) < 0; k, _ = c.Next() {
			stale = append(stale, bytes.Clone(k))
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	err := hourSummaries(newRangeIter(tx, host, fromKey, toKey).next, func(h store.HourSummary) error {
		if b == nil {
			var err error
			if b, err = tx.Bucket(bucketSummaries).CreateBucket([]byte(host)); err != nil {
				return err
			}
		}
		b.FillPercent = appendFill
		return b.Put(timeKey(h.Hour), encodeSummary(h.Summary))
	})
	if err != nil {
		return fmt.Errorf("summaries of %q: %w", host, err)
	}
	return nil
}

// hourSummaries calls put with the summary of each hour of the merged
// checks of the results that next returns in key order (a nil key ends
// them), oldest first; hours without a result are left out.
func hourSummaries(next func() (k, v []byte), put func(store.HourSummary) error) error {
	var (
		cur     store.HourSummary
		counted bool
	)
	err := mergeSlots(next, func(c store.Check) error {
		if h := store.Hour(c.Time); !counted || !h.Equal(cur.Hour) {
			if counted {
				if err := put(cur); err != nil {
					return err
				}
			}
			cur, counted = store.HourSummary{Hour: h}, true
		}
		cur.Add(c)
		return nil
	})
	if err != nil || !counted {
		return err
	}
	return put(cur)
}

// mergeSlots calls fn with the merged check of each slot of the results
// that next returns in key order, until a nil key.
func mergeSlots(next func() (k, v []byte), fn func(store.Check) error) error {
	slot := make([]store.Result, 0, 8) // the results of one slot
	var last []byte                    // its time
	for k, v := next(); k != nil; k, v = next() {
		if len(k) < timeLen || len(v) < resultHead {
			return fmt.Errorf("result at %x: %w", k, errCorrupt)
		}
		if len(slot) > 0 && !bytes.Equal(k[:timeLen], last) {
			if err := fn(store.MergeSlot(slot)); err != nil {
				return err
			}
			slot = slot[:0]
		}
		last = k[:timeLen]
		// Merging needs neither the location nor the reason.
		slot = append(slot, store.Result{
			Slot:        timekey.Decode(k),
			RTT:         time.Duration(binary.BigEndian.Uint64(v[1:])),
			Up:          v[0]&flagUp != 0,
			Maintenance: v[0]&flagMaint != 0,
		})
	}
	if len(slot) > 0 {
		return fn(store.MergeSlot(slot))
	}
	return nil
}

// bucketRange walks the results of one bucket laid out as a host bucket
// (a staged one) in [from, to) (time keys), as a rangeIter without recent
// results.
func bucketRange(b *bbolt.Bucket, from, to []byte) *rangeIter {
	it := &rangeIter{toSec: binary.BigEndian.Uint64(to), toNsec: binary.BigEndian.Uint32(to[8:])}
	if b != nil {
		it.c = b.Cursor()
		it.k, it.v = it.c.Seek(from)
		it.clip()
	}
	return it
}

// resummarise summarises again the hours that touched noted, as far as
// they are before until, of the hosts still stored.
func resummarise(tx *bbolt.Tx, touched store.TouchedHours, until time.Time) error {
	for _, sp := range touched.Before(until) {
		if !hostStored(tx, sp.Host) {
			continue
		}
		if err := summariseHours(tx, sp.Host, sp.Start, sp.End); err != nil {
			return err
		}
	}
	return nil
}

// Summarise summarises the hours that ended store.SummaryMargin before
// now and are not yet, for every host, at most summariseBudget host-hours
// in one write transaction; more reports that hours are left. The first
// call starts at the oldest stored result. It does nothing, and reports
// more, while a compaction, restore, retention run or DeleteHost is under
// way.
func (s *Store) Summarise(ctx context.Context, now time.Time) (more bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("bolt: summarise: %w", err)
	}
	if !s.maint.TryLock() {
		return true, nil
	}
	defer s.maint.Unlock()
	cutoff := store.Hour(now.Add(-store.SummaryMargin))
	// Results of the hours to summarise are read from the host buckets
	// rather than looked for slot by slot in the recent bucket.
	var compact bool
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bucketRecent).Cursor().First()
		compact = k != nil && len(k) >= timeLen && timeBefore(k, timeKey(cutoff))
		return nil
	})
	if err == nil && compact {
		err = s.compact(ctx)
	}
	if err != nil {
		return false, fmt.Errorf("bolt: summarise: %w", err)
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		from := summarisedUntil(tx)
		if from.IsZero() {
			from = cutoff
			if oldest := oldestResult(tx); !oldest.IsZero() && store.Hour(oldest).Before(cutoff) {
				from = store.Hour(oldest)
			}
		}
		if !from.Before(cutoff) {
			if !summarisedUntil(tx).IsZero() {
				return nil
			}
			return tx.Bucket(bucketMeta).Put(keySummarised, timeKey(cutoff))
		}
		var hosts [][]byte
		tx.Bucket(bucketHosts).ForEach(func(k, _ []byte) error {
			hosts = append(hosts, k)
			return nil
		})
		to := from.Add(time.Duration(max(summariseBudget/max(len(hosts), 1), 1)) * store.SummarySpan)
		if to.Before(cutoff) {
			more = true
		} else {
			to = cutoff
		}
		for _, h := range hosts {
			if err := summariseHours(tx, string(h), from, to); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySummarised, timeKey(to))
	})
	if err != nil {
		return false, fmt.Errorf("bolt: summarise: %w", err)
	}
	return more, nil
}

// oldestResult returns the slot of the oldest result stored, the zero time
// when there is none.
func oldestResult(tx *bbolt.Tx) time.Time {
	var oldest []byte
	tx.Bucket(bucketResults).ForEachBucket(func(host []byte) error {
		if k, _ := tx.Bucket(bucketResults).Bucket(host).Cursor().First(); len(k) >= timeLen && (oldest == nil || timeBefore(k, oldest)) {
			oldest = k[:timeLen]
		}
		return nil
	})
	if k, _ := tx.Bucket(bucketRecent).Cursor().First(); len(k) >= timeLen && (oldest == nil || timeBefore(k, oldest)) {
		oldest = k[:timeLen]
	}
	if oldest == nil {
		return time.Time{}
	}
	return timekey.Decode(oldest)
}

// summariesIn appends to hs[:0] the host's summaries of the hours wholly
// inside [start, end), by hour (hs is a buffer that a fleet read reuses
// from host to host).
func summariesIn(tx *bbolt.Tx, host string, start, end time.Time, hs []store.HourSummary) ([]store.HourSummary, error) {
	hs = hs[:0]
	b := tx.Bucket(bucketSummaries).Bucket([]byte(host))
	if b == nil {
		return hs, nil
	}
	lo, hi := store.Hour(start), store.Hour(end)
	if lo.Before(start) {
		lo = lo.Add(store.SummarySpan)
	}
	hiKey := timeKey(hi)
	c := b.Cursor()
	for k, v := c.Seek(timeKey(lo)); k != nil && bytes.Compare(k, hiKey) < 0; k, v = c.Next() {
		h, err := decodeSummary(k, v)
		if err != nil {
			return nil, fmt.Errorf("summary at %x: %w", k, err)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// restoreSummarisedUntil returns the hour before which a restore that
// begins at now summarises the hours it brings results to (zero: none),
// and whether it is the first to summarise, setting meta's "summarised"
// to it: summarisedUntil when it is set; otherwise, when no host bucket
// holds a result (a new file), the hour Summarise would reach at now;
// otherwise zero, and Summarise summarises the store from its oldest
// result on, as it would have.
func restoreSummarisedUntil(tx *bbolt.Tx, now time.Time) (until time.Time, first bool) {
	if until := summarisedUntil(tx); !until.IsZero() {
		return until, false
	}
	results := tx.Bucket(bucketResults)
	empty := true
	results.ForEachBucket(func(host []byte) error {
		if k, _ := results.Bucket(host).Cursor().First(); k != nil {
			empty = false
		}
		return nil
	})
	if !empty {
		return time.Time{}, false
	}
	return store.Hour(now.Add(-store.SummaryMargin)), true
}
