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

	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return fmt.Errorf("connect to %s: %w", EnvURL, err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
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
