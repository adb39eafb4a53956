package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/store"
)

// Rules lists every rule by host.
func (s *Store) Rules(ctx context.Context) ([]store.Rule, error) {
	var rules []store.Rule
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		rules, err = rulesIn(tx)
		return err
	})
	return rules, err
}

// rulesIn lists the rules tx sees, by host; never nil.
func rulesIn(tx *bbolt.Tx) ([]store.Rule, error) {
	rules, err := decodeAll(tx.Bucket(bucketRules), 0, func(k, v []byte) (store.Rule, error) {
		rl, err := decodeRule(string(k), v)
		if err != nil {
			return rl, fmt.Errorf("rule of %q: %w", k, err)
		}
		return rl, nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: rules: %w", err)
	}
	return rules, nil
}

// Rule returns the host's rule, store.ErrNotFound if it has none.
func (s *Store) Rule(ctx context.Context, host string) (store.Rule, error) {
	var rl store.Rule
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketRules).Get([]byte(host))
		if v == nil || host == "" {
			return store.ErrNotFound
		}
		var err error
		rl, err = decodeRule(host, v)
		return err
	})
	if err != nil {
		return store.Rule{}, fmt.Errorf("bolt: rule of %q: %w", host, err)
	}
	return rl, nil
}

// putRule stores a rule of a stored host.
func putRule(tx *bbolt.Tx, rl store.Rule) error {
	if !hostStored(tx, rl.Host) {
		return fmt.Errorf("rule of %q: %w", rl.Host, store.ErrNotFound)
	}
	return tx.Bucket(bucketRules).Put([]byte(rl.Host), encodeRule(rl))
}

// SetRule adds or replaces the rule of a stored host.
func (s *Store) SetRule(ctx context.Context, rl store.Rule) error {
	if err := s.update(ctx, func(tx *bbolt.Tx) error { return putRule(tx, rl) }); err != nil {
		return fmt.Errorf("bolt: set rule: %w", err)
	}
	return nil
}

// DeleteRule deletes the host's rule and state.
func (s *Store) DeleteRule(ctx context.Context, host string) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		key := []byte(host)
		if host == "" || tx.Bucket(bucketRules).Get(key) == nil {
			return store.ErrNotFound
		}
		if err := tx.Bucket(bucketRules).Delete(key); err != nil {
			return err
		}
		return tx.Bucket(bucketStates).Delete(key)
	})
	if err != nil {
		return fmt.Errorf("bolt: delete rule of %q: %w", host, err)
	}
	return nil
}

// State returns the host's notification state, the zero State when it has
// none.
func (s *Store) State(ctx context.Context, host string) (store.State, error) {
	st := store.State{Host: host}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketStates).Get([]byte(host))
		if v == nil || host == "" {
			return nil
		}
		var err error
		st, err = decodeState(host, v)
		return err
	})
	if err != nil {
		return store.State{}, fmt.Errorf("bolt: state of %q: %w", host, err)
	}
	return st, nil
}

// enqueue stores a new delivery with the next ID of the outbox.
func enqueue(tx *bbolt.Tx, d store.Delivery) (int64, error) {
	b := tx.Bucket(bucketDeliveries)
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	d.ID = int64(seq)
	d.Created, d.NextAttempt = d.Created.UTC(), d.NextAttempt.UTC()
	if d.Status == "" {
		d.Status = store.DeliveryPending
	}
	if err := b.Put(idKey(seq), encodeDelivery(&d)); err != nil {
		return 0, err
	}
	if d.Status == store.DeliveryPending {
		if err := tx.Bucket(bucketDue).Put(dueKey(d.NextAttempt, d.ID), nil); err != nil {
			return 0, err
		}
	}
	return d.ID, nil
}

