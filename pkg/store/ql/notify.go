package ql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// advanceStates calls advance, in the order of results, for each result of
// a stored host with a rule whose slot is after the host's last slot, and
// stores the states and deliveries it returns. ids holds the stored hosts
// of the round.
func (s *Store) advanceStates(ctx context.Context, tx *sql.Tx, results []store.Result, ids map[string]int64, advance store.AdvanceFunc) error {
	rules, states, err := rulesAndStates(ctx, tx, ids)
	if err != nil || len(rules) == 0 {
		return err
	}
	changed := map[string]bool{} // whether the host had a state stored, by changed host
	for _, r := range results {
		rl, ok := rules[r.Host]
		if !ok {
			continue
		}
		prev, stored := states[r.Host]
		if !stored {
			prev = store.State{Host: r.Host}
		}
		if !r.Slot.After(prev.LastSlot) {
			continue
		}
		r.Slot = r.Slot.UTC()
		next, d := advance(rl, prev, r)
		next.Host = r.Host
		states[r.Host] = next
		if _, seen := changed[r.Host]; !seen {
			changed[r.Host] = stored
		}
		if d != nil {
			if d.Host == "" { // the host's, as the other backends do
				d.Host = r.Host
			}
			if _, err := enqueue(ctx, tx, *d); err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
		}
	}
	for host, stored := range changed {
		st := states[host]
		q := `INSERT INTO states VALUES ($1, $2, $3, $4)`
		if stored {
			q = `UPDATE states SET status = $2, count = $3, last_slot = $4 WHERE host == $1`
		}
		if _, err := tx.ExecContext(ctx, q, host, st.Status, st.Count, st.LastSlot.UTC()); err != nil {
			return fmt.Errorf("state of %q: %w", host, err)
		}
	}
	return nil
}

// rulesAndStates reads the rules of the hosts of ids and their states, by
// host. For a few hosts it looks each up, which uses the tables' indexes;
// for more, one scan of each table costs less.
func rulesAndStates(ctx context.Context, tx *sql.Tx, ids map[string]int64) (map[string]store.Rule, map[string]store.State, error) {
	rules := map[string]store.Rule{}
	states := map[string]store.State{}
	addRule := func(rows *sql.Rows) error {
		var rl store.Rule
		if err := rows.Scan(&rl.Host, &rl.Threshold, &rl.Action); err != nil {
			return err
		}
		if _, ok := ids[rl.Host]; ok {
			rules[rl.Host] = rl
		}
		return nil
	}
	addState := func(rows *sql.Rows) error {
		var st store.State
		if err := rows.Scan(&st.Host, &st.Status, &st.Count, &st.LastSlot); err != nil {
			return err
		}
		if _, ok := rules[st.Host]; ok {
			st.LastSlot = st.LastSlot.UTC()
			states[st.Host] = st
		}
		return nil
	}
	const (
		selectRules  = `SELECT host, threshold, action FROM rules`
		selectStates = `SELECT host, status, count, last_slot FROM states`
	)
	if len(ids) > fewHosts {
		if err := query(ctx, tx, selectRules, nil, addRule); err != nil {
			return nil, nil, fmt.Errorf("rules: %w", err)
		}
		if err := query(ctx, tx, selectStates, nil, addState); err != nil {
			return nil, nil, fmt.Errorf("states: %w", err)
		}
		return rules, states, nil
	}
	for host := range ids {
		if err := query(ctx, tx, selectRules+` WHERE host == $1`, []any{host}, addRule); err != nil {
			return nil, nil, fmt.Errorf("rules: %w", err)
		}
		if err := query(ctx, tx, selectStates+` WHERE host == $1`, []any{host}, addState); err != nil {
			return nil, nil, fmt.Errorf("states: %w", err)
		}
	}
	return rules, states, nil
}

