package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// Two checker runs in one slot (a retried cron job or Lambda invocation)
// store every row once.
func TestTwoRunsInOneSlotStoreOnce(t *testing.T) {
	bin := binary
	st, env := pgStore(t)
	open := acceptAll(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	for _, h := range []string{open, srv.URL + "/", closedPort(t)} {
		if err := st.AddHost(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	env = append(env, "SRVMON_CHECKS_INTERVAL=3600") // both runs fall in one slot
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
