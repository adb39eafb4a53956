package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
	"github.com/srvmon/srvmon/pkg/store/ql"
)

// secret is in every action URL the tests use, in its path and its query;
// no log line and no LastError may ever hold it.
const secret = "SECRETTOKEN"

// backend opens an empty store for a test. open returns the store and a
// func that opens a second handle on it, as a second process would: a new
// connection pool on the same database for PostgreSQL, the same store for
// the embedded ones (which one process at a time may open).
type backend struct {
	name string
	open func(t *testing.T) (st store.Store, another func() store.Store)
}

func backends() []backend {
	embedded := func(open func(t *testing.T) (store.Store, error)) func(t *testing.T) (store.Store, func() store.Store) {
		return func(t *testing.T) (store.Store, func() store.Store) {
			st, err := open(t)
			if err != nil {
				t.Fatal(err)
			}
			return st, func() store.Store { return st }
		}
	}
	return []backend{
		{"memory", embedded(func(*testing.T) (store.Store, error) { return memory.New(), nil })},
		{"bolt", embedded(func(t *testing.T) (store.Store, error) { return bolt.Open(filepath.Join(t.TempDir(), "srvmon.db")) })},
		{"ql", embedded(func(t *testing.T) (store.Store, error) {
			return ql.Open(t.Context(), filepath.Join(t.TempDir(), "srvmon.ql"))
		})},
		{"postgres", func(t *testing.T) (store.Store, func() store.Store) {
			url := pgtest.NewDatabase(t)
			open := func() store.Store {
				st, err := postgres.Open(context.Background(), postgres.Config{URL: url})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			return open(), open
		}},
	}
}

// forEachBackend runs test on an empty store of every backend.
func forEachBackend(t *testing.T, test func(t *testing.T, st store.Store)) {
	forEachShared(t, func(t *testing.T, st store.Store, _ func() store.Store) { test(t, st) })
}

// forEachShared runs test on an empty store of every backend, with a func
// that opens another handle on it (see backend).
func forEachShared(t *testing.T, test func(t *testing.T, st store.Store, another func() store.Store)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st, another := b.open(t)
			t.Cleanup(func() { st.Close() })
			test(t, st, another)
		})
	}
}

// clock is a settable Sender.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// logBuffer collects a Sender's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// newSender returns a Sender on clk whose log is checked, when the test
// ends, never to hold the secret.
func newSender(t *testing.T, clk *clock) (*Sender, *logBuffer) {
	logs := &logBuffer{}
	t.Cleanup(func() {
		if out := logs.String(); strings.Contains(out, secret) || strings.Contains(out, "secret") {
			t.Errorf("the log holds the action URL's token:\n%s", out)
		}
	})
	return &Sender{
		Timeout: 5 * time.Second,
		MaxAge:  time.Hour,
		Backoff: func(int64) time.Duration { return time.Minute },
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     clk.Now,
	}, logs
}

