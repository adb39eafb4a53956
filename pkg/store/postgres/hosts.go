package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
)

// Hosts lists the hosts in byte order; never nil.
func (s *Store) Hosts(ctx context.Context) ([]string, error) {
	return hostsOf(ctx, s.pool)
}

// hostsOf lists the hosts q sees.
func hostsOf(ctx context.Context, q querier) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, _ := q.Query(ctx, `SELECT host FROM hosts ORDER BY host COLLATE "C"`)
	hosts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: list hosts: %w", err)
	}
	if hosts == nil {
		hosts = []string{}
	}
	return hosts, nil
}

// AddHost adds a host; ErrExists if it is stored.
func (s *Store) AddHost(ctx context.Context, host string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckHostName(host); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	tag, err := s.pool.Exec(ctx, addHostsSQL, []string{host}, store.AddedNow())
	if err != nil {
		return fmt.Errorf("postgres: add host %q: %w", host, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: host %q: %w", host, store.ErrExists)
	}
	return nil
}

// addHostsSQL adds the hosts $1 that are not stored, and records their
// Facts.Added, $2, in one statement: as many rows are affected as hosts
// were added.
const addHostsSQL = `WITH added AS (INSERT INTO hosts (host) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING host)
INSERT INTO host_facts (host, added) SELECT host, $2 FROM added
ON CONFLICT (host) DO UPDATE SET added = excluded.added`

// DeleteHost deletes the host with its settings, facts, results,
// summaries, rule, state and deliveries; ErrNotFound if it is not stored. It takes the summaries lock
// exclusively: it waits for the rounds and restores under way (which hold
// it shared) and deletes what they stored, and the ones after it find the
// host gone.
func (s *Store) DeleteHost(ctx context.Context, host string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", summariesLockKey); err != nil {
			return fmt.Errorf("lock the summaries: %w", err)
		}
		// The settings, facts, rule, state, deliveries and last results
		// go by ON DELETE CASCADE; the last results before the checks, so
		// that the trigger that keeps them (migration 0010) has none of
		// the host's rows to replace with older results.
		tag, err := tx.Exec(ctx, "DELETE FROM hosts WHERE host = $1", host)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound(host)
		}
		if _, err = tx.Exec(ctx, "DELETE FROM checks WHERE host = $1", host); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, "DELETE FROM check_summaries WHERE host = $1", host); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM check_summaries_daily WHERE host = $1", host)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("postgres: delete host %q: %w", host, err)
	}
	return err
}

// HostExists reports whether the host is stored.
func (s *Store) HostExists(ctx context.Context, host string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return hostExists(ctx, s.pool, host)
}
