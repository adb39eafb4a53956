package pgtest

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// ClearLibpqEnv leaves pgx nothing of the caller's PG variables, an empty
// PGSSLCERTMODE included, and restores them when the test ends.
func TestClearLibpqEnv(t *testing.T) {
	t.Setenv("PGPORT", "1")
	t.Setenv("PGHOST", "/nonexistent")
	t.Setenv("PGSSLCERTMODE", "")
	t.Run("cleared", func(t *testing.T) {
		ClearLibpqEnv(t)
		for _, name := range []string{"PGPORT", "PGHOST", "PGSSLCERTMODE"} {
			if v, ok := os.LookupEnv(name); ok {
				t.Errorf("%s=%q is still set", name, v)
			}
		}
		cfg, err := pgx.ParseConfig("postgres://u@127.0.0.1/db")
		if err != nil {
			t.Fatalf("ParseConfig: %v", err)
		}
		if cfg.Port != 5432 {
			t.Errorf("port %d, want 5432", cfg.Port)
		}
	})
	if v, ok := os.LookupEnv("PGPORT"); !ok || v != "1" {
		t.Errorf("PGPORT=%q (set %v) after the test, want 1", v, ok)
	}
	if _, ok := os.LookupEnv("PGSSLCERTMODE"); !ok {
		t.Error("PGSSLCERTMODE is not restored")
	}
}
