package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/namelist"
)

// saveLocations raises the locations of results to their newest slot,
// in one statement, in name order (so that saves lock their rows in one
// order and cannot deadlock on them).
func saveLocations(ctx context.Context, tx pgx.Tx, results []store.Result) error {
	locs := store.SavedLocations(results)
	names := make([]string, len(locs))
	slots := make([]time.Time, len(locs))
	for i, l := range locs {
		names[i], slots[i] = l.Name, l.LastSlot
	}
	_, err := tx.Exec(ctx, `INSERT INTO locations AS l (name, last_slot)
		SELECT * FROM unnest($1::text[], $2::timestamptz[])
		ON CONFLICT (name) DO UPDATE SET last_slot = excluded.last_slot WHERE l.last_slot < excluded.last_slot`,
		names, slots)
	if err != nil {
		return fmt.Errorf("save %d locations: %w", len(locs), err)
	}
	return nil
}

// locationsOf lists the locations q sees, by name; never nil.
func locationsOf(ctx context.Context, q querier) ([]store.Location, error) {
	rows, _ := q.Query(ctx, `SELECT name, last_slot FROM locations ORDER BY name`)
	ls := []store.Location{}
	var l store.Location
	_, err := pgx.ForEachRow(rows, []any{&l.Name, &l.LastSlot}, func() error {
		l.LastSlot = l.LastSlot.UTC()
		ls = append(ls, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("locations: %w", err)
	}
	return ls, nil
}

// alert is SaveRound's alerting (see store.Alerting), in its transaction,
// after the results are stored. It locks the rules of the hosts
// alerting names, in host order (so that saves cannot deadlock on them),
// and then reads, each with a statement of its own, their states, their
// stored results and the locations: under READ COMMITTED each statement
// sees what committed before it began, so a save of the same slot from
// another location that held the rules first is seen whole (its
// results, its states), and a retried save reads the state the first
// one wrote. Decide runs once; its states are written and its
// deliveries enqueued in batch statements.
func alert(ctx context.Context, tx pgx.Tx, results []store.Result, alerting *store.Alerting) error {
	rules, err := lockRules(ctx, tx, alerting.AlertHosts(results))
	if err != nil || len(rules) == 0 {
		return err
	}
	ruled := make([]string, 0, len(rules))
	for h := range rules {
		ruled = append(ruled, h)
	}
	states, hasRow, err := readStates(ctx, tx, ruled)
	if err != nil {
		return err
	}
	newest := store.NewestSlot(results)
	stored, err := readStored(ctx, tx, states, alerting.StoredFrom(newest), newest)
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
	if err := writeStates(ctx, tx, newStates, hasRow); err != nil {
		return err
	}
	return enqueue(ctx, tx, deliveries)
}

// lockRules locks the rules of hosts (in byte order) and returns them,
// by host.
func lockRules(ctx context.Context, tx pgx.Tx, hosts []string) (map[string]store.Rule, error) {
	rows, _ := tx.Query(ctx, `SELECT `+ruleColumnList+` FROM state_change_params
		WHERE host = ANY ($1::text[]) ORDER BY host COLLATE "C" FOR UPDATE`, hosts)
	rules := map[string]store.Rule{}
	var rs ruleScan
	_, err := pgx.ForEachRow(rows, rs.dest(), func() error {
		rl, err := rs.decode()
		rules[rl.Host] = rl
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lock rules: %w", err)
	}
	return rules, nil
}

// stateColumnList is the states' columns that stateScan reads.
const stateColumnList = `host, status, count, last_slot, since, recent, recent_len, notified, reason, locations,
	next_reminder, cert_expiry, cert_days`

// stateScan scans a row of stateColumnList: NULL times are zero ones.
type stateScan struct {
	st                              store.State
	recent                          int64
	since, nextReminder, certExpiry *time.Time
}

func (sc *stateScan) dest() []any {
	return []any{&sc.st.Host, &sc.st.Status, &sc.st.Count, &sc.st.LastSlot, &sc.since, &sc.recent, &sc.st.RecentLen,
		&sc.st.Notified, &sc.st.Reason, &sc.st.Locations, &sc.nextReminder, &sc.certExpiry, &sc.st.CertDays}
}

// state returns the scanned state, in UTC; it shares no memory with the
// next scan.
func (sc *stateScan) state() store.State {
	st := sc.st
	st.LastSlot, st.Recent = st.LastSlot.UTC(), uint64(sc.recent)
	st.Since, st.NextReminder, st.CertExpiry = zeroIfNull(sc.since), zeroIfNull(sc.nextReminder), zeroIfNull(sc.certExpiry)
	sc.st.Locations = nil
	return st
}

func zeroIfNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullIfZero is t for a nullable timestamptz: NULL when zero.
func nullIfZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// readStates returns the states of hosts (the zero State with Host set
// for those without one), and which of them have a row.
func readStates(ctx context.Context, tx pgx.Tx, hosts []string) (map[string]store.State, map[string]bool, error) {
	rows, _ := tx.Query(ctx, `SELECT `+stateColumnList+` FROM notification_states WHERE host = ANY ($1::text[])`, hosts)
	states := make(map[string]store.State, len(hosts))
	hasRow := make(map[string]bool, len(hosts))
	var sc stateScan
	_, err := pgx.ForEachRow(rows, sc.dest(), func() error {
		st := sc.state()
		states[st.Host], hasRow[st.Host] = st, true
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read states: %w", err)
	}
	for _, h := range hosts {
		if !hasRow[h] {
			states[h] = store.State{Host: h}
		}
	}
	return states, hasRow, nil
}

// readStored returns, for each host of states, its results in [from,
// newest] after its state's last slot, by slot then location: one
// statement, an index range scan of checks per host.
func readStored(ctx context.Context, tx pgx.Tx, states map[string]store.State, from, newest time.Time) (map[string][]store.Result, error) {
	hosts := make([]string, 0, len(states))
	after := make([]time.Time, 0, len(states))
	stored := make(map[string][]store.Result, len(states))
	for h, st := range states {
		hosts = append(hosts, h)
		after = append(after, utc(st.LastSlot))
		stored[h] = nil
	}
	rows, _ := tx.Query(ctx, `SELECT c.host, c.check_time, c.location, c.rtt, c.up, c.reason
		FROM unnest($1::text[], $2::timestamp[]) AS b (host, after)
		CROSS JOIN LATERAL (
			SELECT host, check_time, location, rtt, up, reason FROM checks
			WHERE host = b.host AND check_time > b.after AND check_time >= $3::timestamp AND check_time <= $4::timestamp
			ORDER BY check_time, location
		) c`, hosts, after, bound(from), utc(newest))
	var r store.Result
	var rtt int64
	_, err := pgx.ForEachRow(rows, []any{&r.Host, &r.Slot, &r.Location, &rtt, &r.Up, &r.Reason}, func() error {
		r.RTT, _ = store.GosrvmonRTT(rtt, r.Up)
		r.Slot = r.Slot.UTC()
		stored[r.Host] = append(stored[r.Host], r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read stored results: %w", err)
	}
	return stored, nil
}

// writeStates writes states: those with a row are updated (a plain
// UPDATE costs less than INSERT … ON CONFLICT DO UPDATE, which tries an
// insertion first), the others inserted; the rule rows' locks keep other
// saves away from both.
func writeStates(ctx context.Context, tx pgx.Tx, states []store.State, hasRow map[string]bool) error {
	var updates, inserts stateColumns
	for _, st := range states {
		if hasRow[st.Host] {
			updates.add(st)
		} else {
			inserts.add(st)
		}
	}
	if len(updates.hosts) > 0 {
		_, err := tx.Exec(ctx, `UPDATE notification_states s
			SET status = u.status, count = u.count, last_slot = u.last_slot, since = u.since, recent = u.recent,
				recent_len = u.recent_len, notified = u.notified, reason = u.reason,
				locations = `+splitLocations("u.locations")+`,
				next_reminder = u.next_reminder, cert_expiry = u.cert_expiry, cert_days = u.cert_days
			FROM `+stateUnnest+`
			WHERE s.host = u.host`, updates.args()...)
		if err != nil {
			return fmt.Errorf("write %d states: %w", len(updates.hosts), err)
		}
	}
	if len(inserts.hosts) > 0 {
		_, err := tx.Exec(ctx, `INSERT INTO notification_states (host, status, count, last_slot, since, recent, recent_len,
				notified, reason, locations, next_reminder, cert_expiry, cert_days)
			SELECT host, status, count, last_slot, since, recent, recent_len, notified, reason,
				`+splitLocations("locations")+`,
				next_reminder, cert_expiry, cert_days
			FROM `+stateUnnest, inserts.args()...)
		if err != nil {
			return fmt.Errorf("add %d states: %w", len(inserts.hosts), err)
		}
	}
	return nil
}

// splitLocations is the SQL of the text[] of a column of
// namelist.Join's text.
func splitLocations(col string) string {
	return `CASE ` + col + ` WHEN '' THEN NULL WHEN E'\n' THEN ARRAY[''] ELSE string_to_array(` + col + `, E'\n') END`
}

// stateUnnest is the rows of stateColumns.args as the table u. A
// state's locations travel as one text (package namelist; see
// splitLocations): a text[] of text[] would need arrays of equal
// lengths.
const stateUnnest = `unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::bigint[],
	$7::bigint[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::bigint[])
	AS u (host, status, count, last_slot, since, recent, recent_len, notified, reason, locations, next_reminder,
		cert_expiry, cert_days)`

// stateColumns holds states to write as columns.
type stateColumns struct {
	hosts, statuses, notified, reasons, locations []string
	counts, recents, recentLens, certDays         []int64
	lastSlots                                     []time.Time
	since, nextReminders, certExpiries            []*time.Time
}

func (c *stateColumns) add(st store.State) {
	c.hosts = append(c.hosts, st.Host)
	c.statuses = append(c.statuses, st.Status)
	c.counts = append(c.counts, st.Count)
	c.lastSlots = append(c.lastSlots, st.LastSlot)
	c.since = append(c.since, nullIfZero(st.Since))
	c.recents = append(c.recents, int64(st.Recent))
	c.recentLens = append(c.recentLens, st.RecentLen)
	c.notified = append(c.notified, st.Notified)
	c.reasons = append(c.reasons, st.Reason)
	c.locations = append(c.locations, namelist.Join(st.Locations))
	c.nextReminders = append(c.nextReminders, nullIfZero(st.NextReminder))
	c.certExpiries = append(c.certExpiries, nullIfZero(st.CertExpiry))
	c.certDays = append(c.certDays, st.CertDays)
}

func (c *stateColumns) args() []any {
	return []any{c.hosts, c.statuses, c.counts, c.lastSlots, c.since, c.recents, c.recentLens, c.notified, c.reasons,
		c.locations, c.nextReminders, c.certExpiries, c.certDays}
}

// enqueue inserts the deliveries, in their order (their IDs follow it).
func enqueue(ctx context.Context, tx pgx.Tx, ds []store.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	var c deliveryColumns
	for _, d := range ds {
		c.add(d)
	}
	_, err := tx.Exec(ctx, `INSERT INTO deliveries (host, url, channel, event, title, message, created, next_attempt,
			attempts, last_error, status)
		SELECT host, url, channel, event, title, message, created, next_attempt, attempts, last_error, status
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
			$8::timestamptz[], $9::bigint[], $10::text[], $11::text[])
			WITH ORDINALITY AS d (host, url, channel, event, title, message, created, next_attempt, attempts,
				last_error, status, n)
		ORDER BY n`,
		c.hosts, c.urls, c.channels, c.events, c.titles, c.messages, c.created, c.nextAttempts, c.attempts, c.lastErrors, c.statuses)
	if err != nil {
		return fmt.Errorf("enqueue %d deliveries: %w", len(ds), err)
	}
	return nil
}

// deliveryColumns holds deliveries to enqueue as columns.
type deliveryColumns struct {
	hosts, urls, channels, events, titles, messages, lastErrors, statuses []string
	created, nextAttempts                                                 []time.Time
	attempts                                                              []int64
}

func (c *deliveryColumns) add(d store.Delivery) {
	c.hosts = append(c.hosts, d.Host)
	c.urls = append(c.urls, d.URL)
	c.channels = append(c.channels, d.Channel)
	c.events = append(c.events, d.Event)
	c.titles = append(c.titles, d.Title)
	c.messages = append(c.messages, d.Message)
	c.created = append(c.created, d.Created)
	c.nextAttempts = append(c.nextAttempts, d.NextAttempt)
	c.attempts = append(c.attempts, d.Attempts)
	c.lastErrors = append(c.lastErrors, d.LastError)
	c.statuses = append(c.statuses, d.Status)
}

// States lists every stored notification state, by host; never nil.
func (s *Store) States(ctx context.Context) ([]store.State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+stateColumnList+` FROM notification_states ORDER BY host COLLATE "C"`)
	sts := []store.State{}
	var sc stateScan
	_, err := pgx.ForEachRow(rows, sc.dest(), func() error {
		sts = append(sts, sc.state())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: states: %w", err)
	}
	return sts, nil
}

// Deliveries lists up to limit deliveries, every host's or host's, newest
// first; never nil.
func (s *Store) Deliveries(ctx context.Context, host string, limit int) ([]store.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return []store.Delivery{}, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+deliveryColumnList+` FROM deliveries
		WHERE $1 = '' OR host = $1 ORDER BY id DESC LIMIT $2`, host, limit)
	ds, err := collectDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: deliveries: %w", err)
	}
	return ds, nil
}

// Locations lists every location that has saved results, by name; never
// nil.
func (s *Store) Locations(ctx context.Context) ([]store.Location, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ls, err := locationsOf(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ls, nil
}
