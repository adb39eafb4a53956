package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/store"
)

// saveLocations raises the stored locations to the newest slots of locs
// (store.SavedLocations's).
func saveLocations(tx *bbolt.Tx, locs []store.Location) error {
	b := tx.Bucket(bucketLocations)
	for _, l := range locs {
		key := locationKey(l.Name)
		if v := b.Get(key); v != nil {
			r := reader{b: v}
			if last := r.time(); r.err == nil && !l.LastSlot.After(last) {
				continue
			}
		}
		if err := b.Put(key, record(nil).time(l.LastSlot)); err != nil {
			return fmt.Errorf("location %q: %w", l.Name, err)
		}
	}
	return nil
}

// locationKey is the key of a location: its name after one byte, since
// bbolt refuses the empty key of the default location "".
func locationKey(name string) []byte { return append([]byte{'@'}, name...) }

// locationsIn lists the stored locations by name; never nil.
func locationsIn(tx *bbolt.Tx) ([]store.Location, error) {
	ls := []store.Location{}
	err := tx.Bucket(bucketLocations).ForEach(func(k, v []byte) error {
		r := reader{b: v}
		l := store.Location{Name: string(k[min(len(k), 1):]), LastSlot: r.time()}
		if len(k) == 0 {
			r.err = errCorrupt
		}
		if r.err != nil {
			return fmt.Errorf("location %q: %w", k, r.err)
		}
		ls = append(ls, l)
		return nil
	})
	return ls, err
}

// alert is SaveRound's alerting (see store.Alerting), in its transaction.
// bbolt has one writer at a time: nothing else writes meanwhile.
func alert(tx *bbolt.Tx, results []store.Result, alerting *store.Alerting) error {
	rules, states := tx.Bucket(bucketRules), tx.Bucket(bucketStates)
	locations, err := locationsIn(tx)
	if err != nil {
		return err
	}
	hosts := alerting.AlertHosts(results)
	in := store.AlertInput{
		Results:   results,
		Rules:     make(map[string]store.Rule, len(hosts)),
		States:    make(map[string]store.State, len(hosts)),
		Locations: locations,
	}
	newest := store.NewestSlot(results)
	from := alerting.StoredFrom(newest)
	los := make(map[string]time.Time, len(hosts)) // each ruled host's first slot of Stored
	for _, host := range hosts {
		key := []byte(host)
		v := rules.Get(key)
		if v == nil { // (a rule's host is stored: DeleteHost deletes both)
			continue
		}
		rl, err := decodeRule(host, v)
		if err != nil {
			return fmt.Errorf("rule of %q: %w", host, err)
		}
		st := store.State{Host: host}
		if v := states.Get(key); v != nil {
			if st, err = decodeState(host, v); err != nil {
				return fmt.Errorf("state of %q: %w", host, err)
			}
		}
		in.Rules[host], in.States[host] = rl, st
		// From the later of from and just after the state's last slot:
		// in the steady state, the save's slot only.
		lo := from
		if !st.LastSlot.Before(lo) {
			lo = st.LastSlot.Add(time.Nanosecond)
		}
		los[host] = lo
	}
	if len(in.Rules) == 0 {
		return nil
	}
	if in.Stored, err = storedIn(tx, los, newest); err != nil {
		return err
	}
	newStates, deliveries := alerting.Decide(in)
	if err := store.CheckDecision(in, newStates, deliveries); err != nil {
		return err
	}
	for _, st := range newStates {
		if err := states.Put([]byte(st.Host), encodeState(st)); err != nil {
			return fmt.Errorf("state of %q: %w", st.Host, err)
		}
	}
	for _, d := range deliveries {
		if _, err := enqueue(tx, d); err != nil {
			return fmt.Errorf("delivery of %q: %w", d.Host, err)
		}
	}
	return nil
}

