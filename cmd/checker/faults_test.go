package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// PostgreSQL stops (at once, as in a crash) while a round is in flight:
// the checker exits 1 with one line, nothing of the slot is stored, and
// once PostgreSQL is back the next run stores the round.
func TestPostgresStopsMidRound(t *testing.T) {
	c := pgtest.StartCluster(t)
	db := c.NewDatabase(t, "midround")
	arrived := make(chan struct{}, 100)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	st, err := postgres.Open(t.Context(), postgres.Config{URL: db})
	if err != nil {
		t.Fatal(err)
	}
	const targets = 20
	var hosts []string
	for i := range targets {
		hosts = append(hosts, fmt.Sprintf("%s/%d", srv.URL, i))
		if err := st.AddHost(t.Context(), hosts[i]); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	env := []string{"DATABASE_URL=" + db, "SRVMON_CHECKS_INTERVAL=3600", "SRVMON_CHECKS_TIMEOUT=60"}
	freshSlot(time.Hour, time.Minute) // both runs fall in one slot

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary)
	cmd.Env = proctest.Env(env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	select {
	case <-arrived: // the round is in flight
	case <-time.After(30 * time.Second):
		t.Fatalf("no probe reached the targets; stderr: %s", stderr.String())
	}
	c.Stop(t)
	close(release)
	err = cmd.Wait()
	if err == nil || stdout.Len() != 0 || strings.Count(stderr.String(), "\n") != 1 ||
		!strings.HasPrefix(stderr.String(), "srvmon-checker: results could not be stored: slot ") {
		t.Errorf("with PostgreSQL stopped: %v, stdout %q, stderr %q; want non-zero and one line saying the results could not be stored", err, stdout.String(), stderr.String())
	}
	t.Logf("with PostgreSQL stopped: %s", stderr.String())

	c.Start(t)
	st, err = postgres.Open(t.Context(), postgres.Config{URL: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored := func() int {
		n := 0
		for _, h := range hosts {
			n += countResults(t, st, h)
		}
		return n
	}
	if n := stored(); n != 0 {
		t.Errorf("%d results stored by the round that failed, want none", n)
	}
	if code, stdout, stderr := runBinary(t, binary, env); code != 0 {
		t.Fatalf("the next run: exit %d, %s %s", code, stdout, stderr)
	}
	if n := stored(); n != targets {
		t.Errorf("%d results stored by the next run, want %d", n, targets)
	}
}
