package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/settingsdoc"
)

// Tables monitors and host_facts: see migrations/0004_monitors.sql and
// 0005_host_facts_added.sql.

// Monitors lists every host as a monitor, by host, in one query; never nil.
func (s *Store) Monitors(ctx context.Context) ([]monitor.Monitor, error) {
	return monitorsOf(ctx, s.pool)
}

// monitorsOf lists the monitors q sees.
func monitorsOf(ctx context.Context, q querier) ([]monitor.Monitor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, _ := q.Query(ctx, `SELECT h.host, m.settings FROM hosts h LEFT JOIN monitors m ON m.host = h.host
		ORDER BY h.host COLLATE "C"`)
	ms := []monitor.Monitor{}
	var (
		host string
		doc  *string
	)
	_, err := pgx.ForEachRow(rows, []any{&host, &doc}, func() error {
		m, err := decodeMonitor(host, doc)
		ms = append(ms, m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: monitors: %w", err)
	}
	return ms, nil
}

func decodeMonitor(host string, doc *string) (monitor.Monitor, error) {
	if doc == nil {
		return monitor.Monitor{Host: host}, nil
	}
	return settingsdoc.Decode(host, []byte(*doc))
}

// Monitor returns the host's monitor; ErrNotFound if it is not stored.
func (s *Store) Monitor(ctx context.Context, host string) (monitor.Monitor, error) {
	if err := ctx.Err(); err != nil {
		return monitor.Monitor{}, err
	}
	var doc *string
	err := s.pool.QueryRow(ctx, `SELECT m.settings FROM hosts h LEFT JOIN monitors m ON m.host = h.host
		WHERE h.host = $1`, host).Scan(&doc)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return monitor.Monitor{}, notFound(host)
	case err != nil:
		return monitor.Monitor{}, fmt.Errorf("postgres: monitor %q: %w", host, err)
	}
	m, err := decodeMonitor(host, doc)
	if err != nil {
		return monitor.Monitor{}, fmt.Errorf("postgres: %w", err)
	}
	return m, nil
}

// PutMonitor adds m's host if needed and replaces its settings and source.
func (s *Store) PutMonitor(ctx context.Context, m monitor.Monitor) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := store.CheckHostName(m.Host); err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	var created bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, addHostsSQL, []string{m.Host}, store.AddedNow())
		if err != nil {
			return err
		}
		created = tag.RowsAffected() > 0
		return putMonitors(ctx, tx, []monitor.Monitor{m})
	})
	if err != nil {
		return false, fmt.Errorf("postgres: put monitor %q: %w", m.Host, err)
	}
	return created, nil
}

// putMonitors replaces the settings and source of the monitors' hosts,
// which must be stored (ErrNotFound), in two statements; the last monitor
// of a host wins. store.ErrExists when a push token is another host's.
func putMonitors(ctx context.Context, tx pgx.Tx, ms []monitor.Monitor) error {
	last := make(map[string]int, len(ms))
	for i, m := range ms {
		last[m.Host] = i
	}
	var hosts, docHosts, docs []string
	var tokens []*string
	for i, m := range ms {
		if last[m.Host] != i {
			continue
		}
		hosts = append(hosts, m.Host)
		if !settingsdoc.Stored(m) {
			continue
		}
		doc, err := settingsdoc.Encode(m)
		if err != nil {
			return err
		}
		docHosts, docs = append(docHosts, m.Host), append(docs, string(doc))
		var token *string
		if m.PushToken != "" {
			token = &m.PushToken
		}
		tokens = append(tokens, token)
	}
	missing, err := firstMissingHost(ctx, tx, hosts)
	switch {
	case err != nil:
		return fmt.Errorf("look up the monitors' hosts: %w", err)
	case missing != "":
		return fmt.Errorf("settings of %q: %w: the host is not stored", missing, store.ErrNotFound)
	}
	// Deleted first, so that tokens the monitors give up are free for
	// the others.
	if _, err := tx.Exec(ctx, `DELETE FROM monitors WHERE host = ANY ($1::text[])`, hosts); err != nil {
		return fmt.Errorf("settings of %d hosts: %w", len(hosts), err)
	}
	if len(docHosts) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO monitors (host, settings, push_token)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`, docHosts, docs, tokens)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "monitors_push_token_key" {
		return fmt.Errorf("settings: push token: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("settings of %d hosts: %w", len(docHosts), err)
	}
	return nil
}

// MonitorByPushToken returns the monitor whose push token is token.
func (s *Store) MonitorByPushToken(ctx context.Context, token string) (monitor.Monitor, error) {
	if err := ctx.Err(); err != nil {
		return monitor.Monitor{}, err
	}
	var (
		host string
		doc  *string
	)
	err := s.pool.QueryRow(ctx, `SELECT host, settings FROM monitors WHERE push_token = $1`, token).Scan(&host, &doc)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return monitor.Monitor{}, fmt.Errorf("postgres: push token: %w", store.ErrNotFound)
	case err != nil:
		return monitor.Monitor{}, fmt.Errorf("postgres: push token: %w", err)
	}
	m, err := decodeMonitor(host, doc)
	if err != nil {
		return monitor.Monitor{}, fmt.Errorf("postgres: %w", err)
	}
	return m, nil
}

// Facts lists the facts of every host that has any, by host; never nil.
func (s *Store) Facts(ctx context.Context) ([]store.Facts, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT host, cert_expiry, last_push, last_push_up, last_push_reason, added
		FROM host_facts ORDER BY host COLLATE "C"`)
	fs := []store.Facts{}
	var (
		f                       store.Facts
		expiry, lastPush, added pgtype.Timestamptz // no allocation a row, unlike *time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&f.Host, &expiry, &lastPush, &f.LastPushUp, &f.LastPushReason, &added}, func() error {
		f.CertExpiry, f.LastPush, f.Added = utcOrZero(expiry), utcOrZero(lastPush), utcOrZero(added)
		fs = append(fs, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: facts: %w", err)
	}
	return fs, nil
}