// receiver is a loopback webhook that answers with handle and counts GETs.
type receiver struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	paths  []string
	handle func(n int64, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, handle func(n int64, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{handle: handle}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rc.hits.Add(1)
		rc.mu.Lock()
		rc.paths = append(rc.paths, r.URL.RequestURI())
		rc.mu.Unlock()
		if r.Method != http.MethodGet {
			t.Errorf("webhook got %s", r.Method)
		}
		rc.handle(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// action is a rule's action on the receiver, holding the secret.
func (rc *receiver) action(name string) string {
	return rc.URL + "/bot" + secret + "/" + name + "?token=" + secret + "&text={HOST}+is+{STATE}"
}

// enqueue makes st enqueue one "down" delivery of action for host at
// slot, the way a round does: a rule with threshold 1 and a down result
// saved with AdvanceIn.
func enqueue(t *testing.T, st store.Store, host, action string, slot time.Time) store.Delivery {
	t.Helper()
	ctx := context.Background()
	if err := st.AddHost(ctx, host); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	if err := st.SetRule(ctx, store.Rule{Host: host, Threshold: 1, Action: action}); err != nil {
		t.Fatal(err)
	}
	r := store.Result{Host: host, Slot: slot, RTT: 10 * time.Second, Up: false, Reason: "timeout after 10s"}
	if err := st.SaveRound(ctx, []store.Result{r}, NewAlerting(Options{TimeZone: time.UTC})); err != nil {
		t.Fatal(err)
	}
	for _, d := range due(t, st, slot) {
		if d.Host == host && d.Created.Equal(slot) {
			return d
		}
	}
	t.Fatalf("no delivery enqueued for %s at %v", host, slot)
	return store.Delivery{}
}

// due lists the deliveries due at now.
func due(t *testing.T, st store.Store, now time.Time) []store.Delivery {
	t.Helper()
	ds, err := st.DueDeliveries(context.Background(), now, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// run calls DeliverDue at time at and checks its counts.
func run(t *testing.T, s *Sender, clk *clock, st store.Store, at time.Time, wantSent, wantFailed int) {
	t.Helper()
	clk.Set(at)
	sent, failed, err := s.DeliverDue(context.Background(), st)
	if err != nil {
		t.Fatalf("at %v: %v", at.Sub(t0), err)
	}
	if sent != wantSent || failed != wantFailed {
		t.Fatalf("at %v: sent %d, failed %d; want %d, %d", at.Sub(t0), sent, failed, wantSent, wantFailed)
	}
}

// A receiver that fails three times and then recovers gets exactly one
// successful GET, and the delivery is never sent again.
func TestDeliverRecovers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		rc := newReceiver(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
			if n <= 3 {
				http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			}
		})
		enqueue(t, st, "h1", rc.action("sendMessage"), t0)
		clk := &clock{}
		s, logs := newSender(t, clk)
		for i, want := range []struct{ sent, failed int }{{0, 1}, {0, 1}, {0, 1}, {1, 0}, {0, 0}, {0, 0}} {
			run(t, s, clk, st, t0.Add(time.Duration(i)*time.Minute), want.sent, want.failed)
		}
		if n := rc.hits.Load(); n != 4 {
			t.Errorf("receiver got %d GETs, want 4 (three failures, one success)", n)
		}
		if ds := due(t, st, t0.Add(1000*time.Hour)); len(ds) != 0 {
			t.Errorf("still pending after success: %+v", ds)
		}
		if out := logs.String(); strings.Count(out, "notification delivered") != 1 || strings.Count(out, "attempt failed") != 3 {
			t.Errorf("log:\n%s", out)
		}
		if got := rc.paths[3]; got != "/bot"+secret+"/sendMessage?token="+secret+"&text=h1+is+down" {
			t.Errorf("receiver got %s", got)
		}
	})
}

// A failed delivery is retried with exponential backoff, not before its
// NextAttempt, and its LastError says why without the URL.
func TestDeliverBackoff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		rc := newReceiver(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		})
		enqueue(t, st, "h1", rc.action("hook"), t0)
		clk := &clock{}
		s, _ := newSender(t, clk)
		s.Backoff = ExponentialBackoff(time.Minute, 4*time.Minute)
		s.MaxAge = 24 * time.Hour

		at := t0
		for attempt, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 4 * time.Minute} {
			run(t, s, clk, st, at, 0, 1)
			if n := rc.hits.Load(); n != int64(attempt+1) {
				t.Fatalf("attempt %d: receiver got %d GETs", attempt+1, n)
			}
			ds := due(t, st, at.Add(wait))
			if len(ds) != 1 {
				t.Fatalf("attempt %d: %d due at %v", attempt+1, len(ds), at.Add(wait).Sub(t0))
			}
			d := ds[0]
			if d.Attempts != int64(attempt+1) || !d.NextAttempt.Equal(at.Add(wait)) || d.Status != store.DeliveryPending ||
				d.LastError != "answered 500 Internal Server Error" {
				t.Fatalf("attempt %d: %+v", attempt+1, d)
			}
			// Not due a second before: nothing is sent.
			run(t, s, clk, st, at.Add(wait-time.Second), 0, 0)
			if len(due(t, st, at.Add(wait-time.Second))) != 0 {
				t.Fatalf("attempt %d: due before NextAttempt", attempt+1)
			}
			at = at.Add(wait)
		}
		if n := rc.hits.Load(); n != 4 {
			t.Errorf("receiver got %d GETs, want 4", n)
		}
	})
}

