package bolt

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/batch"
	"github.com/srvmon/srvmon/pkg/store/internal/timekey"
)

// Restore applies a backup all-or-nothing, at a cost that grows with what
// the backup brings, not with what is stored, and without holding a large
// backup in memory:
//
//   - A backup of at most s.sizes.restore results is buffered, then written
//     in one write transaction straight into the host buckets (see merge).
//   - A larger one is staged: its results are written, s.sizes.restore at a
//     time, each batch in its own write transaction, into a staging bucket
//     "restore.N" laid out like "results" (a sub-bucket per host), which
//     readers never look at. Then one write transaction switches: it
//     replaces the bucket of each staged host that has no stored results by
//     its staged one (Tx.MoveBucket: a pointer change, not a copy) and moves
//     into it the host's results that rounds stored in the recent bucket
//     meanwhile; it merges into their buckets the staged results of the
//     other hosts, those that get the fewest first, up to mergeBatches
//     batches of them, since one transaction holds what it writes in memory
//     until it commits. Only the hosts with stored results past that limit
//     cost what they hold: their stored results are first copied into their
//     staged buckets, which then replace their buckets.
//
// Either way, what is stored wins over the backup, as in SaveRound.
//
// A restore leaves the hours it brings results to summarised, as far as
// summaries reach (meta's "summarised", see summaries.go), so that long
// charts read summaries from the first request after it. Into a store
// that Summarise never ran on and whose host buckets hold nothing (a new
// file), it sets "summarised" itself, to the hour Summarise would reach
// now, and summarises every hour before it, the recent bucket's included.
// (A store that holds results but was never summarised is left to
// Summarise, which starts at its oldest result.) The summaries go in with
// the results, all or nothing: a direct restore summarises in its
// transaction; a staged one summarises, in each staging transaction, the
// hours that batch brings results to, from the pages it has just written
// (so without reading the staged results back from the file), into a
// second staging bucket "restore.N.summaries" (a sub-bucket per host,
// laid out like "summaries"), and rolls up their days again from them
// into a third, "restore.N.days" (laid out like "days"), whose host
// buckets the switch moves in with the results. The hosts whose stored
// results are copied into their staged bucket are summarised again from
// it after the copy, summariseBudget host-hours a transaction. The switch itself summarises
// again only the hours of the hosts it merges and of the recent results
// it moves, so it holds no more in memory than before.
//
// Restore, compaction, retention, Summarise and DeleteHost take s.maint,
// so host buckets, summaries (but for the hours rounds add results to)
// and "summarised" do not change under a restore; rounds go on.
//
// Any error (from Results, emit, the context, a result or rule of an
// unknown host) leaves the store as it was; a cancelled context stops the
// restore at its next result or transaction. A crash leaves the staging bucket behind;
// Open deletes it.
func (s *Store) Restore(ctx context.Context, r store.Restore) error {
	if err := s.restore(ctx, r); err != nil {
		return fmt.Errorf("bolt: restore: %w", err)
	}
	return nil
}

// stagingPrefix begins the name of a staging bucket; Open drops those a
// crash left behind (see dropStaging).
const stagingPrefix = "restore."

