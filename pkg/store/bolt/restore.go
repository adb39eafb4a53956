package bolt

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/srvmon/srvmon/pkg/store"
)

// Restore applies a backup all-or-nothing without holding it in memory, in
// three steps:
//
//  1. Stage. The results are written, s.sizes.restore at a time, each batch in
//     its own write transaction, into a staging bucket "restore.N" laid out
//     like "results" (a sub-bucket per host). Readers never look there.
//  2. Pre-merge. The recent bucket is compacted; then, for each staged host
//     that already has results, its stored results are copied into its
//     staged bucket, in transactions of s.sizes.restore, overwriting staged
//     ones with the same key (what is stored wins, as in SaveRound).
//  3. Switch, in one write transaction: add the hosts, check and set the
//     rules, replace each host's bucket by its staged one (Tx.MoveBucket: a
//     pointer change, not a copy), move into it the host's results that
//     rounds stored in the recent bucket since step 2, and summarise again
//     the host's summarised hours (see summaries.go).
//
// Compaction, retention and DeleteHost wait for a restore (s.maint), so
// host buckets do not change between steps 2 and 3; rounds go on.
//
// Any error (from Results, emit, the context, a result or rule of an
// unknown host) deletes the staging bucket and leaves the store as it was.
// A crash leaves the staging bucket behind; Open deletes it. Memory holds
// one batch, whatever the size of the backup, and the switch writes little.
func (s *Store) Restore(ctx context.Context, r store.Restore) error {
	if err := s.restore(ctx, r); err != nil {
		return fmt.Errorf("bolt: restore: %w", err)
	}
	return nil
}

const stagingPrefix = "restore."

func (s *Store) restore(ctx context.Context, r store.Restore) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	newHosts := make(map[string]bool, len(r.Hosts))
	for _, h := range r.Hosts {
		if err := checkHostName(h); err != nil {
			return err
		}
		newHosts[h] = true
	}
	// Fail early on a rule of an unknown host; the switch checks again.
	for _, rl := range r.Rules {
		if newHosts[rl.Host] {
			continue
		}
		if ok, err := s.HostExists(ctx, rl.Host); err != nil || !ok {
			return cmp.Or(err, fmt.Errorf("rule of %q: %w: the host is neither in the backup's hosts nor stored", rl.Host, store.ErrNotFound))
		}
	}
	if r.Results == nil {
		return s.update(ctx, func(tx *bbolt.Tx) error { return applyHostsAndRules(tx, r) })
	}
	// No compaction, retention or DeleteHost changes host buckets until
	// the switch: what step 2 copies is what the switch replaces.
	s.maint.Lock()
	defer s.maint.Unlock()

	// Step 1: stage.
	var staging []byte
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		seq, err := tx.Bucket(bucketMeta).NextSequence()
		if err != nil {
			return err
		}
		staging = []byte(stagingPrefix + strconv.FormatUint(seq, 10))
		_, err = tx.CreateBucket(staging)
		return err
	})
	if err != nil {
		return err
	}
	defer func() {
		// Gone already when the switch committed; otherwise undo.
		s.db.Update(func(tx *bbolt.Tx) error {
			if err := tx.DeleteBucket(staging); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
			return nil
		})
	}()

	known := map[string]bool{} // stored hosts seen so far, whether in newHosts or not
	batch := make([]store.Result, 0, s.sizes.restore)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		es := encodeAll(batch, false)
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			return stage(tx.Bucket(staging), es)
		})
		batch = batch[:0]
		return err
	}
	var emitErr error // the first error emit returned sticks, even if Results ignores it
	emit := func(res store.Result) error {
		if emitErr != nil {
			return emitErr
		}
		if err := ctx.Err(); err != nil {
			emitErr = err
			return err
		}
		if !newHosts[res.Host] && !known[res.Host] {
			ok, err := s.HostExists(ctx, res.Host)
			switch {
			case err != nil:
				emitErr = err
			case !ok:
				emitErr = fmt.Errorf("result of %q at %v: %w: the host is neither in the backup's hosts nor stored", res.Host, res.Slot, store.ErrNotFound)
			}
			if emitErr != nil {
				return emitErr
			}
			known[res.Host] = true
		}
		batch = append(batch, res)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				emitErr = err
				return err
			}
		}
		return nil
	}
	if err := r.Results(ctx, emit); err != nil {
		return err
	}
	if emitErr != nil {
		return emitErr
	}
	if err := flush(); err != nil {
		return err
	}

	// Step 2: pre-merge what is stored, the recent results compacted first.
	if err := s.compact(ctx); err != nil {
		return err
	}
	var staged [][]byte
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(staging).ForEachBucket(func(k []byte) error {
			staged = append(staged, bytes.Clone(k))
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, host := range staged {
		var from []byte
		for {
			err := s.update(ctx, func(tx *bbolt.Tx) error {
				var err error
				from, err = copyStored(tx, tx.Bucket(staging).Bucket(host), host, from, s.sizes.restore)
				return err
			})
			if err != nil {
				return err
			}
			if from == nil {
				break
			}
		}
	}

	// Step 3: switch.
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if err := applyHostsAndRules(tx, r); err != nil {
			return err
		}
		src, results := tx.Bucket(staging), tx.Bucket(bucketResults)
		for _, host := range staged {
			if !hostStored(tx, string(host)) {
				return fmt.Errorf("host %q: %w: deleted during the restore", host, store.ErrNotFound)
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
		}
		if err := tx.DeleteBucket(staging); err != nil {
			return err
		}
		if err := moveRecent(tx, staged); err != nil {
			return err
		}
		touched := store.TouchedHours{}
		for _, host := range staged {
			c := results.Bucket(host).Cursor()
			first, _ := c.First()
			last, _ := c.Last()
			if len(first) < timeLen || len(last) < timeLen {
				continue
			}
			if err := raiseNewest(tx, last); err != nil {
				return err
			}
			touched.Add(string(host), getTime(first))
			touched.Add(string(host), getTime(last))
		}
		return resummarise(tx, touched, summarisedUntil(tx))
	})
}

// moveRecent moves the recent results of hosts, stored by rounds during the
// restore, into their buckets, replacing the backup's: what is stored wins.
func moveRecent(tx *bbolt.Tx, hosts [][]byte) error {
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
	}
	return nil
}

// applyHostsAndRules adds the backup's hosts (keeping stored ones) and adds
// or replaces its rules, which must be of stored hosts.
func applyHostsAndRules(tx *bbolt.Tx, r store.Restore) error {
	hosts := tx.Bucket(bucketHosts)
	for _, h := range r.Hosts {
		if err := checkHostName(h); err != nil {
			return err
		}
		if hosts.Get([]byte(h)) == nil {
			if err := hosts.Put([]byte(h), []byte{hostPresent}); err != nil {
				return err
			}
		}
	}
	for _, rl := range r.Rules {
		if err := putRule(tx, rl); err != nil {
			return err
		}
	}
	return nil
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
