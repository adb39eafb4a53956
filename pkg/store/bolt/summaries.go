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

// How the hourly summaries (see store.SummarySpan) and the daily rollups
// (see store.DaySpan) stay exact. The summaries bucket holds a sub-bucket
// per host: time(hour) → the summary of the host's merged checks in that
// hour; the days bucket a sub-bucket per host: time(day) → the Merge of
// the host's hourly summaries of that UTC day, in the same 48 bytes
// (encodeSummary). Meta's "summarised" holds the hour they reach. This
// invariant holds between write transactions:
//
//  1. Every hour before "summarised" that holds a result of the host (in
//     its bucket or in the recent bucket) has its summary, which counts
//     exactly the host's results of that hour; no other hour has one. So
//     before "summarised", no summary means no result, and a read never
//     walks results there.
//  2. Every UTC day wholly before "summarised" that has an hourly summary
//     has its rollup, the Merge of the day's summaries; no other day has
//     one.
//
// Every write that changes them keeps both, in its transaction:
//
//   - Summarise summarises, for every host, the hours from "summarised" to
//     the last one that ended store.SummaryMargin before now, at most
//     summariseBudget host-hours a transaction, rolls up the days that
//     "summarised" passes the end of, and moves "summarised" on;
//   - a round that stores a result in an hour before "summarised" (late,
//     retried, or from another location) summarises that hour again, and
//     rolls up its day again when the day is wholly before "summarised"
//     (resummarise); a restore does so for the hours it brings results to,
//     all or nothing, and into a new file, where "summarised" is not set
//     yet, sets it first (see Restore);
//   - retention deletes the summaries of the hours and the rollups of the
//     days wholly before its cut, then summarises the hour it cuts again
//     from the results it keeps, and rolls up the day it cuts again (see
//     summariseCut); DeleteHost deletes the host's;
//   - compaction moves results from the recent bucket into host buckets,
//     which changes no hour's results; Snapshot reads results only;
//   - a file of schema 5 or older, whose retention left the hour it cut
//     without a summary and which has no rollups, gets both once, at Open
//     (see buildDays).
//
// Summarise holds s.maint, as compaction, restore, retention and
// DeleteHost do, so none of them runs in between.
//
// The rollups have their own top-level bucket rather than keys of another
// length among the hours: a read walks a host's days in one run of
// adjacent keys, its hours likewise, and every walk of hours (summarising,
// retention) stays as it was.

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
	if err := deleteKeysIn(b, fromKey, toKey); err != nil {
		return err
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

// deleteKeysIn deletes the keys of b (nil: none) in [from, to).
func deleteKeysIn(b *bbolt.Bucket, from, to []byte) error {
	if b == nil {
		return nil
	}
	var stale [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(from); k != nil && bytes.Compare(k, to) < 0; k, _ = c.Next() {
		stale = append(stale, bytes.Clone(k))
	}
	// Deleted once the cursor is done with them: deleting under a
	// cursor moves it.
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// summariseSpan summarises the host's hours [from, to) (whole hours)
// again, and rolls up again the days they touch that are wholly before
// until.
func summariseSpan(tx *bbolt.Tx, host string, from, to, until time.Time) error {
	if err := summariseHours(tx, host, from, to); err != nil {
		return err
	}
	start, end := store.RolledUpDays(from, to, until)
	if !start.Before(end) {
		return nil // no day to roll up: the usual case of Summarise
	}
	return rollUp(tx.Bucket(bucketDays), []byte(host), tx.Bucket(bucketSummaries).Bucket([]byte(host)), start, end)
}

// rollUp replaces the host's rollups of the days [from, to) (whole UTC
// days) in days (a bucket laid out like the days bucket: a sub-bucket per
// host, made at its first rollup) by the Merge of each day's hourly
// summaries in sums (the host's sub-bucket of summaries, nil when it has
// none); a day without a summary gets no rollup.
func rollUp(days *bbolt.Bucket, host []byte, sums *bbolt.Bucket, from, to time.Time) error {
	if !from.Before(to) {
		return nil
	}
	fromKey, toKey := timeKey(from), timeKey(to)
	b := days.Bucket(host)
	if err := deleteKeysIn(b, fromKey, toKey); err != nil {
		return err
	}
	if sums == nil {
		return nil
	}
	var (
		day     time.Time
		sum     store.Summary
		counted bool
	)
	put := func() error {
		if b == nil {
			var err error
			if b, err = days.CreateBucket(host); err != nil {
				return err
			}
		}
		b.FillPercent = appendFill
		return b.Put(timeKey(day), encodeSummary(sum))
	}
	c := sums.Cursor()
	for k, v := c.Seek(fromKey); k != nil && bytes.Compare(k, toKey) < 0; k, v = c.Next() {
		h, err := decodeSummary(k, v)
		if err != nil {
			return fmt.Errorf("summary of %q at %x: %w", host, k, err)
		}
		if d := store.Day(h.Hour); !counted || !d.Equal(day) {
			if counted {
				if err := put(); err != nil {
					return err
				}
			}
			day, sum, counted = d, store.Summary{}, true
		}
		sum.Merge(h.Summary)
	}
	if !counted {
		return nil
	}
	return put()
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
// they are before until, of the hosts still stored, and rolls up again
// their days wholly before until (see summariseSpan).
func resummarise(tx *bbolt.Tx, touched store.TouchedHours, until time.Time) error {
	for _, sp := range touched.Before(until) {
		if !hostStored(tx, sp.Host) {
			continue
		}
		if err := summariseSpan(tx, sp.Host, sp.Start, sp.End, until); err != nil {
			return err
		}
	}
	return nil
}

// Summarise summarises the hours that ended store.SummaryMargin before
// now and are not yet, for every host, at most summariseBudget host-hours
// in one write transaction, with the rollups of the days it completes;
// more reports that hours are left. The first
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
		// The days that end in (from, to] are rolled up: reading a day's
		// 24 summaries costs less than summarising one hour of results.
		for _, h := range hosts {
			if err := summariseSpan(tx, string(h), from, to, to); err != nil {
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

// summariseCut summarises again, for every stored host, the hour that a
// retention run cut at t (the hour that holds t, when t is not on the
// hour) from the results it kept, and rolls up again the day it cut (the
// day that holds t, when t is not midnight) from the hours it kept, as far
// as they are before "summarised": the summaries of the hours and the
// rollups of the days wholly before t are deleted already. It writes
// s.sizes.compact hosts a transaction (an hour of results and a day's
// summaries each). A round that adds a result to the cut hour meanwhile
// summarises it itself.
func (s *Store) summariseCut(ctx context.Context, t time.Time) error {
	t = t.UTC()
	if t.Equal(store.Day(t)) {
		return nil // neither an hour nor a day cut
	}
	var hosts []string
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if until := summarisedUntil(tx); until.IsZero() || !store.Hour(t).Before(until) {
			return nil // the cut hour is not summarised, nor its day rolled up
		}
		var err error
		hosts, err = hostsIn(tx)
		return err
	})
	if err != nil {
		return err
	}
	hour := store.Hour(t)
	for len(hosts) > 0 {
		n := min(len(hosts), max(s.sizes.compact, 1))
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			until := summarisedUntil(tx)
			for _, h := range hosts[:n] {
				if !hostStored(tx, h) {
					continue
				}
				if err := summariseSpan(tx, h, hour, hour.Add(store.SummarySpan), until); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		hosts = hosts[n:]
	}
	return nil
}

// keyBuildDays is set in meta, by the Open that upgrades a file of schema
// 5 or older, until buildDays has finished.
var keyBuildDays = []byte("builddays")

// buildDays establishes the invariant of summaries and rollups (see the
// top of this file) in a file of schema 5 or older, once: it summarises
// each host's oldest hour when it is before "summarised" (an older
// retention left the hour it cut without a summary), then rolls up every
// day wholly before "summarised", hosts after hosts, about summariseBudget
// days a transaction, and clears keyBuildDays in the last. It runs at
// Open, before anything else uses the file; a crash midway leaves the key
// set, and the next Open builds again, which gives the same rollups.
func (s *Store) buildDays(ctx context.Context) error {
	var (
		hosts  []string
		oldest = map[string]time.Time{} // the hour of each host's oldest result
		until  time.Time
	)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(keyBuildDays) == nil {
			return nil
		}
		var err error
		if hosts, err = hostsIn(tx); err != nil {
			return err
		}
		until = summarisedUntil(tx)
		// The recent bucket is in time order: a host's first key there
		// is its oldest recent result.
		err = tx.Bucket(bucketRecent).ForEach(func(k, _ []byte) error {
			host, _, err := splitRecentKey(k)
			if err != nil {
				return fmt.Errorf("recent result %x: %w", k, err)
			}
			if _, ok := oldest[host]; !ok {
				oldest[host] = store.Hour(timekey.Decode(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, h := range hosts {
			if k, _ := bucketFirst(tx.Bucket(bucketResults).Bucket([]byte(h))); len(k) >= timeLen {
				if o, ok := oldest[h]; !ok || timekey.Decode(k).Before(o) {
					oldest[h] = store.Hour(timekey.Decode(k))
				}
			}
		}
		return nil
	})
	if err != nil || hosts == nil {
		return err
	}
	lastDay := store.Day(until)
	for i := 0; ; {
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			for budget := summariseBudget; i < len(hosts) && budget > 0; i++ {
				host := []byte(hosts[i])
				if o, ok := oldest[hosts[i]]; ok && o.Before(until) {
					if err := summariseHours(tx, hosts[i], o, o.Add(store.SummarySpan)); err != nil {
						return err
					}
				}
				sums := tx.Bucket(bucketSummaries).Bucket(host)
				first, _ := bucketFirst(sums)
				if len(first) < timeLen {
					continue
				}
				from := store.Day(timekey.Decode(first))
				if err := rollUp(tx.Bucket(bucketDays), host, sums, from, lastDay); err != nil {
					return err
				}
				budget -= int(lastDay.Sub(from) / store.DaySpan)
			}
			if i < len(hosts) {
				return nil
			}
			return tx.Bucket(bucketMeta).Delete(keyBuildDays)
		})
		if err != nil {
			return fmt.Errorf("roll up the days of a schema 5 file: %w", err)
		}
		if i == len(hosts) {
			return nil
		}
	}
}