// restore is Restore without the error prefix: hosts and rules are
// checked before anything is written, so that a bad backup fails before
// a large restore stages its results.
func (s *Store) restore(ctx context.Context, r store.Restore) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckRestoredMaintenance(r.Maintenance); err != nil {
		return err
	}
	newHosts := make(map[string]bool, len(r.Hosts))
	for _, h := range r.Hosts {
		if err := checkHostName(h); err != nil {
			return err
		}
		newHosts[h] = true
	}
	// Fail early on a rule of an unknown host; the last transaction checks again.
	for _, rl := range r.Rules {
		if newHosts[rl.Host] {
			continue
		}
		if ok, err := s.HostExists(ctx, rl.Host); err != nil || !ok {
			return cmp.Or(err, fmt.Errorf("rule of %q: %w: the host is neither in the backup's hosts nor stored", rl.Host, store.ErrNotFound))
		}
	}
	for _, m := range r.Monitors {
		if newHosts[m.Host] {
			continue
		}
		if ok, err := s.HostExists(ctx, m.Host); err != nil || !ok {
			return cmp.Or(err, fmt.Errorf("settings of %q: %w: the host is neither in the backup's hosts nor stored", m.Host, store.ErrNotFound))
		}
	}
	if r.Results == nil {
		return s.update(ctx, func(tx *bbolt.Tx) error { return applyHostsAndRules(tx, r) })
	}
	s.maint.Lock()
	defer s.maint.Unlock()
	rs := &restorer{s: s, ctx: ctx, newHosts: newHosts, known: map[string]bool{},
		staged: map[string]int{}, touched: store.TouchedHours{}}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		rs.until, rs.first = restoreSummarisedUntil(tx, time.Now())
		return nil
	})
	if err != nil {
		return err
	}
	defer rs.dropStaging()
	b := batch.New(ctx, s.sizes.restore, rs.add, rs.flush)
	if err := b.Run(store.TrackLocations(r.Results, &rs.locs)); err != nil {
		return err
	}
	if rs.staging == nil {
		es := encodeAll(b.Pending(), false)
		return s.update(ctx, func(tx *bbolt.Tx) error {
			if err := applyHostsAndRules(tx, r); err != nil {
				return err
			}
			if err := saveLocations(tx, rs.locs.Locations()); err != nil {
				return err
			}
			if err := merge(ctx, tx, es); err != nil {
				return err
			}
			if err := rs.markSummarised(tx, rs.touched); err != nil {
				return err
			}
			return resummarise(tx, rs.touched, rs.until)
		})
	}
	if err := rs.flush(b.Pending()); err != nil {
		return err
	}
	return rs.finish(r)
}

// restorer is a restore under way: a batch.Batch gives it the results,
// which it stages once they are more than one batch.
type restorer struct {
	s        *Store
	ctx      context.Context
	newHosts map[string]bool // the backup's hosts
	known    map[string]bool // stored hosts seen so far, whether in newHosts or not
	staging  []byte          // the staging bucket, nil until the first batch is full
	staged   map[string]int  // results staged, by host
	touched  store.TouchedHours
	locs     store.LocationSet // the results' locations
	// until is the hour before which the restore summarises the hours it
	// brings (zero: none); first, that it sets meta's "summarised" to it.
	until time.Time
	first bool
}

// add checks that the result's host is the backup's or stored.
func (rs *restorer) add(res store.Result) (store.Result, error) {
	if !rs.newHosts[res.Host] && !rs.known[res.Host] {
		ok, err := rs.s.HostExists(rs.ctx, res.Host)
		switch {
		case err != nil:
			return res, err
		case !ok:
			return res, batch.UnknownHost(res)
		}
		rs.known[res.Host] = true
	}
	rs.touched.Add(res.Host, res.Slot)
	return res, nil
}

// flush stages results, making the staging bucket first.
func (rs *restorer) flush(results []store.Result) error {
	if len(results) == 0 {
		return nil
	}
	if rs.staging == nil {
		err := rs.s.update(rs.ctx, func(tx *bbolt.Tx) error {
			seq, err := tx.Bucket(bucketMeta).NextSequence()
			if err != nil {
				return err
			}
			name := []byte(stagingPrefix + strconv.FormatUint(seq, 10))
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
			rs.staging = name
			return nil
		})
		if err != nil {
			rs.staging = nil
			return err
		}
	}
	for _, r := range results {
		rs.staged[r.Host]++
	}
	es := encodeAll(results, false)
	hours := store.TouchedHours{}
	if !rs.until.IsZero() {
		for _, r := range results {
			if r.Slot.Before(rs.until) {
				hours.Add(r.Host, r.Slot)
			}
		}
	}
	return rs.s.update(rs.ctx, func(tx *bbolt.Tx) error {
		if err := stage(tx.Bucket(rs.staging), es); err != nil {
			return err
		}
		return rs.stageSummaries(tx, hours.Before(rs.until))
	})
}

