package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/store"
)

// A fleet read (store.FleetReader) is one read transaction for every
// host: it reads the recent bucket once (readRecent) rather than seek it
// slot by slot for each host (recentOf: up to recentMaxSlots seeks a
// host), and otherwise reads each host as its own read does (lastCheckIn,
// bucketsIn), so that both answer alike. fn is called inside the
// transaction, which holds up no writer (bbolt's readers do not), only a
// write that must grow the file's mapping: the callers render a page into
// memory, one host at a time.

// recentIn is a recentFunc over the recent bucket read once (readRecent).
func recentIn(byHost recentByHost) recentFunc {
	return func(_ *bbolt.Tx, host string, from, to []byte) []keyValue {
		hr := byHost[host]
		if hr == nil {
			return nil
		}
		lo, _ := slices.BinarySearchFunc(hr.kvs, from, func(kv keyValue, k []byte) int { return bytes.Compare(kv.k, k) })
		hi, _ := slices.BinarySearchFunc(hr.kvs, to, func(kv keyValue, k []byte) int { return bytes.Compare(kv.k, k) })
		return hr.kvs[lo:max(lo, hi):max(lo, hi)]
	}
}

// newestIn is newestSlot with the host's recent results already read: the
// newer of its bucket's last slot and its last recent result's.
func newestIn(tx *bbolt.Tx, host string, recent *hostResults) []byte {
	var newest []byte
	if b := tx.Bucket(bucketResults).Bucket([]byte(host)); b != nil {
		if k, _ := b.Cursor().Last(); len(k) >= timeLen {
			newest = bytes.Clone(k[:timeLen])
		}
	}
	if recent != nil && len(recent.kvs) > 0 {
		if k := recent.kvs[len(recent.kvs)-1].k; len(k) >= timeLen && (newest == nil || bytes.Compare(k[:timeLen], newest) > 0) {
			newest = bytes.Clone(k[:timeLen])
		}
	}
	return newest
}

// fleetView runs fn in one read transaction with every stored host, by
// host, and the recent bucket read once.
func (s *Store) fleetView(ctx context.Context, fn func(tx *bbolt.Tx, hosts []string, recent recentByHost) error) error {
	return s.view(ctx, func(tx *bbolt.Tx) error {
		hosts, err := hostsIn(tx)
		if err != nil {
			return err
		}
		recent, err := readRecent(tx)
		if err != nil {
			return err
		}
		return fn(tx, hosts, recent)
	})
}

// LastChecks calls fn with each host's newest check, by host (see
// store.FleetReader), in one read transaction: the LastCheck cache's
// answer where it has one, else the host's newest slot, as LastCheck
// reads it but with the recent bucket read once; the answers read are
// cached.
func (s *Store) LastChecks(ctx context.Context, fn func(host string, c store.Check) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: last checks: %w", err)
	}
	_, _, gen := s.last.get("")
	err := s.fleetView(ctx, func(tx *bbolt.Tx, hosts []string, recent recentByHost) error {
		fromRecent := recentIn(recent)
		for _, h := range hosts {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, found, _ := s.last.get(h)
			if !found {
				c, ok, err := lastCheckIn(tx, h, newestIn(tx, h, recent[h]), fromRecent)
				if err != nil {
					return fmt.Errorf("last check of %q: %w", h, err)
				}
				v = lastCheck{check: c, ok: ok}
				s.last.put(gen, h, v)
			}
			if !v.ok {
				continue
			}
			if err := fn(h, v.check); err != nil {
				return callerError{err}
			}
		}
		return nil
	})
	return fleetError("last checks", err)
}

// BucketsAll calls fn with each host's buckets, by host (see
// store.FleetReader), in one read transaction: each host's as Buckets
// counts them (bucketsIn), with the recent bucket read once. bs is reused
// from host to host.
func (s *Store) BucketsAll(ctx context.Context, q store.BucketQuery, fn func(host string, bs []store.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: buckets of every host: %w", err)
	}
	bk, err := store.NewBucketerAt(q.Bounds)
	if err != nil {
		return fmt.Errorf("bolt: buckets of every host: %w", err)
	}
	read := func(tx *bbolt.Tx, hosts []string, recent recentFunc) error {
		plan := planIn(tx, bk)
		for _, h := range hosts {
			if err := ctx.Err(); err != nil {
				return err
			}
			bk.Reset()
			if err := bucketsIn(ctx, tx, h, bk, recent, plan); err != nil {
				return fmt.Errorf("buckets of %q: %w", h, err)
			}
			if err := fn(h, bk.Buckets()); err != nil {
				return callerError{err}
			}
		}
		return nil
	}
	asked := q.SortedHosts()
	if asked != nil && len(asked) <= seekRecentMax {
		// A few hosts (a page's): each seeks its recent results, as
		// Buckets does, rather than read every host's.
		err = s.view(ctx, func(tx *bbolt.Tx) error {
			return read(tx, slices.DeleteFunc(asked, func(h string) bool { return !hostStored(tx, h) }), recentOf)
		})
	} else {
		err = s.fleetView(ctx, func(tx *bbolt.Tx, hosts []string, recent recentByHost) error {
			if asked != nil {
				hosts = slices.DeleteFunc(asked, func(h string) bool { return !hostStored(tx, h) })
			}
			return read(tx, hosts, recentIn(recent))
		})
	}
	return fleetError("buckets of every host", err)
}

// seekRecentMax is how many hosts a fleet read of some hosts reads with a
// seek of the recent bucket each (recentOf); for more, reading the whole
// recent bucket once (readRecent) costs less.
const seekRecentMax = 1000

// callerError is an error of a fleet read's fn, returned as it is.
type callerError struct{ err error }

func (e callerError) Error() string { return e.err.Error() }

// fleetError returns fn's error as fn returned it, and the store's own
// errors named as what read.
func fleetError(what string, err error) error {
	var ce callerError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return ce.err
	}
	return fmt.Errorf("bolt: %s: %w", what, err)
}
