package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/settingsdoc"
	"github.com/srvmon/srvmon/pkg/store/internal/timekey"
)

// A host's settings are one JSON document in the monitors bucket (see
// package settingsdoc), absent for a host without settings; the
// pushtokens bucket indexes their push tokens; the facts bucket holds the
// facts of each host that has any:
//
//	time(cert expiry) + time(last push) + time(added) + flags + last push's reason
//
// where flags is one byte, factLastPushUp set when the last push said up.
// Schema version 3 wrote only the first two times: such a value reads
// with Added and the last push's verdict zero.
const (
	factsLenV3     = 2 * timeLen
	factsLen       = 3*timeLen + 1 // without the reason
	factLastPushUp = 1
)

// Monitors lists every host as a monitor, by host, in one read of the
// hosts and monitors buckets; never nil.
func (s *Store) Monitors(ctx context.Context) ([]monitor.Monitor, error) {
	var ms []monitor.Monitor
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		ms, err = monitorsIn(tx)
		return err
	})
	return ms, err
}

// monitorsIn lists the monitors tx sees: both buckets are in host order,
// so one cursor walks the monitors bucket along the hosts.
func monitorsIn(tx *bbolt.Tx) ([]monitor.Monitor, error) {
	ms := make([]monitor.Monitor, 0, countKeys(tx.Bucket(bucketHosts)))
	c := tx.Bucket(bucketMonitors).Cursor()
	mk, mv := c.First()
	err := tx.Bucket(bucketHosts).ForEach(func(k, _ []byte) error {
		for mk != nil && bytes.Compare(mk, k) < 0 {
			mk, mv = c.Next() // settings of a host that is gone: never written so
		}
		var doc []byte
		if bytes.Equal(mk, k) {
			doc = mv
		}
		m, err := settingsdoc.Decode(string(k), doc)
		if err != nil {
			return err
		}
		ms = append(ms, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: monitors: %w", err)
	}
	return ms, nil
}

// countKeys counts the keys of b with a cursor, which reads only the
// leaf pages (Bucket.Stats walks and sums every page), so that a list of
// 10,000 monitors or facts is allocated once rather than grown: growing
// copies it, pointers and all, about twice over.
func countKeys(b *bbolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

// decodeAll decodes every value of b, in key order, with decode, into a
// slice of capacity n at first; never nil. decode's error stops it and is
// returned as it is.
func decodeAll[T any](b *bbolt.Bucket, n int, decode func(k, v []byte) (T, error)) ([]T, error) {
	all := make([]T, 0, n)
	err := b.ForEach(func(k, v []byte) error {
		x, err := decode(k, v)
		if err != nil {
			return err
		}
		all = append(all, x)
		return nil
	})
	return all, err
}

// Monitor returns the host's monitor; ErrNotFound if it is not stored.
func (s *Store) Monitor(ctx context.Context, host string) (monitor.Monitor, error) {
	var m monitor.Monitor
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if !hostStored(tx, host) {
			return store.ErrNotFound
		}
		var err error
		m, err = monitorIn(tx, []byte(host))
		return err
	})
	if err != nil {
		return monitor.Monitor{}, fmt.Errorf("bolt: monitor %q: %w", host, err)
	}
	return m, nil
}

// monitorIn returns the monitor of a stored host.
func monitorIn(tx *bbolt.Tx, host []byte) (monitor.Monitor, error) {
	return settingsdoc.Decode(string(host), tx.Bucket(bucketMonitors).Get(host))
}

// PutMonitor adds m's host if needed and replaces its settings and source.
func (s *Store) PutMonitor(ctx context.Context, m monitor.Monitor) (bool, error) {
	if err := checkHostName(m.Host); err != nil {
		return false, err
	}
	var created bool
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if !hostStored(tx, m.Host) {
			if err := addHost(tx, m.Host, store.AddedNow()); err != nil {
				return err
			}
			created = true
		}
		return putMonitor(tx, m)
	})
	if err != nil {
		return false, fmt.Errorf("bolt: put monitor %q: %w", m.Host, err)
	}
	return created, nil
}