// deleteDeliveries deletes the deliveries for which match is true, with
// their entries in the due index.
func deleteDeliveries(tx *bbolt.Tx, match func(*store.Delivery) bool) error {
	b, due := tx.Bucket(bucketDeliveries), tx.Bucket(bucketDue)
	var gone []store.Delivery
	err := b.ForEach(func(k, v []byte) error {
		d, err := decodeDelivery(k, v)
		if err != nil {
			return fmt.Errorf("delivery %x: %w", k, err)
		}
		if match(&d) {
			gone = append(gone, d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range gone {
		if err := b.Delete(idKey(uint64(d.ID))); err != nil {
			return err
		}
		if d.Status == store.DeliveryPending {
			if err := due.Delete(dueKey(d.NextAttempt, d.ID)); err != nil {
				return err
			}
		}
	}
	return nil
}

// DueDeliveries lists up to limit pending deliveries due at now, by next
// attempt: a cursor walks the due index from its start.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error) {
	var ds []store.Delivery
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		ds, err = due(tx, now, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: due deliveries: %w", err)
	}
	return ds, nil
}

// ClaimDeliveries claims up to limit deliveries due at now, each its
// host's next one (see store.Store), in one write transaction (bbolt has
// one writer at a time, and one process per file): one more attempt each,
// leased until until.
func (s *Store) ClaimDeliveries(ctx context.Context, now, until time.Time, limit int) ([]store.Delivery, error) {
	var ds []store.Delivery
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		if ds, err = claimable(tx, now, limit); err != nil {
			return err
		}
		for i := range ds {
			next := ds[i]
			next.Attempts++
			next.NextAttempt = until.UTC()
			if err := putDelivery(tx, ds[i], next); err != nil {
				return err
			}
			ds[i] = next
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: claim deliveries: %w", err)
	}
	return ds, nil
}

// due lists up to limit pending deliveries due at now, by next attempt
// and ID; never nil.
func due(tx *bbolt.Tx, now time.Time, limit int) ([]store.Delivery, error) {
	ds := []store.Delivery{}
	b := tx.Bucket(bucketDeliveries)
	c := tx.Bucket(bucketDue).Cursor()
	// Keys up to now's, whatever the ID: time(now) followed by 0xff….
	to := append(timeKey(now), bytes.Repeat([]byte{0xff}, 8)...)
	for k, _ := c.First(); k != nil && len(ds) < limit && bytes.Compare(k, to) <= 0; k, _ = c.Next() {
		if len(k) != timeLen+8 {
			return nil, fmt.Errorf("due key %x: %w", k, errCorrupt)
		}
		id := k[timeLen:]
		d, err := decodeDelivery(id, b.Get(id))
		if err != nil {
			return nil, fmt.Errorf("delivery %x: %w", id, err)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// claimable lists up to limit deliveries that a claim at now may take,
// by next attempt and ID: the due index holds every pending delivery,
// which the picker needs to see to know each host's oldest one.
func claimable(tx *bbolt.Tx, now time.Time, limit int) ([]store.Delivery, error) {
	ds := []store.Delivery{}
	if limit <= 0 {
		return ds, nil
	}
	b := tx.Bucket(bucketDeliveries)
	p := store.NewClaimPicker(now)
	err := tx.Bucket(bucketDue).ForEach(func(k, _ []byte) error {
		if len(k) != timeLen+8 {
			return fmt.Errorf("due key %x: %w", k, errCorrupt)
		}
		id := k[timeLen:]
		d, err := decodeDeliveryHead(id, b.Get(id))
		if err != nil {
			return fmt.Errorf("delivery %x: %w", id, err)
		}
		p.Add(d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range p.Pick(limit) {
		k := idKey(uint64(id))
		d, err := decodeDelivery(k, b.Get(k))
		if err != nil {
			return nil, fmt.Errorf("delivery %d: %w", id, err)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// putDelivery replaces the stored delivery old with next, keeping the due
// index in step.
func putDelivery(tx *bbolt.Tx, old, next store.Delivery) error {
	due := tx.Bucket(bucketDue)
	if old.Status == store.DeliveryPending {
		if err := due.Delete(dueKey(old.NextAttempt, old.ID)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketDeliveries).Put(idKey(uint64(old.ID)), encodeDelivery(&next)); err != nil {
		return err
	}
	if next.Status == store.DeliveryPending {
		return due.Put(dueKey(next.NextAttempt, next.ID), nil)
	}
	return nil
}

// UpdateDelivery records an attempt's outcome on the delivery with d.ID,
// unless it is stale (see store.Store).
func (s *Store) UpdateDelivery(ctx context.Context, d store.Delivery) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if d.ID <= 0 {
			return store.ErrNotFound
		}
		k := idKey(uint64(d.ID))
		v := tx.Bucket(bucketDeliveries).Get(k)
		if v == nil {
			return store.ErrNotFound
		}
		old, err := decodeDelivery(k, v)
		if err != nil {
			return err
		}
		if old.Status != store.DeliveryPending || old.Attempts > d.Attempts {
			return fmt.Errorf("%s, attempts %d; update with attempts %d: %w", old.Status, old.Attempts, d.Attempts, store.ErrStale)
		}
		next := old
		next.Attempts, next.NextAttempt, next.LastError, next.Status = d.Attempts, d.NextAttempt.UTC(), d.LastError, d.Status
		return putDelivery(tx, old, next)
	})
	if err != nil {
		return fmt.Errorf("bolt: update delivery %d: %w", d.ID, err)
	}
	return nil
}
