package promtext

import (
	"bufio"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/promtext/promtexttest"
)

// goldenFamilies are the families of the golden file that /metrics
// served with client_golang's Go and process collectors (the per-monitor
// and the rounds' families are cmd/standalone's to check).
func goldenFamilies(t *testing.T, prefixes ...string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "cmd", "standalone", "testdata", "metrics-families.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(line, p) }) {
			want = append(want, line)
		}
	}
	return want
}

// TestProcessRegistryFamilies: NewProcessRegistry writes every go_* and
// process_* family that client_golang's collectors wrote, with the same
// types and labels, and no other (dashboards and alerts use them).
func TestProcessRegistryFamilies(t *testing.T) {
	want := goldenFamilies(t, "go_", "process_")
	if len(want) < 30 {
		t.Fatalf("the golden file has %d go_ and process_ families", len(want))
	}
	reg := NewProcessRegistry()
	got := promtexttest.Families(t, string(reg.AppendText(nil, nil)))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("families\n%s\nwant (golden)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var names []string
	for _, line := range want {
		names = append(names, strings.Fields(line)[0])
	}
	if got := slices.Sorted(slices.Values(reg.Names())); !slices.Equal(got, names) {
		t.Errorf("Names() = %v, want %v", got, names)
	}
}

// TestProcessRegistryValues: the values are the process's own, checked
// against what the kernel and the runtime say by other means.
func TestProcessRegistryValues(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	runtime.GC()
	runtime.GC()
	// Loopback traffic that the namespace's IpExt counters must show.
	const traffic = 1 << 20
	before := promtexttest.Samples(t, string(NewProcessRegistry().AppendText(nil, nil)))
	sendLoopback(t, traffic)
	fds := promtexttest.Samples(t, string(NewProcessRegistry().AppendText(nil, nil)))["process_open_fds{}"]
	files := make([]*os.File, 3)
	for i := range files {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	start := time.Now()
	reg := NewProcessRegistry()
	got := promtexttest.Samples(t, string(reg.AppendText(nil, nil)))
	vmRSS := statusKiB(t, "VmRSS") * 1024
	var nofile, as syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &as); err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()

	for _, c := range []struct {
		name   string
		lo, hi float64
	}{
		{"process_resident_memory_bytes{}", vmRSS / 2, vmRSS * 2},
		{"process_virtual_memory_bytes{}", vmRSS, math.Inf(1)},
		{"process_start_time_seconds{}", float64(start.Add(-time.Hour).Unix()), float64(start.Unix() + 2)},
		{"process_cpu_seconds_total{}", cpu - 0.1, cpu + 0.1},
		{"process_open_fds{}", fds + 3, fds + 3},
		{"process_max_fds{}", float64(nofile.Cur), float64(nofile.Cur)},
		{"process_virtual_memory_max_bytes{}", float64(as.Cur), float64(as.Cur)},
		{"process_network_receive_bytes_total{}", before["process_network_receive_bytes_total{}"] + traffic, math.Inf(1)},
		{"process_network_transmit_bytes_total{}", before["process_network_transmit_bytes_total{}"] + traffic, math.Inf(1)},
		{"go_goroutines{}", 1, float64(runtime.NumGoroutine() + 5)},
		{"go_threads{}", 1, 1000},
		{`go_info{version="` + runtime.Version() + `"}`, 1, 1},
		{"go_gc_gogc_percent{}", 150, 150},
		{"go_sched_gomaxprocs_threads{}", float64(runtime.GOMAXPROCS(0)), float64(runtime.GOMAXPROCS(0))},
		{"go_gc_duration_seconds_count{}", 2, math.Inf(1)},
		{`go_gc_duration_seconds{quantile="1"}`, 1e-9, 10},
		{"go_memstats_last_gc_time_seconds{}", float64(start.Add(-time.Minute).Unix()), float64(start.Unix() + 1)},
		{"go_memstats_sys_bytes{}", 1 << 20, vmRSS * 100},
		{"go_memstats_heap_alloc_bytes{}", 1, got["go_memstats_heap_inuse_bytes{}"]},
		{"go_memstats_mallocs_total{}", got["go_memstats_frees_total{}"], math.Inf(1)},
	} {
		if v, ok := got[c.name]; !ok || v < c.lo || v > c.hi {
			t.Errorf("%s = %v (present %v), want in [%v, %v]", c.name, v, ok, c.lo, c.hi)
		}
	}
	if got["go_memstats_alloc_bytes{}"] != got["go_memstats_heap_alloc_bytes{}"] {
		t.Errorf("go_memstats_alloc_bytes %v, heap_alloc %v: the same figure", got["go_memstats_alloc_bytes{}"], got["go_memstats_heap_alloc_bytes{}"])
	}
	if sys := got["go_memstats_heap_inuse_bytes{}"] + got["go_memstats_heap_idle_bytes{}"]; got["go_memstats_heap_sys_bytes{}"] != sys {
		t.Errorf("go_memstats_heap_sys_bytes %v, inuse + idle %v", got["go_memstats_heap_sys_bytes{}"], sys)
	}
}

// sendLoopback sends n bytes to itself over loopback TCP.
func sendLoopback(t *testing.T, n int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = io.Copy(io.Discard, c)
			c.Close()
		}
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(c, zeros{}, n); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// statusKiB reads a kB field of /proc/self/status.
func statusKiB(t *testing.T, field string) float64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				t.Fatal(err)
			}
			return kib
		}
	}
	t.Fatalf("/proc/self/status has no %s", field)
	return 0
}

