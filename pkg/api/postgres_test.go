package api

import (
	"testing"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// openPostgres opens a store on a fresh database of the test server
// (pgtest: skipped loudly without SRVMON_TEST_DATABASE_URL, failed in CI).
func openPostgres(tb testing.TB) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), postgres.Config{URL: pgtest.NewDatabase(tb)})
	if err != nil {
		tb.Fatalf("postgres.Open: %v", err)
	}
	return s
}

// extraBackends adds PostgreSQL to the stores every handler test runs on.
func extraBackends() []backend {
	return []backend{{"postgres", func(t testing.TB) store.Store { return openPostgres(t) }}}
}

// extraBenchBackends adds PostgreSQL to the benchmarks.
func extraBenchBackends() []benchBackend {
	return []benchBackend{{"postgres", func(b *testing.B) store.Store { return openPostgres(b) }}}
}
