// Package ql is the store.Store kept by modernc.org/ql, a pure-Go embedded
// SQL database, through database/sql: in a file (driver ql2) or in memory
// (driver ql-mem), gosrvmon's DB Type "ql".
//
// QL is not standard SQL. What this package relies on, checked in ql's
// documentation and by its tests:
//   - the planner uses an index of one column, for WHERE col relOp $n, and
//     iterates it in key order; an index over several columns only
//     enforces uniqueness. So a result's key is one string column (see
//     keys.go) and a range is k >= $1 && k < $2.
//   - ORDER BY sorts whatever it gets, even rows read in index order, and
//     ql's sort costs much more than the index scan. Open checks
//     with EXPLAIN that a range query is an index scan in key order and
//     then reads ranges without ORDER BY; readers check the order as they
//     go and fail rather than return rows out of order.
//   - INSERT INTO t IF NOT EXISTS VALUES (…), (…) skips each row that a
//     unique index refuses, the rest are inserted: a round is idempotent.
//     Without IF NOT EXISTS, one duplicate fails the whole statement.
//   - A write transaction holds the whole database: reads wait for it. A
//     stream holds a read lock while ql produces its rows, so streams read
//     a chunk at a time and call back outside of it.
//   - An index cannot be read backwards: ORDER BY k DESC LIMIT 1 sorts the
//     whole range. LastCheck searches for the newest slot with seeks.
//   - ql's file storage is not safe for concurrent readers, and a closed
//     result set's producer goes on for a while: a Store runs one
//     operation at a time and drains every result set (see query).
//   - IDs come from id(); $1… are parameters; fields an ORDER BY names
//     must be selected.
package ql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/ql/driver" // drivers ql2 and ql-mem

	"github.com/srvmon/srvmon/pkg/store"
)

// schemaVersion is the layout this package reads and writes. Version 2
// added the tables monitors and facts, which a version 1 database gets at
// Open (the schema's statements create what is missing). Version 3 added
// the facts columns added, last_push_up and last_push_reason, which a
// version 2 database gets at Open (factsColumns); its rows read them
// NULL: Added and the last push's verdict zero.
//
// Version 4, for maintenance windows, added the results column maint
// (resultsColumns; a version 3 row reads it NULL: not in maintenance) and
// the tables maintenance and maintenance_last_id (see maintenance.go);
// for alerting, the table locations and the alertingColumns of rules,
// states and deliveries, which a version 3 database gets at Open (its
// rows read them NULL: srvmon's fields zero).
const schemaVersion = 4

// resultsColumns are the columns of results that schema version 4 added:
// nullable, since a version 3 table gains them with its rows.
var resultsColumns = [][2]string{{"maint", "bool"}}

// factsColumns are the columns of facts that schema version 3 added, with
// their types: nullable, since a version 2 table gains them with its rows.
var factsColumns = [][2]string{{"added", "string"}, {"last_push_up", "bool"}, {"last_push_reason", "string"}}

// alertingColumns are the columns that schema version 4 added to the
// tables of alerting, by table, with their types: nullable, as
// factsColumns. (A slice: a map literal is built at package init.)
var alertingColumns = []struct {
	table   string
	columns [][2]string
}{
	{"rules", [][2]string{{"alerting", "string"}}},
	{"states", [][2]string{{"since", "time"}, {"recent", "int64"}, {"recent_len", "int64"}, {"notified", "string"}, {"reason", "string"},
		{"locations", "string"}, {"next_reminder", "time"}, {"cert_expiry", "time"}, {"cert_days", "int64"}, {"down_for", "int64"}}},
	{"deliveries", [][2]string{{"channel", "string"}, {"event", "string"}, {"title", "string"}, {"message", "string"}}},
}

