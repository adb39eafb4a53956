package round_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/round"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

var quiet = slog.New(slog.DiscardHandler)

// newRunner is what a new checker process makes: nothing but the store
// carries over from an earlier one.
func newRunner(t *testing.T, st store.Store) *round.Runner {
	t.Helper()
	p := probe.New(probe.Options{Timeout: 2 * time.Second})
	t.Cleanup(p.Close)
	return &round.Runner{
		Store:    st,
		Prober:   p,
		Interval: time.Second,
		Timeout:  2 * time.Second,
		Location: "test",
		Sender:   &notify.Sender{Backoff: func(int64) time.Duration { return 0 }, Logger: quiet},
		Logger:   quiet,
	}
}

func addHosts(t *testing.T, st store.Store, hosts ...string) {
	t.Helper()
	for _, h := range hosts {
		if err := st.AddHost(context.Background(), h); err != nil {
			t.Fatalf("add %q: %v", h, err)
		}
	}
}

func results(t *testing.T, st store.Store, host string) []store.Result {
	t.Helper()
	var rs []store.Result
	err := st.Results(context.Background(), host, time.Unix(0, 0), time.Now().Add(time.Hour), func(r store.Result) error {
		rs = append(rs, r)
		return nil
	})
	if err != nil {
		t.Fatalf("results of %s: %v", host, err)
	}
	return rs
}

func TestRunStoresEveryResult(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	up := srv.URL + "/"
	down := proctest.ClosedAddr(t)
	invalid := "foo bar" // stored by a laxer writer, e.g. a gosrvmon database

	st := memory.New()
	addHosts(t, st, up, down, invalid)
	now := time.Date(2026, 11, 25, 10, 0, 0, 700_000_000, time.FixedZone("CET", 3600))
	sum, err := newRunner(t, st).Run(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	slot := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	if !sum.Slot.Equal(slot) || sum.Targets != 3 || sum.Up != 1 || sum.Down != 2 || sum.Invalid != 1 {
		t.Errorf("summary = %+v; want slot %v, 3 targets, 1 up, 2 down, 1 invalid", sum, slot)
	}
	for _, c := range []struct {
		host       string
		up         bool
		reasonNone bool
	}{{up, true, true}, {down, false, false}, {invalid, false, false}} {
		rs := results(t, st, c.host)
		if len(rs) != 1 {
			t.Fatalf("%s: %d results, want 1", c.host, len(rs))
		}
		r := rs[0]
		if !r.Slot.Equal(slot) || r.Slot.Location() != time.UTC || r.Location != "test" || r.Up != c.up || (r.Reason == "") != c.reasonNone {
			t.Errorf("%s: stored %+v", c.host, r)
		}
	}
}

func TestRunTwiceForOneSlotStoresOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	st := memory.New()
	addHosts(t, st, srv.URL)
	now := time.Now()
	for i := 0; i < 2; i++ {
		if _, err := newRunner(t, st).Run(context.Background(), now); err != nil {
			t.Fatal(err)
		}
	}
	if rs := results(t, st, srv.URL); len(rs) != 1 {
		t.Errorf("%d results after two rounds of one slot, want 1", len(rs))
	}
}

func TestShardsSplitTheTargets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	st := memory.New()
	var hosts []string
	for i := 1; i <= 30; i++ {
		h := "127.0.0." + strconv.Itoa(i) + ":" + strconv.Itoa(port)
		hosts = append(hosts, h)
	}
	addHosts(t, st, hosts...)
	now := time.Now()
	total := 0
	for i := 0; i < 3; i++ {
		r := newRunner(t, st)
		r.Shard = round.Shard{Index: i, Count: 3}
		sum, err := r.Run(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Targets == 0 || sum.Targets == len(hosts) {
			t.Errorf("shard %d took %d of %d targets", i, sum.Targets, len(hosts))
		}
		total += sum.Targets
	}
	if total != len(hosts) {
		t.Errorf("the shards took %d targets in all, want %d", total, len(hosts))
	}
	for _, h := range hosts {
		if rs := results(t, st, h); len(rs) != 1 {
			t.Errorf("%s: %d results, want exactly one shard to check it", h, len(rs))
		}
	}
}