// A delivery that cannot succeed before MaxAge is given up with a log
// line that names the host but not the URL's token.
func TestDeliverMaxAge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		rc := newReceiver(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no", http.StatusBadGateway)
		})
		enqueue(t, st, "h1", rc.action("retry"), t0)
		enqueue(t, st, "stale", rc.action("stale"), t0)
		clk := &clock{}
		s, logs := newSender(t, clk)
		s.MaxAge = 10 * time.Minute
		s.Backoff = func(int64) time.Duration { return 4 * time.Minute }

		// The stale one is found only after MaxAge: given up unsent.
		clk.Set(t0)
		for _, d := range due(t, st, t0) {
			if d.Host == "stale" {
				d.NextAttempt = t0.Add(20 * time.Minute)
				if err := st.UpdateDelivery(context.Background(), d); err != nil {
					t.Fatal(err)
				}
			}
		}
		run(t, s, clk, st, t0, 0, 1)                      // h1: attempt 1, next at +4
		run(t, s, clk, st, t0.Add(4*time.Minute), 0, 1)   // attempt 2, next at +8
		run(t, s, clk, st, t0.Add(8*time.Minute), 0, 1)   // attempt 3; +12 is past MaxAge: given up
		run(t, s, clk, st, t0.Add(20*time.Minute), 0, 1)  // stale: given up without a GET
		run(t, s, clk, st, t0.Add(100*time.Minute), 0, 0) // nothing left
		if n := rc.hits.Load(); n != 3 {
			t.Errorf("receiver got %d GETs, want 3", n)
		}
		if ds := due(t, st, t0.Add(1000*time.Hour)); len(ds) != 0 {
			t.Errorf("still pending: %+v", ds)
		}
		out := logs.String()
		if strings.Count(out, "notification given up") != 2 || !strings.Contains(out, "host=h1") ||
			!strings.Contains(out, "host=stale") || !strings.Contains(out, "url="+rc.URL+"/…") ||
			!strings.Contains(out, `last_error="answered 502 Bad Gateway"`) {
			t.Errorf("log:\n%s", out)
		}
	})
}

// A receiver that hangs costs one Timeout and is recorded as a timeout; a
// receiver that answers 200 and then stalls its body is a success.
func TestDeliverTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		release := make(chan struct{})
		rc := newReceiver(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/slowbody") {
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		t.Cleanup(func() { close(release) })
		enqueue(t, st, "hang", rc.action("hang"), t0)
		enqueue(t, st, "slow", rc.action("slowbody"), t0)
		clk := &clock{}
		s, _ := newSender(t, clk)
		s.Timeout = 300 * time.Millisecond
		run(t, s, clk, st, t0, 1, 1)
		ds := due(t, st, t0.Add(time.Hour))
		if len(ds) != 1 || ds[0].Host != "hang" || ds[0].LastError != "timeout after 300ms" || ds[0].Attempts != 1 {
			t.Fatalf("due: %+v", ds)
		}
	})
}

// Redirects are not followed: a 3xx is the receiver's success.
func TestDeliverRedirect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		target := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) {})
		rc := newReceiver(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.Contains(r.URL.Path, "/moved"):
				http.Redirect(w, r, target.URL+"/elsewhere", http.StatusFound)
			case strings.Contains(r.URL.Path, "/notfound"):
				http.NotFound(w, r)
			}
		})
		enqueue(t, st, "moved", rc.action("moved"), t0)
		enqueue(t, st, "notfound", rc.action("notfound"), t0)
		clk := &clock{}
		s, _ := newSender(t, clk)
		// Even a client that would follow redirects does not.
		s.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
		run(t, s, clk, st, t0, 1, 1)
		if n := target.hits.Load(); n != 0 {
			t.Errorf("redirect followed: target got %d GETs", n)
		}
		ds := due(t, st, t0.Add(time.Hour))
		if len(ds) != 1 || ds[0].Host != "notfound" || ds[0].LastError != "answered 404 Not Found" {
			t.Fatalf("due: %+v", ds)
		}
	})
}