// addHost stores host, which is not stored, with its Facts.Added.
func addHost(tx *bbolt.Tx, host string, added time.Time) error {
	if err := tx.Bucket(bucketHosts).Put([]byte(host), []byte{hostPresent}); err != nil {
		return err
	}
	return tx.Bucket(bucketFacts).Put([]byte(host), encodeFacts(store.Facts{Added: added}))
}

// putMonitor replaces the settings and source of m's host, which is
// stored, keeping the push token index; store.ErrExists when m's push
// token is another host's.
func putMonitor(tx *bbolt.Tx, m monitor.Monitor) error {
	key := []byte(m.Host)
	if !hostStored(tx, m.Host) {
		return fmt.Errorf("settings of %q: %w", m.Host, store.ErrNotFound)
	}
	tokens := tx.Bucket(bucketPushTokens)
	if m.PushToken != "" {
		if owner := tokens.Get([]byte(m.PushToken)); owner != nil && !bytes.Equal(owner, key) {
			return fmt.Errorf("settings of %q: push token: %w", m.Host, store.ErrExists)
		}
	}
	if err := deleteMonitor(tx, key); err != nil {
		return err
	}
	if !settingsdoc.Stored(m) {
		return nil
	}
	doc, err := settingsdoc.Encode(m)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketMonitors).Put(key, doc); err != nil {
		return err
	}
	if m.PushToken == "" {
		return nil
	}
	if len(m.PushToken) > bbolt.MaxKeySize {
		return fmt.Errorf("settings of %q: push token of %d bytes is longer than %d", m.Host, len(m.PushToken), bbolt.MaxKeySize)
	}
	return tokens.Put([]byte(m.PushToken), key)
}

// deleteMonitor deletes the host's settings and its push token.
func deleteMonitor(tx *bbolt.Tx, host []byte) error {
	old, err := monitorIn(tx, host)
	if err != nil {
		return err
	}
	if old.PushToken != "" {
		tokens := tx.Bucket(bucketPushTokens)
		if bytes.Equal(tokens.Get([]byte(old.PushToken)), host) {
			if err := tokens.Delete([]byte(old.PushToken)); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bucketMonitors).Delete(host)
}

// hostOfToken returns the host whose push token is token, nil if none.
func hostOfToken(tx *bbolt.Tx, token string) []byte {
	if token == "" || len(token) > bbolt.MaxKeySize {
		return nil
	}
	return tx.Bucket(bucketPushTokens).Get([]byte(token))
}

// MonitorByPushToken returns the monitor whose push token is token.
func (s *Store) MonitorByPushToken(ctx context.Context, token string) (monitor.Monitor, error) {
	var m monitor.Monitor
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		host := hostOfToken(tx, token)
		if host == nil {
			return store.ErrNotFound
		}
		var err error
		m, err = monitorIn(tx, host)
		return err
	})
	if err != nil {
		return monitor.Monitor{}, fmt.Errorf("bolt: push token: %w", err)
	}
	return m, nil
}

// Facts lists the facts of every host that has any, by host; never nil.
func (s *Store) Facts(ctx context.Context) ([]store.Facts, error) {
	var fs []store.Facts
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFacts)
		var err error
		fs, err = decodeAll(b, countKeys(b), decodeFacts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: facts: %w", err)
	}
	return fs, nil
}

