package promtext

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The runtime/metrics samples that the go_* families read, by index into
// runtimeSampleNames.
const (
	rmTinyAllocs = iota
	rmAllocObjects
	rmFreeObjects
	rmAllocBytes
	rmHeapObjects
	rmHeapGoal
	rmTotal
	rmHeapObjectBytes
	rmHeapUnused
	rmHeapReleased
	rmHeapFree
	rmHeapStacks
	rmOSStacks
	rmMSpanInuse
	rmMSpanFree
	rmMCacheInuse
	rmMCacheFree
	rmProfBuckets
	rmMetadataOther
	rmOther
	rmGOGC
	rmMemLimit
	rmGOMAXPROCS
	rmCount
)

// runtimeSampleNames are the names of the samples, as runtime/metrics
// spells them: what client_golang's Go collector read.
var runtimeSampleNames = [rmCount]string{
	rmTinyAllocs:      "/gc/heap/tiny/allocs:objects",
	rmAllocObjects:    "/gc/heap/allocs:objects",
	rmFreeObjects:     "/gc/heap/frees:objects",
	rmAllocBytes:      "/gc/heap/allocs:bytes",
	rmHeapObjects:     "/gc/heap/objects:objects",
	rmHeapGoal:        "/gc/heap/goal:bytes",
	rmTotal:           "/memory/classes/total:bytes",
	rmHeapObjectBytes: "/memory/classes/heap/objects:bytes",
	rmHeapUnused:      "/memory/classes/heap/unused:bytes",
	rmHeapReleased:    "/memory/classes/heap/released:bytes",
	rmHeapFree:        "/memory/classes/heap/free:bytes",
	rmHeapStacks:      "/memory/classes/heap/stacks:bytes",
	rmOSStacks:        "/memory/classes/os-stacks:bytes",
	rmMSpanInuse:      "/memory/classes/metadata/mspan/inuse:bytes",
	rmMSpanFree:       "/memory/classes/metadata/mspan/free:bytes",
	rmMCacheInuse:     "/memory/classes/metadata/mcache/inuse:bytes",
	rmMCacheFree:      "/memory/classes/metadata/mcache/free:bytes",
	rmProfBuckets:     "/memory/classes/profiling/buckets:bytes",
	rmMetadataOther:   "/memory/classes/metadata/other:bytes",
	rmOther:           "/memory/classes/other:bytes",
	rmGOGC:            "/gc/gogc:percent",
	rmMemLimit:        "/gc/gomemlimit:bytes",
	rmGOMAXPROCS:      "/sched/gomaxprocs:threads",
}

// goSnapshot is what one scrape reads of the Go runtime.
type goSnapshot struct {
	rm         [rmCount]float64 // runtimeSampleNames' values; 0 when unknown to this Go
	goroutines int
	threads    int
	gc         debug.GCStats // PauseQuantiles: min, 25 %, 50 %, 75 %, max
}

func readGoSnapshot() *goSnapshot {
	s := new(goSnapshot)
	samples := make([]metrics.Sample, rmCount)
	for i := range samples {
		samples[i].Name = runtimeSampleNames[i]
	}
	metrics.Read(samples)
	for i, sm := range samples {
		switch sm.Value.Kind() {
		case metrics.KindUint64:
			s.rm[i] = float64(sm.Value.Uint64())
		case metrics.KindFloat64:
			s.rm[i] = sm.Value.Float64()
		}
	}
	s.goroutines = runtime.NumGoroutine()
	s.threads, _ = runtime.ThreadCreateProfile(nil)
	s.gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&s.gc)
	return s
}

// family is a family whose samples one snapshot of type S gives: the
// Go runtime's (goSnapshot) and the process's (procSnapshot).
type family[S any] struct {
	name, typ, help string
	// appendSamples appends the family's samples of s; none leaves the
	// family out.
	appendSamples func(b []byte, name string, s *S) []byte
}

// one is appendSamples of a family with one sample without labels.
func one[S any](value func(s *S) float64) func([]byte, string, *S) []byte {
	return func(b []byte, name string, s *S) []byte { return AppendSample(b, name, "", value(s)) }
}

// rmSum is one of a family whose sample is the sum of runtime/metrics
// samples.
func rmSum(is ...int) func([]byte, string, *goSnapshot) []byte {
	return one(func(s *goSnapshot) float64 {
		var v float64
		for _, i := range is {
			v += s.rm[i]
		}
		return v
	})
}

