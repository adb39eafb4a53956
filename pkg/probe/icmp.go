package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"golang.org/x/net/icmp"

	"github.com/srvmon/srvmon/pkg/probe/condition"
)

// ErrICMPNotPermitted is wrapped by the error of an ICMP probe in a process
// that may open neither unprivileged ICMP (ping) sockets nor raw ones. Its
// message names the fixes.
var ErrICMPNotPermitted = errors.New("ICMP is not permitted")

// icmpMode is how pings are sent.
type icmpMode int

const (
	// icmpUnprivileged: datagram ICMP sockets, allowed to the groups in
	// net.ipv4.ping_group_range (it covers IPv6 too). The kernel sets the
	// echo identifier and hands each socket only its own replies.
	icmpUnprivileged icmpMode = iota + 1
	// icmpPrivileged: raw sockets (root or CAP_NET_RAW). Every raw socket
	// sees every ICMP packet; pro-bing attaches a BPF filter that keeps the
	// echo replies with its identifier.
	icmpPrivileged
)

// detectICMPMode opens, and closes at once, an unprivileged ICMP socket,
// else a raw one. It sends nothing.
func detectICMPMode() (icmpMode, error) {
	c, err := icmp.ListenPacket("udp4", "")
	if err == nil {
		c.Close()
		return icmpUnprivileged, nil
	}
	c, rawErr := icmp.ListenPacket("ip4:icmp", "")
	if rawErr == nil {
		c.Close()
		return icmpPrivileged, nil
	}
	return 0, fmt.Errorf("%w (unprivileged ping socket: %w; raw socket: %w): "+
		"run as root, or grant raw sockets with `setcap cap_net_raw+ep %s`, "+
		"or allow unprivileged ping with `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`",
		ErrICMPNotPermitted, unwrapSyscall(err), unwrapSyscall(rawErr), executable())
}

// unwrapSyscall shortens "socket: operation not permitted" style errors to
// their cause.
func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// executable names this binary for the setcap advice.
func executable() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "/path/to/binary"
}

// ICMPAvailable reports whether this Prober can send pings: nil, or the
// error every ICMP probe would be down with (ICMPUnavailable, or
// ErrICMPNotPermitted naming the fix). Binaries call it at start to say so
// once, in one line.
func (p *Prober) ICMPAvailable() error {
	if p.opts.ICMPUnavailable != "" {
		return errors.New(p.opts.ICMPUnavailable)
	}
	_, err := p.mode()
	return err
}

// mode detects the ICMP mode once per Prober.
func (p *Prober) mode() (icmpMode, error) {
	p.icmpModeOnce.Do(func() { p.icmpMode, p.icmpModeErr = detectICMPMode() })
	return p.icmpMode, p.icmpModeErr
}

// probeICMP pings every address of t.Host; the rtt is the best one. With
// conditions, a reply is the response: [CONNECTED] and [RESPONSE_TIME].
func (p *Prober) probeICMP(ctx context.Context, t Target) outcome {
	rtt, err := p.ping(ctx, t)
	o := outcome{rtt: rtt, err: err}
	if err == nil && len(t.conditions()) > 0 {
		o.resp = &condition.Response{Connected: true, ResponseTime: rtt}
	}
	return o
}

// ping pings every address of t.Host and returns the best rtt.
func (p *Prober) ping(ctx context.Context, t Target) (time.Duration, error) {
	if p.opts.ICMPUnavailable != "" {
		return 0, errors.New(p.opts.ICMPUnavailable)
	}
	mode, err := p.mode()
	if err != nil {
		return 0, err
	}
	addrs, err := lookupAddrs(ctx, p.opts.Resolver, t.Host)
	if err != nil {
		return 0, err
	}
	cfg := pingConfig{
		privileged: mode == icmpPrivileged,
		count:      p.opts.PingCount,
		interval:   pingInterval(p.timeout(t), p.opts.PingCount),
		ids:        &echoIDs,
	}
	return pingAll(ctx, p.opts.Logger, addrs, func(ctx context.Context, a netip.Addr) (time.Duration, error) {
		return pingIP(ctx, a, cfg)
	})
}

// pingInterval spreads count echo requests over the first half of the
// timeout, at most one second apart (ping(8)'s default), so that even the
// last one has half the timeout or more to be answered.
func pingInterval(timeout time.Duration, count int) time.Duration {
	return min(max(timeout/time.Duration(2*count), time.Millisecond), time.Second)
}

// lookupAddrs returns host's addresses: host itself if it is an IP
// address, else its A and AAAA records, deduplicated, in resolver order.
func lookupAddrs(ctx context.Context, r *net.Resolver, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	found, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	addrs := make([]netip.Addr, 0, len(found))
	seen := make(map[netip.Addr]bool, len(found))
	for _, a := range found {
		a = a.Unmap()
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no A or AAAA records", Name: host, IsNotFound: true}
	}
	return addrs, nil
}

