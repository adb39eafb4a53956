package ql

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/timekey"
)

const (
	// defaultInsertRows is how many rows one INSERT writes: each statement
	// costs ql a parse and a plan, which many rows share.
	defaultInsertRows = 500
	// defaultChunk is how many rows a stream reads per query.
	defaultChunk = 4096
	// deleteBatch bounds the deletions of one transaction in
	// DeleteResultsBefore.
	deleteBatch = 10000
	// fewHosts: up to this many hosts, SaveRound looks their IDs up one by
	// one; past it, it reads every host.
	fewHosts = 32
)

// row is a result ready to be inserted.
type row struct {
	k      string
	rtt    int64
	up     bool
	reason string
	maint  bool
}

// rowOf is the row of r, whose key is k.
func rowOf(k string, r *store.Result) row {
	return row{k: k, rtt: int64(r.RTT), up: r.Up, reason: r.Reason, maint: r.Maintenance}
}

// resultCols are the columns a read of results selects, in raw's order.
const resultCols = "k, rtt, up, reason, maint"

// raw is a row of results as read; maint is NULL in a row of schema
// version 3, which was not in maintenance.
type raw struct {
	k      []byte
	rtt    int64
	up     bool
	reason []byte
	maint  sql.NullBool
}

// insertQuery returns INSERT INTO results IF NOT EXISTS for n rows.
func insertQuery(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO results IF NOT EXISTS VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		p := 5*i + 1
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d)", p, p+1, p+2, p+3, p+4)
	}
	return b.String()
}