// decodeFacts decodes a value of the facts bucket, of schema version 3 or
// later (see above).
func decodeFacts(host, v []byte) (store.Facts, error) {
	if len(v) != factsLenV3 && (len(v) < factsLen || v[3*timeLen]&^factLastPushUp != 0) {
		return store.Facts{}, fmt.Errorf("facts of %q: %w", host, errCorrupt)
	}
	f := store.Facts{Host: string(host), CertExpiry: decodeFactTime(v[:timeLen]), LastPush: decodeFactTime(v[timeLen:])}
	if len(v) == factsLenV3 {
		return f, nil
	}
	f.Added = decodeFactTime(v[2*timeLen:])
	f.LastPushUp = v[3*timeLen]&factLastPushUp != 0
	if len(v) > factsLen {
		f.LastPushReason = string(v[factsLen:])
	}
	return f, nil
}

// decodeFactTime decodes a time of facts, skipping timekey.Decode's
// conversions for the zero time, the most common one.
func decodeFactTime(b []byte) time.Time {
	if bytes.Equal(b[:timeLen], zeroFactTime[:]) {
		return time.Time{}
	}
	return timekey.Decode(b)
}

// zeroFactTime is the encoding of the zero time.
var zeroFactTime = [timeLen]byte(timekey.Append(nil, time.Time{}))

// encodeFacts returns f's value in the facts bucket.
func encodeFacts(f store.Facts) []byte {
	v := make([]byte, factsLen, factsLen+len(f.LastPushReason))
	timekey.Put(v[:timeLen], f.CertExpiry)
	timekey.Put(v[timeLen:], f.LastPush)
	timekey.Put(v[2*timeLen:], f.Added)
	if f.LastPushUp {
		v[3*timeLen] = factLastPushUp
	}
	return append(v, f.LastPushReason...)
}

// updateFacts changes the facts of a stored host with fn, writing them
// only when they changed (a round seldom changes a certificate's expiry).
func updateFacts(tx *bbolt.Tx, host string, fn func(*store.Facts)) error {
	b, key := tx.Bucket(bucketFacts), []byte(host)
	f := store.Facts{Host: host}
	old := b.Get(key)
	if v := old; v != nil {
		var err error
		if f, err = decodeFacts(key, v); err != nil {
			return err
		}
	}
	fn(&f)
	v := encodeFacts(f)
	if bytes.Equal(v, old) {
		return nil
	}
	return b.Put(key, v)
}

// recordCertExpiries records the non-zero CertExpiry of each result of a
// stored host as its host's facts; the last result of a host wins.
func recordCertExpiries(tx *bbolt.Tx, results []store.Result) error {
	for i := range results {
		r := &results[i]
		if r.CertExpiry.IsZero() || !hostStored(tx, r.Host) {
			continue
		}
		expiry := r.CertExpiry.UTC()
		if err := updateFacts(tx, r.Host, func(f *store.Facts) { f.CertExpiry = expiry }); err != nil {
			return fmt.Errorf("facts of %q: %w", r.Host, err)
		}
	}
	return nil
}

// RecordPush stores a push's result as SaveRound does and raises the
// host's last push, in one write transaction.
func (s *Store) RecordPush(ctx context.Context, token string, at time.Time, r store.Result, alerting *store.Alerting) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("bolt: record push: %w", err)
	}
	var host string
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		h := hostOfToken(tx, token)
		if h == nil {
			return fmt.Errorf("push token: %w", store.ErrNotFound)
		}
		host = string(h)
		at := at.UTC()
		err := updateFacts(tx, host, func(f *store.Facts) {
			if at.After(f.LastPush) {
				f.LastPush, f.LastPushUp, f.LastPushReason = at, r.Up, r.Reason
			}
		})
		if err != nil {
			return err
		}
		r.Host = host
		results := []store.Result{r}
		return saveIn(tx, encodeAll(results, true), results, alerting)
	})
	if err != nil {
		return "", fmt.Errorf("bolt: record push: %w", err)
	}
	if err := s.compactIfFull(ctx); err != nil {
		return host, fmt.Errorf("bolt: push to %q recorded, but compacting recent results failed: %w", host, err)
	}
	return host, nil
}

func (sn snapshot) Monitors(ctx context.Context) ([]monitor.Monitor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return monitorsIn(sn.tx)
}
