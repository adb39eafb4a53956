// Package probe checks targets: it parses gosrvmon's target syntax and
// srvmon's additions (tls://, dns://, push://), has one probe per protocol
// (ICMP ping, TCP connect, HTTP request, TLS handshake, DNS query), judges
// a monitor's optional conditions (package condition) on what its probe
// saw, and runs a whole round of targets through a bounded pool. Nothing
// else in srvmon probes anything, and this package knows nothing of
// storage.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/srvmon/srvmon/pkg/probe/condition"
)

// Defaults for the zero fields of Options.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultPingCount       = 4
	DefaultHTTPMethod      = http.MethodGet
	DefaultConcurrency     = 10000
	DefaultICMPConcurrency = 1000
)

// Reasons shared by every kind of probe.
const (
	ReasonCancelled  = "cancelled"
	ReasonNoSuchHost = "no such host"
)

// Options configure a Prober. The zero value works: every zero field takes
// its default.
type Options struct {
	// Timeout bounds each probe, from its start to its result; default 10s.
	Timeout time.Duration
	// PingCount is how many echo requests an ICMP probe sends at most
	// (gosrvmon's PingRetryCount); it stops at the first reply. Default 4.
	PingCount int
	// HTTPMethod is GET (the default) or HEAD; a monitor's
	// Settings.Method overrides it.
	HTTPMethod string
	// Concurrency bounds the TCP and HTTP probes in flight in a Round. The
	// default, 10,000, lets 10,000 targets finish within one Timeout. It is
	// lowered to fit the process's open-file limit.
	Concurrency int
	// ICMPConcurrency bounds the ICMP probes in flight in a Prober (Round
	// and Check together); default 1,000, so that a round of up to 1,000
	// pings finishes within about one Timeout even if none answers. The
	// bound is on what a ping costs while it waits, answered or not: a
	// socket, which pro-bing polls (CPU per silent ping per second), and
	// in privileged mode a copy of every ICMP packet the host receives
	// for each open raw socket, which slows every ping's rtt as sockets
	// add up (bench_test.go has the figures). Raise the bound for more
	// silent targets per Timeout on a host with CPU to spare; lower it on
	// a small one.
	ICMPConcurrency int
	// ICMPUnavailable, when not empty, makes every ICMP probe down with
	// this reason without sending anything: the caller knows where ICMP
	// cannot be sent (AWS Lambda) and says why in its own words.
	ICMPUnavailable string
	// TLSConfig is the client TLS configuration of https:// and tls://
	// probes, e.g. with extra RootCAs; nil means the system roots.
	// Certificates are verified unless a monitor's own settings say not
	// to (Settings.InsecureSkipVerify): an InsecureSkipVerify set here,
	// for every monitor at once, is ignored (and logged).
	TLSConfig *tls.Config
	// Resolver looks names up; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Logger receives what operators should know (a probe that panicked,
	// lowered limits); nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports the first option that no Prober can use. Zero values
// are valid: they take defaults.
func (o Options) Validate() error {
	switch {
	case o.Timeout < 0:
		return fmt.Errorf("probe timeout %v is negative", o.Timeout)
	case o.PingCount < 0:
		return fmt.Errorf("ping count %d is negative", o.PingCount)
	case o.Concurrency < 0:
		return fmt.Errorf("concurrency %d is negative", o.Concurrency)
	case o.ICMPConcurrency < 0:
		return fmt.Errorf("ICMP concurrency %d is negative", o.ICMPConcurrency)
	}
	switch strings.ToUpper(o.HTTPMethod) {
	case "", http.MethodGet, http.MethodHead:
	default:
		return fmt.Errorf("HTTP method %q is not GET or HEAD", o.HTTPMethod)
	}
	return nil
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PingCount <= 0 {
		o.PingCount = DefaultPingCount
	}
	o.HTTPMethod = strings.ToUpper(o.HTTPMethod)
	if o.HTTPMethod == "" {
		o.HTTPMethod = DefaultHTTPMethod
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.ICMPConcurrency <= 0 {
		o.ICMPConcurrency = DefaultICMPConcurrency
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Result is the outcome of one probe.
type Result struct {
	Target Target
	Up     bool
	// RTT is the round-trip time when up; when down, the time until the
	// probe failed.
	RTT time.Duration
	// Reason says briefly why the target is down ("timeout after 10s",
	// "connection refused", "HTTP 500", "x509: certificate has expired",
	// "no such host", "cancelled", "condition [STATUS] == 200 failed:
	// 503"); empty when up.
	Reason string
	// CertExpiry is when the leaf certificate of an https:// or tls://
	// target expires (its NotAfter), up or down, also when it failed
	// verification, if the handshake got as far as the certificate;
	// otherwise zero.
	CertExpiry time.Time
}

// outcome is what one probe saw.
type outcome struct {
	// rtt is the round-trip time, or the time until the probe failed (or
	// 0: the check measures it).
	rtt time.Duration
	// err says why the target is down; nil when up. With conditions,
	// it is set only when there was no response to judge.
	err error
	// certExpiry is the NotAfter of the leaf certificate seen, or zero.
	certExpiry time.Time
	// resp is what the conditions are evaluated on: set, with
	// conditions, when the probe got a response.
	resp *condition.Response
}

// probeFunc is one protocol's probe. With conditions (Target.Settings),
// it skips its protocol's own up rule and returns what it saw in
// outcome.resp for check to judge.
type probeFunc func(ctx context.Context, t Target) outcome

// Prober checks targets. It is safe for concurrent use; Close it when done.
type Prober struct {
	opts   Options
	dialer *net.Dialer
	// transports are shared by every HTTP probe, one verifying
	// certificates and one not (Settings.InsecureSkipVerify): keep-alives
	// are off, so each check measures a fresh connection, as gosrvmon's
	// did.
	transport, insecureTransport *http.Transport
	// clients are indexed by [insecure][noFollowRedirects].
	clients [2][2]*http.Client
	// tlsConfig and insecureTLSConfig are the client configurations of
	// tls:// probes.
	tlsConfig, insecureTLSConfig *tls.Config
	// dnsUDP and dnsTCP are the clients of dns:// probes.
	dnsUDP, dnsTCP *dns.Client
	// icmpSlots bounds the ICMP probes in flight.
	icmpSlots chan struct{}

	icmpModeOnce sync.Once
	icmpMode     icmpMode
	icmpModeErr  error

	// probes are indexed by Kind; tests replace them.
	probes [KindPush]probeFunc
	// honoursContext, indexed by Kind, marks the probes that return
	// promptly when their context ends (the dialers, net/http and
	// crypto/tls all do): check runs them in its own goroutine, which
	// spares a goroutine, a channel and a wakeup per check. The others
	// (pro-bing's pings; miekg/dns, which heeds a deadline but not a
	// cancellation) get a goroutine of their own that check stops
	// waiting for when the context ends. Tests that replace a probe with
	// one that hangs clear its flag.
	honoursContext [KindPush]bool
}

// New returns a Prober with opts; zero fields take their defaults.
func New(opts Options) *Prober {
	opts = opts.withDefaults()
	opts.Concurrency, opts.ICMPConcurrency = fitOpenFileLimit(opts.Logger, opts.Concurrency, opts.ICMPConcurrency)
	if opts.TLSConfig != nil {
		opts.TLSConfig = opts.TLSConfig.Clone()
		if opts.TLSConfig.InsecureSkipVerify {
			opts.Logger.Warn("probe: TLSConfig.InsecureSkipVerify is ignored: HTTPS and TLS checks verify certificates unless a monitor's settings say not to")
			opts.TLSConfig.InsecureSkipVerify = false
		}
	}
	p := &Prober{
		opts: opts,
		// KeepAlive -1: probe connections live for one handshake.
		dialer:    &net.Dialer{Resolver: opts.Resolver, KeepAlive: -1},
		icmpSlots: make(chan struct{}, opts.ICMPConcurrency),
	}
	p.tlsConfig = opts.TLSConfig.Clone()
	if p.tlsConfig == nil {
		p.tlsConfig = &tls.Config{}
	}
	p.insecureTLSConfig = p.tlsConfig.Clone()
	p.insecureTLSConfig.InsecureSkipVerify = true
	p.transport = p.newTransport(opts.TLSConfig.Clone())
	p.insecureTransport = p.newTransport(p.insecureTLSConfig.Clone())
	for insecure, tr := range []*http.Transport{p.transport, p.insecureTransport} {
		p.clients[insecure][0] = &http.Client{Transport: tr}
		p.clients[insecure][1] = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	// Timeout: miekg/dns's own default of 2s would cut a slower answer
	// short; the probe's context bounds each exchange.
	p.dnsUDP = &dns.Client{Net: "udp", Dialer: p.dialer, Timeout: opts.Timeout}
	p.dnsTCP = &dns.Client{Net: "tcp", Dialer: p.dialer, Timeout: opts.Timeout}
	p.probes[KindICMP] = p.probeICMP
	p.probes[KindTCP] = func(ctx context.Context, t Target) outcome {
		return probeTCP(ctx, p.dialer, t)
	}
	p.probes[KindHTTP] = p.probeHTTP
	p.probes[KindTLS] = p.probeTLS
	p.probes[KindDNS] = p.probeDNS
	p.honoursContext[KindTCP] = true
	p.honoursContext[KindHTTP] = true
	p.honoursContext[KindTLS] = true
	return p
}

// newTransport returns an HTTP transport for probes: no keep-alives, no
// compression, dialing with the Prober's dialer.
func (p *Prober) newTransport(cfg *tls.Config) *http.Transport {
	return &http.Transport{
		DialContext:        p.dialer.DialContext,
		TLSClientConfig:    cfg,
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
}

// Options returns the options in effect, defaults filled in and limits
// applied.
func (p *Prober) Options() Options { return p.opts }

// Close releases the shared HTTP transports. The Prober must not be used
// after Close.
func (p *Prober) Close() {
	p.transport.CloseIdleConnections()
	p.insecureTransport.CloseIdleConnections()
}

// Check probes one target. It always returns a result for t within about
// Timeout (t's own Settings.Timeout when shorter), even when the probe
// hangs or panics: down with a reason, or "cancelled" when ctx ends
// first. An ICMP check first waits for one of the ICMPConcurrency slots,
// within the same Timeout: when a round holds them all for longer, the
// check is down with a timeout that says so. A push target is not
// probed: it is down at once with ReasonPushNotProbed.
func (p *Prober) Check(ctx context.Context, t Target) Result {
	return p.check(ctx, t, true)
}

// check is Check. takeICMPSlot is false when the caller, a Round's pool,
// already holds an ICMP slot for t.
func (p *Prober) check(ctx context.Context, t Target, takeICMPSlot bool) Result {
	start := time.Now()
	res := Result{Target: t}
	if ctx.Err() != nil {
		res.Reason = ReasonCancelled
		return res
	}
	if t.Kind == KindPush && t.Name != "" {
		res.Reason = ReasonPushNotProbed
		return res
	}
	if t.Kind < KindICMP || t.Kind >= KindPush || t.Host == "" || t.Kind == KindHTTP && t.URL == nil || t.Kind == KindDNS && t.Name == "" {
		res.Reason = "invalid target: use probe.Parse"
		return res
	}

	timeout := p.timeout(t)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if t.Kind == KindICMP && takeICMPSlot {
		select {
		case p.icmpSlots <- struct{}{}:
			defer func() { <-p.icmpSlots }()
		case <-pctx.Done():
			res.RTT = time.Since(start)
			res.Reason = ReasonCancelled
			if ctx.Err() == nil {
				res.Reason = fmt.Sprintf("timeout after %v waiting for one of the %d ICMP slots", timeout, cap(p.icmpSlots))
			}
			return res
		}
	}
	var o outcome
	if p.honoursContext[t.Kind] {
		o = p.probeInline(pctx, t)
	} else {
		o = p.probeGuarded(pctx, t)
	}
	res.RTT, res.CertExpiry = o.rtt, o.certExpiry
	if res.RTT <= 0 && (o.err != nil || o.resp != nil) {
		res.RTT = time.Since(start)
	}
	if conds := t.conditions(); len(conds) > 0 {
		return judge(res, o, conds, ctx.Err(), timeout)
	}
	if o.err == nil {
		res.Up = true
		return res
	}
	res.Reason = reason(o.err, ctx.Err(), timeout)
	return res
}

// probeInline runs t's probe in the caller's goroutine: for the probes
// that return when ctx ends (honoursContext), no goroutine of its own is
// needed to bound them. A panic becomes the outcome's error.
func (p *Prober) probeInline(ctx context.Context, t Target) (o outcome) {
	defer func() {
		if v := recover(); v != nil {
			o = outcome{err: panicError(p.opts.Logger, "probe", v, "target", t.String())}
		}
	}()
	return p.probes[t.Kind](ctx, t)
}

// probeGuarded runs t's probe in a goroutine of its own and returns when
// it does or when ctx ends, whichever comes first: a probe that hangs
// despite ctx (pro-bing's, a DNS exchange) cannot hold the check up. Its
// goroutine ends whenever the probe does; its outcome is then dropped. A
// panic becomes the outcome's error.
func (p *Prober) probeGuarded(ctx context.Context, t Target) outcome {
	done := make(chan outcome, 1) // buffered: a probe that ends late does not block
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- outcome{err: panicError(p.opts.Logger, "probe", v, "target", t.String())}
			}
		}()
		done <- p.probes[t.Kind](ctx, t)
	}()
	select {
	case o := <-done:
		return o
	case <-ctx.Done():
		select {
		case o := <-done: // it returned at the deadline: keep its result
			return o
		default:
			return outcome{err: ctx.Err()}
		}
	}
}

// judge sets res's Up and Reason by t's conditions: up when the probe got
// a response (o.resp) and every condition holds it; or, without one, when
// the conditions use [CONNECTED] and hold with Connected false. Down, the
// reason is the failed condition's, or, without a response, why there was
// none ("connection refused" says more than "[CONNECTED] == true failed").
// parentErr and timeout are reason's.
func judge(res Result, o outcome, conds []*condition.Condition, parentErr error, timeout time.Duration) Result {
	r := o.resp
	if r == nil {
		if o.err == nil {
			o.err = errors.New("internal error: probe returned no response")
		}
		if usesOf(conds)&condition.UsesConnected == 0 || parentErr != nil {
			res.Reason = reason(o.err, parentErr, timeout)
			return res
		}
		r = &condition.Response{ResponseTime: res.RTT, CertExpiry: o.certExpiry, Now: time.Now()}
	}
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	ok, why := condition.EvalAll(conds, r)
	switch {
	case ok:
		res.Up = true
	case o.resp == nil:
		res.Reason = reason(o.err, parentErr, timeout)
	default:
		res.Reason = why
	}
	return res
}

// panicError logs v, a panic recovered in the goroutine of a probe (what:
// "probe", "ping"), with its stack and attrs, and returns the error that
// makes the target down.
func panicError(log *slog.Logger, what string, v any, attrs ...any) error {
	log.Error(what+" panicked", append(attrs, "panic", v, "stack", string(debug.Stack()))...)
	return fmt.Errorf("internal error: %s panicked: %v", what, v)
}

// statusError is an HTTP final status other than 2xx or 3xx.
type statusError int

func (e statusError) Error() string { return fmt.Sprintf("HTTP %d", int(e)) }

// reason turns the error of a probe into a short reason. parentErr is the
// caller's context error: set, the check was cancelled rather than timed
// out.
func reason(err, parentErr error, timeout time.Duration) string {
	if parentErr != nil || errors.Is(err, context.Canceled) {
		return ReasonCancelled
	}
	var (
		status   statusError
		dnsErr   *net.DNSError
		invalid  x509.CertificateInvalidError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		errno    syscall.Errno
		netErr   net.Error
	)
	switch {
	case errors.As(err, &status):
		return status.Error()
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return "timeout after " + timeout.String()
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return ReasonNoSuchHost
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired && invalid.Cert != nil {
			if time.Now().Before(invalid.Cert.NotBefore) {
				return "x509: certificate is not yet valid"
			}
			return "x509: certificate has expired"
		}
		return invalid.Error()
	case errors.As(err, &unknown):
		return "x509: certificate signed by unknown authority"
	case errors.As(err, &hostname):
		return hostname.Error()
	case errors.Is(err, ErrICMPNotPermitted):
		// Before errno: it wraps the socket errors, and its message
		// names the fixes.
		return err.Error()
	case errors.As(err, &errno):
		return errno.Error()
	}
	// Drop the wrappers that only repeat the target ("Get \"http://…\": ",
	// "dial tcp 127.0.0.1:80: ").
	for {
		var (
			ue *url.Error
			oe *net.OpError
		)
		switch {
		case errors.As(err, &ue):
			err = ue.Err
			continue
		case errors.As(err, &oe):
			err = oe.Err
			continue
		}
		break
	}
	return err.Error()
}