// insertRows inserts rows, s.insertRows per statement, skipping those
// whose key is stored.
func (s *Store) insert(ctx context.Context, tx *sql.Tx, rows []row) error {
	full := ""
	args := make([]any, 0, 5*min(len(rows), s.insertRows))
	for len(rows) > 0 {
		n := min(len(rows), s.insertRows)
		q := full
		if n < s.insertRows || q == "" {
			q = insertQuery(n)
			if n == s.insertRows {
				full = q
			}
		}
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r.k, r.rtt, r.up, r.reason, r.maint)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// hostIDs returns the IDs of the stored hosts among names.
func hostIDs(ctx context.Context, tx *sql.Tx, names map[string]int64) error {
	if len(names) <= fewHosts {
		for name := range names {
			id, err := hostID(ctx, tx, name)
			switch {
			case errors.Is(err, store.ErrNotFound):
				delete(names, name)
			case err != nil:
				return err
			default:
				names[name] = id
			}
		}
		return nil
	}
	found := make(map[string]int64, len(names))
	err := query(ctx, tx, `SELECT id(), name FROM hosts`, nil, func(rows *sql.Rows) error {
		var (
			id   int64
			name string
		)
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		if _, ok := names[name]; ok {
			found[name] = id
		}
		return nil
	})
	if err != nil {
		return err
	}
	clear(names)
	for name, id := range found {
		names[name] = id
	}
	return nil
}

// raiseNewest records t in newest_slot if it is after what is there:
// LastCheck starts its search there. It is a hint, never wrong but slow
// to go back: retention does not lower it.
func raiseNewest(ctx context.Context, tx *sql.Tx, t time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE newest_slot SET t = $1 WHERE t < $1`, string(timekey.Append(nil, t))); err != nil {
		return fmt.Errorf("newest slot: %w", err)
	}
	return nil
}

// SaveRound stores a round in one transaction; see store.Store.
func (s *Store) SaveRound(ctx context.Context, results []store.Result, alerting *store.Alerting) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ql: save round: %w", err)
	}
	if len(results) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error { return s.saveIn(ctx, tx, results, alerting) })
	if err != nil {
		return fmt.Errorf("ql: save round of %d results: %w", len(results), err)
	}
	return nil
}

// saveIn is SaveRound's transaction.
func (s *Store) saveIn(ctx context.Context, tx *sql.Tx, results []store.Result, alerting *store.Alerting) error {
	ids := make(map[string]int64)
	for _, r := range results {
		ids[r.Host] = 0
	}
	if err := hostIDs(ctx, tx, ids); err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	rows := make([]row, 0, len(results))
	var newest time.Time
	for i := range results {
		r := &results[i]
		id, ok := ids[r.Host]
		if !ok {
			continue // not stored: dropped
		}
		rows = append(rows, rowOf(resultKey(id, r), r))
		if len(rows) == 1 || r.Slot.After(newest) {
			newest = r.Slot
		}
	}
	if err := s.insert(ctx, tx, rows); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	if len(rows) > 0 {
		if err := raiseNewest(ctx, tx, newest); err != nil {
			return err
		}
	}
	if err := recordCertExpiries(ctx, tx, results, ids); err != nil {
		return fmt.Errorf("facts: %w", err)
	}
	if err := saveLocations(ctx, tx, store.SavedLocations(results)); err != nil {
		return err
	}
	if alerting == nil {
		return nil
	}
	return s.alert(ctx, tx, results, ids, alerting)
}

// inRange returns the query of cols of the results in the key range
// [$1, $2), in key order, followed by tail.
func (s *Store) inRange(cols, tail string) string {
	q := "SELECT " + cols + " FROM results WHERE k >= $1 && k < $2"
	if s.sortRanges {
		q += " ORDER BY k"
	}
	return q + tail
}

// scan calls fn with the raw results in [from, to) of the key range, in
// key order, reading s.chunk rows per query and calling fn once a chunk is
// read: ql's read lock is not held while fn runs.
func (s *Store) scan(ctx context.Context, from, to string, fn func(r *raw) error) error {
	buf := make([]raw, 0, s.chunk)
	var last []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = buf[:0]
		err := s.do(ctx, func(q queryer) error {
			return query(ctx, q, s.inRange(resultCols, " LIMIT $3"), []any{from, to, int64(s.chunk)}, func(rows *sql.Rows) error {
				var r raw
				// Scanning into a []byte copies: r outlives the query.
				if err := rows.Scan(&r.k, &r.rtt, &r.up, &r.reason, &r.maint); err != nil {
					return err
				}
				if last != nil && bytes.Compare(r.k, last) <= 0 {
					return fmt.Errorf("ql returned key %x after %x: its plan no longer reads the index in order", r.k, last)
				}
				last = r.k
				buf = append(buf, r)
				return nil
			})
		})
		if err != nil {
			return err
		}
		for i := range buf {
			if err := fn(&buf[i]); err != nil {
				return err
			}
		}
		if len(buf) < s.chunk {
			return nil
		}
		from = after(last)
	}
}

// hostRange returns the key range of host's results in [start, end), and
// store.ErrNotFound when the host is not stored.
func (s *Store) hostRange(ctx context.Context, host string, start, end time.Time) (id int64, from, to string, err error) {
	if id, err = s.hostID(ctx, host); err != nil {
		return 0, "", "", err
	}
	return id, timeKey(id, start), timeKey(id, end), nil
}

// Results streams the host's raw results in [start, end).
func (s *Store) Results(ctx context.Context, host string, start, end time.Time, fn func(store.Result) error) error {
	err := s.results(ctx, host, start, end, func(r *raw) error {
		res, err := r.result(host)
		if err != nil {
			return err
		}
		return fn(res)
	})
	if err != nil {
		return fmt.Errorf("ql: results of %q: %w", host, err)
	}
	return nil
}

// result is the result of host that r holds.
func (r *raw) result(host string) (store.Result, error) {
	slot, loc, err := decodeKey(r.k)
	if err != nil {
		return store.Result{}, err
	}
	return store.Result{Host: host, Location: loc, Slot: slot, RTT: time.Duration(r.rtt), Up: r.up, Reason: string(r.reason),
		Maintenance: r.maint.Bool}, nil
}

// check is what a merged check needs of r: no location, and no reason
// when it is up.
func (r *raw) check() (store.Result, error) {
	if len(r.k) < headLen {
		return store.Result{}, errCorrupt
	}
	res := store.Result{Slot: timekey.Decode(r.k[idLen:]), RTT: time.Duration(r.rtt), Up: r.up, Maintenance: r.maint.Bool}
	if !r.up {
		res.Reason = string(r.reason)
	}
	return res, nil
}

func (s *Store) results(ctx context.Context, host string, start, end time.Time, fn func(r *raw) error) error {
	_, from, to, err := s.hostRange(ctx, host, start, end)
	if err != nil || !start.Before(end) {
		return err
	}
	return s.scan(ctx, from, to, fn)
}

// Checks streams the host's merged checks in [start, end).
func (s *Store) Checks(ctx context.Context, host string, start, end time.Time, fn func(store.Check) error) error {
	add, flush := store.MergeResults(fn)
	err := s.results(ctx, host, start, end, func(r *raw) error {
		res, err := r.check()
		if err != nil {
			return err
		}
		return add(res)
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("ql: checks of %q: %w", host, err)
	}
	return nil
}

// Buckets summarises [start, end): rows are read a chunk at a time and
// nothing but the buckets is kept.
func (s *Store) Buckets(ctx context.Context, host string, start, end time.Time, n int) ([]store.Bucket, error) {
	bk := store.NewBucketer(start, end, n)
	add, flush := store.MergeResults(func(c store.Check) error { bk.Add(c); return nil })
	if store.BucketWidth(start, end, n) == 0 {
		end = start // no bucket: only check the host
	}
	err := s.results(ctx, host, start, end, func(r *raw) error {
		res, err := r.check()
		if err != nil {
			return err
		}
		return add(res)
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, fmt.Errorf("ql: buckets of %q: %w", host, err)
	}
	return bk.Buckets(), nil
}

// first returns the first key in [from, to), nil when there is none: one
// index seek.
func (s *Store) first(ctx context.Context, from, to string) ([]byte, error) {
	var k []byte
	err := s.do(ctx, func(q queryer) error {
		_, err := queryOne(ctx, q, s.inRange("k", " LIMIT 1"), []any{from, to}, &k)
		return err
	})
	return k, err
}

// LastCheck merges the results of the host's newest slot. ql cannot read
// an index backwards (ORDER BY k DESC sorts all the host's rows), so the
// newest slot is searched for with seeks, from the newest slot of any
// host (newest_slot): a host checked by the last round is found in four
// seeks; one checked long before, after about 2·log2(its age / 1 minute).
func (s *Store) LastCheck(ctx context.Context, host string) (store.Check, bool, error) {
	c, ok, err := s.lastCheck(ctx, host)
	if err != nil {
		return store.Check{}, false, fmt.Errorf("ql: last check of %q: %w", host, err)
	}
	return c, ok, nil
}

// lastCheck is LastCheck without the error prefix: it finds the host's
// newest key (see newestSearch), then merges the results of its slot.
func (s *Store) lastCheck(ctx context.Context, host string) (store.Check, bool, error) {
	id, err := s.hostID(ctx, host)
	if err != nil {
		return store.Check{}, false, err
	}
	end := hostEnd(id)
	oldest, err := s.first(ctx, string(hostKey(id)), end)
	if err != nil || oldest == nil {
		return store.Check{}, false, err
	}
	now, err := s.newestSlot(ctx)
	if err != nil {
		return store.Check{}, false, err
	}
	f := &newestSearch{s: s, ctx: ctx, id: id, end: end, newest: oldest}
	if err := f.gallop(now); err != nil {
		return store.Check{}, false, err
	}
	if err := f.bisect(); err != nil {
		return store.Check{}, false, err
	}
	var rs []store.Result
	slot := slotOf(f.newest)
	err = s.scan(ctx, string(slot), prefixEnd(slot), func(r *raw) error {
		res, err := r.result(host)
		rs = append(rs, res)
		return err
	})
	if err != nil || len(rs) == 0 {
		return store.Check{}, false, err
	}
	return store.MergeSlot(rs), true, nil
}

// newestSearch looks for the newest key of the host with ID id, by seeks.
type newestSearch struct {
	s      *Store
	ctx    context.Context
	id     int64
	end    string // hostEnd(id)
	newest []byte // the newest key found so far
	hi     string // no key is at or after hi; "" until one is known
}

// found looks for a key at or after t, and moves newest or hi.
func (f *newestSearch) found(t time.Time) (bool, error) {
	k, err := f.s.first(f.ctx, timeKey(f.id, t), f.end)
	if err != nil {
		return false, err
	}
	if k == nil {
		f.hi = timeKey(f.id, t)
		return false, nil
	}
	if bytes.Compare(k, f.newest) > 0 {
		f.newest = k
	}
	return true, nil
}

// slotTime returns the slot of a result key.
func slotTime(k []byte) time.Time { return timekey.Decode(k[idLen:]) }

// gallop seeks from now, the newest slot of any host, back (or forward)
// by doubling steps, until newest and hi enclose the host's newest slot.
func (f *newestSearch) gallop(now time.Time) error {
	ok, err := f.found(now)
	if err != nil {
		return err
	}
	for step := time.Minute; step < 1<<61; step *= 2 {
		t := now.Add(-step)
		if ok {
			t = slotTime(f.newest).Add(step)
		} else if !t.After(slotTime(f.newest)) {
			break
		}
		more, err := f.found(t)
		if err != nil {
			return err
		}
		if more != ok {
			break
		}
	}
	return nil
}

// bisect halves the gap between newest and hi until newest is the last
// slot.
func (f *newestSearch) bisect() error {
	for f.hi != "" {
		more, err := f.found(slotTime(f.newest).Add(time.Nanosecond))
		if err != nil {
			return err
		}
		if !more {
			break
		}
		lo, up := slotTime(f.newest), slotTime([]byte(f.hi))
		if up.Sub(lo) <= time.Nanosecond {
			break
		}
		if _, err := f.found(lo.Add(up.Sub(lo) / 2)); err != nil {
			return err
		}
	}
	return nil
}

// newestSlot returns the newest slot of any host, now if there is none.
func (s *Store) newestSlot(ctx context.Context) (time.Time, error) {
	var t []byte
	err := s.do(ctx, func(q queryer) error {
		_, err := queryOne(ctx, q, `SELECT t FROM newest_slot`, nil, &t)
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("newest slot: %w", err)
	}
	if len(t) < timeLen {
		return time.Now(), nil
	}
	return timekey.Decode(t), nil
}

func (s *Store) hostID(ctx context.Context, host string) (int64, error) {
	var id int64
	err := s.do(ctx, func(q queryer) error {
		var err error
		id, err = hostID(ctx, q, host)
		return err
	})
	return id, err
}

// DeleteResultsBefore deletes, host by host, results whose slot is before
// t, in transactions of at most deleteBatch deletions, then the finished
// deliveries created before t.
func (s *Store) DeleteResultsBefore(ctx context.Context, t time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("ql: delete results: %w", err)
	}
	var ids []int64
	err := s.do(ctx, func(q queryer) error {
		return query(ctx, q, `SELECT id() FROM hosts`, nil, func(rows *sql.Rows) error {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("ql: delete results: %w", err)
	}
	var deleted int64
	for _, id := range ids {
		from, to := string(hostKey(id)), timeKey(id, t)
		for {
			var n int64
			err := s.inTx(ctx, func(tx *sql.Tx) error {
				// The last key of a batch, then everything up to it.
				var last []byte
				found, err := queryOne(ctx, tx, s.inRange("k", " LIMIT 1 OFFSET $3"), []any{from, to, int64(deleteBatch - 1)}, &last)
				if err != nil {
					return err
				}
				upTo := to
				if found {
					upTo = after(last)
				}
				res, err := tx.ExecContext(ctx, `DELETE FROM results WHERE k >= $1 && k < $2`, from, upTo)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return deleted, fmt.Errorf("ql: delete results: %w", err)
			}
			deleted += n
			if n < deleteBatch {
				break
			}
		}
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE status != $1 && created < $2`, store.DeliveryPending, t.UTC())
		return err
	})
	if err != nil {
		return deleted, fmt.Errorf("ql: delete deliveries: %w", err)
	}
	return deleted, nil
}
