package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
)

var _ store.Snapshotter = (*Store)(nil)

// Snapshot calls fn with a Reader on one REPEATABLE READ, READ ONLY
// transaction: every query fn makes sees the database as of the
// transaction's first query, and rows stream as fn reads them. It holds a
// connection of the pool for as long as fn runs, and, as any long
// transaction does, keeps VACUUM from removing rows deleted meanwhile.
func (s *Store) Snapshot(ctx context.Context, fn func(store.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: begin snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to commit
	return fn(snapshot{q: tx})
}

// snapshot is a store.Reader on one transaction.
type snapshot struct {
	q querier
}

func (sn snapshot) Hosts(ctx context.Context) ([]string, error) { return hostsOf(ctx, sn.q) }

func (sn snapshot) Rules(ctx context.Context) ([]store.Rule, error) { return rulesOf(ctx, sn.q) }

func (sn snapshot) Results(ctx context.Context, host string, start, end time.Time, fn func(store.Result) error) error {
	return resultsOf(ctx, sn.q, host, start, end, fn)
}
