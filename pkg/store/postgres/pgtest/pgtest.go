// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// The server comes from SRVMON_TEST_DATABASE_URL (scripts/test sets it,
// starting a throwaway cluster when needed). Without it a test fails when
// CI=true and otherwise skips with a loud message: nothing that needs
// PostgreSQL may skip silently in CI.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that holds the test server's URL.
const EnvURL = "SRVMON_TEST_DATABASE_URL"

// ServerURL returns the test server's URL, or fails (CI=true) or skips the
// test when there is none.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set and CI=true: PostgreSQL tests must run in CI (use scripts/test)", EnvURL)
		}
		tb.Skipf("SKIPPED: %s is not set; run scripts/test to test against PostgreSQL", EnvURL)
	}
	return u
}

// NewDatabase creates an empty database on the test server, drops it when
// the test ends, and returns its URL.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	server := ServerURL(tb)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	name := "srvmon_test_" + hex.EncodeToString(b[:])

	if err := execOn(server, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		if err := execOn(server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})

	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("parse %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Exec runs sql with args on the database at url, behind the store's
// back, and fails the test if it fails.
func Exec(tb testing.TB, url, sql string, args ...any) {
	tb.Helper()
	if err := execOn(url, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// execOn runs sql on its own connection to url, within 30 seconds.
func execOn(url, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// ClearLibpqEnv unsets, for the rest of the test, every PG variable of the
// caller's environment (PGHOST, PGPORT, PGUSER, PGSSLMODE…): pgx reads
// them for each setting a connection string leaves out, so a test of how
// settings are built, or of a server it runs itself, would otherwise
// depend on the shell it runs in. Tests of EnvURL's server keep them: its
// password, say, may come from PGPASSWORD. The variables are unset, not
// emptied, since pgx rejects an empty PGSSLCERTMODE; they are restored
// when the test ends. Like Setenv, it cannot be used in parallel tests.
func ClearLibpqEnv(tb testing.TB) {
	tb.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PG") {
			tb.Setenv(name, "") // records the value to restore
			if err := os.Unsetenv(name); err != nil {
				tb.Fatal(err)
			}
		}
	}
}
