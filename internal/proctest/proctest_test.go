package proctest

import (
	"slices"
	"testing"
)

// Env drops what would configure srvmon behind a test's back and keeps
// the rest, the test server's URL included.
func TestEnvDropsSrvmonConfiguration(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://shell@127.0.0.1/prod")
	t.Setenv("SRVMON_DB_TYPE", "pg")
	t.Setenv("SRVMON_CHECKS_INTERVAL", "60")
	t.Setenv("SRVMON_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres")
	t.Setenv("DATABASE_URL_OTHER", "kept")
	t.Setenv("PROCTEST_KEPT", "1")
	env := Env("SRVMON_CHECKS_TIMEOUT=1", "DATABASE_URL=postgres://test@127.0.0.1/test")
	for _, kv := range []string{
		"SRVMON_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:1/postgres",
		"DATABASE_URL_OTHER=kept",
		"PROCTEST_KEPT=1",
		"SRVMON_CHECKS_TIMEOUT=1",
		"DATABASE_URL=postgres://test@127.0.0.1/test",
	} {
		if !slices.Contains(env, kv) {
			t.Errorf("Env lacks %s", kv)
		}
	}
	for _, kv := range []string{
		"DATABASE_URL=postgres://shell@127.0.0.1/prod",
		"SRVMON_DB_TYPE=pg",
		"SRVMON_CHECKS_INTERVAL=60",
	} {
		if slices.Contains(env, kv) {
			t.Errorf("Env keeps the test's %s", kv)
		}
	}
}