// enqueue stores a new delivery; its ID is the row's id().
func enqueue(ctx context.Context, tx *sql.Tx, d store.Delivery) (int64, error) {
	if d.Status == "" {
		d.Status = store.DeliveryPending
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO deliveries VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		d.Host, d.URL, d.Created.UTC(), d.NextAttempt.UTC(), d.Attempts, d.LastError, d.Status)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// Rules lists every rule by host.
func (s *Store) Rules(ctx context.Context) ([]store.Rule, error) {
	rules := []store.Rule{}
	err := s.do(ctx, func(q queryer) error {
		return query(ctx, q, `SELECT host, threshold, action FROM rules ORDER BY host`, nil, func(rows *sql.Rows) error {
			var rl store.Rule
			err := rows.Scan(&rl.Host, &rl.Threshold, &rl.Action)
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
	rl := store.Rule{Host: host}
	err := s.do(ctx, func(q queryer) error {
		found, err := queryOne(ctx, q, `SELECT threshold, action FROM rules WHERE host == $1`, []any{host}, &rl.Threshold, &rl.Action)
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
	res, err := tx.ExecContext(ctx, `UPDATE rules SET threshold = $2, action = $3 WHERE host == $1`, rl.Host, rl.Threshold, rl.Action)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO rules VALUES ($1, $2, $3)`, rl.Host, rl.Threshold, rl.Action)
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
	var found bool
	err := s.do(ctx, func(q queryer) error {
		var err error
		found, err = queryOne(ctx, q, `SELECT status, count, last_slot FROM states WHERE host == $1`, []any{host},
			&st.Status, &st.Count, &st.LastSlot)
		return err
	})
	switch {
	case err != nil:
		return store.State{}, fmt.Errorf("ql: state of %q: %w", host, err)
	case !found:
		return store.State{Host: host}, nil
	}
	st.LastSlot = st.LastSlot.UTC()
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

// ClaimDeliveries claims up to limit deliveries due at now, each its
// host's next one (see store.Store), in one transaction (the Store runs
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
	err := queryDeliveries(ctx, q, `SELECT id() AS id, host, url, created, next_attempt, attempts, last_error, status
		FROM deliveries WHERE status == $1 && next_attempt <= $2 ORDER BY next_attempt, id LIMIT $3`,
		[]any{store.DeliveryPending, now.UTC(), int64(limit)}, func(d store.Delivery) { ds = append(ds, d) })
	return ds, err
}

// claimable lists up to limit deliveries that a claim at now may take,
// by next attempt then ID; never nil. The picker sees every pending
// delivery, to know each host's oldest one.
func claimable(ctx context.Context, q queryer, now time.Time, limit int) ([]store.Delivery, error) {
	ds := []store.Delivery{}
	if limit < 1 {
		return ds, nil
	}
	p := store.NewClaimPicker(now)
	err := query(ctx, q, `SELECT id() AS id, host, created, next_attempt, attempts FROM deliveries WHERE status == $1`,
		[]any{store.DeliveryPending}, func(rows *sql.Rows) error {
			var d store.Delivery
			if err := rows.Scan(&d.ID, &d.Host, &d.Created, &d.NextAttempt, &d.Attempts); err != nil {
				return err
			}
			p.Add(d)
			return nil
		})
	if err != nil {
		return nil, err
	}
	for _, id := range p.Pick(limit) {
		err := queryDeliveries(ctx, q, `SELECT id() AS id, host, url, created, next_attempt, attempts, last_error, status
			FROM deliveries WHERE id() == $1`, []any{id}, func(d store.Delivery) { ds = append(ds, d) })
		if err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// queryDeliveries runs a query of deliveries' columns, in store.Delivery's
// order, and gives each row to fn.
func queryDeliveries(ctx context.Context, q queryer, stmt string, args []any, fn func(store.Delivery)) error {
	return query(ctx, q, stmt, args, func(rows *sql.Rows) error {
		var d store.Delivery
		if err := rows.Scan(&d.ID, &d.Host, &d.URL, &d.Created, &d.NextAttempt, &d.Attempts, &d.LastError, &d.Status); err != nil {
			return err
		}
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