// A dead webhook (nothing listening) and an action that is not an HTTP
// URL never panic or stop the others; the URL is kept out of LastError.
func TestDeliverDeadWebhook(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		ok := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) {})
		enqueue(t, st, "dead", deadURL+"/bot"+secret+"/x?token="+secret, t0)
		enqueue(t, st, "ftp", "ftp://127.0.0.1/"+secret, t0)
		enqueue(t, st, "garbage", "http://127.0.0.1:99999/"+secret, t0)
		enqueue(t, st, "ok", ok.action("ok"), t0)
		clk := &clock{}
		s, logs := newSender(t, clk)
		run(t, s, clk, st, t0, 1, 3)
		ds := due(t, st, t0.Add(time.Hour))
		if len(ds) != 2 {
			t.Fatalf("due: %+v", ds)
		}
		for _, d := range ds {
			if strings.Contains(d.LastError, secret) || d.Attempts != 1 {
				t.Errorf("%+v", d)
			}
			if d.Host == "dead" && !strings.Contains(d.LastError, "connection refused") {
				t.Errorf("dead: LastError %q", d.LastError)
			}
		}
		if out := logs.String(); !strings.Contains(out, `reason="the action is not an http:// or https:// URL"`) {
			t.Errorf("log:\n%s", out)
		}
	})
}

// A host whose target holds a secret (an HTTP target with a password or
// a token) is logged masked, as readers of the API see it.
func TestDeliverLogsMaskedHost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		host := "https://mon:" + secret + "@127.0.0.1/health?token=" + secret
		enqueue(t, st, host, deadURL+"/hook", t0)
		clk := &clock{}
		s, logs := newSender(t, clk)
		run(t, s, clk, st, t0, 0, 1)
		out := logs.String()
		if strings.Contains(out, secret) || !strings.Contains(out, "https://mon:xxxxx@127.0.0.1/health?token=xxxxx") {
			t.Errorf("log shows the host's secret, or not the masked host:\n%s", out)
		}
	})
}

// More deliveries than run in parallel are all sent once in one call, at
// most Parallel at a time.
func TestDeliverBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		var inFlight, most atomic.Int64
		rc := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(5 * time.Millisecond)
		})
		for i := range 25 {
			enqueue(t, st, fmt.Sprintf("h%02d", i), rc.action(fmt.Sprintf("n%02d", i)), t0)
		}
		clk := &clock{}
		s, _ := newSender(t, clk)
		s.Parallel = 3
		run(t, s, clk, st, t0, 25, 0)
		run(t, s, clk, st, t0.Add(time.Hour), 0, 0)
		if n := rc.hits.Load(); n != 25 {
			t.Errorf("receiver got %d GETs, want 25", n)
		}
		if m := most.Load(); m > 3 {
			t.Errorf("%d GETs in flight, Parallel is 3", m)
		}
		seen := map[string]bool{}
		for _, p := range rc.paths {
			if seen[p] {
				t.Errorf("sent twice: %s", p)
			}
			seen[p] = true
		}
	})
}

// Cancelling the context interrupts a hanging GET promptly; the recorded
// attempt stands, so the delivery is retried after its backoff.
func TestDeliverCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		arrived := make(chan struct{}, 1)
		rc := newReceiver(t, func(_ int64, _ http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-r.Context().Done()
		})
		enqueue(t, st, "h1", rc.action("hang"), t0)
		clk := &clock{t: t0}
		s, _ := newSender(t, clk)
		s.Timeout = time.Hour
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		sent, failed, err := s.DeliverDue(ctx, st)
		if sent != 0 || failed != 0 || err != nil {
			t.Fatalf("sent %d failed %d err %v", sent, failed, err)
		}
		if len(due(t, st, t0.Add(time.Minute-time.Second))) != 0 {
			t.Error("due again before its backoff")
		}
		ds := due(t, st, t0.Add(time.Minute))
		if len(ds) != 1 || ds[0].Attempts != 1 || ds[0].Status != store.DeliveryPending {
			t.Fatalf("due: %+v", ds)
		}
		// An already cancelled context sends nothing.
		clk.Set(t0.Add(time.Minute))
		if sent, failed, err := s.DeliverDue(ctx, st); sent+failed != 0 || err != nil || rc.hits.Load() != 1 {
			t.Fatalf("cancelled: sent %d failed %d err %v hits %d", sent, failed, err, rc.hits.Load())
		}
	})
}