// pingAll pings every address at once. Up if any answers; the rtt is the
// best. Once the first reply is in, the others have as long again (at
// least a millisecond) to beat it, then they are stopped: their requests
// went out at about the same time, so a later reply is a worse rtt. When
// none answers, the error is that of the first address. A ping that
// panics (each runs in a goroutine of its own, where Check's recover does
// not reach) is logged to log and counts as that address's error.
func pingAll(ctx context.Context, log *slog.Logger, addrs []netip.Addr, ping func(context.Context, netip.Addr) (time.Duration, error)) (time.Duration, error) {
	if len(addrs) == 1 {
		return ping(ctx, addrs[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type reply struct {
		i   int
		rtt time.Duration
		err error
	}
	replies := make(chan reply, len(addrs))
	for i, a := range addrs {
		go func() {
			defer func() {
				if v := recover(); v != nil {
					replies <- reply{i, 0, panicError(log, "ping", v, "address", a.String())}
				}
			}()
			rtt, err := ping(ctx, a)
			replies <- reply{i, rtt, err}
		}()
	}
	var (
		best  time.Duration
		up    bool
		errs  = make([]error, len(addrs))
		grace <-chan time.Time
	)
	for pending := len(addrs); pending > 0; {
		select {
		case r := <-replies:
			pending--
			if r.err != nil {
				errs[r.i] = r.err
				continue
			}
			if !up {
				up = true
				best = r.rtt
				timer := time.NewTimer(max(r.rtt, time.Millisecond))
				defer timer.Stop()
				grace = timer.C
			}
			best = min(best, r.rtt)
		case <-grace:
			grace = nil
			cancel()
		}
	}
	if up {
		return best, nil
	}
	return 0, firstError(errs)
}

// firstError returns the first non-nil error.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// pingConfig is how pingIP pings.
type pingConfig struct {
	privileged bool
	count      int           // echo requests at most
	interval   time.Duration // between requests
	ids        *idAllocator
}

// pingIP sends up to cfg.count echo requests to ip, cfg.interval apart,
// until the first reply or ctx's deadline, and returns the reply's rtt.
// With no reply it returns context.DeadlineExceeded. The socket is opened
// by the calling goroutine (tests rely on that to ping inside a network
// namespace).
//
// pro-bing v0.9.1 draws the echo identifier at random; raw sockets (with
// its BPF filter on the identifier) then queue the replies of every pinger
// that drew the same one. The identifier is taken from cfg.ids instead,
// unique among the pings in flight in this process. A reply is counted
// only if pro-bing matched it (type echo reply, our identifier, the
// pinger's own tracker UUID and an outstanding sequence number: never the
// echo request itself, which a raw socket on loopback also reads) and it
// comes from ip.
func pingIP(ctx context.Context, ip netip.Addr, cfg pingConfig) (time.Duration, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0, errors.New("internal error: ping without a deadline")
	}
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return 0, context.DeadlineExceeded
	}
	id, err := cfg.ids.acquire()
	if err != nil {
		return 0, err
	}
	defer cfg.ids.release(id)

	ip = ip.Unmap()
	pinger := probing.New(ip.String())
	pinger.SetIPAddr(&net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()})
	pinger.SetPrivileged(cfg.privileged)
	pinger.SetID(int(id))
	pinger.SetLogger(probing.NoopLogger{})
	pinger.Count = cfg.count
	pinger.Interval = cfg.interval
	pinger.Timeout = timeout
	pinger.RecordRtts = false
	pinger.RecordTTLs = false

	var (
		rtt   time.Duration
		reply bool
	)
	// OnRecv runs on pro-bing's receive loop; Run returns after it.
	pinger.OnRecv = func(pkt *probing.Packet) {
		if reply || pkt.IPAddr == nil {
			return
		}
		from, ok := netip.AddrFromSlice(pkt.IPAddr.IP)
		if !ok || from.Unmap() != ip.WithZone("") {
			return
		}
		reply, rtt = true, pkt.Rtt
		pinger.Stop()
	}
	runErr := pinger.RunWithContext(ctx)
	switch {
	case reply:
		return rtt, nil
	case runErr != nil:
		return 0, runErr
	case ctx.Err() != nil:
		return 0, ctx.Err()
	}
	return 0, context.DeadlineExceeded
}

// echoIDs hands out the ICMP echo identifiers of this process. It is the
// one package-level variable in pkg/probe, on purpose: the identifier
// space belongs to the process (indeed the host), not to a Prober, and two
// Probers in one process (a round and an API single check) must not share
// identifiers any more than two pings of one round.
var echoIDs = idAllocator{next: uint16(os.Getpid())}

// idAllocator hands out 16-bit identifiers, each unique among those not
// yet released, in turn from a starting point (the process id, as ping(8)
// does, so that two processes are unlikely to overlap). Its zero value
// starts at 0.
type idAllocator struct {
	mu    sync.Mutex
	next  uint16
	n     int
	inUse [1 << 16 / 64]uint64
}

// errNoEchoID: every identifier is in use.
var errNoEchoID = errors.New("all 65536 ICMP echo identifiers are in use")

// acquire returns an identifier no one else holds.
func (a *idAllocator) acquire() (uint16, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 1<<16 {
		return 0, errNoEchoID
	}
	for {
		id := a.next
		a.next++
		if a.inUse[id/64]&(1<<(id%64)) == 0 {
			a.inUse[id/64] |= 1 << (id % 64)
			a.n++
			return id, nil
		}
	}
}

// release returns id for reuse.
func (a *idAllocator) release(id uint16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inUse[id/64]&(1<<(id%64)) != 0 {
		a.inUse[id/64] &^= 1 << (id % 64)
		a.n--
	}
}
