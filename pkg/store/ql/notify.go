package ql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/ruledoc"
)

// ruleColumns are the columns of rules that scanRule reads.
const ruleColumns = `host, threshold, action, alerting`

// scanRule reads a row of ruleColumns.
func scanRule(rows *sql.Rows) (store.Rule, error) {
	var rl store.Rule
	var doc sql.NullString
	if err := rows.Scan(&rl.Host, &rl.Threshold, &rl.Action, &doc); err != nil {
		return store.Rule{}, err
	}
	if err := ruledoc.Decode(doc.String, &rl); err != nil {
		return store.Rule{}, fmt.Errorf("rule of %q: %w", rl.Host, err)
	}
	return rl, nil
}

// Rules lists every rule by host.
func (s *Store) Rules(ctx context.Context) ([]store.Rule, error) {
	rules := []store.Rule{}
	err := s.do(ctx, func(q queryer) error {
		return query(ctx, q, `SELECT `+ruleColumns+` FROM rules ORDER BY host`, nil, func(rows *sql.Rows) error {
			rl, err := scanRule(rows)
			rules = append(rules, rl)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ql: rules: %w", err)
	}
	return rules, nil
}

// Rule returns the host's rule, store.ErrNotFound if it has none.
func (s *Store) Rule(ctx context.Context, host string) (store.Rule, error) {
	var rl store.Rule
	err := s.do(ctx, func(q queryer) error {
		found := false
		err := query(ctx, q, `SELECT `+ruleColumns+` FROM rules WHERE host == $1`, []any{host}, func(rows *sql.Rows) error {
			var err error
			rl, err = scanRule(rows)
			found = true
			return err
		})
		if err == nil && !found {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return store.Rule{}, fmt.Errorf("ql: rule of %q: %w", host, err)
	}
	return rl, nil
}

// putRule adds or replaces the rule of a stored host.
func putRule(ctx context.Context, tx *sql.Tx, rl store.Rule) error {
	if _, err := hostID(ctx, tx, rl.Host); err != nil {
		return fmt.Errorf("rule of %q: %w", rl.Host, err)
	}
	doc := ruledoc.Encode(rl)
	res, err := tx.ExecContext(ctx, `UPDATE rules SET threshold = $2, action = $3, alerting = $4 WHERE host == $1`,
		rl.Host, rl.Threshold, rl.Action, doc)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO rules (host, threshold, action, alerting) VALUES ($1, $2, $3, $4)`,
		rl.Host, rl.Threshold, rl.Action, doc)
	return err
}

// SetRule adds or replaces the rule of a stored host.
func (s *Store) SetRule(ctx context.Context, rl store.Rule) error {
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return putRule(ctx, tx, rl) }); err != nil {
		return fmt.Errorf("ql: set rule: %w", err)
	}
	return nil
}

// DeleteRule deletes the host's rule and state.
func (s *Store) DeleteRule(ctx context.Context, host string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM rules WHERE host == $1`, host)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, store.ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM states WHERE host == $1`, host)
		return err
	})
	if err != nil {
		return fmt.Errorf("ql: delete rule of %q: %w", host, err)
	}
	return nil
}

// State returns the host's notification state, the zero State when it has
// none.
func (s *Store) State(ctx context.Context, host string) (store.State, error) {
	st := store.State{Host: host}
	err := s.do(ctx, func(q queryer) error {
		return query(ctx, q, `SELECT `+stateColumns+` FROM states WHERE host == $1`, []any{host}, func(rows *sql.Rows) error {
			var err error
			st, err = scanState(rows)
			return err
		})
	})
	if err != nil {
		return store.State{}, fmt.Errorf("ql: state of %q: %w", host, err)
	}
	return st, nil
}

// DueDeliveries lists up to limit pending deliveries due at now, by next
// attempt then ID.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error) {
	var ds []store.Delivery
	err := s.do(ctx, func(q queryer) error {
		var err error
		ds, err = due(ctx, q, now, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ql: due deliveries: %w", err)
	}
	return ds, nil
}

// ClaimDeliveries claims up to limit deliveries due at now, each the
// next one of its host and channel (see store.Store), in one transaction (the Store runs
// one operation at a time, and ql locks the file against other
// processes): one more attempt each, leased until until.
func (s *Store) ClaimDeliveries(ctx context.Context, now, until time.Time, limit int) ([]store.Delivery, error) {
	var ds []store.Delivery
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if ds, err = claimable(ctx, tx, now, limit); err != nil {
			return err
		}
		for i := range ds {
			ds[i].Attempts++
			ds[i].NextAttempt = until.UTC()
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET attempts = $2, next_attempt = $3 WHERE id() == $1`,
				ds[i].ID, ds[i].Attempts, ds[i].NextAttempt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ql: claim deliveries: %w", err)
	}
	return ds, nil
}

// due lists up to limit pending deliveries due at now, by next attempt
// then ID; never nil.
func due(ctx context.Context, q queryer, now time.Time, limit int) ([]store.Delivery, error) {
	ds := []store.Delivery{}
	if limit < 1 {
		return ds, nil
	}
	err := queryDeliveries(ctx, q, `SELECT `+deliveryColumns+`
		FROM deliveries WHERE status == $1 && next_attempt <= $2 ORDER BY next_attempt, id LIMIT $3`,
		[]any{store.DeliveryPending, now.UTC(), int64(limit)}, func(d store.Delivery) { ds = append(ds, d) })
	return ds, err
}

// claimable lists up to limit deliveries that a claim at now may take,
// by next attempt then ID; never nil. The picker sees every pending
// delivery, to know the oldest one of each host and channel.
func claimable(ctx context.Context, q queryer, now time.Time, limit int) ([]store.Delivery, error) {
	ds := []store.Delivery{}
	if limit < 1 {
		return ds, nil
	}
	p := store.NewClaimPicker(now)
	err := query(ctx, q, `SELECT id() AS id, host, channel, created, next_attempt, attempts FROM deliveries WHERE status == $1`,
		[]any{store.DeliveryPending}, func(rows *sql.Rows) error {
			var d store.Delivery
			var channel sql.NullString
			if err := rows.Scan(&d.ID, &d.Host, &channel, &d.Created, &d.NextAttempt, &d.Attempts); err != nil {
				return err
			}
			d.Channel = channel.String
			p.Add(d)
			return nil
		})
	if err != nil {
		return nil, err
	}
	for _, id := range p.Pick(limit) {
		err := queryDeliveries(ctx, q, `SELECT `+deliveryColumns+`
			FROM deliveries WHERE id() == $1`, []any{id}, func(d store.Delivery) { ds = append(ds, d) })
		if err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// deliveryColumns are the deliveries' columns in store.Delivery's order.
const deliveryColumns = `id() AS id, host, url, channel, event, title, message, created, next_attempt, attempts, last_error, status`

// queryDeliveries runs a query of deliveryColumns and gives each row to
// fn.
func queryDeliveries(ctx context.Context, q queryer, stmt string, args []any, fn func(store.Delivery)) error {
	return query(ctx, q, stmt, args, func(rows *sql.Rows) error {
		var d store.Delivery
		var channel, event, title, message sql.NullString
		if err := rows.Scan(&d.ID, &d.Host, &d.URL, &channel, &event, &title, &message, &d.Created, &d.NextAttempt,
			&d.Attempts, &d.LastError, &d.Status); err != nil {
			return err
		}
		d.Channel, d.Event, d.Title, d.Message = channel.String, event.String, title.String, message.String
		d.Created, d.NextAttempt = d.Created.UTC(), d.NextAttempt.UTC()
		fn(d)
		return nil
	})
}

// UpdateDelivery records an attempt's outcome on the delivery with d.ID,
// unless it is stale (see store.Store).
func (s *Store) UpdateDelivery(ctx context.Context, d store.Delivery) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET attempts = $2, next_attempt = $3, last_error = $4, status = $5
			WHERE id() == $1 && status == $6 && attempts <= $2`,
			d.ID, d.Attempts, d.NextAttempt.UTC(), d.LastError, d.Status, store.DeliveryPending)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var status string
		var attempts int64
		found, err := queryOne(ctx, tx, `SELECT status, attempts FROM deliveries WHERE id() == $1`, []any{d.ID}, &status, &attempts)
		switch {
		case err != nil:
			return err
		case !found:
			return store.ErrNotFound
		}
		return fmt.Errorf("%s, attempts %d; update with attempts %d: %w", status, attempts, d.Attempts, store.ErrStale)
	})
	if err != nil {
		return fmt.Errorf("ql: update delivery %d: %w", d.ID, err)
	}
	return nil
}