// A target that the test turns up and down, a webhook receiver that fails
// when told to, and a fresh Runner (a new checker process) every round.
func TestNotificationsAcrossProcesses(t *testing.T) {
	var targetUp atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !targetUp.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer target.Close()

	var (
		mu       sync.Mutex
		received []url.Values
		failing  atomic.Int32 // fail this many more requests
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() > 0 {
			failing.Add(-1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		received = append(received, r.URL.Query())
		mu.Unlock()
	}))
	defer receiver.Close()

	st := memory.New()
	ctx := context.Background()
	addHosts(t, st, target.URL)
	if err := st.SetRule(ctx, store.Rule{Host: target.URL, Threshold: 2, Action: receiver.URL + "/hook?host={HOST}&state={STATE}"}); err != nil {
		t.Fatal(err)
	}

	// Slots in the past, so that every delivery is due at once.
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	slot := 0
	round := func(up bool) {
		t.Helper()
		targetUp.Store(up)
		if _, err := newRunner(t, st).Run(ctx, base.Add(time.Duration(slot)*time.Second)); err != nil {
			t.Fatal(err)
		}
		slot++
	}
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var s []string
		for _, q := range received {
			s = append(s, q.Get("state"))
		}
		return s
	}
	want := func(states ...string) {
		t.Helper()
		g := got()
		if len(g) != len(states) {
			t.Fatalf("notifications %v, want %v", g, states)
		}
		for i := range g {
			if g[i] != states[i] {
				t.Fatalf("notifications %v, want %v", g, states)
			}
		}
	}

	round(true) // a first up is not news
	round(true)
	want()
	round(false) // a blip shorter than the threshold sends nothing
	round(true)
	want()
	round(false)
	round(false) // threshold reached
	want("down")
	round(false)
	want("down")

	// The receiver fails for three rounds, then recovers: the "up"
	// notification arrives exactly once.
	failing.Store(3)
	round(true)
	round(true) // threshold reached; attempt 1 fails
	round(true) // attempt 2 fails
	round(true) // attempt 3 fails
	want("down")
	round(true) // attempt 4 succeeds
	want("down", "up")
	round(true)
	round(true)
	want("down", "up")

	// The same slot again (a retried Lambda invocation) notifies nothing.
	slot--
	round(false)
	slot--
	round(false)
	want("down", "up")
	if q := received[0]; q.Get("host") != target.URL {
		t.Errorf("{HOST} expanded to %q, want %q", q.Get("host"), target.URL)
	}
}

func TestRetentionDeletesOldResults(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	st := memory.New()
	addHosts(t, st, srv.URL)
	now := time.Now()
	old := store.Result{Host: srv.URL, Slot: now.Add(-2 * time.Hour).UTC().Truncate(time.Second), Up: true}
	if err := st.SaveRound(context.Background(), []store.Result{old}, nil); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, st)
	r.Retention = time.Hour
	sum, err := r.Run(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Deleted != 1 {
		t.Errorf("deleted %d, want 1", sum.Deleted)
	}
	rs := results(t, st, srv.URL)
	if len(rs) != 1 || rs[0].Slot.Before(now.Add(-time.Hour)) {
		t.Errorf("results after retention: %+v", rs)
	}
}

// summarisingStore is a memory store that records the calls of its
// Summariser.
type summarisingStore struct {
	*memory.Store
	calls []time.Time
}

func (s *summarisingStore) Summarise(ctx context.Context, now time.Time) (bool, error) {
	s.calls = append(s.calls, now)
	return false, nil
}

