package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/statedoc"
)

// saveLocations raises the locations to the newest slots of locs
// (store.SavedLocations's, by name), in one statement, in name order (so
// that saves lock their rows in one order and cannot deadlock on them). A row it raises stays locked until
// the commit, and other saves of that location wait for it: SaveRound
// does it last, just before its commit.
func saveLocations(ctx context.Context, tx pgx.Tx, locs []store.Location) error {
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
	// The save raises its locations last (see saveIn): they are counted
	// here.
	locations, err := locationsOf(ctx, tx)
	if err != nil {
		return err
	}
	locations = store.MergeLocations(locations, store.SavedLocations(results))
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
	rules := make(map[string]store.Rule, len(hosts))
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
const stateColumnList = `host, status, count, last_slot, alerting`

// stateScan scans a row of stateColumnList.
type stateScan struct {
	st  store.State
	doc []byte
}

func (sc *stateScan) dest() []any {
	return []any{&sc.st.Host, &sc.st.Status, &sc.st.Count, &sc.st.LastSlot, &sc.doc}
}

// state returns the scanned state, in UTC.
func (sc *stateScan) state() (store.State, error) {
	st := sc.st
	st.LastSlot = st.LastSlot.UTC()
	if err := statedoc.Decode(sc.doc, &st); err != nil {
		return store.State{}, fmt.Errorf("state of %q: %w", st.Host, err)
	}
	return st, nil
}

// readStates returns the states of hosts (the zero State with Host set
// for those without one), and which of them have a row.
func readStates(ctx context.Context, tx pgx.Tx, hosts []string) (map[string]store.State, map[string]bool, error) {
	rows, _ := tx.Query(ctx, `SELECT `+stateColumnList+` FROM notification_states WHERE host = ANY ($1::text[])`, hosts)
	states := make(map[string]store.State, len(hosts))
	hasRow := make(map[string]bool, len(hosts))
	var sc stateScan
	_, err := pgx.ForEachRow(rows, sc.dest(), func() error {
		st, err := sc.state()
		states[st.Host], hasRow[st.Host] = st, true
		return err
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
// newest] after its state's last slot, by slot then location. Most
// hosts of a save start at the same slot (the one after the previous
// round's): those are read by one statement whose index scans descend
// once per host (host = ANY …) into the one range of slots they share;
// the others, if any, by a second statement with a range of their own
// per host (a lateral index scan each, which costs more per host).
func readStored(ctx context.Context, tx pgx.Tx, states map[string]store.State, from, newest time.Time) (map[string][]store.Result, error) {
	stored := make(map[string][]store.Result, len(states))
	starts := make(map[string]time.Time, len(states)) // each host's first slot, as stored (microseconds)
	count := make(map[time.Time]int, 1)
	var start time.Time // the start most hosts share
	for h, st := range states {
		lo := bound(from)
		if !st.LastSlot.Before(lo) {
			lo = st.LastSlot.UTC().Truncate(time.Microsecond).Add(time.Microsecond)
		}
		starts[h] = lo
		stored[h] = nil
		count[lo]++
		if c := count[lo]; c > count[start] || c == count[start] && lo.Before(start) {
			start = lo
		}
	}
	var shared, own []string
	var ownStarts []time.Time
	for h, lo := range starts {
		if lo.Equal(start) {
			shared = append(shared, h)
		} else {
			own = append(own, h)
			ownStarts = append(ownStarts, lo)
		}
	}
	// The rows come host by host: each host's results are a piece of one
	// slice, and its name the key of states (no string per row).
	var flat []store.Result
	var spans []struct {
		host       string
		start, end int
	}
	var r store.Result
	var host []byte
	var rtt int64
	add := func() error {
		if n := len(spans); n == 0 || spans[n-1].host != string(host) {
			h, ok := hostKey(states, host)
			if !ok {
				return fmt.Errorf("a result of host %q, which was not asked for", host)
			}
			spans = append(spans, struct {
				host       string
				start, end int
			}{h, len(flat), len(flat)})
		}
		r.Host = spans[len(spans)-1].host
		r.RTT, _ = store.GosrvmonRTT(rtt, r.Up)
		r.Slot = r.Slot.UTC()
		flat = append(flat, r)
		spans[len(spans)-1].end = len(flat)
		return nil
	}
	dest := []any{&host, &r.Slot, &r.Location, &rtt, &r.Up, &r.Reason, &r.Maintenance}
	flat = make([]store.Result, 0, len(shared))
	rows, _ := tx.Query(ctx, `SELECT host, check_time, location, rtt, up, reason, maintenance FROM checks
		WHERE host = ANY ($1::text[]) AND check_time >= $2::timestamp AND check_time <= $3::timestamp
		ORDER BY host, check_time, location`, shared, start, utc(newest))
	if _, err := pgx.ForEachRow(rows, dest, add); err != nil {
		return nil, fmt.Errorf("read stored results: %w", err)
	}
	if len(own) > 0 {
		rows, _ = tx.Query(ctx, `SELECT c.host, c.check_time, c.location, c.rtt, c.up, c.reason, c.maintenance
			FROM unnest($1::text[], $2::timestamp[]) AS b (host, start)
			CROSS JOIN LATERAL (
				SELECT host, check_time, location, rtt, up, reason, maintenance FROM checks
				WHERE host = b.host AND check_time >= b.start AND check_time <= $3::timestamp
				ORDER BY check_time, location
			) c`, own, ownStarts, utc(newest))
		if _, err := pgx.ForEachRow(rows, dest, add); err != nil {
			return nil, fmt.Errorf("read stored results: %w", err)
		}
	}
	for _, sp := range spans {
		stored[sp.host] = flat[sp.start:sp.end:sp.end]
	}
	return stored, nil
}

// hostKey returns the key of states that is host, without a string of
// its own.
func hostKey(states map[string]store.State, host []byte) (string, bool) {
	st, ok := states[string(host)]
	return st.Host, ok
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
			SET status = u.status, count = u.count, last_slot = u.last_slot, alerting = u.alerting
			FROM `+stateUnnest+`
			WHERE s.host = u.host`, updates.args()...)
		if err != nil {
			return fmt.Errorf("write %d states: %w", len(updates.hosts), err)
		}
	}
	if len(inserts.hosts) > 0 {
		_, err := tx.Exec(ctx, `INSERT INTO notification_states (host, status, count, last_slot, alerting)
			SELECT * FROM `+stateUnnest, inserts.args()...)
		if err != nil {
			return fmt.Errorf("add %d states: %w", len(inserts.hosts), err)
		}
	}
	return nil
}

// stateUnnest is the rows of stateColumns.args as the table u.
const stateUnnest = `unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::bytea[])
	AS u (host, status, count, last_slot, alerting)`

// stateColumns holds states to write as columns; a state's srvmon fields
// are one value (statedoc), its bytes in one buffer for all.
type stateColumns struct {
	hosts, statuses []string
	counts          []int64
	lastSlots       []time.Time
	docs            [][]byte
	buf             []byte
}

func (c *stateColumns) add(st store.State) {
	c.hosts = append(c.hosts, st.Host)
	c.statuses = append(c.statuses, st.Status)
	c.counts = append(c.counts, st.Count)
	c.lastSlots = append(c.lastSlots, st.LastSlot)
	if c.buf == nil {
		c.buf = make([]byte, 0, 256) // not nil: a nil value is NULL
	}
	n := len(c.buf)
	c.buf = statedoc.Encode(c.buf, st)
	c.docs = append(c.docs, c.buf[n:len(c.buf):len(c.buf)])
}

func (c *stateColumns) args() []any {
	return []any{c.hosts, c.statuses, c.counts, c.lastSlots, c.docs}
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
		st, err := sc.state()
		sts = append(sts, st)
		return err
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
