package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestICMPLoopback(t *testing.T) {
	requireICMP(t)
	p := newTestProber(t, Options{Timeout: 5 * time.Second}, nil)
	targets := []string{"127.0.0.1", "127.3.2.1", "localhost"}
	if hasIPv6Loopback() {
		targets = append(targets, "::1")
	}
	for _, s := range targets {
		r := p.Check(context.Background(), mustParse(t, s))
		checkResult(t, r, true, "")
		if r.RTT >= time.Second {
			t.Errorf("%s: loopback rtt %v", s, r.RTT)
		}
	}
	requireIPv6Loopback(t)
}

// TestICMPEveryAddress: a name with several A and AAAA records is up, each
// of them pinged.
func TestICMPEveryAddress(t *testing.T) {
	requireICMP(t)
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	if hasIPv6Loopback() {
		addrs = append(addrs, netip.IPv6Loopback())
	} else {
		// Check IPv4 now; skip loudly after, or fail in CI.
		defer requireIPv6Loopback(t)
	}
	p := newTestProber(t, Options{Timeout: 5 * time.Second}, map[string][]netip.Addr{"multi.srvmon.test": addrs})
	checkResult(t, p.Check(context.Background(), mustParse(t, "multi.srvmon.test")), true, "")

	got, err := lookupAddrs(context.Background(), p.opts.Resolver, "multi.srvmon.test")
	if err != nil || len(got) != len(addrs) {
		t.Fatalf("lookupAddrs = %v, %v; want %v", got, err, addrs)
	}
	mode, _ := p.mode()
	for _, a := range got {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rtt, err := pingIP(ctx, a, pingConfig{privileged: mode == icmpPrivileged, count: 4, interval: time.Second, ids: &echoIDs})
		cancel()
		if err != nil || rtt <= 0 {
			t.Errorf("ping %v: rtt %v, %v", a, rtt, err)
		}
	}
}

func TestICMPNoSuchHost(t *testing.T) {
	requireICMP(t)
	p := newTestProber(t, Options{}, nil)
	checkResult(t, p.Check(context.Background(), mustParse(t, "nosuch.invalid")), false, ReasonNoSuchHost)
}

// TestICMPParallel: hundreds of pings in flight at once, each to its own
// loopback address, are all answered: none takes another's reply, none is
// lost.
func TestICMPParallel(t *testing.T) {
	requireICMP(t)
	const n = 400
	p := newTestProber(t, Options{Timeout: 5 * time.Second, ICMPConcurrency: n}, nil)
	for _, r := range p.Round(context.Background(), spreadLoopbackTargets(t, n)) {
		checkResult(t, r, true, "")
	}
}

// TestICMPSilentRound: a round of 1,000 ICMP targets that never answer
// (loopback in a network namespace that ignores echo requests) returns,
// with every target down on a timeout, in both modes. How long it takes
// (about one timeout) is BenchmarkICMPSilentRound's to measure.
func TestICMPSilentRound(t *testing.T) {
	if !inNetNSProcess(t, silentNetNS()) {
		return
	}
	requireICMP(t)
	targets := spreadLoopbackTargets(t, 1000)
	for _, mode := range icmpModes() {
		t.Run(mode.name, func(t *testing.T) {
			p := newTestProber(t, Options{Timeout: time.Second}, nil)
			forceICMPMode(p, mode.mode)
			results := p.Round(context.Background(), targets)
			if len(results) != len(targets) {
				t.Fatalf("%d results for %d targets", len(results), len(targets))
			}
			wrong := 0
			for i, r := range results {
				if r.Target != targets[i] || r.Up || r.Reason != "timeout after 1s" || r.RTT < time.Second {
					if wrong++; wrong <= 5 {
						t.Errorf("result %d: %+v; want %s down, timeout after 1s", i, r, targets[i])
					}
				}
			}
			if wrong > 5 {
				t.Errorf("... %d of %d results wrong", wrong, len(results))
			}
		})
	}
}