// schema creates the tables of schemaVersion; every statement is a no-op
// when its table or index exists.
const schema = `
CREATE TABLE IF NOT EXISTS srvmon_schema (version int64 NOT NULL);
CREATE TABLE IF NOT EXISTS newest_slot (t string NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (name string NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS hosts_name ON hosts (name);
CREATE TABLE IF NOT EXISTS results (k string NOT NULL, rtt int64 NOT NULL, up bool NOT NULL, reason string NOT NULL, maint bool);
CREATE UNIQUE INDEX IF NOT EXISTS results_k ON results (k);
CREATE TABLE IF NOT EXISTS rules (host string NOT NULL, threshold int64 NOT NULL, action string NOT NULL,
	alerting string);
CREATE UNIQUE INDEX IF NOT EXISTS rules_host ON rules (host);
CREATE TABLE IF NOT EXISTS states (host string NOT NULL, status string NOT NULL, count int64 NOT NULL, last_slot time NOT NULL,
	since time, recent int64, recent_len int64, notified string, reason string, locations string, next_reminder time,
	cert_expiry time, cert_days int64, down_for int64);
CREATE UNIQUE INDEX IF NOT EXISTS states_host ON states (host);
CREATE TABLE IF NOT EXISTS deliveries (host string NOT NULL, url string NOT NULL, created time NOT NULL,
	next_attempt time NOT NULL, attempts int64 NOT NULL, last_error string NOT NULL, status string NOT NULL,
	channel string, event string, title string, message string);
CREATE INDEX IF NOT EXISTS deliveries_host ON deliveries (host);
CREATE INDEX IF NOT EXISTS deliveries_next ON deliveries (next_attempt);
CREATE TABLE IF NOT EXISTS monitors (host string NOT NULL, settings string NOT NULL, push_token string NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS monitors_host ON monitors (host);
CREATE INDEX IF NOT EXISTS monitors_push_token ON monitors (push_token);
CREATE TABLE IF NOT EXISTS facts (host string NOT NULL, cert_expiry string NOT NULL, last_push string NOT NULL,
	added string, last_push_up bool, last_push_reason string);
CREATE UNIQUE INDEX IF NOT EXISTS facts_host ON facts (host);
CREATE TABLE IF NOT EXISTS maintenance (wid int64 NOT NULL, doc string NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS maintenance_wid ON maintenance (wid);
CREATE TABLE IF NOT EXISTS maintenance_last_id (id int64 NOT NULL);
CREATE TABLE IF NOT EXISTS locations (name string NOT NULL, last_slot time NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS locations_name ON locations (name);
`

// Store is a store.Store in a ql database. It is safe for concurrent use.
type Store struct {
	db *sql.DB
	// keep holds a connection for the life of the Store: the driver
	// closes a database with its last connection, and a memory one is
	// then gone.
	keep *sql.Conn
	// sortRanges: range queries need ORDER BY k, because Open did not
	// find that the planner reads the results index in key order.
	sortRanges bool
	// mu makes the Store's operations one at a time: see query.
	mu sync.Mutex
	// insertRows is how many rows one INSERT statement writes.
	insertRows int
	// chunk is how many rows a stream reads per query.
	chunk int
}

var _ store.Store = (*Store)(nil)

// Open opens the ql database in the file at path, creating and initialising
// it when it is missing, or a new database in memory when path is "". It
// refuses a database that is not an srvmon store or whose schema is newer
// than this package. ql locks the file against other processes; within
// one process, open a file once and share the Store: two Stores of one
// file would share ql's database but not the lock that keeps its reads
// apart (see query).
func Open(ctx context.Context, path string) (*Store, error) {
	driver, name := "ql2", path
	if path == "" {
		// The memory driver shares a database between opens of one name.
		var b [16]byte
		rand.Read(b[:])
		driver, name = "ql-mem", "srvmon-"+hex.EncodeToString(b[:])
	}
	s, err := open(ctx, driver, name)
	if err != nil {
		where := path
		if path == "" {
			where = "memory"
		}
		return nil, fmt.Errorf("ql: open %s: %w", where, err)
	}
	return s, nil
}