// Rounds run by separate processes (a new Sender each time, state only in
// the store): exactly one GET per state change after the threshold, none
// for blips, none twice for a retried round.
func TestRoundsEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		rc := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) {})
		ctx := context.Background()
		if err := st.AddHost(ctx, "127.0.0.1:22"); err != nil {
			t.Fatal(err)
		}
		action := rc.URL + "/" + secret + "?host={HOST}&state={STATE}&ts={TIMESTAMP}"
		if err := st.SetRule(ctx, store.Rule{Host: "127.0.0.1:22", Threshold: 2, Action: action}); err != nil {
			t.Fatal(err)
		}
		//            up: first is not news; D blip; D D: down; U blip; U U: up
		pattern := []bool{true, false, true, false, false, false, true, false, true, true}
		for i, up := range pattern {
			slot := t0.Add(time.Duration(i) * time.Minute)
			r := store.Result{Host: "127.0.0.1:22", Slot: slot, Up: up, RTT: time.Millisecond}
			for range 2 { // every round is retried once
				if err := st.SaveRound(ctx, []store.Result{r}, NewAlerting(Options{TimeZone: time.UTC})); err != nil {
					t.Fatal(err)
				}
				clk := &clock{}
				s, _ := newSender(t, clk)
				clk.Set(slot.Add(time.Second))
				if _, _, err := s.DeliverDue(ctx, st); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := []string{
			fmt.Sprintf("/%s?host=127.0.0.1%%3A22&state=down&ts=%d", secret, t0.Add(4*time.Minute).Unix()),
			fmt.Sprintf("/%s?host=127.0.0.1%%3A22&state=up&ts=%d", secret, t0.Add(9*time.Minute).Unix()),
		}
		if strings.Join(rc.paths, "\n") != strings.Join(want, "\n") {
			t.Errorf("receiver got\n%s\nwant\n%s", strings.Join(rc.paths, "\n"), strings.Join(want, "\n"))
		}
		s, err := st.State(ctx, "127.0.0.1:22")
		if err != nil {
			t.Fatal(err)
		}
		if s.Status != StatusUp || s.Count != 0 || !s.LastSlot.Equal(t0.Add(9*time.Minute)) {
			t.Errorf("state %+v", s)
		}
	})
}

func TestExponentialBackoff(t *testing.T) {
	b := ExponentialBackoff(30*time.Second, 10*time.Minute)
	for n, want := range map[int64]time.Duration{
		0: 30 * time.Second, 1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute,
		5: 8 * time.Minute, 6: 10 * time.Minute, 1 << 62: 10 * time.Minute,
	} {
		if got := b(n); got != want {
			t.Errorf("attempt %d: %v, want %v", n, got, want)
		}
	}
	if got := ExponentialBackoff(time.Hour, time.Minute)(3); got != time.Hour {
		t.Errorf("first above limit: %v", got)
	}
}

// A delivery deleted (with its host) while it is attempted is no error,
// and a store that fails is reported.
func TestDeliverStoreErrors(t *testing.T) {
	rc := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) {})
	clk := &clock{t: t0}
	s, _ := newSender(t, clk)

	gone := vanishingStore{memory.New()}
	enqueue(t, gone, "h1", rc.action("x"), t0)
	if sent, failed, err := s.DeliverDue(context.Background(), gone); sent != 1 || failed != 0 || err != nil {
		t.Errorf("vanished: sent %d failed %d err %v; want the GET sent, no error", sent, failed, err)
	}

	// A store that refuses the claim: nothing is sent.
	broken := &failingStore{Store: memory.New()}
	enqueue(t, broken, "h1", rc.action("x"), t0)
	broken.failClaim = true
	if _, _, err := s.DeliverDue(context.Background(), broken); !errors.Is(err, errBroken) {
		t.Errorf("broken claim: err %v", err)
	}
	if n := rc.hits.Load(); n != 1 {
		t.Errorf("sent without a claim: %d GETs, want 1 (the vanished one)", n)
	}

	// A store that takes the claim but not the outcome: the error is
	// reported, and the delivery is sent again once its lease ends (at
	// least once), not before.
	broken.failClaim, broken.failUpdate = false, true
	if sent, _, err := s.DeliverDue(context.Background(), broken); sent != 1 || !errors.Is(err, errBroken) {
		t.Errorf("broken update: sent %d, err %v", sent, err)
	}
	broken.failUpdate = false
	run(t, s, clk, broken, t0.Add(s.lease()-time.Second), 0, 0)
	run(t, s, clk, broken, t0.Add(s.lease()), 1, 0)
	run(t, s, clk, broken, t0.Add(time.Hour), 0, 0)
	if n := rc.hits.Load(); n != 3 {
		t.Errorf("receiver got %d GETs, want 3", n)
	}
}

