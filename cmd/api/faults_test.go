package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// backupBody writes a full backup of one host with n checks, one a
// minute from 2026-01-01. Before the second half of them it calls
// midway, which may wait.
func backupBody(w io.Writer, host string, n int, midway func()) error {
	if _, err := fmt.Fprintf(w, `{"hosts":[%q],"notifications":[],"checks":{%q:[`, host, host); err != nil {
		return err
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		if i == n/2 && midway != nil {
			midway()
		}
		sep := ","
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(w, `%s{"time":%q,"rtt":%d,"up":true,"location":"","error":""}`,
			sep, start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), 1000+i); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]}}")
	return err
}

// restore posts a backup of n checks of host to /api/backup_full, with
// midway called halfway through the body, and returns the status and
// body of the answer, or the error of a connection that ended.
func restore(p *proctest.Process, host string, n int, midway func()) (int, string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(backupBody(pw, host, n, midway)) }()
	defer pr.Close() // a writer the server stopped reading from gives up
	resp, err := http.Post(p.Base+"/api/backup_full", "application/json", pr)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// PostgreSQL stops (at once, as in a crash) in the middle of a streamed
// full restore: the answer is a 5xx of one line (or the connection ends),
// what was stored is as it was once PostgreSQL is back, and the restore
// retried succeeds.
func TestPostgresStopsMidRestore(t *testing.T) {
	c := pgtest.StartCluster(t)
	db := c.NewDatabase(t, "midrestore")
	p := proctest.Start(t, binary, t.TempDir(), []string{"DATABASE_URL=" + db,
		"SRVMON_LISTEN_ADDRESS=127.0.0.1", "SRVMON_LISTEN_PORT=0"}, "srvmon api started")
	const host, checks = "127.0.0.1:9", 24000 // half is more than the store's batch of 10,000
	if code, body, err := restore(p, "127.0.0.1:8", 10, nil); err != nil || code != http.StatusOK {
		t.Fatalf("the first restore: %d %s %v", code, body, err)
	}
	backup := func() string {
		t.Helper()
		code, body := p.Do(t, http.MethodGet, "/api/backup_full", "")
		if code != http.StatusOK {
			t.Fatalf("GET /api/backup_full: %d %s", code, body)
		}
		return body
	}
	before := backup()

	type answer struct {
		code int
		body string
		err  error
	}
	midway, resume, done := make(chan struct{}), make(chan struct{}), make(chan answer, 1)
	go func() {
		code, body, err := restore(p, host, checks, func() { close(midway); <-resume })
		done <- answer{code, body, err}
	}()
	select {
	case <-midway:
	case a := <-done:
		t.Fatalf("the restore ended before half its body was sent: %+v", a)
	}
	waitForTransaction(t, c.URL, "midrestore")
	c.Stop(t)
	close(resume)
	a := <-done
	code, body, err := a.code, a.body, a.err
	t.Logf("with PostgreSQL stopped: %d %q %v", code, body, err)
	if err == nil && (code < 500 || strings.Count(strings.TrimSuffix(body, "\n"), "\n") != 0) {
		t.Errorf("with PostgreSQL stopped: %d %q; want a 5xx of one line, or the connection to end", code, body)
	}
	p.Drain()

	c.Start(t)
	if after := backup(); after != before {
		t.Errorf("what is stored changed:\nbefore %.300s\nafter  %.300s", before, after)
	}
	code, body, err = restore(p, host, checks, nil)
	want := fmt.Sprintf(`{"hosts":1,"notifications":0,"checks":%d}`, checks)
	if err != nil || code != http.StatusOK || strings.TrimSpace(body) != want {
		t.Fatalf("the restore retried: %d %s %v; want 200 %s", code, body, err, want)
	}
	p.Stop(t)
}

// waitForTransaction waits until a connection of srvmon's to the
// database dbName is in a transaction.
func waitForTransaction(t *testing.T, serverURL, dbName string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = $1 AND application_name = 'srvmon' AND xact_start IS NOT NULL`, dbName).Scan(&n)
		if err != nil {
			t.Fatalf("no transaction of srvmon's: %v", err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
