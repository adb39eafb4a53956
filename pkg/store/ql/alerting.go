package ql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/namelist"
)

// saveLocations raises the locations to the newest slots of locs
// (store.SavedLocations's): a lookup and a write per location, and a save
// has few.
func saveLocations(ctx context.Context, tx *sql.Tx, locs []store.Location) error {
	for _, l := range locs {
		var last time.Time
		found, err := queryOne(ctx, tx, `SELECT last_slot FROM locations WHERE name == $1`, []any{l.Name}, &last)
		switch {
		case err != nil:
			return fmt.Errorf("location %q: %w", l.Name, err)
		case !found:
			_, err = tx.ExecContext(ctx, `INSERT INTO locations VALUES ($1, $2)`, l.Name, l.LastSlot)
		case l.LastSlot.After(last):
			_, err = tx.ExecContext(ctx, `UPDATE locations SET last_slot = $2 WHERE name == $1`, l.Name, l.LastSlot)
		}
		if err != nil {
			return fmt.Errorf("location %q: %w", l.Name, err)
		}
	}
	return nil
}

// locationsOf lists the stored locations by name; never nil.
func locationsOf(ctx context.Context, q queryer) ([]store.Location, error) {
	ls := []store.Location{}
	err := query(ctx, q, `SELECT name, last_slot FROM locations ORDER BY name`, nil, func(rows *sql.Rows) error {
		var l store.Location
		if err := rows.Scan(&l.Name, &l.LastSlot); err != nil {
			return err
		}
		l.LastSlot = l.LastSlot.UTC()
		ls = append(ls, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("locations: %w", err)
	}
	return ls, nil
}

// alert is SaveRound's alerting (see store.Alerting), in its transaction
// (ql runs one at a time). ids holds the IDs of the save's stored hosts.
func (s *Store) alert(ctx context.Context, tx *sql.Tx, results []store.Result, ids map[string]int64, alerting *store.Alerting) error {
	hosts := alerting.AlertHosts(results)
	alertIDs := make(map[string]int64, len(hosts))
	missing := map[string]int64{}
	for _, h := range hosts {
		if id, ok := ids[h]; ok {
			alertIDs[h] = id
		} else {
			missing[h] = 0
		}
	}
	if len(missing) > 0 { // related hosts: look them up
		if err := hostIDs(ctx, tx, missing); err != nil {
			return fmt.Errorf("hosts: %w", err)
		}
		for h, id := range missing {
			alertIDs[h] = id
		}
	}
	rules, states, hasRow, err := rulesAndStates(ctx, tx, alertIDs)
	if err != nil || len(rules) == 0 {
		return err
	}
	newest := store.NewestSlot(results)
	stored, err := s.readStored(ctx, tx, alertIDs, states, alerting.StoredFrom(newest), newest)
	if err != nil {
		return err
	}
	locations, err := locationsOf(ctx, tx)
	if err != nil {
		return err
	}
	in := store.AlertInput{Results: results, Rules: rules, States: states, Stored: stored, Locations: locations}
	newStates, deliveries := alerting.Decide(in)
	if err := store.CheckDecision(in, newStates, deliveries); err != nil {
		return err
	}
	for _, st := range newStates {
		if err := putState(ctx, tx, st, hasRow[st.Host]); err != nil {
			return fmt.Errorf("state of %q: %w", st.Host, err)
		}
		hasRow[st.Host] = true
	}
	for _, d := range deliveries {
		if _, err := enqueue(ctx, tx, d); err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
	}
	return nil
}

// rulesAndStates reads the rules of the hosts of ids and their states
// (the zero State with Host set for those without one), by host, and
// which hosts have a state row. For a few hosts it looks each up, which
// uses the tables' indexes; for more, one scan of each table costs less.
func rulesAndStates(ctx context.Context, tx *sql.Tx, ids map[string]int64) (map[string]store.Rule, map[string]store.State, map[string]bool, error) {
	rules := map[string]store.Rule{}
	states := map[string]store.State{}
	hasRow := map[string]bool{}
	addRule := func(rows *sql.Rows) error {
		rl, err := scanRule(rows)
		if err != nil {
			return err
		}
		if _, ok := ids[rl.Host]; ok {
			rules[rl.Host] = rl
		}
		return nil
	}
	addState := func(rows *sql.Rows) error {
		st, err := scanState(rows)
		if err != nil {
			return err
		}
		if _, ok := rules[st.Host]; ok {
			states[st.Host], hasRow[st.Host] = st, true
		}
		return nil
	}
	selectRules, selectStates := `SELECT `+ruleColumns+` FROM rules`, `SELECT `+stateColumns+` FROM states`
	if len(ids) > fewHosts {
		if err := query(ctx, tx, selectRules, nil, addRule); err != nil {
			return nil, nil, nil, fmt.Errorf("rules: %w", err)
		}
		if err := query(ctx, tx, selectStates, nil, addState); err != nil {
			return nil, nil, nil, fmt.Errorf("states: %w", err)
		}
	} else {
		for host := range ids {
			if err := query(ctx, tx, selectRules+` WHERE host == $1`, []any{host}, addRule); err != nil {
				return nil, nil, nil, fmt.Errorf("rules: %w", err)
			}
		}
		for host := range rules {
			if err := query(ctx, tx, selectStates+` WHERE host == $1`, []any{host}, addState); err != nil {
				return nil, nil, nil, fmt.Errorf("states: %w", err)
			}
		}
	}
	for h := range rules {
		if !hasRow[h] {
			states[h] = store.State{Host: h}
		}
	}
	return rules, states, hasRow, nil
}

// readStored returns, for each host of states, its results in [from,
// newest] after its state's last slot, by slot then location: one
// prepared range query per host. ql's planner serves a range of its one
// indexed column per statement; a statement of many ranges (an OR of
// them) scans the whole results table, which is costlier than a query
// per host from a few hosts on.
func (s *Store) readStored(ctx context.Context, tx *sql.Tx, ids map[string]int64, states map[string]store.State,
	from, newest time.Time,
) (map[string][]store.Result, error) {
	stored := make(map[string][]store.Result, len(states))
	stmt, err := tx.PrepareContext(ctx, s.inRange("k, rtt, up, reason, maint", ""))
	if err != nil {
		return nil, fmt.Errorf("stored results: %w", err)
	}
	defer stmt.Close()
	to := newest.Add(time.Nanosecond)
	for host, st := range states {
		id := ids[host]
		lo := from
		if !st.LastSlot.Before(lo) {
			lo = st.LastSlot.Add(time.Nanosecond)
		}
		var rs []store.Result
		if lo.Before(to) {
			rows, err := stmt.QueryContext(ctx, timeKey(id, lo), timeKey(id, to))
			if err != nil {
				return nil, fmt.Errorf("stored results of %q: %w", host, err)
			}
			for rows.Next() {
				var k []byte
				r := store.Result{Host: host}
				var rtt int64
				var maint sql.NullBool // NULL in a row of schema version 3
				if err := rows.Scan(&k, &rtt, &r.Up, &r.Reason, &maint); err != nil {
					rows.Close()
					return nil, fmt.Errorf("stored results of %q: %w", host, err)
				}
				if r.Slot, r.Location, err = decodeKey(k); err != nil {
					rows.Close()
					return nil, fmt.Errorf("stored results of %q: %w", host, err)
				}
				r.RTT, r.Maintenance = time.Duration(rtt), maint.Bool
				rs = append(rs, r)
			}
			if err := rows.Close(); err != nil {
				return nil, err
			}
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("stored results of %q: %w", host, err)
			}
		}
		stored[host] = rs
	}
	return stored, nil
}

// stateColumns are the columns of states that scanState reads.
const stateColumns = `host, status, count, last_slot, since, recent, recent_len, notified, reason, locations, next_reminder,
	cert_expiry, cert_days, down_for`

// scanState reads a row of stateColumns; NULL columns (a row of schema
// version 3) read zero.
func scanState(rows *sql.Rows) (store.State, error) {
	var st store.State
	var since, nextReminder, certExpiry sql.NullTime
	var recent, recentLen, certDays, downFor sql.NullInt64
	var notified, reason, locations sql.NullString
	err := rows.Scan(&st.Host, &st.Status, &st.Count, &st.LastSlot, &since, &recent, &recentLen, &notified, &reason,
		&locations, &nextReminder, &certExpiry, &certDays, &downFor)
	if err != nil {
		return store.State{}, err
	}
	st.LastSlot, st.Since, st.NextReminder, st.CertExpiry = st.LastSlot.UTC(), since.Time.UTC(), nextReminder.Time.UTC(), certExpiry.Time.UTC()
	st.Recent, st.RecentLen, st.CertDays, st.DownFor = uint64(recent.Int64), recentLen.Int64, certDays.Int64, time.Duration(downFor.Int64)
	st.Notified, st.Reason, st.Locations = notified.String, reason.String, namelist.Split(locations.String)
	return st, nil
}

// putState writes st: an update of its row, or a new row.
func putState(ctx context.Context, tx *sql.Tx, st store.State, hasRow bool) error {
	args := []any{st.Host, st.Status, st.Count, st.LastSlot.UTC(), st.Since.UTC(), int64(st.Recent), st.RecentLen, st.Notified,
		st.Reason, namelist.Join(st.Locations), st.NextReminder.UTC(), st.CertExpiry.UTC(), st.CertDays, int64(st.DownFor)}
	q := `INSERT INTO states (` + stateColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`
	if hasRow {
		q = `UPDATE states SET status = $2, count = $3, last_slot = $4, since = $5, recent = $6, recent_len = $7,
			notified = $8, reason = $9, locations = $10, next_reminder = $11, cert_expiry = $12, cert_days = $13,
			down_for = $14 WHERE host == $1`
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// enqueue stores a new delivery; its ID is the row's id().
func enqueue(ctx context.Context, tx *sql.Tx, d store.Delivery) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO deliveries (host, url, channel, event, title, message, created,
			next_attempt, attempts, last_error, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		d.Host, d.URL, d.Channel, d.Event, d.Title, d.Message, d.Created.UTC(), d.NextAttempt.UTC(), d.Attempts, d.LastError, d.Status)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// States lists every stored notification state, by host; never nil.
func (s *Store) States(ctx context.Context) ([]store.State, error) {
	sts := []store.State{}
	err := s.do(ctx, func(q queryer) error {
		return query(ctx, q, `SELECT `+stateColumns+` FROM states ORDER BY host`, nil, func(rows *sql.Rows) error {
			st, err := scanState(rows)
			sts = append(sts, st)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ql: states: %w", err)
	}
	return sts, nil
}

// Deliveries lists up to limit deliveries, every host's or host's, newest
// first; never nil.
func (s *Store) Deliveries(ctx context.Context, host string, limit int) ([]store.Delivery, error) {
	ds := []store.Delivery{}
	if limit <= 0 {
		return ds, nil
	}
	err := s.do(ctx, func(q queryer) error {
		stmt, args := `SELECT `+deliveryColumns+` FROM deliveries ORDER BY id DESC LIMIT $1`, []any{int64(limit)}
		if host != "" {
			stmt, args = `SELECT `+deliveryColumns+` FROM deliveries WHERE host == $2 ORDER BY id DESC LIMIT $1`, []any{int64(limit), host}
		}
		return queryDeliveries(ctx, q, stmt, args, func(d store.Delivery) { ds = append(ds, d) })
	})
	if err != nil {
		return nil, fmt.Errorf("ql: deliveries: %w", err)
	}
	return ds, nil
}

// Locations lists every location that has saved results, by name; never
// nil.
func (s *Store) Locations(ctx context.Context) ([]store.Location, error) {
	var ls []store.Location
	err := s.do(ctx, func(q queryer) error {
		var err error
		ls, err = locationsOf(ctx, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ql: %w", err)
	}
	return ls, nil
}