// A round brings the store's hourly summaries up to date, as of its own
// time, after storing its results.
func TestRunSummarises(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	st := &summarisingStore{Store: memory.New()}
	addHosts(t, st, srv.URL)
	now := time.Now()
	if _, err := newRunner(t, st).Run(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if len(st.calls) != 1 || !st.calls[0].Equal(now) {
		t.Errorf("Summarise called with %v, want once with %v", st.calls, now)
	}
	if rs := results(t, st, srv.URL); len(rs) != 1 {
		t.Errorf("%d results stored, want 1", len(rs))
	}
}

// SIGTERM cancels the context of the round in flight; the round still
// probes every target and stores every result.
func TestCancelledRoundFinishesAndStores(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
	}))
	defer srv.Close()
	st := memory.New()
	var hosts []string
	for i := 0; i < 20; i++ {
		hosts = append(hosts, srv.URL+"/"+strconv.Itoa(i))
	}
	addHosts(t, st, hosts...)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	sum, err := newRunner(t, st).Run(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Up != len(hosts) || sum.Cancelled != 0 {
		t.Errorf("summary %+v: want every one of %d targets up, none cancelled", sum, len(hosts))
	}
	for _, h := range hosts {
		if rs := results(t, st, h); len(rs) != 1 || !rs[0].Up {
			t.Errorf("%s: %+v", h, rs)
		}
	}
}

// A deadline on the round's context (a Lambda invocation's) cuts off the
// probes still running in time to store every result.
func TestDeadlineLeavesTimeToStore(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer fast.Close()
	st := memory.New()
	addHosts(t, st, slow.URL, fast.URL)
	r := newRunner(t, st)
	r.Timeout = time.Minute
	p := probe.New(probe.Options{Timeout: time.Minute})
	t.Cleanup(p.Close)
	r.Prober = p
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sum, err := r.Run(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Up != 1 || sum.Cancelled != 1 {
		t.Errorf("summary %+v: want the fast target up and the slow one cut off", sum)
	}
	if rs := results(t, st, slow.URL); len(rs) != 1 || rs[0].Up || rs[0].Reason != probe.ReasonCancelled {
		t.Errorf("slow target stored as %+v", rs)
	}
}

// failingStore fails to save, as an unreachable database does.
type failingStore struct{ store.Store }

func (failingStore) SaveRound(context.Context, []store.Result, *store.Alerting) error {
	return errors.New("connection refused")
}

// A failed save is returned, not logged: the caller says it once (for
// cmd/checker, in its one line).
func TestRunReportsAFailedSave(t *testing.T) {
	st := memory.New()
	addHosts(t, st, proctest.ClosedAddr(t))
	r := newRunner(t, failingStore{st})
	var logs strings.Builder
	r.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	sum, err := r.Run(context.Background(), time.Now())
	var se *round.SaveError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want a *SaveError with the store's reason", err)
	}
	if !sum.Stored.IsZero() || sum.StoredAfter() != 0 {
		t.Errorf("summary %+v says stored", sum)
	}
	if logs.Len() != 0 {
		t.Errorf("Run logged a failure it returns:\n%s", logs.String())
	}
}

// hangingReceiver is a webhook that never answers; it counts its GETs.
func hangingReceiver(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv, &gets
}

