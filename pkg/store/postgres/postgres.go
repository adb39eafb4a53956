// Package postgres is srvmon's store.Store on PostgreSQL, through pgx's
// connection pool.
//
// Open connects (within a connect timeout, never hanging on a server that
// does not answer) and brings the schema up to date: embedded, versioned
// migrations, applied in one transaction under an advisory lock so that
// many processes may start at once. A database made by gosrvmon is
// upgraded in place and keeps its data; gosrvmon's table names are kept
// (see migrations/0002_srvmon.sql).
//
// Results live in gosrvmon's checks table, unique on (host, check_time,
// location); check_time is the slot, a timestamp without time zone that
// holds UTC, as gosrvmon stored it. Every time is returned in UTC whatever
// the server's or the session's TimeZone (sessions are set to UTC anyway).
// PostgreSQL keeps microseconds: finer times are truncated when stored,
// and range bounds are compared exactly. Each stored host and location's
// newest result is in last_results too, for the last checks, kept by
// triggers on checks and hosts, whoever writes them (see
// migrations/0010_last_results.sql).
package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres/connstr"
)

// Defaults for the zero fields of Config.
const (
	DefaultMaxConns       = 8
	DefaultConnectTimeout = 10 * time.Second
	DefaultHost           = "localhost"
	DefaultPort           = "5432"
)

// Config says where the database is.
type Config struct {
	// URL is a PostgreSQL URL or keyword/value string (DATABASE_URL),
	// e.g. "postgres://srvmon@localhost/srvmon". When set, it wins over
	// the fields below.
	URL string
	// Host, Port, User, Password and Database are gosrvmon's DB fields,
	// used when URL is empty. Host defaults to DefaultHost (a path is a
	// Unix socket directory), Port to DefaultPort, Database to the user's
	// name. TLS is used when the server offers it (sslmode=prefer).
	Host, Port, User, Password, Database string
	// MaxConns bounds the pool; 0 means DefaultMaxConns.
	MaxConns int32
	// ConnectTimeout bounds each connection attempt. 0 means the URL's
	// connect_timeout, or DefaultConnectTimeout when it has none.
	ConnectTimeout time.Duration
	// MigrationLockWait bounds Open's wait for another process's migration;
	// 0 means DefaultMigrationLockWait.
	MigrationLockWait time.Duration
}

// Store is a store.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database and migrates its schema to the current
// version (creating it in an empty database, as gosrvmon's -init did, and
// upgrading a gosrvmon database in place). An unreachable server, or one
// that does not answer, is an error after the connect timeout. No error
// shows a password of the connection settings (see safeError).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s, err := open(ctx, cfg)
	if err != nil {
		return nil, safeError(err, cfg.connString())
	}
	return s, nil
}

// open does the work of Open; its errors may show passwords.
func open(ctx context.Context, cfg Config) (*Store, error) {
	pcfg, err := poolConfig(cfg)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// pgx bounds each address it tries by the connect timeout; bound the
	// whole first connection too (a name may resolve to several addresses).
	cctx, cancel := context.WithTimeout(ctx, pcfg.ConnConfig.ConnectTimeout)
	conn, err := pool.Acquire(cctx)
	cancel()
	if err != nil {
		pool.Close()
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("postgres: connect to %s: timed out after %v (the connect timeout): %w",
				describe(pcfg.ConnConfig), pcfg.ConnConfig.ConnectTimeout, err)
		}
		return nil, fmt.Errorf("postgres: connect to %s: %w", describe(pcfg.ConnConfig), err)
	}
	err = migrate(ctx, conn.Conn(), cmp.Or(cfg.MigrationLockWait, DefaultMigrationLockWait))
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate the schema of %s: %w", describe(pcfg.ConnConfig), err)
	}
	return &Store{pool: pool}, nil
}

// redactedError is an error whose message has the passwords masked; it
// unwraps to the error it was made from (whose message has not).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// safeError returns err with every password of connString masked in its
// message (connstr.Redact). pgx masks a connection string it could not
// parse by itself, on a best-effort basis that leaves part of a quoted
// password with an escaped quote in it: its message says what is wrong,
// then "in" and the string, whole, for connstr.Redact to mask exactly
// (last, so that the value that ends it ends the message).
func safeError(err error, connString string) error {
	msg := err.Error()
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		pgxMsg := pe.Error()
		prefix := pgconn.NewParseConfigError(pe.ConnString, "", nil).Error() // "cannot parse `…`: "
		if rest, ok := strings.CutPrefix(pgxMsg, prefix); ok {
			msg = strings.Replace(msg, pgxMsg, rest+" in "+pe.ConnString, 1)
		}
	}
	return &redactedError{msg: connstr.Redact(msg, connString), err: err}
}

// Init creates or upgrades the schema and returns: what gosrvmon's -init
// flag did, for an empty database or one made by any earlier version.
// Open does the same, so Init is only needed to prepare a database ahead
// of time.
func Init(ctx context.Context, cfg Config) error {
	s, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	return s.Close()
}