// utcOrZero is t in UTC, the zero time for NULL.
func utcOrZero(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// recordCertExpiriesSQL records a round's certificate expiries in one
// statement, as insertRoundSQL stores its results: hosts that are not
// stored are dropped by the join, and rows go in key order. Only the
// expiries that changed (seldom: most rounds bring the ones stored) are
// written: the anti-join finds them in one pass, where ON CONFLICT alone
// would lock and test every row.
const recordCertExpiriesSQL = `INSERT INTO host_facts (host, cert_expiry)
SELECT f.host, f.cert_expiry FROM unnest($1::text[], $2::timestamptz[]) AS f (host, cert_expiry)
JOIN hosts h ON h.host = f.host
LEFT JOIN host_facts o ON o.host = f.host
WHERE o.cert_expiry IS DISTINCT FROM f.cert_expiry
ORDER BY f.host
ON CONFLICT (host) DO UPDATE SET cert_expiry = excluded.cert_expiry`

// certExpiries are the non-zero CertExpiry of a round's results, one per
// host (the last result's), as the columns of recordCertExpiriesSQL.
type certExpiries struct {
	hosts    []string
	expiries []time.Time
}

func certExpiriesOf(results []store.Result) certExpiries {
	var c certExpiries
	var index map[string]int
	for i := range results {
		r := &results[i]
		if r.CertExpiry.IsZero() {
			continue
		}
		if index == nil {
			index = map[string]int{}
		}
		if j, ok := index[r.Host]; ok {
			c.expiries[j] = r.CertExpiry
			continue
		}
		index[r.Host] = len(c.hosts)
		c.hosts, c.expiries = append(c.hosts, r.Host), append(c.expiries, r.CertExpiry)
	}
	return c
}

// record stores the expiries in tx.
func (c certExpiries) record(ctx context.Context, tx pgx.Tx) error {
	if len(c.hosts) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, recordCertExpiriesSQL, c.hosts, c.expiries); err != nil {
		return fmt.Errorf("record %d certificate expiries: %w", len(c.hosts), err)
	}
	return nil
}

// RecordPush stores a push's result as SaveRound does and raises the
// host's last push, in one transaction.
func (s *Store) RecordPush(ctx context.Context, token string, at time.Time, r store.Result, alerting *store.Alerting) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var host string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The host row is locked so that the host is not deleted before
		// this commits.
		err := tx.QueryRow(ctx, `SELECT h.host FROM monitors m JOIN hosts h ON h.host = m.host
			WHERE m.push_token = $1 FOR KEY SHARE OF h`, token).Scan(&host)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("push token: %w", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("push token: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO host_facts AS f (host, last_push, last_push_up, last_push_reason) VALUES ($1, $2, $3, $4)
			ON CONFLICT (host) DO UPDATE SET last_push = excluded.last_push,
				last_push_up = excluded.last_push_up, last_push_reason = excluded.last_push_reason
			WHERE f.last_push IS NULL OR f.last_push < excluded.last_push`, host, at, r.Up, r.Reason)
		if err != nil {
			return fmt.Errorf("last push: %w", err)
		}
		r.Host = host
		return saveIn(ctx, tx, []store.Result{r}, alerting)
	})
	if err != nil {
		return "", fmt.Errorf("postgres: record push: %w", err)
	}
	return host, nil
}

func (sn snapshot) Monitors(ctx context.Context) ([]monitor.Monitor, error) {
	return monitorsOf(ctx, sn.q)
}