var errBroken = errors.New("disk on fire")

// vanishingStore is a store whose deliveries are deleted (with their
// host) as soon as they are claimed.
type vanishingStore struct{ store.Store }

func (vanishingStore) UpdateDelivery(context.Context, store.Delivery) error { return store.ErrNotFound }

// failingStore is a store whose ClaimDeliveries or UpdateDelivery fails
// while told to.
type failingStore struct {
	store.Store
	failClaim, failUpdate bool
}

func (f *failingStore) ClaimDeliveries(ctx context.Context, now, until time.Time, limit int) ([]store.Delivery, error) {
	if f.failClaim {
		return nil, errBroken
	}
	return f.Store.ClaimDeliveries(ctx, now, until, limit)
}

func (f *failingStore) UpdateDelivery(ctx context.Context, d store.Delivery) error {
	if f.failUpdate {
		return errBroken
	}
	return f.Store.UpdateDelivery(ctx, d)
}

// Two Senders at once on one store (two processes: on PostgreSQL each
// with its own connection pool) send each due delivery exactly once.
func TestTwoSendersAtOnce(t *testing.T) {
	forEachShared(t, func(t *testing.T, st store.Store, another func() store.Store) {
		const n = 40
		rc := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) {
			time.Sleep(2 * time.Millisecond) // so that the Senders overlap
		})
		for i := range n {
			enqueue(t, st, fmt.Sprintf("h%02d", i), rc.action(fmt.Sprintf("n%02d", i)), t0)
		}
		stores := []store.Store{st, another()}
		var (
			wg          sync.WaitGroup
			sent, fails atomic.Int64
		)
		start := make(chan struct{})
		for i := range 2 {
			clk := &clock{t: t0.Add(time.Second)}
			s, _ := newSender(t, clk)
			s.Parallel = 4
			wg.Go(func() {
				<-start
				ok, failed, err := s.DeliverDue(context.Background(), stores[i])
				if err != nil {
					t.Errorf("sender %d: %v", i, err)
				}
				sent.Add(int64(ok))
				fails.Add(int64(failed))
			})
		}
		close(start)
		wg.Wait()
		if sent.Load() != n || fails.Load() != 0 {
			t.Errorf("the Senders sent %d, failed %d; want %d sent", sent.Load(), fails.Load(), n)
		}
		counts := map[string]int{}
		rc.mu.Lock()
		for _, p := range rc.paths {
			counts[p]++
		}
		rc.mu.Unlock()
		for i := range n {
			p := fmt.Sprintf("/bot%s/n%02d?token=%s&text=h%02d+is+down", secret, i, secret, i)
			if counts[p] != 1 {
				t.Errorf("%s: %d GETs, want exactly 1", p, counts[p])
			}
		}
		if got := rc.hits.Load(); got != n {
			t.Errorf("receiver got %d GETs, want %d", got, n)
		}
		if ds := due(t, st, t0.Add(1000*time.Hour)); len(ds) != 0 {
			t.Errorf("still pending: %+v", ds)
		}
	})
}

