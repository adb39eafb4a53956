package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// migrationFiles holds the schema, one file per version, named
// NNNN_name.sql. A migration is never edited once released: a change is a
// new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey is the pg_advisory_xact_lock key under which the
// migrations run, so that processes starting at once apply each one once.
// It is "srvmon" in ASCII.
const migrationLockKey int64 = 0x7372766d6f6e

// migration is one versioned schema change.
type migration struct {
	version int
	name    string // the file name
	sql     string
}

// migrations returns the embedded migrations in version order, checking
// that their versions are positive and distinct. A version may be
// missing: migrations written apart take a number each, and migrate
// applies every one that schema_migrations does not record, in version
// order, so that a database migrated without one gets it later.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version < 1 || i > 0 && m.version == ms[i-1].version {
			return nil, fmt.Errorf("migration %s: version %d is not positive or not the only one", m.name, m.version)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this package migrates a database
// to: its newest migration's.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// missing returns the migrations of ms that applied does not hold, in
// version order, or an error when applied holds a version that ms does
// not know (a newer srvmon's).
func missing(ms []migration, applied []int) ([]migration, error) {
	known := make(map[int]bool, len(ms))
	for _, m := range ms {
		known[m.version] = true
	}
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		switch newest := ms[len(ms)-1].version; {
		case v > newest:
			return nil, errNewerSchema(v, newest)
		case !known[v]:
			return nil, fmt.Errorf("the database has migration %d, which this srvmon does not have (another build's): open it with that build", v)
		}
		done[v] = true
	}
	var todo []migration
	for _, m := range ms {
		if !done[m.version] {
			todo = append(todo, m)
		}
	}
	return todo, nil
}

// DefaultMigrationLockWait bounds how long Open waits for another
// process's migration (the advisory lock), and for the server to tell
// which migrations are applied: a server that stopped answering, or a
// process that froze while migrating, fails Open rather than hangs it.
// Migrating itself is not bounded: upgrading a large gosrvmon database
// takes a while.
const DefaultMigrationLockWait = time.Minute

// migrate brings the database's schema up to date. When it is already, it
// only reads schema_migrations (a role without CREATE can then open the
// store). Otherwise it applies the missing migrations in one transaction
// under an advisory lock: concurrent callers wait for the first one and
// then find nothing left to do; a failed migration leaves the database
// as it was.
//
// A process that applied migrations to a database that holds checks
// never summarised (a gosrvmon database above all) then summarises them
// (summariseAll: Summarise's bounded steps, each its own transaction,
// until every hour that has ended is summarised), so that the first
// charts after the upgrade read hourly summaries rather than every check.
// Should that fail, Open fails with the migrations applied; the next Open
// skips it, and maintenance goes on where it stopped.
func migrate(ctx context.Context, conn *pgx.Conn, lockWait time.Duration) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, lockWait)
	applied, err := appliedVersions(actx, conn)
	cancel()
	if err != nil {
		return err
	}
	if todo, err := missing(ms, applied); err != nil || len(todo) == 0 {
		return err
	}
	migrated := false
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// lock_timeout bounds the wait for the advisory lock, and for any
		// table lock a migration takes; it ends with the transaction.
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", max(lockWait.Milliseconds(), 1))); err != nil {
			return fmt.Errorf("set the lock timeout: %w", err)
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("take the migration lock (waited at most %v for another process migrating): %w", lockWait, err)
		}
		// Another process may have migrated while this one waited for the
		// lock; this statement's snapshot sees what it committed.
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer NOT NULL PRIMARY KEY,
			name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`)
		if err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rows, _ := tx.Query(ctx, "SELECT version FROM schema_migrations")
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		todo, err := missing(ms, applied)
		if err != nil {
			return err
		}
		for _, m := range todo {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
			migrated = true
		}
		return nil
	})
	if err != nil || !migrated {
		return err
	}
	var unsummarised bool
	err = conn.QueryRow(ctx, "SELECT summarised_until IS NULL AND EXISTS (SELECT FROM checks) FROM summary_progress").Scan(&unsummarised)
	if err != nil {
		return fmt.Errorf("read summary_progress: %w", err)
	}
	if !unsummarised {
		return nil
	}
	if err := summariseAll(ctx, conn, time.Now()); err != nil {
		return fmt.Errorf("summarise the stored history: %w", err)
	}
	return nil
}

// appliedVersions returns the versions of the migrations applied, none
// when there is no schema_migrations table yet.
func appliedVersions(ctx context.Context, conn *pgx.Conn) ([]int, error) {
	var exists bool
	err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists)
	if err != nil {
		return nil, fmt.Errorf("look for schema_migrations: %w", err)
	}
	if !exists {
		return nil, nil
	}
	rows, _ := conn.Query(ctx, "SELECT version FROM schema_migrations")
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return vs, nil
}

func errNewerSchema(applied, known int) error {
	return fmt.Errorf("the database's schema is at version %d, newer than this srvmon knows (%d): upgrade srvmon", applied, known)
}
