package probe

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// inCI reports whether the tests run in CI, where nothing that needs raw
// sockets, root or IPv6 loopback may skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// skipOrFail skips loudly, or fails when CI=true.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if inCI() {
		t.Fatalf("CI=true, so this must run: %s", msg)
	}
	t.Logf("!!! SKIPPED: %s (this fails when CI=true)", msg)
	t.SkipNow()
}

// requireICMP skips (loudly; fails in CI) when this process can send no
// ICMP: neither raw sockets (root, CAP_NET_RAW) nor unprivileged ones.
func requireICMP(t testing.TB) {
	t.Helper()
	if _, err := detectICMPMode(); err != nil {
		skipOrFail(t, "ICMP tests need root, CAP_NET_RAW or net.ipv4.ping_group_range: %v", err)
	}
}

// requireIPv6Loopback skips (loudly; fails in CI) when ::1 is not on lo.
func requireIPv6Loopback(t testing.TB) {
	t.Helper()
	if !hasIPv6Loopback() {
		skipOrFail(t, "::1 is not configured on the loopback interface (IPv6 disabled? sysctl net.ipv6.conf.lo.disable_ipv6=0)")
	}
}

func hasIPv6Loopback() bool {
	ifaces, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(net.IPv6loopback) {
				return true
			}
		}
	}
	return false
}

// testResolver returns a resolver that can only ask a DNS stub that this
// test runs on 127.0.0.1: a name in zone (lower case, no trailing dot)
// gets its addresses, any other name NXDOMAIN. Whatever resolv.conf says,
// no query leaves the machine. /etc/hosts is still read first.
func testResolver(t testing.TB, zone map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go serveDNS(pc, zone)
	stub := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp4", stub)
		},
	}
}

// serveDNS answers A and AAAA questions from zone until pc is closed.
func serveDNS(pc net.PacketConn, zone map[string][]netip.Addr) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp, err := answerDNS(buf[:n], zone); err == nil {
			pc.WriteTo(resp, from)
		}
	}
}

func answerDNS(query []byte, zone map[string][]netip.Addr) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	resp := dnsmessage.Message{
		Header: dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true,
			RecursionDesired: h.RecursionDesired, RecursionAvailable: true},
		Questions: []dnsmessage.Question{q},
	}
	addrs, ok := zone[strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))]
	if !ok {
		resp.Header.RCode = dnsmessage.RCodeNameError
	}
	for _, a := range addrs {
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			hdr.Type = dnsmessage.TypeA
			resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AResource{A: a.As4()}})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			hdr.Type = dnsmessage.TypeAAAA
			resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
		}
	}
	return resp.Pack()
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost, valid
// from notBefore to notAfter.
func selfSigned(t testing.TB, notBefore, notAfter time.Time) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "srvmon probe test"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, cert
}

// inNetNS runs fn on a goroutine locked to an OS thread that has a network
// namespace of its own, with lo up (127.0.0.1 and ::1) and the given
// /proc/sys/net sysctls (path under /proc/sys/net: value) set there only.
// Sockets that fn opens on its own goroutine live in that namespace, so a
// test can change ICMP sysctls without touching the machine. The thread is
// never unlocked: it ends with the goroutine. Needs root (CAP_SYS_ADMIN):
// skips loudly, or fails in CI, without it. fn must not call t.Fatal.
func inNetNS(t *testing.T, sysctls map[string]string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		if err := setUpNetNS(sysctls); err != nil {
			errc <- err
			return
		}
		fn()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission) {
			skipOrFail(t, "a network namespace of its own needs root (CAP_SYS_ADMIN): %v", err)
		}
		t.Fatal(err)
	}
}

// silentNetNS are the sysctls of a network namespace whose kernel answers
// no echo request, IPv4 or IPv6, so that every loopback address there is
// a silent ICMP target, and where unprivileged ping sockets are allowed
// (both modes can be tested: see forceICMPMode).
func silentNetNS() map[string]string {
	return map[string]string{
		"ipv4/icmp_echo_ignore_all":        "1",
		"ipv6/icmp/echo_ignore_all":        "1",
		"ipv4/ping_group_range":            "0 2147483647",
		"ipv4/icmp_echo_ignore_broadcasts": "1",
	}
}

// namedICMPMode is an ICMP mode and its name, for tables.
type namedICMPMode struct {
	name string
	mode icmpMode
}

// icmpModes returns the two ICMP modes.
func icmpModes() []namedICMPMode {
	return []namedICMPMode{{"privileged", icmpPrivileged}, {"unprivileged", icmpUnprivileged}}
}

// forceICMPMode makes p ping in mode, whatever detectICMPMode would find.
// Call it before p pings.
func forceICMPMode(p *Prober, mode icmpMode) {
	p.icmpModeOnce.Do(func() { p.icmpMode = mode })
}

// spreadLoopbackTargets returns n ICMP targets, distinct addresses spread
// over 127.0.0.0/8 (n up to 250,000).
func spreadLoopbackTargets(tb testing.TB, n int) []Target {
	tb.Helper()
	var targets []Target
	for i := range n {
		targets = append(targets, mustParse(tb, fmt.Sprintf("127.%d.%d.%d", i%250+1, i/250%250, 1+i/62500)))
	}
	return targets
}

