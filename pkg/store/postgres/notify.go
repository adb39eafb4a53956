package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
)

// advanceRound is SaveRound's notification part, in its transaction: it
// locks the rules of the round's hosts, reads their states, calls advance
// for each result (in the round's order) whose host has a rule and whose
// slot is after the host's last slot, and writes the states and the
// deliveries back in batch statements.
//
// Two rounds of the same slot saved at once (overlapping checkers) do
// not both advance: the second waits for the rule rows the first holds,
// then reads the state the first committed, whose last slot is the
// round's slot, and skips it.
func advanceRound(ctx context.Context, tx pgx.Tx, results []store.Result, advance store.AdvanceFunc) error {
	rules, err := lockRules(ctx, tx, results)
	if err != nil || len(rules) == 0 {
		return err
	}
	states, stored, err := readStates(ctx, tx, rules)
	if err != nil {
		return err
	}
	changed, ds, err := advanceAll(results, rules, states, advance)
	if err != nil || len(changed) == 0 {
		return err
	}
	if err := writeStates(ctx, tx, changed, states, stored); err != nil {
		return err
	}
	return enqueue(ctx, tx, &ds)
}

// lockRules locks the rules of the results' hosts and returns them, by
// host. They are locked in host order, so that rounds cannot deadlock on
// them.
func lockRules(ctx context.Context, tx pgx.Tx, results []store.Result) (map[string]store.Rule, error) {
	hosts := make([]string, 0, len(results))
	for _, r := range results {
		hosts = append(hosts, r.Host)
	}
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	rows, _ := tx.Query(ctx, `SELECT host, change_threshold, action FROM state_change_params
		WHERE host = ANY ($1::text[]) ORDER BY host FOR UPDATE`, hosts)
	rules := map[string]store.Rule{}
	var rule store.Rule
	_, err := pgx.ForEachRow(rows, []any{&rule.Host, &rule.Threshold, &rule.Action}, func() error {
		rules[rule.Host] = rule
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock rules: %w", err)
	}
	return rules, nil
}

// readStates returns the states of the ruled hosts, and which of them
// have a state row. It is a statement of its own, run once the rules'
// locks are held: its snapshot sees the state committed by a round that
// held them before.
func readStates(ctx context.Context, tx pgx.Tx, rules map[string]store.Rule) (states map[string]store.State, stored map[string]bool, err error) {
	ruled := make([]string, 0, len(rules))
	for h := range rules {
		ruled = append(ruled, h)
	}
	rows, _ := tx.Query(ctx, `SELECT host, status, count, last_slot FROM notification_states
		WHERE host = ANY ($1::text[])`, ruled)
	states = make(map[string]store.State, len(rules))
	stored = make(map[string]bool, len(rules))
	var st store.State
	_, err = pgx.ForEachRow(rows, []any{&st.Host, &st.Status, &st.Count, &st.LastSlot}, func() error {
		st.LastSlot = st.LastSlot.UTC()
		states[st.Host] = st
		stored[st.Host] = true
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read states: %w", err)
	}
	return states, stored, nil
}

// advanceAll calls advance for each result, in order, whose host has a
// rule and whose slot is after the host's last one, updating states. It
// returns the hosts whose state changed, in the order of their first
// result, and the deliveries to enqueue.
func advanceAll(results []store.Result, rules map[string]store.Rule, states map[string]store.State,
	advance store.AdvanceFunc,
) (changed []string, ds deliveryColumns, err error) {
	isChanged := map[string]bool{}
	for _, r := range results {
		rule, ok := rules[r.Host]
		if !ok {
			continue
		}
		prev, ok := states[r.Host]
		if !ok {
			prev = store.State{Host: r.Host}
		}
		// Compared as stored: microseconds.
		r.Slot = r.Slot.UTC().Truncate(time.Microsecond)
		if !r.Slot.After(prev.LastSlot) {
			continue
		}
		next, d := advance(rule, prev, r)
		next.Host = r.Host
		next.LastSlot = next.LastSlot.UTC().Truncate(time.Microsecond)
		if !isChanged[r.Host] {
			isChanged[r.Host] = true
			changed = append(changed, r.Host)
		}
		states[r.Host] = next
		if d != nil {
			if d.Host == "" {
				d.Host = r.Host
			}
			if d.Status == "" {
				d.Status = store.DeliveryPending
			}
			if err := checkStatus(d.Status); err != nil {
				return nil, deliveryColumns{}, err
			}
			ds.add(*d)
		}
	}
	return changed, ds, nil
}

// writeStates writes the changed hosts' states. Those that exist are
// updated (a plain UPDATE costs less than INSERT … ON CONFLICT DO UPDATE,
// which tries an insertion first), the others inserted; the rule rows' locks keep other rounds
// away from both.
func writeStates(ctx context.Context, tx pgx.Tx, changed []string, states map[string]store.State, stored map[string]bool) error {
	var updates, inserts stateColumns
	for _, h := range changed {
		if stored[h] {
			updates.add(states[h])
		} else {
			inserts.add(states[h])
		}
	}
	if len(updates.hosts) > 0 {
		_, err := tx.Exec(ctx, `UPDATE notification_states s
			SET status = u.status, count = u.count, last_slot = u.last_slot
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[]) AS u (host, status, count, last_slot)
			WHERE s.host = u.host`,
			updates.hosts, updates.statuses, updates.counts, updates.lastSlots)
		if err != nil {
			return fmt.Errorf("write %d states: %w", len(updates.hosts), err)
		}
	}
	if len(inserts.hosts) > 0 {
		_, err := tx.Exec(ctx, `INSERT INTO notification_states (host, status, count, last_slot)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[])`,
			inserts.hosts, inserts.statuses, inserts.counts, inserts.lastSlots)
		if err != nil {
			return fmt.Errorf("add %d states: %w", len(inserts.hosts), err)
		}
	}
	return nil
}

// enqueue inserts the deliveries, in their order (their IDs follow it).
func enqueue(ctx context.Context, tx pgx.Tx, ds *deliveryColumns) error {
	if len(ds.hosts) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO deliveries (host, url, created, next_attempt, attempts, last_error, status)
		SELECT host, url, created, next_attempt, attempts, last_error, status
		FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[], $6::text[], $7::text[])
			WITH ORDINALITY AS d (host, url, created, next_attempt, attempts, last_error, status, n)
		ORDER BY n`,
		ds.hosts, ds.urls, ds.created, ds.nextAttempts, ds.attempts, ds.lastErrors, ds.statuses)
	if err != nil {
		return fmt.Errorf("enqueue %d deliveries: %w", len(ds.hosts), err)
	}
	return nil
}

// stateColumns holds states to write as columns.
type stateColumns struct {
	hosts, statuses []string
	counts          []int64
	lastSlots       []time.Time
}

func (c *stateColumns) add(st store.State) {
	c.hosts = append(c.hosts, st.Host)
	c.statuses = append(c.statuses, st.Status)
	c.counts = append(c.counts, st.Count)
	c.lastSlots = append(c.lastSlots, st.LastSlot)
}

// deliveryColumns holds deliveries to enqueue as columns.
type deliveryColumns struct {
	hosts, urls, lastErrors, statuses []string
	created, nextAttempts             []time.Time
	attempts                          []int64
}

func (c *deliveryColumns) add(d store.Delivery) {
	c.hosts = append(c.hosts, d.Host)
	c.urls = append(c.urls, d.URL)
	c.created = append(c.created, d.Created)
	c.nextAttempts = append(c.nextAttempts, d.NextAttempt)
	c.attempts = append(c.attempts, d.Attempts)
	c.lastErrors = append(c.lastErrors, d.LastError)
	c.statuses = append(c.statuses, d.Status)
}

// checkStatus rejects a delivery status that is not one of store's.
func checkStatus(status string) error {
	switch status {
	case store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
		return nil
	}
	return fmt.Errorf("delivery status %q is not %q, %q or %q", status,
		store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed)
}

// Rules lists every rule, by host in byte order; never nil.
func (s *Store) Rules(ctx context.Context) ([]store.Rule, error) {
	return rulesOf(ctx, s.pool)
}

// rulesOf lists the rules q sees, by host.
func rulesOf(ctx context.Context, q querier) ([]store.Rule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, _ := q.Query(ctx, `SELECT host, change_threshold, action FROM state_change_params
		ORDER BY host COLLATE "C"`)
	rules, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.Rule])
	if err != nil {
		return nil, fmt.Errorf("postgres: list rules: %w", err)
	}
	if rules == nil {
		rules = []store.Rule{}
	}
	return rules, nil
}

// Rule returns the host's rule; ErrNotFound if it has none.
func (s *Store) Rule(ctx context.Context, host string) (store.Rule, error) {
	if err := ctx.Err(); err != nil {
		return store.Rule{}, err
	}
	r := store.Rule{Host: host}
	err := s.pool.QueryRow(ctx, "SELECT change_threshold, action FROM state_change_params WHERE host = $1", host).
		Scan(&r.Threshold, &r.Action)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Rule{}, fmt.Errorf("postgres: rule of host %q: %w", host, store.ErrNotFound)
	case err != nil:
		return store.Rule{}, fmt.Errorf("postgres: rule of %q: %w", host, err)
	}
	return r, nil
}

// SetRule adds or replaces the rule of a stored host, keeping its state;
// ErrNotFound if the host is not stored.
func (s *Store) SetRule(ctx context.Context, r store.Rule) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO state_change_params (host, change_threshold, action)
		SELECT host, $2, $3 FROM hosts WHERE host = $1
		ON CONFLICT (host) DO UPDATE SET change_threshold = excluded.change_threshold, action = excluded.action`,
		r.Host, r.Threshold, r.Action)
	switch {
	case isCode(err, codeForeignKeyViolation): // the host was deleted meanwhile
		return notFound(r.Host)
	case err != nil:
		return fmt.Errorf("postgres: set the rule of %q: %w", r.Host, err)
	case tag.RowsAffected() == 0:
		return notFound(r.Host)
	}
	return nil
}

