package round_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// batchRecorder is a store that records the hosts of each SaveRound call
// and when it returned, and fails the calls its fail says to.
type batchRecorder struct {
	store.Store
	fail func(call int) error // nil: none fails

	mu      sync.Mutex
	batches [][]string  // the hosts of each call that succeeded
	stored  []time.Time // when each of them returned
	calls   int
	saved   chan struct{} // closed when a call first succeeded
}

func newBatchRecorder(st store.Store) *batchRecorder {
	return &batchRecorder{Store: st, saved: make(chan struct{})}
}

func (b *batchRecorder) SaveRound(ctx context.Context, results []store.Result, alerting *store.Alerting) error {
	b.mu.Lock()
	call := b.calls
	b.calls++
	b.mu.Unlock()
	if b.fail != nil {
		if err := b.fail(call); err != nil {
			return err
		}
	}
	if err := b.Store.SaveRound(ctx, results, alerting); err != nil {
		return err
	}
	var hosts []string
	for _, r := range results {
		hosts = append(hosts, r.Host)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.batches) == 0 {
		close(b.saved)
	}
	b.batches = append(b.batches, hosts)
	b.stored = append(b.stored, time.Now())
	return nil
}

// gatedServer answers once gate is closed (or after a few seconds, so
// that a round that waits for it before storing anything still ends and
// the test fails on what it stored).
func gatedServer(t *testing.T, gate <-chan struct{}, status *int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-time.After(5 * time.Second):
		}
		if status != nil && *status != 0 {
			w.WriteHeader(*status)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRunStoresInBatches: the results of the probes that finished are
// stored while a slower probe still runs, each result once, and the
// summary's Stored is when the last batch was committed.
func TestRunStoresInBatches(t *testing.T) {
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer fast.Close()
	mem := memory.New()
	rec := newBatchRecorder(mem)
	slow := gatedServer(t, rec.saved, nil)
	fastHosts := []string{fast.URL + "/a", fast.URL + "/b", fast.URL + "/c"}
	invalid := "foo bar" // stored down, with the first batch
	addHosts(t, mem, append([]string{slow.URL + "/slow", invalid}, fastHosts...)...)

	sum, err := newRunner(t, rec).Run(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.batches) < 2 {
		t.Fatalf("stored in %d batch(es) %v: want the fast results before the slow one", len(rec.batches), rec.batches)
	}
	if slices.Contains(rec.batches[0], slow.URL+"/slow") {
		t.Errorf("the first batch %v has the slow target", rec.batches[0])
	}
	count := map[string]int{}
	for _, b := range rec.batches {
		for _, h := range b {
			count[h]++
		}
	}
	for _, h := range append([]string{slow.URL + "/slow", invalid}, fastHosts...) {
		if count[h] != 1 {
			t.Errorf("%s saved %d times, want once", h, count[h])
		}
		if rs := results(t, mem, h); len(rs) != 1 {
			t.Errorf("%s: %d results stored, want 1", h, len(rs))
		}
	}
	if last := rec.stored[len(rec.stored)-1]; sum.Stored.Before(last) {
		t.Errorf("summary says stored at %v, before the last batch returned at %v", sum.Stored, last)
	}
	if sum.Up != 4 || sum.Down != 1 || sum.Invalid != 1 || sum.Targets != 5 {
		t.Errorf("summary %+v: want 4 up, 1 down (invalid) of 5 targets", sum)
	}
}

// TestRunSavesAChildWithOrAfterItsParent: a monitor whose parent is
// checked in the round is saved in its parent's batch or a later one,
// even when its own probe ends first; a child whose parent is not stored
// does not wait.
func TestRunSavesAChildWithOrAfterItsParent(t *testing.T) {
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer fast.Close()
	mem := memory.New()
	rec := newBatchRecorder(mem)
	slow := gatedServer(t, rec.saved, nil)
	parent := slow.URL + "/router"
	child, orphan, other := fast.URL+"/child", fast.URL+"/orphan", fast.URL+"/other"
	putMonitors(t, mem,
		monitor.Monitor{Host: parent},
		monitor.Monitor{Host: child, Settings: monitor.Settings{Parent: parent}},
		monitor.Monitor{Host: orphan, Settings: monitor.Settings{Parent: "gone.example"}},
		monitor.Monitor{Host: other},
	)
	if _, err := newRunner(t, rec).Run(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	batchOf := func(h string) int {
		for i, b := range rec.batches {
			if slices.Contains(b, h) {
				return i
			}
		}
		t.Fatalf("%s was not saved: batches %v", h, rec.batches)
		return -1
	}
	if batchOf(child) < batchOf(parent) {
		t.Errorf("the child was saved in batch %d, before its parent's %d: %v", batchOf(child), batchOf(parent), rec.batches)
	}
	if b := rec.batches[batchOf(parent)]; slices.Index(b, child) < slices.Index(b, parent) && batchOf(child) == batchOf(parent) {
		t.Errorf("in one batch, the child comes before its parent: %v", b)
	}
	if batchOf(orphan) != 0 || batchOf(other) != 0 {
		t.Errorf("a child without a stored parent waited: %v", rec.batches)
	}
}

// TestRunStoresAFailedBatchWithTheLast: a batch that fails is stored with
// the round's last batch; the round succeeds, each result stored once,
// and says so in a warning.
func TestRunStoresAFailedBatchWithTheLast(t *testing.T) {
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer fast.Close()
	mem := memory.New()
	rec := newBatchRecorder(mem)
	rec.fail = func(call int) error {
		if call == 0 {
			return errors.New("connection refused")
		}
		return nil
	}
	// The slow target answers once the fast ones' batch was tried.
	tried := make(chan struct{})
	var once sync.Once
	fail := rec.fail
	rec.fail = func(call int) error {
		defer once.Do(func() { close(tried) })
		return fail(call)
	}
	slow := gatedServer(t, tried, nil)
	hosts := []string{fast.URL + "/a", fast.URL + "/b", slow.URL + "/slow"}
	addHosts(t, mem, hosts...)

	r := newRunner(t, rec)
	var logs strings.Builder
	r.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	sum, err := r.Run(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rec.calls < 2 || sum.Stored.IsZero() {
		t.Errorf("%d SaveRound calls, summary %+v: want the failed batch tried again", rec.calls, sum)
	}
	for _, h := range hosts {
		if rs := results(t, mem, h); len(rs) != 1 {
			t.Errorf("%s: %d results stored, want 1", h, len(rs))
		}
	}
	if !strings.Contains(logs.String(), "stored only with the last batch") || !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("no warning of the failed batch:\n%s", logs.String())
	}
}

// TestBatchesKeepNotificationStateExact: hosts whose results are stored
// in different batches of a round each notify once per change, also when
// the round of a slot runs again.
func TestBatchesKeepNotificationStateExact(t *testing.T) {
	var (
		mu       sync.Mutex
		received []string
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received = append(received, r.URL.Query().Get("host")+" "+r.URL.Query().Get("state"))
		mu.Unlock()
	}))
	defer receiver.Close()

	var status atomic.Int32 // the targets' status this round
	var gate atomic.Pointer[chan struct{}]
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer fast.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-*gate.Load(): // the round's first batch is stored
		case <-time.After(5 * time.Second):
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer slow.Close()
	hosts := []string{fast.URL + "/fast", slow.URL + "/slow"}

	mem := memory.New()
	ctx := context.Background()
	addHosts(t, mem, hosts...)
	for _, h := range hosts {
		if err := mem.SetRule(ctx, store.Rule{Host: h, Threshold: 1, Action: receiver.URL + "/hook?host={HOST}&state={STATE}"}); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Second) // past slots: deliveries are due at once
	for _, round := range []struct {
		slot   int
		status int
	}{
		{0, http.StatusOK},                 // establishes the state quietly
		{1, http.StatusServiceUnavailable}, // down: one notification each
		{1, http.StatusServiceUnavailable}, // the same slot again: none
		{2, http.StatusServiceUnavailable}, // still down: none
		{3, http.StatusOK},                 // up: one each
		{2, http.StatusServiceUnavailable}, // an old slot, late: none
	} {
		status.Store(int32(round.status))
		rec := newBatchRecorder(mem)
		gate.Store(&rec.saved)
		if _, err := newRunner(t, rec).Run(ctx, base.Add(time.Duration(round.slot)*time.Second)); err != nil {
			t.Fatal(err)
		}
		if len(rec.batches) < 2 || slices.Contains(rec.batches[0], hosts[1]) {
			t.Fatalf("slot %d stored in batches %v: the test needs the hosts in different ones", round.slot, rec.batches)
		}
	}
	slices.Sort(received)
	want := []string{hosts[0] + " down", hosts[0] + " up", hosts[1] + " down", hosts[1] + " up"}
	slices.Sort(want)
	if !slices.Equal(received, want) {
		t.Errorf("notifications %q, want %q", received, want)
	}
}
