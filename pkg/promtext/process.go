package promtext

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
)

// userHZ is the unit of the times in /proc/PID/stat: clock ticks, 100 a
// second on every Linux that Go runs on (as procfs assumes too).
const userHZ = 100

// procSnapshot is what one scrape reads of the process from /proc/self.
// Each part is read on its own: one that cannot be read (no /proc, as
// off Linux) leaves its families out, as client_golang's process
// collector did without ReportErrors.
type procSnapshot struct {
	// From /proc/self/stat.
	statOK                 bool
	cpuSeconds             float64
	virtualBytes, rssBytes float64
	startOK                bool
	startSeconds           float64 // Unix
	// The entries of /proc/self/fd.
	fdsOK bool
	fds   float64
	// From /proc/self/limits: the soft limits, unlimited as 2^64-1.
	limitsOK           bool
	maxFDs, maxVirtual float64
	// From /proc/self/net/netstat (the network namespace's IpExt).
	netOK                    bool
	receivedBytes, sentBytes float64
}

// processFamilies are the process's families, by name, with the HELP
// texts that client_golang (v1.25) gave them.
var processFamilies = []family[procSnapshot]{
	{"process_cpu_seconds_total", TypeCounter, "Total user and system CPU time spent in seconds.",
		procValue(func(s *procSnapshot) (float64, bool) { return s.cpuSeconds, s.statOK })},
	{"process_max_fds", TypeGauge, "Maximum number of open file descriptors.",
		procValue(func(s *procSnapshot) (float64, bool) { return s.maxFDs, s.limitsOK })},
	{"process_network_receive_bytes_total", TypeCounter, "Number of bytes received by the process over the network.",
		procValue(func(s *procSnapshot) (float64, bool) { return s.receivedBytes, s.netOK })},
	{"process_network_transmit_bytes_total", TypeCounter, "Number of bytes sent by the process over the network.",
		procValue(func(s *procSnapshot) (float64, bool) { return s.sentBytes, s.netOK })},
	{"process_open_fds", TypeGauge, "Number of open file descriptors.",
		procValue(func(s *procSnapshot) (float64, bool) { return s.fds, s.fdsOK })},
	{"process_resident_memory_bytes", TypeGauge, "Resident memory size in bytes.",
		procValue(func(s *procSnapshot) (float64, bool) { return s.rssBytes, s.statOK })},
	{"process_start_time_seconds", TypeGauge, "Start time of the process since unix epoch in seconds.",
		procValue(func(s *procSnapshot) (float64, bool) { return s.startSeconds, s.startOK })},
	{"process_virtual_memory_bytes", TypeGauge, "Virtual memory size in bytes.",
		procValue(func(s *procSnapshot) (float64, bool) { return s.virtualBytes, s.statOK })},
	{"process_virtual_memory_max_bytes", TypeGauge, "Maximum amount of virtual memory available in bytes.",
		procValue(func(s *procSnapshot) (float64, bool) { return s.maxVirtual, s.limitsOK })},
}

// procValue is appendSamples of a process family with one sample, none
// when its part was not read.
func procValue(value func(s *procSnapshot) (float64, bool)) func([]byte, string, *procSnapshot) []byte {
	return func(b []byte, name string, s *procSnapshot) []byte {
		v, ok := value(s)
		if !ok {
			return b
		}
		return AppendSample(b, name, "", v)
	}
}

// NewProcessCollector is a collector of the process's families
// (process_*): those of client_golang's NewProcessCollector on Linux,
// under the same names, types and labels, read from /proc/self on each
// scrape (the boot time that the start time needs from /proc/stat once).
func NewProcessCollector() Collector {
	bootTime := sync.OnceValues(readBootTime)
	return &snapshotCollector[procSnapshot]{families: processFamilies, read: func() *procSnapshot {
		return readProcSnapshot("/proc/self", bootTime)
	}}
}

