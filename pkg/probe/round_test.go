package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoundResultsInOrder(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ln := acceptingListener(t, "tcp4", "127.0.0.1:0")
	closed, _ := net.Listen("tcp4", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	want := []struct {
		target string
		up     bool
		reason string
	}{
		{srv.URL + "/up", true, ""},
		{ln.Addr().String(), true, ""},
		{closedAddr, false, "connection refused"},
		{srv.URL + "/down", false, "HTTP 503"},
		{"nosuch.invalid:80", false, ReasonNoSuchHost},
		{srv.URL + "/up?again", true, ""},
	}
	var targets []Target
	for _, w := range want {
		targets = append(targets, mustParse(t, w.target))
	}
	p := newTestProber(t, Options{Concurrency: 2}, nil)
	got := p.Round(context.Background(), targets)
	if len(got) != len(want) {
		t.Fatalf("%d results for %d targets", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Target.String() != w.target {
			t.Errorf("result %d is for %s, want %s", i, got[i].Target, w.target)
		}
		checkResult(t, got[i], w.up, w.reason)
	}
	if r := p.Round(context.Background(), nil); len(r) != 0 {
		t.Errorf("empty round: %v", r)
	}
}

// gauge counts probes in flight and remembers the most.
type gauge struct{ now, peak atomic.Int64 }

func (g *gauge) enter() {
	n := g.now.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.now.Add(-1) }

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// TestRoundBounds: no more than Concurrency TCP/HTTP probes and, at the
// same time and separately, ICMPConcurrency ICMP probes are in flight.
func TestRoundBounds(t *testing.T) {
	p := newTestProber(t, Options{Concurrency: 3, ICMPConcurrency: 2}, nil)
	var other, icmp gauge
	release := make(chan struct{})
	blocking := func(g *gauge) probeFunc {
		return func(ctx context.Context, _ Target) outcome {
			g.enter()
			defer g.leave()
			<-release
			return outcome{rtt: time.Microsecond}
		}
	}
	p.probes[KindTCP] = blocking(&other)
	p.probes[KindHTTP] = blocking(&other)
	p.probes[KindICMP] = blocking(&icmp)

	var targets []Target
	for range 10 {
		targets = append(targets, mustParse(t, "127.0.0.1:9"), mustParse(t, "127.0.0.1"), mustParse(t, "http://127.0.0.1:9/"))
	}
	done := make(chan []Result)
	go func() { done <- p.Round(context.Background(), targets) }()
	waitFor(t, "3 TCP/HTTP and 2 ICMP probes in flight", func() bool { return other.now.Load() == 3 && icmp.now.Load() == 2 })
	time.Sleep(50 * time.Millisecond) // room for a probe over the bound to start, if the pool let it
	close(release)
	results := <-done
	if other.peak.Load() != 3 || icmp.peak.Load() != 2 {
		t.Errorf("peak in flight: %d TCP/HTTP (bound 3), %d ICMP (bound 2)", other.peak.Load(), icmp.peak.Load())
	}
	for _, r := range results {
		if !r.Up {
			t.Errorf("%s: %+v", r.Target, r)
		}
	}
}

// TestRoundCancel: cancelling a round returns at once, with the results
// that finished and "cancelled" for the rest, real probes included.
func TestRoundCancel(t *testing.T) {
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(blockingHandler(t, arrived))
	defer slow.Close()
	fast := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer fast.Close()

	targets := []Target{mustParse(t, fast.URL+"/"), mustParse(t, slow.URL+"/")}
	for range 5 {
		targets = append(targets, mustParse(t, fast.URL+"/later"))
	}
	const timeout = time.Minute
	p := newTestProber(t, Options{Concurrency: 1, Timeout: timeout}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []Result)
	go func() { done <- p.Round(ctx, targets) }()
	<-arrived // the slow request is in flight, the fast one finished
	cancel()
	// A Round that missed the cancellation would return when the slow
	// probe times out, after a minute; one that heeds it returns in
	// milliseconds. A twelfth of the timeout tells them apart on any
	// machine, however loaded.
	var results []Result
	select {
	case results = <-done:
	case <-time.After(timeout / 12):
		t.Fatalf("Round had not returned %v after its context was cancelled (probe timeout %v)", timeout/12, timeout)
	}
	checkResult(t, results[0], true, "")
	for _, r := range results[1:] {
		if r.Up || r.Reason != ReasonCancelled || r.Target.String() == "" {
			t.Errorf("after cancel: %+v", r)
		}
	}
}

// TestRoundHangAndPanic: a probe that hangs, ignoring its context, and one
// that panics still give their targets a result; the others are not held
// up.
func TestRoundHangAndPanic(t *testing.T) {
	p := newTestProber(t, Options{Timeout: 100 * time.Millisecond}, nil)
	release := make(chan struct{})
	defer close(release)
	p.probes[KindTCP] = func(_ context.Context, t Target) outcome {
		switch t.Port {
		case 1:
			<-release
		case 2:
			panic("probe bug")
		}
		return outcome{rtt: time.Microsecond}
	}
	p.honoursContext[KindTCP] = false
	res := p.Round(context.Background(), []Target{
		mustParse(t, "127.0.0.1:1"), mustParse(t, "127.0.0.1:2"), mustParse(t, "127.0.0.1:3"),
	})
	checkResult(t, res[0], false, "timeout after 100ms")
	checkResult(t, res[1], false, "internal error: probe panicked: probe bug")
	checkResult(t, res[2], true, "")
}

// TestRoundUnanswered: targets that never answer are down with a timeout,
// each of them, not cancelled nor left out.
func TestRoundUnanswered(t *testing.T) {
	addr := unansweredAddr(t)
	var targets []Target
	for range 50 {
		targets = append(targets, mustParse(t, addr))
	}
	p := newTestProber(t, Options{Timeout: 200 * time.Millisecond}, nil)
	for _, r := range p.Round(context.Background(), targets) {
		checkResult(t, r, false, "timeout after 200ms")
	}
}

func TestNextRate(t *testing.T) {
	for _, tc := range []struct {
		rate           int
		late, allTaken bool
		want           int
	}{
		{8, true, true, 4},                                // late: halve
		{1, true, true, 1},                                // never below one
		{8, false, true, 13},                              // all taken, on time: up by half
		{8, false, false, 8},                              // starts left over: keep
		{1000, false, true, paceMaxPerTick},               // capped
		{paceMaxPerTick, true, false, paceMaxPerTick / 2}, // late with starts left over: halve
	} {
		if got := nextRate(tc.rate, tc.late, tc.allTaken); got != tc.want {
			t.Errorf("nextRate(%d, late %v, all taken %v) = %d, want %d", tc.rate, tc.late, tc.allTaken, got, tc.want)
		}
	}
}

// TestSchedDelays: the runtime has the metric the pacer reads (it would
// pace on nothing otherwise), and a scheduler kept busy by more
// goroutines that spin than it has Ps makes the delays late, where an
// idle one does not.
func TestSchedDelays(t *testing.T) {
	s := []metrics.Sample{{Name: schedLatencyMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		t.Fatalf("%s: kind %v", schedLatencyMetric, s[0].Value.Kind())
	}

	var d schedDelays
	if d.late() {
		t.Error("the first read is late: it has nothing to compare with")
	}
	// Idle, one of a few reads is on time, however busy the machine's
	// other processes keep its CPUs.
	onTime := false
	for range 10 {
		time.Sleep(10 * time.Millisecond)
		if !d.late() {
			onTime = true
			break
		}
	}
	if !onTime {
		t.Error("always late while nothing ran")
	}

	stop := swamp()
	time.Sleep(100 * time.Millisecond)
	late := d.late()
	stop()
	if !late {
		t.Error("not late while every goroutine waited for 20 others")
	}
}

// swamp keeps the scheduler busy until stop is called: 20 goroutines per
// P that spin, 1ms at a time, and yield, so each waits behind all the
// others (many times paceMaxDelay), and no P ever runs out of work.
func swamp() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for end := time.Now().Add(time.Millisecond); time.Now().Before(end); {
				}
				runtime.Gosched()
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// TestWakeCanary: the canary is on time while the process idles, and late
// while the scheduler is swamped and sockets wait to be noticed; closed,
// its reader ends and it is broken, never late.
func TestWakeCanary(t *testing.T) {
	c, err := newWakeCanary()
	if err != nil {
		t.Fatal(err)
	}
	// Each call tells how the last datagram fared and sends the next.
	// Idle, one of a few is on time, however busy the machine's other
	// processes keep its CPUs.
	c.late(paceMaxDelay)
	onTime := false
	for range 10 {
		time.Sleep(20 * time.Millisecond)
		if !c.late(paceMaxDelay) {
			onTime = true
			break
		}
	}
	if !onTime {
		t.Errorf("always late while idle: the last datagram took %v", time.Duration(c.delay.Load()))
	}

	stop := swamp()
	var late bool
	for range 50 {
		time.Sleep(2 * time.Millisecond)
		if c.late(paceMaxDelay) {
			late = true
			break
		}
	}
	stop()
	if !late {
		t.Error("never late while the scheduler was swamped")
	}

	c.close()
	for range 100 {
		if c.broken.Load() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !c.broken.Load() || c.late(0) {
		t.Errorf("closed: broken %v, late %v; want broken and never late", c.broken.Load(), c.late(0))
	}
}

func TestPacerWait(t *testing.T) {
	pc := newPacer()
	defer pc.close()
	for range 100 { // more than the first tick's starts: later ticks hand out more
		if !pc.wait(context.Background()) {
			t.Fatal("wait = false without cancellation")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 2000 {
		if !pc.wait(ctx) {
			return
		}
	}
	t.Fatal("wait kept admitting with a cancelled context")
}

// TestRoundFunc: done gets every target's result once, as Round returns
// them: probed, push and cut-off targets alike; the fast results before
// the slow probe ends.
func TestRoundFunc(t *testing.T) {
	p := newTestProber(t, Options{}, nil)
	release := make(chan struct{})
	p.probes[KindTCP] = func(ctx context.Context, t Target) outcome {
		if t.Port == 1 { // the slow one: ends when the fast ones are in
			select {
			case <-release:
			case <-ctx.Done():
				return outcome{err: ctx.Err()}
			}
		}
		return outcome{rtt: time.Microsecond}
	}
	targets := []Target{mustParse(t, "127.0.0.1:1"), mustParse(t, "push://a"), mustParse(t, "127.0.0.1:2"), mustParse(t, "127.0.0.1:3")}
	var (
		mu    sync.Mutex
		calls = make([]int, len(targets))
		got   = make([]Result, len(targets))
	)
	p.RoundFunc(context.Background(), targets, func(i int, r Result) {
		mu.Lock()
		defer mu.Unlock()
		calls[i]++
		got[i] = r
		if calls[2] == 1 && calls[3] == 1 && calls[0] == 0 {
			close(release)
		}
	})
	for i, n := range calls {
		if n != 1 {
			t.Errorf("done called %d times for target %d, want once", n, i)
		}
	}
	checkResult(t, got[0], true, "")
	if got[1].Up || got[1].Reason != ReasonPushNotProbed {
		t.Errorf("push target: %+v", got[1])
	}
	checkResult(t, got[2], true, "")

	// Cancelled before any start: every probed target is cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clear(calls)
	p.RoundFunc(ctx, targets, func(i int, r Result) {
		mu.Lock()
		defer mu.Unlock()
		calls[i]++
		if i != 1 && (r.Reason != ReasonCancelled || r.Target.String() != targets[i].String()) {
			t.Errorf("target %d after cancel: %+v", i, r)
		}
	})
	if !slices.Equal(calls, []int{1, 1, 1, 1}) {
		t.Errorf("done calls after cancel %v, want one each", calls)
	}
}