// A Sender whose lease ends before its GET answers (another Sender has
// claimed and delivered meanwhile) cannot turn the delivered notification
// back into a pending one.
func TestLateOutcomeAfterAnotherSuccess(t *testing.T) {
	forEachShared(t, func(t *testing.T, st store.Store, another func() store.Store) {
		arrived := make(chan struct{})
		release := make(chan struct{})
		rc := newReceiver(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
			if n == 1 { // A's GET: hangs past its lease, then fails
				close(arrived)
				<-release
				w.WriteHeader(http.StatusBadGateway)
			}
		})
		enqueue(t, st, "h1", rc.action("x"), t0)
		clkA, clkB := &clock{t: t0}, &clock{}
		a, logsA := newSender(t, clkA)
		b, _ := newSender(t, clkB)
		type result struct {
			sent, failed int
			err          error
		}
		done := make(chan result, 1)
		go func() {
			sent, failed, err := a.DeliverDue(context.Background(), st)
			done <- result{sent, failed, err}
		}()
		<-arrived
		run(t, b, clkB, another(), t0.Add(a.lease()), 1, 0) // A's lease has ended: B claims and delivers
		clkA.Set(t0.Add(a.lease() + time.Second))
		close(release)
		if r := <-done; r.err != nil || r.sent != 0 {
			t.Errorf("A: sent %d, failed %d, err %v; want nothing sent, no error", r.sent, r.failed, r.err)
		}
		if ds := due(t, st, t0.Add(1000*time.Hour)); len(ds) != 0 {
			t.Errorf("pending again after B's success: %+v", ds)
		}
		run(t, b, clkB, st, t0.Add(1000*time.Hour), 0, 0)
		if n := rc.hits.Load(); n != 2 {
			t.Errorf("receiver got %d GETs, want 2 (A's, then B's after A's lease)", n)
		}
		if out := logsA.String(); !strings.Contains(out, "another sender claimed it") {
			t.Errorf("A's log:\n%s", out)
		}
	})
}

// orderReceiver is a loopback webhook that records, per host, the changes
// it accepted in the order they arrived, answers 503 while down is set,
// and notes when two GETs of one host overlap. Each GET takes a few
// milliseconds, so that GETs of one host sent in parallel do overlap.
type orderReceiver struct {
	*receiver
	down     atomic.Bool
	mu       sync.Mutex
	accepted map[string][]string // host → "state@timestamp", in arrival order
	inFlight map[string]int
	overlaps []string
}

func newOrderReceiver(t *testing.T) *orderReceiver {
	rcv := &orderReceiver{accepted: map[string][]string{}, inFlight: map[string]int{}}
	rcv.receiver = newReceiver(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		host := q.Get("host")
		rcv.mu.Lock()
		if rcv.inFlight[host]++; rcv.inFlight[host] > 1 {
			rcv.overlaps = append(rcv.overlaps, host)
		}
		rcv.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		rcv.inFlight[host]--
		if rcv.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rcv.accepted[host] = append(rcv.accepted[host], q.Get("state")+"@"+q.Get("ts"))
	})
	return rcv
}

// action is a rule's action on the receiver, holding the secret.
func (rcv *orderReceiver) action() string {
	return rcv.URL + "/bot" + secret + "/hook?token=" + secret + "&host={HOST}&state={STATE}&ts={TIMESTAMP}"
}