// setUpNetNS brings lo up and sets sysctls (path under /proc/sys/net:
// value) in the calling thread's network namespace, a new one.
func setUpNetNS(sysctls map[string]string) error {
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bringing lo up in the new namespace: %w", err)
	}
	for path, value := range sysctls {
		if err := os.WriteFile("/proc/sys/net/"+path, []byte(value), 0); err != nil {
			return fmt.Errorf("sysctl in the new namespace: %w", err)
		}
	}
	return nil
}

// netNSEnv names the test or benchmark that this process is a re-run of,
// in a network namespace of its own (see inNetNSProcess).
const netNSEnv = "SRVMON_PROBE_TEST_NETNS"

// inNetNSProcess runs the calling test or benchmark in a network namespace
// of its own, with lo up and sysctls set there: for what opens sockets on
// many threads, such as a Round, which inNetNS's one thread cannot hold.
// Call it first, as
//
//	if !inNetNSProcess(t, sysctls) {
//		return
//	}
//
// In the test process it re-runs the test binary, for this test or
// benchmark only, as a child born in a new network namespace
// (CLONE_NEWNET), logs the child's output, fails if it failed, skips if it
// skipped, re-reports a benchmark's metrics (ns/op included) as the
// child measured them, and returns false. In the child it sets the
// namespace up and returns true. A benchmark's child runs b.N rounds.
// Needs root (CAP_SYS_ADMIN): skips loudly, or fails in CI, without it.
func inNetNSProcess(tb testing.TB, sysctls map[string]string) bool {
	tb.Helper()
	if os.Getenv(netNSEnv) == tb.Name() {
		if err := setUpNetNS(sysctls); err != nil {
			tb.Fatal(err)
		}
		return true
	}
	var pattern []string
	for _, part := range strings.Split(tb.Name(), "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	args := []string{"-test.count=1", "-test.v"}
	b, isBench := tb.(*testing.B)
	if isBench {
		args = append(args, "-test.run=^$", "-test.bench="+strings.Join(pattern, "/"), "-test.benchtime="+strconv.Itoa(b.N)+"x")
	} else {
		args = append(args, "-test.run="+strings.Join(pattern, "/"))
	}
	if t, ok := tb.(*testing.T); ok {
		if deadline, ok := t.Deadline(); ok {
			args = append(args, "-test.timeout="+time.Until(deadline).String())
		}
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), netNSEnv+"="+tb.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if isBench {
		b.StopTimer() // the child's figures are reported, not the parent's
	}
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		if errors.Is(err, syscall.EPERM) {
			skipOrFail(tb, "a network namespace of its own needs root (CAP_SYS_ADMIN): %v", err)
		}
		tb.Fatalf("re-running %s in a new network namespace: %v", tb.Name(), err)
	}
	skipped := bytes.Contains(out, []byte("--- SKIP: "+tb.Name()))
	if !isBench || err != nil || skipped { // a benchmark's log is printed even when it passes
		tb.Logf("%s, re-run in a network namespace of its own:\n%s", tb.Name(), out)
	}
	switch {
	case err != nil:
		tb.Fatalf("%s failed in its network namespace: %v", tb.Name(), err)
	case skipped:
		tb.Skipf("%s skipped in its network namespace (see its output above)", tb.Name())
	case isBench:
		reportChildBenchmark(b, out)
	case !bytes.Contains(out, []byte("--- PASS: "+tb.Name())):
		tb.Fatalf("%s did not run in its network namespace", tb.Name())
	}
	return false
}

// reportChildBenchmark re-reports the metrics of b's result line in a
// child's output ("BenchmarkX-2  3  1234 ns/op  1.5 s/round").
func reportChildBenchmark(b *testing.B, out []byte) {
	b.Helper()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 || f[0] != b.Name() && f[0] != b.Name()+"-"+strconv.Itoa(runtime.GOMAXPROCS(0)) {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				b.Fatalf("child's result line %q: %v", line, err)
			}
			b.ReportMetric(v, f[i+1])
		}
		return
	}
	b.Fatalf("no result line for %s in the child's output", b.Name())
}

// loopbackUp sets IFF_UP on lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// dropNetRaw removes CAP_NET_RAW from the calling thread's effective
// capabilities (Linux capabilities are per thread).
func dropNetRaw() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[unix.CAP_NET_RAW/32].Effective &^= 1 << (unix.CAP_NET_RAW % 32)
	return unix.Capset(&hdr, &data[0])
}

// discardLogger drops every record.
// acceptingListener listens on network and address (loopback) and
// closes every connection it accepts, until the test ends: a TCP target
// that is up.
func acceptingListener(t testing.TB, network, address string) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testLogger writes records to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// unansweredAddr returns a loopback TCP address whose listener never
// accepts and has a backlog of 0: once its accept queue holds one
// connection, the kernel drops further SYNs, so connecting hangs until the
// caller's timeout, like a dead host.
func unansweredAddr(t testing.TB) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	// Fill the accept queue.
	for range 2 {
		c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port), 100*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
}