// stageSummaries summarises the staged results of the spans of hours
// again, into the staged summaries, and rolls up their days wholly before
// rs.until again, into the staged rollups. A flush summarises the hours
// its results go to, from what it has just written (pages in memory, not
// read back from the file): the last flush that adds to an hour leaves
// its summary exact, and the last that adds to a day its rollup.
func (rs *restorer) stageSummaries(tx *bbolt.Tx, spans []store.HostHours) error {
	if len(spans) == 0 {
		return nil
	}
	sums, err := tx.CreateBucketIfNotExists(rs.stagedSummaries())
	if err != nil {
		return err
	}
	days, err := tx.CreateBucketIfNotExists(rs.stagedDays())
	if err != nil {
		return err
	}
	for _, sp := range spans {
		host := []byte(sp.Host)
		var dst *bbolt.Bucket // made at the first summary
		err := hourSummaries(bucketRange(tx.Bucket(rs.staging).Bucket(host), timeKey(sp.Start), timeKey(sp.End)).next,
			func(h store.HourSummary) error {
				if dst == nil {
					var err error
					if dst, err = sums.CreateBucketIfNotExists(host); err != nil {
						return err
					}
					dst.FillPercent = appendFill
				}
				return dst.Put(timeKey(h.Hour), encodeSummary(h.Summary))
			})
		if err != nil {
			return fmt.Errorf("summaries of %q: %w", host, err)
		}
		start, end := store.RolledUpDays(sp.Start, sp.End, rs.until)
		if err := rollUp(days, host, sums.Bucket(host), start, end); err != nil {
			return fmt.Errorf("rollups of %q: %w", host, err)
		}
	}
	return nil
}

// dropStaging deletes the staging buckets, if any: gone already when the
// switch committed; otherwise it undoes the restore.
func (rs *restorer) dropStaging() {
	if rs.staging == nil {
		return
	}
	rs.s.db.Update(func(tx *bbolt.Tx) error { return rs.deleteStaging(tx) })
}

// deleteStaging deletes the staging buckets of results, summaries and
// rollups.
func (rs *restorer) deleteStaging(tx *bbolt.Tx) error {
	for _, name := range [][]byte{rs.staging, rs.stagedSummaries(), rs.stagedDays()} {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
	}
	return nil
}

// stagedSummaries is the name of the bucket that holds the staged
// summaries: a sub-bucket per host, laid out like "summaries". Its name
// begins with stagingPrefix, so that Open drops it too.
func (rs *restorer) stagedSummaries() []byte {
	return append(bytes.Clone(rs.staging), ".summaries"...)
}

// stagedDays is the name of the bucket that holds the staged rollups: a
// sub-bucket per host, laid out like "days".
func (rs *restorer) stagedDays() []byte {
	return append(bytes.Clone(rs.staging), ".days"...)
}

// markSummarised sets meta's "summarised" to rs.until when the restore is
// the first to summarise (rs.first), and notes in touched the hours of
// the recent bucket's results before it, so that every hour before it
// that holds a result is summarised.
func (rs *restorer) markSummarised(tx *bbolt.Tx, touched store.TouchedHours) error {
	if !rs.first {
		return nil
	}
	until := timeKey(rs.until)
	c := tx.Bucket(bucketRecent).Cursor()
	for k, _ := c.First(); k != nil && len(k) >= timeLen && timeBefore(k, until); k, _ = c.Next() {
		host, _, err := splitRecentKey(k)
		if err != nil {
			return fmt.Errorf("recent result %x: %w", k, err)
		}
		touched.Add(host, timekey.Decode(k))
	}
	return tx.Bucket(bucketMeta).Put(keySummarised, until)
}

// mergeBatches is how many batches of results (s.sizes.restore) the switch
// of a staged restore merges into host buckets at most.
const mergeBatches = 4

// How the switch applies a staged host's results.
const (
	hostMove  = iota // the host has no stored results: its staged bucket becomes its bucket
	hostMerge        // its staged results are merged into its bucket
	hostCopy         // its stored results were copied into its staged bucket, which becomes its bucket
)