// TestProcessWithoutProc: where /proc cannot be read (off Linux, or a
// sandbox without it), the process families are left out, and nothing
// fails.
func TestProcessWithoutProc(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	c := &snapshotCollector[procSnapshot]{families: processFamilies, read: func() *procSnapshot {
		return readProcSnapshot(missing, func() (float64, error) { return 0, os.ErrNotExist })
	}}
	if got := c.AppendText(nil, nil); len(got) != 0 {
		t.Errorf("without /proc: %q", got)
	}
}

// TestParseStat: proc(5)'s fields, after a comm with spaces and
// parentheses.
func TestParseStat(t *testing.T) {
	page := float64(os.Getpagesize())
	// Fields 3 (state) to 24 (rss), proc(5)'s numbering: utime (14) 250,
	// stime (15) 150, starttime (22) 12345, vsize (23) 4096000, rss (24) 300.
	const st = "42 (a) (b c) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 3 0 12345 4096000 300 rest\n"
	cpu, vsize, rss, start, err := parseStat([]byte(st))
	if err != nil || cpu != 4 || vsize != 4096000 || rss != 300*page || start != 123.45 {
		t.Errorf("parseStat = %v %v %v %v %v, want 4 4096000 %v 123.45", cpu, vsize, rss, start, err, 300*page)
	}
	for _, bad := range []string{"", "42 no parens S 1", "42 (x) S 1 2 3", "42 (x) S 1 2 3 4 5 6 7 8 9 10 11 x 1 0 0 20 0 3 0 1 2 3"} {
		if _, _, _, _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

// TestParseLimits: the soft limits; unlimited is 2^64-1.
func TestParseLimits(t *testing.T) {
	const head = "Limit                     Soft Limit           Hard Limit           Units     \n"
	for _, c := range []struct {
		limits    string
		files, as float64
		wantErr   bool
	}{
		{head + "Max open files            1024                 524288               files     \nMax address space         unlimited            unlimited            bytes     \n", 1024, math.MaxUint64, false},
		{head + "Max address space         8000000              unlimited            bytes     \nMax open files            20000                20000                files     \n", 20000, 8e6, false},
		{head + "Max open files            1024                 524288               files     \n", 0, 0, true},
		{head + "Max open files            lots                 524288               files     \nMax address space         1 1 bytes\n", 0, 0, true},
	} {
		files, as, err := parseLimits([]byte(c.limits))
		if (err != nil) != c.wantErr || !c.wantErr && (files != c.files || as != c.as) {
			t.Errorf("parseLimits(%q) = %v %v %v, want %v %v error %v", c.limits, files, as, err, c.files, c.as, c.wantErr)
		}
	}
}

// TestParseNetstat: IpExt's InOctets and OutOctets; none is 0.
func TestParseNetstat(t *testing.T) {
	for _, c := range []struct {
		netstat string
		in, out float64
		wantErr bool
	}{
		{"TcpExt: A B\nTcpExt: 1 2\nIpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 1234 5678\n", 1234, 5678, false},
		{"TcpExt: A B\nTcpExt: 1 2\n", 0, 0, false},
		{"IpExt: InOctets OutOctets\nIpExt: 1\n", 0, 0, true},
		{"IpExt: InOctets OutOctets\nIpExt: x 1\n", 0, 0, true},
	} {
		in, out, err := parseNetstat([]byte(c.netstat))
		if (err != nil) != c.wantErr || in != c.in || out != c.out {
			t.Errorf("parseNetstat(%q) = %v %v %v, want %v %v error %v", c.netstat, in, out, err, c.in, c.out, c.wantErr)
		}
	}
}

// BenchmarkProcessRegistry is the process's part of each /metrics
// scrape: the go_* and process_* families read and written.
func BenchmarkProcessRegistry(b *testing.B) {
	reg := NewProcessRegistry()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = reg.AppendText(buf[:0], nil)
	}
	b.ReportMetric(float64(len(buf)), "bytes")
}
