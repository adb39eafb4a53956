package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// pgStore opens a fresh PostgreSQL database for the checker processes and
// for the test to look into; it returns the store and the checker's env.
func pgStore(t *testing.T) (store.Store, []string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	st, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, []string{"DATABASE_URL=" + url}
}

func countResults(t *testing.T, st store.Store, host string) int {
	t.Helper()
	n := 0
	err := st.Results(context.Background(), host, time.Unix(0, 0), time.Now().Add(time.Hour), func(store.Result) error {
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// freshSlot returns at once when at least need is left of the current
// slot of interval, and otherwise waits for the next slot, so that what
// the test runs next (taking less than need) falls in one slot.
func freshSlot(interval, need time.Duration) {
	if left := time.Until(time.Now().Truncate(interval).Add(interval)); left < need {
		time.Sleep(left)
	}
}

// Two checker runs in one slot (a retried cron job or Lambda invocation)
// store every row once.
func TestTwoRunsInOneSlotStoreOnce(t *testing.T) {
	bin := binary
	st, env := pgStore(t)
	open := acceptAll(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	for _, h := range []string{open, srv.URL + "/", proctest.ClosedAddr(t)} {
		if err := st.AddHost(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	env = append(env, "SRVMON_CHECKS_INTERVAL=3600")
	freshSlot(time.Hour, time.Minute) // both runs fall in one slot
	for i := 0; i < 2; i++ {
		if code, stdout, stderr := runBinary(t, bin, env); code != 0 {
			t.Fatalf("run %d: exit %d, %s %s", i, code, stdout, stderr)
		}
	}
	hosts, _ := st.Hosts(context.Background())
	for _, h := range hosts {
		if n := countResults(t, st, h); n != 1 {
			t.Errorf("%s: %d rows after two runs in one slot, want 1", h, n)
		}
	}
}

// Two checker processes at once for one slot (overlapping cron jobs, or
// a VPS and a Lambda on one database), on hosts that each have a rule:
// one row per host, a state change's webhook sent exactly once per host,
// and a third run in the slot sends nothing.
func TestOverlappingRunsNotifyOnce(t *testing.T) {
	st, env := pgStore(t)
	var (
		mu    sync.Mutex
		calls = map[string]int{} // host and state: webhook calls
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Query().Get("host")+" "+r.URL.Query().Get("state")]++
		mu.Unlock()
		time.Sleep(100 * time.Millisecond) // a receiver slow enough for the runs to overlap
	}))
	defer receiver.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	ctx := context.Background()
	var down, hosts []string
	for range 4 {
		down = append(down, proctest.ClosedAddr(t))
	}
	hosts = append(append(hosts, down...), up.URL+"/a", up.URL+"/b")
	for _, h := range hosts {
		if err := st.AddHost(ctx, h); err != nil {
			t.Fatal(err)
		}
		if err := st.SetRule(ctx, store.Rule{Host: h, Threshold: 1, Action: receiver.URL + "/?host={HOST}&state={STATE}"}); err != nil {
			t.Fatal(err)
		}
	}
	env = append(env, "SRVMON_CHECKS_INTERVAL=3600")
	freshSlot(time.Hour, time.Minute)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range 2 {
		var out strings.Builder
		cmd := exec.Command(binary)
		cmd.Env = proctest.Env(append([]string{"AWS_LAMBDA_RUNTIME_API="}, env...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("run %d: %v\n%s", i, err, outs[i])
		}
	}
	if code, stdout, stderr := runBinary(t, binary, env); code != 0 {
		t.Fatalf("third run: exit %d, %s %s", code, stdout, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{}
	for _, h := range down {
		want[h+" down"] = 1
	}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("webhook calls %v, want exactly %v; the runs' logs:\n%s\n%s", calls, want, outs[0], outs[1])
	}
	for _, h := range hosts {
		if n := countResults(t, st, h); n != 1 {
			t.Errorf("%s: %d rows after three runs in one slot, want 1", h, n)
		}
	}
}

// A round whose results the database refuses exits 1 with one line that
// says so, and nothing is stored.
func TestRoundNotStoredFailsWithOneLine(t *testing.T) {
	for _, tc := range []struct {
		name, sql, reason string
	}{
		{"insert refused", `CREATE FUNCTION checkertest_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'checkertest: no inserts into checks'; END $$;
			CREATE TRIGGER checkertest_refuse BEFORE INSERT ON checks FOR EACH STATEMENT EXECUTE FUNCTION checkertest_refuse()`,
			"checkertest: no inserts into checks"},
		{"read-only database", `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$`,
			"read-only transaction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, env := pgStore(t) // creates the schema
			host := proctest.ClosedAddr(t)
			if err := st.AddHost(context.Background(), host); err != nil {
				t.Fatal(err)
			}
			pgtest.Exec(t, strings.TrimPrefix(env[0], "DATABASE_URL="), tc.sql)
			code, stdout, stderr := runBinary(t, binary, env)
			const prefix = "srvmon-checker: results could not be stored: slot "
			if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 ||
				!strings.HasPrefix(stderr, prefix) || !strings.Contains(stderr, tc.reason) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line %q… with %q", code, stdout, stderr, prefix, tc.reason)
			}
			if n := countResults(t, st, host); n != 0 {
				t.Errorf("%d rows stored, want none", n)
			}
		})
	}
}

// One checker process per round: exactly one webhook per state change
// after the threshold, and a receiver that fails for three rounds gets its
// notification exactly once when it recovers.
func TestNotificationsFromSeparateProcesses(t *testing.T) {
	bin := binary
	st, env := pgStore(t)
	env = append(env, "SRVMON_CHECKS_INTERVAL=1", "SRVMON_CHECKS_TIMEOUT=1", "SRVMON_NOTIFY_RETRYDELAY=1")

	var targetUp atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !targetUp.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer target.Close()
	var (
		mu       sync.Mutex
		states   []string
		attempts int
		failing  atomic.Int32
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if failing.Load() > 0 {
			failing.Add(-1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		states = append(states, r.URL.Query().Get("state"))
	}))
	defer receiver.Close()
	ctx := context.Background()
	if err := st.AddHost(ctx, target.URL); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRule(ctx, store.Rule{Host: target.URL, Threshold: 2, Action: receiver.URL + "/?token=secret&state={STATE}"}); err != nil {
		t.Fatal(err)
	}

	// round runs one checker process in a slot of its own.
	round := func(up bool) {
		t.Helper()
		targetUp.Store(up)
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		code, stdout, stderr := runBinary(t, bin, env)
		if code != 0 {
			t.Fatalf("exit %d, %s %s", code, stdout, stderr)
		}
		for _, leak := range []string{"secret", "token="} {
			if strings.Contains(stdout+stderr, leak) {
				t.Fatalf("the checker logged the action URL's %q: %s", leak, stderr)
			}
		}
	}
	want := func(wantStates ...string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(states) != len(wantStates) {
			t.Fatalf("notifications %v, want %v", states, wantStates)
		}
		for i := range states {
			if states[i] != wantStates[i] {
				t.Fatalf("notifications %v, want %v", states, wantStates)
			}
		}
	}

	round(true)
	round(false) // shorter than the threshold
	round(true)
	want()
	round(false)
	round(false) // threshold reached
	round(false)
	want("down")

	failing.Store(3)
	round(true)
	round(true) // threshold reached: the first attempt fails
	// The retries back off 1 s, 2 s, 4 s: keep running rounds until the
	// receiver has recovered, as cron would.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(states)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		round(true)
	}
	round(true)
	round(true)
	want("down", "up")
	mu.Lock()
	defer mu.Unlock()
	if attempts != 1+3+1 {
		t.Errorf("the receiver saw %d requests, want 5 (down, 3 failures, up)", attempts)
	}
}
