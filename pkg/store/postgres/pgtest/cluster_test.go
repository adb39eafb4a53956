package pgtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A cluster serves, stops at once, and serves again on its port with
// what was committed; it asks for the password on TCP.
func TestCluster(t *testing.T) {
	c := StartCluster(t)
	db := c.NewDatabase(t, "clustertest")
	Exec(t, db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
	c.Stop(t)
	if err := execOn(db, "SELECT 1"); err == nil {
		t.Fatal("the stopped cluster answered")
	}
	c.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Errorf("after a restart: %d rows, %v; want 1", n, err)
	}
	wrong := strings.Replace(db, ClusterPassword, "wrong", 1)
	if err := execOn(wrong, "SELECT 1"); err == nil || !strings.Contains(err.Error(), "28P01") {
		t.Errorf("a wrong password: %v, want SQLSTATE 28P01", err)
	}
}
