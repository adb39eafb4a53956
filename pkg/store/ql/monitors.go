package ql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/settingsdoc"
	"github.com/srvmon/srvmon/pkg/store/internal/timekey"
)

// A host's settings are one row of monitors (see package settingsdoc),
// absent for a host without settings; its push_token column ("" for none)
// is the push token index, unique because only PutMonitor and Restore
// write it, in a transaction, which holds the whole database. A host's
// facts are one row of facts, its times as timekey strings ("" for zero;
// added is NULL in a row from schema version 2, as are last_push_up and
// last_push_reason).

// Monitors lists every host as a monitor, by host: two queries, whatever
// the number of hosts; never nil.
func (s *Store) Monitors(ctx context.Context) ([]monitor.Monitor, error) {
	var ms []monitor.Monitor
	err := s.do(ctx, func(q queryer) error {
		docs := map[string][]byte{}
		err := query(ctx, q, `SELECT host, settings FROM monitors`, nil, func(rows *sql.Rows) error {
			var (
				h   string
				doc []byte
			)
			if err := rows.Scan(&h, &doc); err != nil {
				return err
			}
			docs[h] = doc
			return nil
		})
		if err != nil {
			return err
		}
		ms = []monitor.Monitor{}
		return query(ctx, q, `SELECT name FROM hosts ORDER BY name`, nil, func(rows *sql.Rows) error {
			var h string
			if err := rows.Scan(&h); err != nil {
				return err
			}
			m, err := settingsdoc.Decode(h, docs[h])
			ms = append(ms, m)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ql: monitors: %w", err)
	}
	return ms, nil
}

// Monitor returns the host's monitor; ErrNotFound if it is not stored.
func (s *Store) Monitor(ctx context.Context, host string) (monitor.Monitor, error) {
	var m monitor.Monitor
	err := s.do(ctx, func(q queryer) error {
		if _, err := hostID(ctx, q, host); err != nil {
			return err
		}
		var err error
		m, err = monitorOf(ctx, q, host)
		return err
	})
	if err != nil {
		return monitor.Monitor{}, fmt.Errorf("ql: monitor %q: %w", host, err)
	}
	return m, nil
}

// monitorOf returns the monitor of a stored host.
func monitorOf(ctx context.Context, q queryer, host string) (monitor.Monitor, error) {
	var doc []byte
	if _, err := queryOne(ctx, q, `SELECT settings FROM monitors WHERE host == $1`, []any{host}, &doc); err != nil {
		return monitor.Monitor{}, err
	}
	return settingsdoc.Decode(host, doc)
}

// PutMonitor adds m's host if needed and replaces its settings and source.
func (s *Store) PutMonitor(ctx context.Context, m monitor.Monitor) (bool, error) {
	if err := checkHostName(m.Host); err != nil {
		return false, err
	}
	var created bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if created, err = addHost(ctx, tx, m.Host, store.AddedNow()); err != nil {
			return err
		}
		return putMonitor(ctx, tx, m)
	})
	if err != nil {
		return false, fmt.Errorf("ql: put monitor %q: %w", m.Host, err)
	}
	return created, nil
}

// putMonitor replaces the settings and source of m's host, which must be
// stored; store.ErrExists when m's push token is another host's.
func putMonitor(ctx context.Context, tx *sql.Tx, m monitor.Monitor) error {
	if _, err := hostID(ctx, tx, m.Host); err != nil {
		return fmt.Errorf("settings of %q: %w", m.Host, err)
	}
	if m.PushToken != "" {
		owner, err := hostOfToken(ctx, tx, m.PushToken)
		if err == nil && owner != m.Host {
			return fmt.Errorf("settings of %q: push token: %w", m.Host, store.ErrExists)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM monitors WHERE host == $1`, m.Host); err != nil {
		return err
	}
	if !settingsdoc.Stored(m) {
		return nil
	}
	doc, err := settingsdoc.Encode(m)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO monitors VALUES ($1, $2, $3)`, m.Host, string(doc), m.PushToken)
	return err
}

// hostOfToken returns the host whose push token is token; ErrNotFound if
// none has it.
func hostOfToken(ctx context.Context, q queryer, token string) (string, error) {
	var host string
	if token == "" {
		return "", store.ErrNotFound
	}
	found, err := queryOne(ctx, q, `SELECT host FROM monitors WHERE push_token == $1`, []any{token}, &host)
	if err == nil && !found {
		err = store.ErrNotFound
	}
	return host, err
}

// MonitorByPushToken returns the monitor whose push token is token.
func (s *Store) MonitorByPushToken(ctx context.Context, token string) (monitor.Monitor, error) {
	var m monitor.Monitor
	err := s.do(ctx, func(q queryer) error {
		host, err := hostOfToken(ctx, q, token)
		if err != nil {
			return err
		}
		m, err = monitorOf(ctx, q, host)
		return err
	})
	if err != nil {
		return monitor.Monitor{}, fmt.Errorf("ql: push token: %w", err)
	}
	return m, nil
}

// Facts lists the facts of every host that has any, by host; never nil.
func (s *Store) Facts(ctx context.Context) ([]store.Facts, error) {
	fs := []store.Facts{}
	err := s.do(ctx, func(q queryer) error {
		return query(ctx, q, `SELECT `+factsSelect+` FROM facts`, nil, func(rows *sql.Rows) error {
			f, err := scanFacts(rows)
			fs = append(fs, f)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ql: facts: %w", err)
	}
	slices.SortFunc(fs, func(a, b store.Facts) int { return strings.Compare(a.Host, b.Host) })
	return fs, nil
}

// encodeFactTime and decodeFactTime store a time of facts as a timekey
// string, the zero time as "".
func encodeFactTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return string(timekey.Append(nil, t))
}

func decodeFactTime(b []byte) (time.Time, error) {
	switch len(b) {
	case 0:
		return time.Time{}, nil
	case timekey.Len:
		return timekey.Decode(b), nil
	}
	return time.Time{}, fmt.Errorf("a time of %d bytes, not %d", len(b), timekey.Len)
}

// factsSelect are the columns that scanFacts scans.
const factsSelect = `host, cert_expiry, last_push, added, last_push_up, last_push_reason`

// scanFacts scans a row of factsSelect.
func scanFacts(rows *sql.Rows) (store.Facts, error) {
	var (
		f                       store.Facts
		expiry, lastPush, added []byte
		up                      sql.NullBool
		reason                  []byte
	)
	if err := rows.Scan(&f.Host, &expiry, &lastPush, &added, &up, &reason); err != nil {
		return f, err
	}
	var err error
	if f.CertExpiry, err = decodeFactTime(expiry); err != nil {
		return f, err
	}
	if f.LastPush, err = decodeFactTime(lastPush); err != nil {
		return f, err
	}
	f.LastPushUp = up.Bool
	if len(reason) > 0 {
		f.LastPushReason = string(reason)
	}
	f.Added, err = decodeFactTime(added)
	return f, err
}

// factsOf returns the facts of the hosts among names (all of them when
// more than fewHosts): one query a host, or one for all.
func factsOf(ctx context.Context, tx *sql.Tx, names []string) (map[string]store.Facts, error) {
	fs := map[string]store.Facts{}
	scan := func(rows *sql.Rows) error {
		f, err := scanFacts(rows)
		fs[f.Host] = f
		return err
	}
	if len(names) > fewHosts {
		return fs, query(ctx, tx, `SELECT `+factsSelect+` FROM facts`, nil, scan)
	}
	for _, h := range names {
		if err := query(ctx, tx, `SELECT `+factsSelect+` FROM facts WHERE host == $1`, []any{h}, scan); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

// putFacts writes f; found says whether the host has a row already.
func putFacts(ctx context.Context, tx *sql.Tx, f store.Facts, found bool) error {
	args := []any{f.Host, encodeFactTime(f.CertExpiry), encodeFactTime(f.LastPush), encodeFactTime(f.Added), f.LastPushUp, f.LastPushReason}
	if found {
		_, err := tx.ExecContext(ctx, `UPDATE facts SET cert_expiry = $2, last_push = $3, added = $4, last_push_up = $5, last_push_reason = $6
			WHERE host == $1`, args...)
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO facts (`+factsSelect+`) VALUES ($1, $2, $3, $4, $5, $6)`, args...)
	return err
}

// recordCertExpiries records the non-zero CertExpiry of each result of a
// stored host (ids holds the stored hosts) as its host's facts, the last
// result of a host winning; a host's row is written only when its expiry
// changed, which a round seldom brings.
func recordCertExpiries(ctx context.Context, tx *sql.Tx, results []store.Result, ids map[string]int64) error {
	expiries := map[string]time.Time{}
	var names []string
	for i := range results {
		r := &results[i]
		if _, ok := ids[r.Host]; !ok || r.CertExpiry.IsZero() {
			continue
		}
		if _, ok := expiries[r.Host]; !ok {
			names = append(names, r.Host)
		}
		expiries[r.Host] = r.CertExpiry.UTC()
	}
	if len(names) == 0 {
		return nil
	}
	stored, err := factsOf(ctx, tx, names)
	if err != nil {
		return err
	}
	for _, h := range names {
		f, found := stored[h]
		if found && f.CertExpiry.Equal(expiries[h]) {
			continue
		}
		f.Host, f.CertExpiry = h, expiries[h]
		if err := putFacts(ctx, tx, f, found); err != nil {
			return err
		}
	}
	return nil
}

// RecordPush stores a push's result as SaveRound does and raises the
// host's last push, in one transaction.
func (s *Store) RecordPush(ctx context.Context, token string, at time.Time, r store.Result, alerting *store.Alerting) (string, error) {
	var host string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if host, err = hostOfToken(ctx, tx, token); err != nil {
			return fmt.Errorf("push token: %w", err)
		}
		stored, err := factsOf(ctx, tx, []string{host})
		if err != nil {
			return err
		}
		f, found := stored[host]
		if at := at.UTC(); at.After(f.LastPush) {
			f.Host, f.LastPush, f.LastPushUp, f.LastPushReason = host, at, r.Up, r.Reason
			if err := putFacts(ctx, tx, f, found); err != nil {
				return err
			}
		}
		r.Host = host
		return s.saveIn(ctx, tx, []store.Result{r}, alerting)
	})
	if err != nil {
		return "", fmt.Errorf("ql: record push: %w", err)
	}
	return host, nil
}