// DeleteRule deletes the host's rule and, with it, its state.
func (s *Store) DeleteRule(ctx context.Context, host string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM state_change_params WHERE host = $1", host)
	if err != nil {
		return fmt.Errorf("postgres: delete the rule of %q: %w", host, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: rule of host %q: %w", host, store.ErrNotFound)
	}
	return nil
}

// State returns the host's notification state; the zero State with Host
// set when it has none.
func (s *Store) State(ctx context.Context, host string) (store.State, error) {
	if err := ctx.Err(); err != nil {
		return store.State{}, err
	}
	st := store.State{Host: host}
	err := s.pool.QueryRow(ctx, "SELECT status, count, last_slot FROM notification_states WHERE host = $1", host).
		Scan(&st.Status, &st.Count, &st.LastSlot)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.State{Host: host}, nil
	case err != nil:
		return store.State{}, fmt.Errorf("postgres: state of %q: %w", host, err)
	}
	st.LastSlot = st.LastSlot.UTC()
	return st, nil
}

// deliveryColumnList is the deliveries' columns in store.Delivery's order.
const deliveryColumnList = `id, host, url, created, next_attempt, attempts, last_error, status`

// DueDeliveries lists up to limit pending deliveries whose next attempt
// is not after now, by next attempt and ID; never nil.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return []store.Delivery{}, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+deliveryColumnList+`
		FROM deliveries WHERE status = 'pending' AND next_attempt <= $1
		ORDER BY next_attempt, id LIMIT $2`, now, limit)
	ds, err := collectDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: due deliveries: %w", err)
	}
	return ds, nil
}

// ClaimDeliveries claims up to limit deliveries due at now, each its
// host's next one (see store.Store), in one statement. heads is each
// host's oldest pending delivery, of the hosts none of whose attempted
// pending deliveries is not due (leased, or in backoff); due keeps the
// due ones and locks their rows with FOR UPDATE SKIP LOCKED: a claim made
// at the same time by another connection skips a row it has locked
// instead of waiting, and once that claim has committed, PostgreSQL
// rechecks the locking query's conditions on the row's new version,
// which is leased, not due. A claim whose snapshot predates another's
// sees the same heads, never a later delivery of their hosts; so two
// claims never take two deliveries of one host, nor one twice. Each
// claimed row gets one more attempt and a next attempt at until (the
// lease).
func (s *Store) ClaimDeliveries(ctx context.Context, now, until time.Time, limit int) ([]store.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return []store.Delivery{}, nil
	}
	rows, _ := s.pool.Query(ctx, `WITH heads AS (
			SELECT DISTINCT ON (host) id FROM deliveries
			WHERE status = 'pending' AND host NOT IN (
				SELECT host FROM deliveries WHERE status = 'pending' AND next_attempt > $1 AND attempts > 0)
			ORDER BY host, created, id
		), due AS (
			SELECT id, next_attempt FROM deliveries
			WHERE id IN (SELECT id FROM heads) AND status = 'pending' AND next_attempt <= $1
			ORDER BY next_attempt, id LIMIT $3
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE deliveries d SET attempts = d.attempts + 1, next_attempt = $2
			FROM due WHERE d.id = due.id
			RETURNING d.id, d.host, d.url, d.created, d.next_attempt, d.attempts, d.last_error, d.status,
				due.next_attempt AS was_due
		)
		SELECT `+deliveryColumnList+` FROM claimed ORDER BY was_due, id`, now, until, limit)
	ds, err := collectDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim deliveries: %w", err)
	}
	return ds, nil
}

// collectDeliveries reads rows of deliveryColumnList; never nil.
func collectDeliveries(rows pgx.Rows) ([]store.Delivery, error) {
	ds, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.Delivery])
	if err != nil {
		return nil, err
	}
	if ds == nil {
		ds = []store.Delivery{}
	}
	for i := range ds {
		ds[i].Created, ds[i].NextAttempt = ds[i].Created.UTC(), ds[i].NextAttempt.UTC()
	}
	return ds, nil
}

// UpdateDelivery records an attempt's outcome on the delivery with d.ID,
// unless it is stale (see store.Store): the UPDATE's condition is the
// compare-and-set, and its row lock orders it after a claim in flight.
func (s *Store) UpdateDelivery(ctx context.Context, d store.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkStatus(d.Status); err != nil {
		return fmt.Errorf("postgres: update delivery %d: %w", d.ID, err)
	}
	// One statement: the row, when there is one, says why nothing was
	// updated.
	var updated bool
	var status string
	var attempts int64
	err := s.pool.QueryRow(ctx, `WITH updated AS (
			UPDATE deliveries SET attempts = $2, next_attempt = $3, last_error = $4, status = $5
			WHERE id = $1 AND status = 'pending' AND attempts <= $2
			RETURNING id
		)
		SELECT EXISTS (SELECT FROM updated), status, attempts FROM deliveries WHERE id = $1`,
		d.ID, d.Attempts, d.NextAttempt, d.LastError, d.Status).Scan(&updated, &status, &attempts)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres: delivery %d: %w", d.ID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("postgres: update delivery %d: %w", d.ID, err)
	case !updated:
		return fmt.Errorf("postgres: delivery %d (%s, attempts %d; update with attempts %d): %w",
			d.ID, status, attempts, d.Attempts, store.ErrStale)
	}
	return nil
}