// finish decides how each staged host's results go in, copies the stored
// results of the hosts that need it, and switches.
func (rs *restorer) finish(r store.Restore) error {
	hosts := slices.Sorted(maps.Keys(rs.staged))
	how := make(map[string]int, len(hosts))
	budget := mergeBatches * rs.s.sizes.restore
	// The hosts that get the fewest results are merged first.
	byCount := slices.Clone(hosts)
	slices.SortStableFunc(byCount, func(a, b string) int { return cmp.Compare(rs.staged[a], rs.staged[b]) })
	err := rs.s.view(rs.ctx, func(tx *bbolt.Tx) error {
		for _, h := range byCount {
			b := tx.Bucket(bucketResults).Bucket([]byte(h))
			switch first, _ := bucketFirst(b); {
			case first == nil:
				how[h] = hostMove
			case rs.staged[h] <= budget:
				how[h] = hostMerge
				budget -= rs.staged[h]
			default:
				how[h] = hostCopy
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// No compaction here: it could fill the bucket of a host to move. The
	// switch moves the recent results of the hosts it moves.
	var copied []string
	for _, h := range hosts {
		if how[h] != hostCopy {
			continue
		}
		copied = append(copied, h)
		if err := rs.copyStored([]byte(h)); err != nil {
			return err
		}
	}
	// The staged summaries of the hosts copied are of the backup's results
	// alone.
	if err := rs.summariseStaged(copied); err != nil {
		return err
	}
	return rs.s.update(rs.ctx, func(tx *bbolt.Tx) error {
		if err := applyHostsAndRules(tx, r); err != nil {
			return err
		}
		if err := saveLocations(tx, rs.locs.Locations()); err != nil {
			return err
		}
		// Summarised again: the merged hosts' hours the backup brings
		// results to, and the hours of the recent results moved.
		again := store.TouchedHours{}
		for _, h := range hosts {
			if how[h] == hostMerge {
				again[h] = rs.touched[h]
			}
		}
		if err := rs.switchHosts(tx, hosts, how, again); err != nil {
			return err
		}
		if err := rs.markSummarised(tx, again); err != nil {
			return err
		}
		return resummarise(tx, again, rs.until)
	})
}

// summariseStaged summarises every hour before rs.until of the staged
// buckets of hosts (each holds all the results the host will have in its
// bucket after the switch) into the staged summaries, at most
// summariseBudget host-hours a transaction.
func (rs *restorer) summariseStaged(hosts []string) error {
	if rs.until.IsZero() || len(hosts) == 0 {
		return nil
	}
	i := 0
	var from time.Time // of hosts[i]; zero: from its first result
	for i < len(hosts) {
		err := rs.s.update(rs.ctx, func(tx *bbolt.Tx) error {
			for budget := summariseBudget; i < len(hosts) && budget > 0; {
				host := []byte(hosts[i])
				src := tx.Bucket(rs.staging).Bucket(host)
				if from.IsZero() {
					from = rs.until
					if k, _ := bucketFirst(src); len(k) >= timeLen && timekey.Decode(k).Before(rs.until) {
						from = store.Hour(timekey.Decode(k))
					}
				}
				to := from.Add(time.Duration(budget) * store.SummarySpan)
				if to.After(rs.until) {
					to = rs.until
				}
				if from.Before(to) {
					if err := rs.ctx.Err(); err != nil {
						return err
					}
					if err := rs.stageSummaries(tx, []store.HostHours{{Host: hosts[i], Start: from, End: to}}); err != nil {
						return err
					}
					budget -= int(to.Sub(from) / store.SummarySpan)
				}
				if from = to; !from.Before(rs.until) {
					i, from = i+1, time.Time{}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// bucketFirst returns the first key of b, nil when b is nil or empty.
func bucketFirst(b *bbolt.Bucket) ([]byte, []byte) {
	if b == nil {
		return nil, nil
	}
	return b.Cursor().First()
}

// copyStored copies the host's stored results into its staged bucket,
// s.sizes.restore a transaction, overwriting the staged ones with the same
// key.
func (rs *restorer) copyStored(host []byte) error {
	var from []byte
	for {
		err := rs.s.update(rs.ctx, func(tx *bbolt.Tx) error {
			var err error
			from, err = copyStored(tx, tx.Bucket(rs.staging).Bucket(host), host, from, rs.s.sizes.restore)
			return err
		})
		if err != nil || from == nil {
			return err
		}
	}
}

// switchHosts applies the staged hosts' results as how says, replaces the
// summaries and rollups of the hosts it moves by their staged ones, notes
// in moved the recent results it moves, and deletes the staging buckets.
func (rs *restorer) switchHosts(tx *bbolt.Tx, hosts []string, how map[string]int, moved store.TouchedHours) error {
	src, results := tx.Bucket(rs.staging), tx.Bucket(bucketResults)
	staged := [][2]*bbolt.Bucket{ // staged summaries and rollups → where they go
		{tx.Bucket(rs.stagedSummaries()), tx.Bucket(bucketSummaries)},
		{tx.Bucket(rs.stagedDays()), tx.Bucket(bucketDays)},
	}
	var movedHosts [][]byte
	for _, h := range hosts {
		host := []byte(h)
		if !hostStored(tx, h) {
			return fmt.Errorf("host %q: %w: deleted during the restore", host, store.ErrNotFound)
		}
		if how[h] == hostMerge {
			if err := mergeBucket(rs.ctx, tx, h, src.Bucket(host)); err != nil {
				return err
			}
			continue
		}
		if results.Bucket(host) != nil {
			if err := results.DeleteBucket(host); err != nil {
				return err
			}
		}
		// The staged bucket has not changed in this transaction: MoveBucket
		// moves a bucket as last committed.
		if err := tx.MoveBucket(host, src, results); err != nil {
			return fmt.Errorf("host %q: %w", host, err)
		}
		movedHosts = append(movedHosts, host)
		// Its summaries and rollups were of what it held; the staged ones
		// are of what it holds now, but for the recent results moved below.
		for _, st := range staged {
			src, dst := st[0], st[1]
			if dst.Bucket(host) != nil {
				if err := dst.DeleteBucket(host); err != nil {
					return err
				}
			}
			if src != nil && src.Bucket(host) != nil {
				if err := tx.MoveBucket(host, src, dst); err != nil {
					return fmt.Errorf("summaries of %q: %w", host, err)
				}
			}
		}
	}
	if err := rs.deleteStaging(tx); err != nil {
		return err
	}
	if err := moveRecent(tx, movedHosts, moved); err != nil {
		return err
	}
	for _, host := range movedHosts {
		if last, _ := results.Bucket(host).Cursor().Last(); last != nil {
			if err := raiseNewest(tx, last); err != nil {
				return err
			}
		}
	}
	return nil
}

// merge writes sorted encoded results into their hosts' buckets, keeping
// what is stored: a result whose key the host's bucket or the recent
// bucket holds already is left out, as is the second of equal keys. It
// stops with the context's error once the context is done.
func merge(ctx context.Context, tx *bbolt.Tx, es []encoded) error {
	for start := 0; start < len(es); {
		end := start + 1
		for end < len(es) && es[end].host == es[start].host {
			end++
		}
		i := start
		err := mergeHost(ctx, tx, es[start].host, func() (k, v []byte) {
			if i == end {
				return nil, nil
			}
			i++
			return es[i-1].key, es[i-1].value
		})
		if err != nil {
			return err
		}
		start = end
	}
	return nil
}

// mergeBucket merges the results of src into the host's bucket, as merge
// does.
func mergeBucket(ctx context.Context, tx *bbolt.Tx, host string, src *bbolt.Bucket) error {
	if src == nil {
		return nil
	}
	c := src.Cursor()
	k, v := c.First()
	return mergeHost(ctx, tx, host, func() ([]byte, []byte) {
		rk, rv := k, v
		if k != nil {
			k, v = c.Next()
		}
		return rk, rv
	})
}

// mergeHost puts the results that next returns, in key order until a nil
// key, into the host's bucket, unless its bucket or the recent bucket
// holds the key already; it raises meta's newest to the last one put.
func mergeHost(ctx context.Context, tx *bbolt.Tx, host string, next func() (k, v []byte)) error {
	if !hostStored(tx, host) {
		return fmt.Errorf("host %q: %w: deleted during the restore", host, store.ErrNotFound)
	}
	b, err := tx.Bucket(bucketResults).CreateBucketIfNotExists([]byte(host))
	if err != nil {
		return fmt.Errorf("host %q: %w", host, err)
	}
	b.FillPercent = appendFill
	recent := tx.Bucket(bucketRecent)
	hp := hostPrefix(host)
	// Keys after the bucket's last one, or outside the times of the recent
	// bucket, are not looked for there: restoring after what is stored, or
	// before the recent results, is the usual case.
	last, _ := b.Cursor().Last()
	last = bytes.Clone(last)
	rc := recent.Cursor()
	rFirst, _ := rc.First()
	rFirst = bytes.Clone(rFirst)
	rLast, _ := rc.Last()
	rLast = bytes.Clone(rLast)
	var rk, newest []byte
	for n := 0; ; n++ {
		k, v := next()
		if k == nil {
			break
		}
		if n%4096 == 4095 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if last != nil && bytes.Compare(k, last) <= 0 && b.Get(k) != nil {
			continue
		}
		if len(rFirst) >= timeLen && len(k) >= timeLen && !timeBefore(k, rFirst) && !timeBefore(rLast, k) {
			if rk = appendRecentKey(rk[:0], hp, k); recent.Get(rk) != nil {
				continue
			}
		}
		// Put keeps the key and value until commit: es holds them, or the
		// staged bucket's pages, which stay valid until then.
		if err := b.Put(k, v); err != nil {
			return fmt.Errorf("host %q: %w", host, err)
		}
		newest = k
		if last == nil || bytes.Compare(k, last) > 0 {
			last = k // a repeated key is looked for
		}
	}
	return raiseNewest(tx, newest)
}

// moveRecent moves the recent results of hosts, stored by rounds during the
// restore, into their buckets, replacing the backup's: what is stored wins.
// It notes each in moved.
func moveRecent(tx *bbolt.Tx, hosts [][]byte, moved store.TouchedHours) error {
	want := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		want[string(h)] = true
	}
	type move struct {
		host  string
		k, rk []byte
		v     []byte
	}
	var moves []move
	recent := tx.Bucket(bucketRecent)
	err := recent.ForEach(func(k, v []byte) error {
		host, rk, err := splitRecentKey(k)
		if err != nil {
			return fmt.Errorf("recent result %x: %w", k, err)
		}
		if want[host] {
			moves = append(moves, move{host, bytes.Clone(k), rk, bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	results := tx.Bucket(bucketResults)
	for _, m := range moves {
		if err := results.Bucket([]byte(m.host)).Put(m.rk, m.v); err != nil {
			return fmt.Errorf("host %q: %w", m.host, err)
		}
		if err := recent.Delete(m.k); err != nil {
			return err
		}
		moved.Add(m.host, timekey.Decode(m.rk))
	}
	return nil
}

// applyHostsAndRules adds the backup's hosts (keeping stored ones), adds
// or replaces its rules and replaces its hosts' settings; rules and
// settings must be of stored hosts.
func applyHostsAndRules(tx *bbolt.Tx, r store.Restore) error {
	hosts, added := tx.Bucket(bucketHosts), store.AddedNow()
	for _, h := range r.Hosts {
		if err := checkHostName(h); err != nil {
			return err
		}
		if hosts.Get([]byte(h)) == nil {
			if err := addHost(tx, h, added); err != nil {
				return err
			}
		}
	}
	for _, rl := range r.Rules {
		if err := putRule(tx, rl); err != nil {
			return err
		}
	}
	for _, m := range r.Monitors {
		if err := putMonitor(tx, m); err != nil {
			return err
		}
	}
	return restoreMaintenance(tx, r.Maintenance)
}

// stage writes sorted encoded results into the staging bucket, keeping the
// first of equal keys.
func stage(staging *bbolt.Bucket, es []encoded) error {
	var (
		b    *bbolt.Bucket
		host string
	)
	for i := range es {
		e := &es[i]
		if b == nil || e.host != host {
			host = e.host
			var err error
			if b, err = staging.CreateBucketIfNotExists([]byte(host)); err != nil {
				return fmt.Errorf("host %q: %w", host, err)
			}
			b.FillPercent = appendFill
		}
		if b.Get(e.key) != nil {
			continue
		}
		if err := b.Put(e.key, e.value); err != nil {
			return fmt.Errorf("host %q: %w", host, err)
		}
	}
	return nil
}

// copyStored copies up to n of host's stored results from key from on into
// dst, overwriting; it returns the key to continue from, nil when done.
func copyStored(tx *bbolt.Tx, dst *bbolt.Bucket, host, from []byte, n int) ([]byte, error) {
	src := tx.Bucket(bucketResults).Bucket(host)
	if src == nil || dst == nil {
		return nil, nil
	}
	dst.FillPercent = appendFill
	c := src.Cursor()
	k, v := c.First()
	if from != nil {
		k, v = c.Seek(from)
	}
	for i := 0; k != nil; k, v = c.Next() {
		if i == n {
			return bytes.Clone(k), nil
		}
		// Put keeps a reference to the value until commit; the mmap'd
		// page it points into stays valid until then.
		if err := dst.Put(k, v); err != nil {
			return nil, fmt.Errorf("host %q: %w", host, err)
		}
		i++
	}
	return nil, nil
}

// keyValue is a copied key and value.
type keyValue struct{ k, v []byte }

// dropStaging deletes the staging buckets of restores that did not finish.
func dropStaging(tx *bbolt.Tx) error {
	var stale [][]byte
	c := tx.Cursor()
	for k, _ := c.Seek([]byte(stagingPrefix)); k != nil && bytes.HasPrefix(k, []byte(stagingPrefix)); k, _ = c.Next() {
		stale = append(stale, bytes.Clone(k))
	}
	for _, k := range stale {
		if err := tx.DeleteBucket(k); err != nil {
			return fmt.Errorf("drop staged restore %q: %w", k, err)
		}
	}
	return nil
}