// flap adds hosts h0…, each with a rule on or's action (threshold 1), and
// saves changes rounds in which they go down, up, down…, at slots t0,
// t0+1m…, calling between each round after it (at its slot). It returns
// what rcv must accept of each host, in order.
func (rcv *orderReceiver) flap(t *testing.T, st store.Store, hosts, changes int, between func(slot time.Time)) map[string][]string {
	t.Helper()
	ctx := context.Background()
	want := map[string][]string{}
	for h := range hosts {
		host := fmt.Sprintf("h%d", h)
		if err := st.AddHost(ctx, host); err != nil {
			t.Fatal(err)
		}
		if err := st.SetRule(ctx, store.Rule{Host: host, Threshold: 1, Action: rcv.action()}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range changes {
		slot := t0.Add(time.Duration(i) * time.Minute)
		round := make([]store.Result, hosts)
		for h := range round {
			round[h] = store.Result{Host: fmt.Sprintf("h%d", h), Slot: slot, Up: i%2 == 1, RTT: time.Millisecond}
			want[round[h].Host] = append(want[round[h].Host], fmt.Sprintf("%s@%d", state(i%2 == 1), slot.Unix()))
		}
		if err := st.SaveRound(ctx, round, NewAlerting(Options{TimeZone: time.UTC})); err != nil {
			t.Fatal(err)
		}
		between(slot)
	}
	return want
}

// check fails the test unless rcv accepted exactly want, host by host in
// order, and no two GETs of a host overlapped.
func (rcv *orderReceiver) check(t *testing.T, want map[string][]string) {
	t.Helper()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for host, states := range want {
		if got := rcv.accepted[host]; !slices.Equal(got, states) {
			t.Errorf("%s: the receiver accepted %v, want %v", host, got, states)
		}
	}
	if len(rcv.accepted) != len(want) {
		t.Errorf("the receiver accepted changes of %d hosts, want %d", len(rcv.accepted), len(want))
	}
	if len(rcv.overlaps) > 0 {
		t.Errorf("GETs of one host overlapped, of %v", rcv.overlaps)
	}
}

// A webhook receiver down while hosts change state several times, then
// up: every change is delivered exactly once, each host's in the order of
// its changes, so that the last message is the host's state. With an
// exponential backoff an older change waits longer than a newer one: sent
// by when they are due, the newer ones arrive first. While the receiver
// is down, a call attempts only each host's oldest change, when it is
// due; once it is up, one call delivers the whole backlog.
func TestDeliverInOrderAfterOutage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		const hosts, changes = 4, 3 // down, up, down
		rc := newOrderReceiver(t)
		rc.down.Store(true)
		clk := &clock{}
		s, _ := newSender(t, clk)
		s.Backoff = ExponentialBackoff(time.Minute, time.Hour)
		deliver := func(at time.Time, wantSent, wantFailed int) {
			t.Helper()
			clk.Set(at)
			sent, failed, err := s.DeliverDue(context.Background(), st)
			if sent != wantSent || failed != wantFailed || err != nil {
				t.Errorf("at %v: sent %d, failed %d, %v; want %d, %d", at.Sub(t0), sent, failed, err, wantSent, wantFailed)
			}
		}
		// The oldest change is attempted at 0:01 and 1:01, then waits
		// until 3:01 (its backoff doubled); the later ones wait with it.
		failed := []int{hosts, hosts, 0}
		round := 0
		want := rc.flap(t, st, hosts, changes, func(slot time.Time) {
			deliver(slot.Add(time.Second), 0, failed[round])
			round++
		})
		rc.down.Store(false)
		end := t0.Add(changes * time.Minute).Add(time.Second)
		deliver(end, hosts*changes, 0)
		deliver(end.Add(1000*time.Hour), 0, 0)
		rc.check(t, want)
		if n, want := rc.hits.Load(), int64(2*hosts+hosts*changes); n != want {
			t.Errorf("the receiver got %d GETs, want %d (%d refused, %d accepted)", n, want, 2*hosts, hosts*changes)
		}
	})
}

// Two Senders at once on one store (two processes: on PostgreSQL each with
// its own connection pool) drain a backlog of changes: each change is
// sent exactly once, each host's one at a time and in order.
func TestTwoSendersKeepEachHostsOrder(t *testing.T) {
	forEachShared(t, func(t *testing.T, st store.Store, another func() store.Store) {
		const hosts, changes = 6, 5
		rc := newOrderReceiver(t)
		want := rc.flap(t, st, hosts, changes, func(time.Time) {})
		stores := []store.Store{st, another()}
		var (
			wg   sync.WaitGroup
			sent atomic.Int64
		)
		start := make(chan struct{})
		for i := range stores {
			clk := &clock{t: t0.Add(changes * time.Minute)}
			s, _ := newSender(t, clk)
			wg.Go(func() {
				<-start
				ok, failed, err := s.DeliverDue(context.Background(), stores[i])
				if err != nil || failed != 0 {
					t.Errorf("sender %d: failed %d, %v", i, failed, err)
				}
				sent.Add(int64(ok))
			})
		}
		close(start)
		wg.Wait()
		if n := sent.Load(); n != hosts*changes {
			t.Errorf("the Senders sent %d, want %d", n, hosts*changes)
		}
		rc.check(t, want)
	})
}