func TestICMPUnavailable(t *testing.T) {
	const unavailable = "ICMP is not allowed here: check ping targets elsewhere"
	p := newTestProber(t, Options{ICMPUnavailable: unavailable}, nil)
	checkResult(t, p.Check(context.Background(), mustParse(t, "127.0.0.1")), false, unavailable)
	if err := p.ICMPAvailable(); err == nil || err.Error() != unavailable {
		t.Errorf("ICMPAvailable() = %v", err)
	}
}

// TestICMPOwnEchoRequestIsNotAReply pings 127.0.0.1 and ::1 in a network
// namespace whose kernel answers no echo request. A raw socket on loopback
// still reads the request it sent (gosrvmon took it for the reply, or
// failed on it); the ping must time out, in both modes.
func TestICMPOwnEchoRequestIsNotAReply(t *testing.T) {
	type outcome struct {
		what string
		rtt  time.Duration
		err  error
	}
	var got []outcome
	inNetNS(t, silentNetNS(), func() {
		for _, privileged := range []bool{true, false} {
			for _, a := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()} {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				rtt, err := pingIP(ctx, a, pingConfig{privileged: privileged, count: 3, interval: 50 * time.Millisecond, ids: &echoIDs})
				cancel()
				got = append(got, outcome{fmt.Sprintf("%v privileged=%v", a, privileged), rtt, err})
			}
		}
	})
	if len(got) != 4 {
		t.Fatalf("%d pings ran", len(got))
	}
	for _, o := range got {
		if !errors.Is(o.err, context.DeadlineExceeded) {
			t.Errorf("%s with no echo replies: rtt %v, error %v; want a timeout", o.what, o.rtt, o.err)
		}
	}
}

// TestICMPModes: in a namespace where net.ipv4.ping_group_range allows
// every group, the Prober picks unprivileged ping sockets, and both modes
// reach 127.0.0.1 and ::1 (the same namespace, echo replies on, is the
// control for the test above).
func TestICMPModes(t *testing.T) {
	var (
		mode    icmpMode
		modeErr error
		lines   []string
	)
	inNetNS(t, map[string]string{"ipv4/ping_group_range": "0 2147483647"}, func() {
		mode, modeErr = detectICMPMode()
		for _, privileged := range []bool{true, false} {
			for _, a := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()} {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				rtt, err := pingIP(ctx, a, pingConfig{privileged: privileged, count: 3, interval: time.Second, ids: &echoIDs})
				cancel()
				if err != nil || rtt <= 0 {
					lines = append(lines, fmt.Sprintf("%v privileged=%v: rtt %v, %v", a, privileged, rtt, err))
				}
			}
		}
	})
	if mode != icmpUnprivileged || modeErr != nil {
		t.Errorf("mode %v, %v; want unprivileged", mode, modeErr)
	}
	for _, l := range lines {
		t.Error(l)
	}
}

// TestICMPNotPermitted: without CAP_NET_RAW and outside ping_group_range,
// ICMP checks are down with a reason that names the fixes.
func TestICMPNotPermitted(t *testing.T) {
	var (
		availErr error
		r        Result
		dropErr  error
	)
	inNetNS(t, map[string]string{"ipv4/ping_group_range": "1 0"}, func() {
		if dropErr = dropNetRaw(); dropErr != nil {
			return
		}
		p := New(Options{Timeout: time.Second})
		defer p.Close()
		availErr = p.ICMPAvailable() // detects on this thread, without CAP_NET_RAW
		r = p.Check(context.Background(), Target{Kind: KindICMP, Host: "127.0.0.1"})
	})
	if dropErr != nil {
		t.Fatalf("dropping CAP_NET_RAW: %v", dropErr)
	}
	if !errors.Is(availErr, ErrICMPNotPermitted) {
		t.Fatalf("ICMPAvailable() = %v, want ErrICMPNotPermitted", availErr)
	}
	for _, fix := range []string{"setcap cap_net_raw+ep", "net.ipv4.ping_group_range"} {
		if !strings.Contains(availErr.Error(), fix) || !strings.Contains(r.Reason, fix) {
			t.Errorf("error %q / reason %q does not name %q", availErr, r.Reason, fix)
		}
	}
	if r.Up {
		t.Errorf("result %+v", r)
	}
}