// storedIn returns, for each host of los, its results from los[host]
// up to newest, by slot then location (AlertInput.Stored). Most hosts
// of a save start at the same slot (the one after the previous round's):
// those are read in one pass of the recent bucket from there, when no
// host bucket holds a result that late (see newestInBuckets); the others
// with a range read each, which seeks in the recent bucket once per slot
// and in the host's bucket.
func storedIn(tx *bbolt.Tx, los map[string]time.Time, newest time.Time) (map[string][]store.Result, error) {
	stored := make(map[string][]store.Result, len(los))
	to := timeKey(newest.Add(time.Nanosecond))
	count := make(map[time.Time]int, 1)
	var start time.Time // the start most hosts share
	for _, lo := range los {
		count[lo]++
		if c := count[lo]; c > count[start] || c == count[start] && lo.Before(start) {
			start = lo
		}
	}
	startKey := timeKey(start)
	batched := make(map[string][]byte, len(los)) // host → its first key, for those the pass reads
	if inBuckets := newestInBuckets(tx); inBuckets == nil || bytes.Compare(inBuckets, startKey) < 0 {
		for host, lo := range los {
			if !lo.Before(start) {
				batched[host] = timeKey(lo)
			}
		}
	}
	var last lastStrings
	if len(batched) > 0 {
		c := tx.Bucket(bucketRecent).Cursor()
		var rk []byte
		for k, v := c.Seek(startKey); k != nil && len(k) >= timeLen && timeBefore(k, to); k, v = c.Next() {
			h, loc, err := recentKeyParts(k)
			if err != nil {
				return nil, fmt.Errorf("recent result %x: %w", k, err)
			}
			lo, ok := batched[string(h)]
			if !ok || bytes.Compare(k[:timeLen], lo) < 0 {
				continue
			}
			rk = append(append(rk[:0], k[:timeLen]...), loc...)
			host := string(h)
			r, err := decodeResult(host, rk, v, &last)
			if err != nil {
				return nil, fmt.Errorf("recent result %x: %w", k, err)
			}
			stored[host] = append(stored[host], r)
		}
	}
	for host, lo := range los {
		if _, ok := batched[host]; ok {
			continue
		}
		var rs []store.Result
		it := newRangeIter(tx, host, timeKey(lo), to)
		for k, v := it.next(); k != nil; k, v = it.next() {
			r, err := decodeResult(host, k, v, &last)
			if err != nil {
				return nil, fmt.Errorf("result of %q at %x: %w", host, k, err)
			}
			rs = append(rs, r)
		}
		stored[host] = rs
	}
	for host := range los {
		if _, ok := stored[host]; !ok {
			stored[host] = nil
		}
	}
	return stored, nil
}

// States lists every stored notification state, by host; never nil.
func (s *Store) States(ctx context.Context) ([]store.State, error) {
	var sts []store.State
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		sts, err = decodeAll(tx.Bucket(bucketStates), 0, func(k, v []byte) (store.State, error) {
			st, err := decodeState(string(k), v)
			if err != nil {
				return st, fmt.Errorf("state of %q: %w", k, err)
			}
			return st, nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: states: %w", err)
	}
	return sts, nil
}

// Deliveries lists up to limit deliveries, every host's or host's, newest
// first: a cursor walks the outbox back from its newest ID.
func (s *Store) Deliveries(ctx context.Context, host string, limit int) ([]store.Delivery, error) {
	ds := []store.Delivery{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketDeliveries).Cursor()
		for k, v := c.Last(); k != nil && len(ds) < limit; k, v = c.Prev() {
			d, err := decodeDelivery(k, v)
			if err != nil {
				return fmt.Errorf("delivery %x: %w", k, err)
			}
			if host == "" || d.Host == host {
				ds = append(ds, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: deliveries: %w", err)
	}
	return ds, nil
}

// Locations lists every location that has saved results, by name; never
// nil.
func (s *Store) Locations(ctx context.Context) ([]store.Location, error) {
	var ls []store.Location
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		ls, err = locationsIn(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: locations: %w", err)
	}
	return ls, nil
}