// readProcSnapshot reads the process of dir (/proc/self); bootTime is
// the system's boot time, Unix seconds.
func readProcSnapshot(dir string, bootTime func() (float64, error)) *procSnapshot {
	s := new(procSnapshot)
	if st, err := os.ReadFile(dir + "/stat"); err == nil {
		var start float64
		if s.cpuSeconds, s.virtualBytes, s.rssBytes, start, err = parseStat(st); err == nil {
			s.statOK = true
			if boot, err := bootTime(); err == nil {
				s.startOK, s.startSeconds = true, boot+start
			}
		}
	}
	if n, err := countFDs(dir + "/fd"); err == nil {
		s.fdsOK, s.fds = true, float64(n)
	}
	if l, err := os.ReadFile(dir + "/limits"); err == nil {
		s.maxFDs, s.maxVirtual, err = parseLimits(l)
		s.limitsOK = err == nil
	}
	if n, err := os.ReadFile(dir + "/net/netstat"); err == nil {
		s.receivedBytes, s.sentBytes, err = parseNetstat(n)
		s.netOK = err == nil
	}
	return s
}

// parseStat reads /proc/PID/stat (proc(5)): the CPU time (utime + stime),
// vsize, rss in bytes, and starttime since boot, in seconds.
func parseStat(st []byte) (cpu, vsize, rss, start float64, err error) {
	// comm, in parentheses, may hold spaces and parentheses: the fields
	// are after the last ')', from field 3 (state) on.
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return 0, 0, 0, 0, errors.New("stat: no ')' after comm")
	}
	f := strings.Fields(string(st[i+1:]))
	field := func(n int) (float64, error) { // proc(5)'s numbering
		if n-3 >= len(f) {
			return 0, fmt.Errorf("stat: no field %d", n)
		}
		return strconv.ParseFloat(f[n-3], 64)
	}
	var v [5]float64
	for j, n := range []int{14, 15, 22, 23, 24} { // utime stime starttime vsize rss
		if v[j], err = field(n); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	return (v[0] + v[1]) / userHZ, v[3], v[4] * float64(os.Getpagesize()), v[2] / userHZ, nil
}

// readBootTime reads the system's boot time, Unix seconds, from
// /proc/stat's btime.
func readBootTime() (float64, error) {
	st, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(st)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("/proc/stat: no btime")
}

// countFDs counts the entries of /proc/PID/fd: its size, where the kernel
// gives it (Linux 6.2 on), or its entries read.
func countFDs(dir string) (int, error) {
	if fi, err := os.Stat(dir); err != nil {
		return 0, err
	} else if fi.Size() > 0 {
		return int(fi.Size()), nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return len(names), err
}

// parseLimits reads the soft limits of open files and of the address
// space from /proc/PID/limits; unlimited is 2^64-1, as procfs read it.
func parseLimits(l []byte) (files, addressSpace float64, err error) {
	found := 0
	for line := range strings.Lines(string(l)) {
		var v *float64
		rest, ok := strings.CutPrefix(line, "Max open files")
		if ok {
			v = &files
		} else if rest, ok = strings.CutPrefix(line, "Max address space"); ok {
			v = &addressSpace
		} else {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, 0, fmt.Errorf("limits: %q has no soft limit", strings.TrimSpace(line))
		}
		if f[0] == "unlimited" {
			*v = math.MaxUint64
		} else if *v, err = strconv.ParseFloat(f[0], 64); err != nil {
			return 0, 0, fmt.Errorf("limits: %w", err)
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("limits: no Max open files or Max address space")
	}
	return files, addressSpace, nil
}

// parseNetstat reads IpExt's InOctets and OutOctets from
// /proc/PID/net/netstat, pairs of lines "Proto: names…" and
// "Proto: values…"; a missing one is 0, as client_golang wrote it.
func parseNetstat(n []byte) (in, out float64, err error) {
	var names []string
	for line := range strings.Lines(string(n)) {
		rest, ok := strings.CutPrefix(line, "IpExt:")
		if !ok {
			continue
		}
		if names == nil {
			names = strings.Fields(rest)
			continue
		}
		values := strings.Fields(rest)
		if len(values) != len(names) {
			return 0, 0, fmt.Errorf("net/netstat: IpExt has %d names and %d values", len(names), len(values))
		}
		for i, name := range names {
			var v *float64
			switch name {
			case "InOctets":
				v = &in
			case "OutOctets":
				v = &out
			default:
				continue
			}
			if *v, err = strconv.ParseFloat(values[i], 64); err != nil {
				return 0, 0, fmt.Errorf("net/netstat: %s: %w", name, err)
			}
		}
		return in, out, nil
	}
	return 0, 0, nil
}
