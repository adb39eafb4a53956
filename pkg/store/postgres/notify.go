package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/ruledoc"
)

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

// ruleColumnList is the rules' columns that scanRule reads.
const ruleColumnList = `host, change_threshold, action, alerting`

// ruleScan scans a row of ruleColumnList into rule; decode then sets its
// srvmon fields from the scanned document.
type ruleScan struct {
	rule store.Rule
	doc  string
}

func (rs *ruleScan) dest() []any {
	return []any{&rs.rule.Host, &rs.rule.Threshold, &rs.rule.Action, &rs.doc}
}

func (rs *ruleScan) decode() (store.Rule, error) {
	rl := store.Rule{Host: rs.rule.Host, Threshold: rs.rule.Threshold, Action: rs.rule.Action}
	if err := ruledoc.Decode(rs.doc, &rl); err != nil {
		return store.Rule{}, fmt.Errorf("rule of %q: %w", rl.Host, err)
	}
	return rl, nil
}

// rulesOf lists the rules q sees, by host.
func rulesOf(ctx context.Context, q querier) ([]store.Rule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, _ := q.Query(ctx, `SELECT `+ruleColumnList+` FROM state_change_params
		ORDER BY host COLLATE "C"`)
	rules := []store.Rule{}
	var rs ruleScan
	_, err := pgx.ForEachRow(rows, rs.dest(), func() error {
		rl, err := rs.decode()
		rules = append(rules, rl)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list rules: %w", err)
	}
	return rules, nil
}

// Rule returns the host's rule; ErrNotFound if it has none.
func (s *Store) Rule(ctx context.Context, host string) (store.Rule, error) {
	if err := ctx.Err(); err != nil {
		return store.Rule{}, err
	}
	var rs ruleScan
	err := s.pool.QueryRow(ctx, "SELECT "+ruleColumnList+" FROM state_change_params WHERE host = $1", host).Scan(rs.dest()...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Rule{}, fmt.Errorf("postgres: rule of host %q: %w", host, store.ErrNotFound)
	case err != nil:
		return store.Rule{}, fmt.Errorf("postgres: rule of %q: %w", host, err)
	}
	rl, err := rs.decode()
	if err != nil {
		return store.Rule{}, fmt.Errorf("postgres: %w", err)
	}
	return rl, nil
}

// SetRule adds or replaces the rule of a stored host, keeping its state;
// ErrNotFound if the host is not stored.
func (s *Store) SetRule(ctx context.Context, r store.Rule) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO state_change_params (host, change_threshold, action, alerting)
		SELECT host, $2, $3, $4 FROM hosts WHERE host = $1
		ON CONFLICT (host) DO UPDATE SET change_threshold = excluded.change_threshold, action = excluded.action,
			alerting = excluded.alerting`,
		r.Host, r.Threshold, r.Action, ruledoc.Encode(r))
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
	var sc stateScan
	err := s.pool.QueryRow(ctx, "SELECT "+stateColumnList+" FROM notification_states WHERE host = $1", host).Scan(sc.dest()...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.State{Host: host}, nil
	case err != nil:
		return store.State{}, fmt.Errorf("postgres: state of %q: %w", host, err)
	}
	st, err := sc.state()
	if err != nil {
		return store.State{}, fmt.Errorf("postgres: %w", err)
	}
	return st, nil
}

// deliveryColumnList is the deliveries' columns in store.Delivery's order.
const deliveryColumnList = `id, host, url, channel, event, title, message, created, next_attempt, attempts, last_error, status`

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

// ClaimDeliveries claims up to limit deliveries due at now, each the
// next one of its host and channel (see store.Store), in one statement.
// heads is the oldest pending delivery of each host and channel (read
// in the order of deliveries_queue_idx), of those none of whose
// attempted pending deliveries is not due (leased, or in backoff); due keeps the
// due ones and locks their rows with FOR UPDATE SKIP LOCKED: a claim made
// at the same time by another connection skips a row it has locked
// instead of waiting, and once that claim has committed, PostgreSQL
// rechecks the locking query's conditions on the row's new version,
// which is leased, not due. A claim whose snapshot predates another's
// sees the same heads, never a later delivery of their hosts and
// channels; so two claims never take two deliveries of one host and
// channel, nor one twice. Each
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
			SELECT DISTINCT ON (host, channel) id FROM deliveries
			WHERE status = 'pending' AND (host, channel) NOT IN (
				SELECT host, channel FROM deliveries WHERE status = 'pending' AND next_attempt > $1 AND attempts > 0)
			ORDER BY host, channel, created, id
		), due AS (
			SELECT id, next_attempt FROM deliveries
			WHERE id IN (SELECT id FROM heads) AND status = 'pending' AND next_attempt <= $1
			ORDER BY next_attempt, id LIMIT $3
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE deliveries d SET attempts = d.attempts + 1, next_attempt = $2
			FROM due WHERE d.id = due.id
			RETURNING d.id, d.host, d.url, d.channel, d.event, d.title, d.message, d.created, d.next_attempt, d.attempts,
				d.last_error, d.status,
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