func TestPingAll(t *testing.T) {
	a1, a2, a3 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")
	errRefused := errors.New("refused")
	errPingPanicked := errors.New("a panic") // marks the cases whose error is the panic
	type answer struct {
		rtt   time.Duration
		err   error
		hang  bool // wait for the context
		panic bool
	}
	for _, tc := range []struct {
		name    string
		answers map[netip.Addr]answer
		rtt     time.Duration
		err     error
	}{
		{"one of two", map[netip.Addr]answer{a1: {err: errRefused}, a2: {rtt: 5 * time.Millisecond}}, 5 * time.Millisecond, nil},
		{"best of three", map[netip.Addr]answer{a1: {rtt: 3 * time.Millisecond}, a2: {rtt: time.Millisecond}, a3: {rtt: 2 * time.Millisecond}}, time.Millisecond, nil},
		{"none, first error", map[netip.Addr]answer{a1: {err: errRefused}, a2: {err: context.DeadlineExceeded}}, 0, errRefused},
		{"silent one is stopped", map[netip.Addr]answer{a1: {hang: true}, a2: {rtt: time.Millisecond}}, time.Millisecond, nil},
		{"one panics, the other answers", map[netip.Addr]answer{a1: {panic: true}, a2: {rtt: 4 * time.Millisecond}}, 4 * time.Millisecond, nil},
		{"every one panics", map[netip.Addr]answer{a1: {panic: true}, a2: {panic: true}}, 0, errPingPanicked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu     sync.Mutex
				pinged []netip.Addr
			)
			var addrs []netip.Addr
			for _, a := range []netip.Addr{a1, a2, a3} {
				if _, ok := tc.answers[a]; ok {
					addrs = append(addrs, a)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			rtt, err := pingAll(ctx, testLogger(t), addrs, func(ctx context.Context, a netip.Addr) (time.Duration, error) {
				mu.Lock()
				pinged = append(pinged, a)
				mu.Unlock()
				ans := tc.answers[a]
				if ans.panic {
					panic("ping bug")
				}
				if ans.hang {
					<-ctx.Done()
					return 0, ctx.Err()
				}
				return ans.rtt, ans.err
			})
			switch {
			case tc.err == errPingPanicked:
				if rtt != 0 || err == nil || err.Error() != "internal error: ping panicked: ping bug" {
					t.Errorf("pingAll = %v, %v; want the panic as an error", rtt, err)
				}
			case rtt != tc.rtt || !errors.Is(err, tc.err):
				t.Errorf("pingAll = %v, %v; want %v, %v", rtt, err, tc.rtt, tc.err)
			}
			if len(pinged) != len(addrs) {
				t.Errorf("pinged %v, want all of %v", pinged, addrs)
			}
		})
	}
}

func TestIDAllocator(t *testing.T) {
	a := idAllocator{next: 65530}
	var (
		mu   sync.Mutex
		seen = map[uint16]bool{}
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				id, err := a.acquire()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("id %d handed out twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 8000 || !seen[65535] || !seen[0] {
		t.Fatalf("%d ids, wrapped: %v", len(seen), seen[0])
	}
	for id := range seen {
		a.release(id)
	}
	a.release(7) // already free: no effect
	for range 1 << 16 {
		if _, err := a.acquire(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.acquire(); !errors.Is(err, errNoEchoID) {
		t.Fatalf("acquire with all in use: %v", err)
	}
	a.release(4242)
	if id, err := a.acquire(); id != 4242 || err != nil {
		t.Fatalf("acquire after releasing 4242 = %d, %v", id, err)
	}
}

func TestPingInterval(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		count   int
		want    time.Duration
	}{
		{10 * time.Second, 4, time.Second},
		{2 * time.Second, 4, 250 * time.Millisecond},
		{time.Millisecond, 4, time.Millisecond},
	} {
		if got := pingInterval(tc.timeout, tc.count); got != tc.want {
			t.Errorf("pingInterval(%v, %d) = %v, want %v", tc.timeout, tc.count, got, tc.want)
		}
	}
}