// Vacuum runs VACUUM (ANALYZE) on the tables of results, last results and summaries:
// what autovacuum does now and then. After a large restore, it makes
// reads of the restored history as fast at once as they become once
// autovacuum has been by (it sets the visibility map and the hint bits,
// and gathers the planner's statistics).
func (s *Store) Vacuum(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, "VACUUM (ANALYZE) checks, last_results, check_summaries, check_summaries_daily"); err != nil {
		return fmt.Errorf("postgres: vacuum: %w", err)
	}
	return nil
}

// Close closes every connection of the pool. A connection whose call was
// cut short by its context is closed by asking the server to cancel the
// call; with a server that stopped answering, pgx waits up to 15 s for it.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// poolConfig turns a Config into pgxpool's, with the connect timeout,
// the pool bound and a UTC session time zone set.
func poolConfig(cfg Config) (*pgxpool.Config, error) {
	connString := cfg.connString()
	pcfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad connection settings: %w", err)
	}
	cc := pcfg.ConnConfig
	switch {
	case cfg.ConnectTimeout > 0:
		cc.ConnectTimeout = cfg.ConnectTimeout
	case cfg.ConnectTimeout < 0:
		return nil, fmt.Errorf("postgres: negative connect timeout %v", cfg.ConnectTimeout)
	case cc.ConnectTimeout == 0:
		cc.ConnectTimeout = DefaultConnectTimeout
	}
	switch {
	case cfg.MaxConns > 0:
		pcfg.MaxConns = cfg.MaxConns
	case cfg.MaxConns < 0:
		return nil, fmt.Errorf("postgres: negative MaxConns %d", cfg.MaxConns)
	case !strings.Contains(connString, "pool_max_conns"):
		pcfg.MaxConns = DefaultMaxConns
	}
	for k := range cc.RuntimeParams {
		if strings.EqualFold(k, "timezone") {
			delete(cc.RuntimeParams, k)
		}
	}
	cc.RuntimeParams["timezone"] = "UTC"
	// srvmon's queries are short or bounded; JIT compiling them costs
	// more than it saves (hundreds of ms for a year of buckets).
	if _, ok := cc.RuntimeParams["jit"]; !ok {
		cc.RuntimeParams["jit"] = "off"
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "srvmon"
	}
	return pcfg, nil
}

// connString is what pgx parses: the URL, or one made from the fields.
func (cfg Config) connString() string {
	if cfg.URL != "" {
		return cfg.URL
	}
	return fieldsURL(cfg)
}

// fieldsURL builds a connection URL from gosrvmon's DB fields.
func fieldsURL(cfg Config) string {
	host, port := cfg.Host, cfg.Port
	if host == "" {
		host = DefaultHost
	}
	if port == "" {
		port = DefaultPort
	}
	u := url.URL{Scheme: "postgres", Path: "/" + cfg.Database}
	q := url.Values{"sslmode": {"prefer"}}
	if strings.HasPrefix(host, "/") {
		q.Set("host", host) // a Unix socket directory
		q.Set("port", port)
	} else {
		u.Host = net.JoinHostPort(host, port)
	}
	switch {
	case cfg.User != "" && cfg.Password != "":
		u.User = url.UserPassword(cfg.User, cfg.Password)
	case cfg.User != "":
		u.User = url.User(cfg.User)
	case cfg.Password != "":
		q.Set("password", cfg.Password)
	}
	// Encode writes a space as "+", which pgx reads as a plus: use %20.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

// describe names the server and database of a config, without secrets,
// for error messages.
func describe(cc *pgx.ConnConfig) string {
	addr := cc.Host
	if !strings.HasPrefix(addr, "/") {
		addr = net.JoinHostPort(cc.Host, fmt.Sprint(cc.Port))
	}
	return fmt.Sprintf("%s (database %q, user %q)", addr, cc.Database, cc.User)
}

// PostgreSQL error codes the store maps to its own errors.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
)

// isCode reports whether err is a PostgreSQL error with the code.
func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// notFound is the error for a host that is not stored.
func notFound(host string) error { return fmt.Errorf("postgres: host %q: %w", host, store.ErrNotFound) }

// hostExists reports whether the host is stored.
func hostExists(ctx context.Context, q querier, host string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM hosts WHERE host = $1)", host).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("postgres: look up host %q: %w", host, err)
	}
	return ok, nil
}

// querier is what a pool, a connection and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Times: check_time is a timestamp without time zone holding UTC; pgx
// sends a time.Time as a timestamp by its wall clock, so every time bound
// for check_time goes through utc or bound. timestamptz columns take any
// time.Time as the instant it is, and are read back with .UTC().

// utc is t in UTC, as a timestamp parameter for check_time.
func utc(t time.Time) time.Time { return t.UTC() }

// bound is a range bound for check_time, which holds microseconds: the
// first microsecond at or after t, so that "check_time >= bound(start)"
// and "check_time < bound(end)" compare exactly with nanosecond bounds.
func bound(t time.Time) time.Time {
	t = t.UTC()
	if r := t.Nanosecond() % 1000; r != 0 {
		t = t.Add(time.Duration(1000 - r))
	}
	return t
}