// pending lists the deliveries that are still pending.
func pending(t *testing.T, st store.Store) []store.Delivery {
	t.Helper()
	ds, err := st.DueDeliveries(context.Background(), time.Now().Add(1000*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// A webhook that never answers (its timeout an hour) holds the round only
// for what is left of its slot; the results were stored before, old
// results are deleted after, and the delivery stays pending for a later
// round, its attempt recorded.
func TestHangingWebhookEndsWithTheSlot(t *testing.T) {
	receiver, gets := hangingReceiver(t)
	down := proctest.ClosedAddr(t)
	st := memory.New()
	addHosts(t, st, down)
	ctx := context.Background()
	if err := st.SetRule(ctx, store.Rule{Host: down, Threshold: 1, Action: receiver.URL + "/?state={STATE}"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second) // a round at its slot's start: the whole slot is left
	old := store.Result{Host: down, Slot: now.Add(-2 * time.Hour).UTC()}
	if err := st.SaveRound(ctx, []store.Result{old}, nil); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, st)
	r.Sender.Timeout = time.Hour
	r.Sender.Backoff = nil
	r.Retention = time.Hour
	sum, err := r.Run(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 0 || sum.Failed != 0 || sum.Deleted != 1 || sum.Stored.IsZero() || sum.StoredAfter() <= 0 {
		t.Errorf("summary %+v: want nothing sent or failed, the old result deleted, the results stored", sum)
	}
	if n := gets.Load(); n != 1 {
		t.Errorf("the receiver got %d GETs, want 1", n)
	}
	ds := pending(t, st)
	if len(ds) != 1 || ds[0].Attempts != 1 || ds[0].LastError == "" || !ds[0].NextAttempt.After(now) {
		t.Errorf("pending %+v: want the delivery, its attempt recorded, due after its backoff", ds)
	}
	if rs := results(t, st, down); len(rs) != 1 || !rs[0].Slot.Equal(sum.Slot) {
		t.Errorf("results %+v: want this round's only", rs)
	}
}

// After SIGTERM (ctx cancelled) the round's results are stored, but no
// notification is sent: it stays pending, unclaimed, for the next process.
func TestCancelledRoundLeavesDeliveriesPending(t *testing.T) {
	receiver, gets := hangingReceiver(t)
	down := proctest.ClosedAddr(t)
	st := memory.New()
	addHosts(t, st, down)
	ctx, cancel := context.WithCancel(context.Background())
	if err := st.SetRule(ctx, store.Rule{Host: down, Threshold: 1, Action: receiver.URL + "/"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	r := newRunner(t, st)
	r.Retention = time.Hour
	sum, err := r.Run(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Down != 1 || sum.Sent+sum.Failed != 0 || gets.Load() != 0 {
		t.Errorf("summary %+v, %d GETs: want the result stored and nothing sent", sum, gets.Load())
	}
	if ds := pending(t, st); len(ds) != 1 || ds[0].Attempts != 0 {
		t.Errorf("pending %+v: want the delivery, never attempted", ds)
	}
	if rs := results(t, st, down); len(rs) != 1 {
		t.Errorf("results %+v: want this round's", rs)
	}
}

// A webhook receiver down while a target goes down, up and down again:
// each round attempts the host's oldest notification only, and the first
// round after the receiver is back delivers the whole backlog in its
// slot, in the order of the changes.
func TestRoundDeliversABacklogInOrder(t *testing.T) {
	var targetUp, receiverDown atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !targetUp.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer target.Close()
	var (
		mu       sync.Mutex
		received []string
		gets     atomic.Int64
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		if receiverDown.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		received = append(received, r.URL.Query().Get("state"))
		mu.Unlock()
	}))
	defer receiver.Close()

	st := memory.New()
	ctx := context.Background()
	addHosts(t, st, target.URL)
	if err := st.SetRule(ctx, store.Rule{Host: target.URL, Threshold: 1, Action: receiver.URL + "/hook?state={STATE}"}); err != nil {
		t.Fatal(err)
	}
	// Slots in the past, so that every delivery is due at once.
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	receiverDown.Store(true)
	for i, c := range []struct {
		up, receiverDown bool
		sent, failed     int
	}{
		{true, true, 0, 0},  // a first up is not news
		{false, true, 0, 1}, // down: attempted, refused
		{true, true, 0, 1},  // up: waits behind down, which is retried
		{false, true, 0, 1}, // down: waits too
		{false, false, 3, 0},
		{false, false, 0, 0},
	} {
		targetUp.Store(c.up)
		receiverDown.Store(c.receiverDown)
		sum, err := newRunner(t, st).Run(ctx, base.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if sum.Sent != c.sent || sum.Failed != c.failed {
			t.Errorf("round %d: sent %d, failed %d; want %d, %d", i, sum.Sent, sum.Failed, c.sent, c.failed)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(received, " "); got != "down up down" {
		t.Errorf("the receiver accepted %q, want \"down up down\"", got)
	}
	if n := gets.Load(); n != 6 {
		t.Errorf("the receiver got %d GETs, want 6 (3 refused)", n)
	}
}