func open(ctx context.Context, driver, name string) (*Store, error) {
	db, err := sql.Open(driver, name)
	if err != nil {
		return nil, err
	}
	keep, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, keep: keep, insertRows: defaultInsertRows, chunk: defaultChunk}
	if err := s.initialise(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// initialise creates the schema of a new database, checks the version of
// an existing one and chooses how to read ranges.
func (s *Store) initialise(ctx context.Context) error {
	var existing []string
	err := query(ctx, s.db, `SELECT Name FROM __Table`, nil, func(rows *sql.Rows) error {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		existing = append(existing, n)
		return nil
	})
	if err != nil {
		return err
	}
	if len(existing) > 0 && !slices.Contains(existing, "srvmon_schema") {
		return fmt.Errorf("not an srvmon store (it holds tables %q; a gosrvmon database is moved over with a backup and a restore)", existing)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		var version int64
		switch found, err := queryOne(ctx, tx, `SELECT version FROM srvmon_schema`, nil, &version); {
		case err == nil && !found:
			if _, err := tx.ExecContext(ctx, `INSERT INTO srvmon_schema VALUES ($1)`, int64(schemaVersion)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO newest_slot VALUES ("")`)
			return err
		case err != nil:
			return fmt.Errorf("schema version: %w", err)
		case version > schemaVersion:
			return fmt.Errorf("schema version %d is newer than this srvmon's (%d): upgrade srvmon", version, schemaVersion)
		case version < 1:
			return fmt.Errorf("invalid schema version %d", version)
		case version < schemaVersion:
			// The schema's statements created the tables it lacked;
			// a table of an older version gains its new columns.
			if err := addColumns(ctx, tx, "facts", factsColumns); err != nil {
				return fmt.Errorf("upgrade schema version %d to %d: %w", version, schemaVersion, err)
			}
			if err := addColumns(ctx, tx, "results", resultsColumns); err != nil {
				return fmt.Errorf("upgrade schema version %d to %d: %w", version, schemaVersion, err)
			}
			for _, t := range alertingColumns {
				if err := addColumns(ctx, tx, t.table, t.columns); err != nil {
					return fmt.Errorf("upgrade schema version %d to %d: %w", version, schemaVersion, err)
				}
			}
			_, err := tx.ExecContext(ctx, `UPDATE srvmon_schema SET version = $1`, int64(schemaVersion))
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	var plan []string
	err = query(ctx, s.db, `EXPLAIN `+s.inRange(resultCols, " LIMIT $3"), []any{"a", "b", int64(1)}, func(rows *sql.Rows) error {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		plan = append(plan, line)
		return nil
	})
	if err != nil {
		return fmt.Errorf("explain the range query: %w", err)
	}
	s.sortRanges = !indexScanInOrder(plan)
	return nil
}

// addColumns adds to table the columns of cols it lacks: those a later
// schema version added to a table of an older database; none to a table
// the schema just created.
func addColumns(ctx context.Context, tx *sql.Tx, table string, cols [][2]string) error {
	var have []string
	err := query(ctx, tx, `SELECT Name FROM __Column WHERE TableName == $1`, []any{table}, func(rows *sql.Rows) error {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		have = append(have, n)
		return nil
	})
	if err != nil {
		return fmt.Errorf("columns of %s: %w", table, err)
	}
	for _, c := range cols {
		if slices.Contains(have, c[0]) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+table+` ADD `+c[0]+` `+c[1]); err != nil {
			return fmt.Errorf("add column %s.%s: %w", table, c[0], err)
		}
	}
	return nil
}

// indexScanInOrder reports whether a plan reads the results index and does
// nothing that could change the order of its rows.
func indexScanInOrder(plan []string) bool {
	scan := false
	for _, line := range plan {
		switch {
		case strings.Contains(line, `using index "results_k"`):
			scan = true
		case strings.Contains(line, "Output field names"), strings.Contains(line, "Pass first"):
		default:
			return false
		}
	}
	return scan
}

// Close closes the database; a memory database is gone.
func (s *Store) Close() error {
	err := errors.Join(s.keep.Close(), s.db.Close())
	if err != nil {
		return fmt.Errorf("ql: close: %w", err)
	}
	return nil
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// query runs a query and calls fn for each row.
//
// ql's Rows.Close does not wait for the goroutine that produces the rows,
// and ql's file storage is not safe for concurrent readers (the race
// detector catches modernc.org/internal/file's page cache): a query must
// not start before the previous one is done. So query reads every row,
// also after an error from fn, and runs the query with a context that
// database/sql cannot cancel (cancelling closes the rows early); it checks
// ctx itself.
func query(ctx context.Context, q queryer, query string, args []any, fn func(*sql.Rows) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	rows, err := q.QueryContext(context.WithoutCancel(ctx), query, args...)
	if err != nil {
		return err
	}
	defer func() {
		for rows.Next() { // drain: see above
		}
		err = errors.Join(err, rows.Close())
	}()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// queryOne scans the first row of a query into dest; found is false when
// there is none.
func queryOne(ctx context.Context, q queryer, stmt string, args []any, dest ...any) (found bool, err error) {
	err = query(ctx, q, stmt, args, func(rows *sql.Rows) error {
		if found {
			return nil
		}
		found = true
		return rows.Scan(dest...)
	})
	return found, err
}

// do runs fn with the database, one operation of the Store at a time.
func (s *Store) do(ctx context.Context, fn func(q queryer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(s.db)
}

// inTx runs fn in a transaction, committed if fn returns nil, one
// operation of the Store at a time. The transaction's context cannot be
// cancelled (database/sql would roll it back under a running statement);
// fn's statements check ctx.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil { // BEGIN may have waited for another writer
		tx.Rollback()
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// hostID returns the ID of a stored host, store.ErrNotFound if it is not.
func hostID(ctx context.Context, q queryer, host string) (int64, error) {
	var id int64
	found, err := queryOne(ctx, q, `SELECT id() FROM hosts WHERE name == $1`, []any{host}, &id)
	if err == nil && !found {
		err = store.ErrNotFound
	}
	return id, err
}

// checkHostName rejects a name that is no host.
func checkHostName(host string) error {
	if err := store.CheckHostName(host); err != nil {
		return fmt.Errorf("ql: %w", err)
	}
	return nil
}

// Hosts lists the stored hosts in byte order.
func (s *Store) Hosts(ctx context.Context) ([]string, error) {
	hosts := []string{}
	err := s.do(ctx, func(q queryer) error {
		return query(ctx, q, `SELECT name FROM hosts ORDER BY name`, nil, func(rows *sql.Rows) error {
			var h string
			if err := rows.Scan(&h); err != nil {
				return err
			}
			hosts = append(hosts, h)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ql: hosts: %w", err)
	}
	return hosts, nil
}

// AddHost stores a host; store.ErrExists if it is stored already.
func (s *Store) AddHost(ctx context.Context, host string) error {
	if err := checkHostName(host); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		created, err := addHost(ctx, tx, host, store.AddedNow())
		if err == nil && !created {
			err = store.ErrExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ql: add host %q: %w", host, err)
	}
	return nil
}

// addHost stores host unless it is stored; when it adds it (created), it
// records its Facts.Added.
func addHost(ctx context.Context, tx *sql.Tx, host string, added time.Time) (created bool, err error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO hosts IF NOT EXISTS VALUES ($1)`, host)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	return true, putFacts(ctx, tx, store.Facts{Host: host, Added: added}, false)
}

// HostExists reports whether host is stored.
func (s *Store) HostExists(ctx context.Context, host string) (bool, error) {
	err := s.do(ctx, func(q queryer) error {
		_, err := hostID(ctx, q, host)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("ql: host exists %q: %w", host, err)
	}
	return true, nil
}

// DeleteHost deletes host with its settings, facts, results, rule, state
// and deliveries, in one transaction.
func (s *Store) DeleteHost(ctx context.Context, host string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		id, err := hostID(ctx, tx, host)
		if err != nil {
			return err
		}
		for _, st := range []struct {
			query string
			args  []any
		}{
			{`DELETE FROM hosts WHERE name == $1`, []any{host}},
			{`DELETE FROM results WHERE k >= $1 && k < $2`, []any{string(hostKey(id)), hostEnd(id)}},
			{`DELETE FROM rules WHERE host == $1`, []any{host}},
			{`DELETE FROM states WHERE host == $1`, []any{host}},
			{`DELETE FROM deliveries WHERE host == $1`, []any{host}},
			{`DELETE FROM monitors WHERE host == $1`, []any{host}},
			{`DELETE FROM facts WHERE host == $1`, []any{host}},
		} {
			if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ql: delete host %q: %w", host, err)
	}
	return nil
}