// goFamilies are the Go runtime's families, by name, with the HELP texts
// that client_golang (v1.25) gave them.
var goFamilies = []family[goSnapshot]{
	{"go_gc_duration_seconds", TypeSummary, "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
		func(b []byte, name string, s *goSnapshot) []byte {
			for i, q := range []string{`quantile="0"`, `quantile="0.25"`, `quantile="0.5"`, `quantile="0.75"`, `quantile="1"`} {
				b = AppendSample(b, name, q, s.gc.PauseQuantiles[i].Seconds())
			}
			b = AppendSample(b, name+"_sum", "", s.gc.PauseTotal.Seconds())
			return appendCount(b, name+"_count", "", uint64(s.gc.NumGC))
		}},
	{"go_gc_gogc_percent", TypeGauge, "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.",
		rmSum(rmGOGC)},
	{"go_gc_gomemlimit_bytes", TypeGauge, "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.",
		rmSum(rmMemLimit)},
	{"go_goroutines", TypeGauge, "Number of goroutines that currently exist.",
		one(func(s *goSnapshot) float64 { return float64(s.goroutines) })},
	{"go_info", TypeGauge, "Information about the Go environment.",
		func(b []byte, name string, s *goSnapshot) []byte {
			return AppendSample(b, name, string(AppendLabel(nil, "version", runtime.Version())), 1)
		}},
	{"go_memstats_alloc_bytes", TypeGauge, "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.",
		rmSum(rmHeapObjectBytes)},
	{"go_memstats_alloc_bytes_total", TypeCounter, "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.",
		rmSum(rmAllocBytes)},
	{"go_memstats_buck_hash_sys_bytes", TypeGauge, "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.",
		rmSum(rmProfBuckets)},
	{"go_memstats_frees_total", TypeCounter, "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.",
		rmSum(rmFreeObjects, rmTinyAllocs)},
	{"go_memstats_gc_sys_bytes", TypeGauge, "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.",
		rmSum(rmMetadataOther)},
	{"go_memstats_heap_alloc_bytes", TypeGauge, "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.",
		rmSum(rmHeapObjectBytes)},
	{"go_memstats_heap_idle_bytes", TypeGauge, "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.",
		rmSum(rmHeapReleased, rmHeapFree)},
	{"go_memstats_heap_inuse_bytes", TypeGauge, "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes",
		rmSum(rmHeapObjectBytes, rmHeapUnused)},
	{"go_memstats_heap_objects", TypeGauge, "Number of currently allocated objects. Equals to /gc/heap/objects:objects.",
		rmSum(rmHeapObjects)},
	{"go_memstats_heap_released_bytes", TypeGauge, "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.",
		rmSum(rmHeapReleased)},
	{"go_memstats_heap_sys_bytes", TypeGauge, "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.",
		rmSum(rmHeapObjectBytes, rmHeapUnused, rmHeapReleased, rmHeapFree)},
	{"go_memstats_last_gc_time_seconds", TypeGauge, "Number of seconds since 1970 of last garbage collection.",
		one(func(s *goSnapshot) float64 { return float64(s.gc.LastGC.UnixNano()) / 1e9 })},
	{"go_memstats_mallocs_total", TypeCounter, "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.",
		rmSum(rmAllocObjects, rmTinyAllocs)},
	{"go_memstats_mcache_inuse_bytes", TypeGauge, "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.",
		rmSum(rmMCacheInuse)},
	{"go_memstats_mcache_sys_bytes", TypeGauge, "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.",
		rmSum(rmMCacheInuse, rmMCacheFree)},
	{"go_memstats_mspan_inuse_bytes", TypeGauge, "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.",
		rmSum(rmMSpanInuse)},
	{"go_memstats_mspan_sys_bytes", TypeGauge, "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.",
		rmSum(rmMSpanInuse, rmMSpanFree)},
	{"go_memstats_next_gc_bytes", TypeGauge, "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.",
		rmSum(rmHeapGoal)},
	{"go_memstats_other_sys_bytes", TypeGauge, "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.",
		rmSum(rmOther)},
	{"go_memstats_stack_inuse_bytes", TypeGauge, "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.",
		rmSum(rmHeapStacks)},
	{"go_memstats_stack_sys_bytes", TypeGauge, "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.",
		rmSum(rmHeapStacks, rmOSStacks)},
	{"go_memstats_sys_bytes", TypeGauge, "Number of bytes obtained from system. Equals to /memory/classes/total:byte.",
		rmSum(rmTotal)},
	{"go_sched_gomaxprocs_threads", TypeGauge, "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.",
		rmSum(rmGOMAXPROCS)},
	{"go_threads", TypeGauge, "Number of OS threads created.",
		one(func(s *goSnapshot) float64 { return float64(s.threads) })},
}

// snapshotCollector writes families from one snapshot of S per scrape,
// read only when a family is kept.
type snapshotCollector[S any] struct {
	families []family[S]
	// read takes the snapshot; nil leaves every family out (what could
	// not be read).
	read func() *S
}

func (c *snapshotCollector[S]) Names() []string {
	names := make([]string, len(c.families))
	for i, f := range c.families {
		names[i] = f.name
	}
	return names
}

func (c *snapshotCollector[S]) AppendText(b []byte, keep func(string) bool) []byte {
	var s *S
	for _, f := range c.families {
		if keep != nil && !keep(f.name) {
			continue
		}
		if s == nil {
			if s = c.read(); s == nil {
				return b
			}
		}
		start := len(b)
		b = AppendHeader(b, f.name, f.typ, f.help)
		header := len(b)
		if b = f.appendSamples(b, f.name, s); len(b) == header {
			b = b[:start] // no samples: no family
		}
	}
	return b
}

// NewGoCollector is a collector of the Go runtime's families (go_*): those
// of client_golang's NewGoCollector with its default options, under the
// same names, types and labels, read from runtime/metrics (which does not
// stop the world), runtime/debug.ReadGCStats and the runtime's counts of
// goroutines and threads on each scrape.
func NewGoCollector() Collector {
	return &snapshotCollector[goSnapshot]{families: goFamilies, read: readGoSnapshot}
}
