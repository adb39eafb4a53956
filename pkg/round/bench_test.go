package round_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/round"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// BenchmarkRound10kPostgres is a whole round of 10,000 loopback targets
// (5,000 HTTP on distinct paths of four servers, 5,000 TCP to four
// listeners) through the probe pool, PostgreSQL (a bounded pool) and
// notify. SRVMON_BENCH_SCALE (storetest.EnvBenchScale), e.g. 0.01, checks
// that fraction of the targets for a quick run.
//
// 1% of the targets have a rule (threshold 1) and are HTTP targets that
// flip between up and down every round, so each measured round sends that
// many webhooks to a loopback receiver. Two warm-up rounds come first, so
// that the measured ones find notification state in the store and change
// it: the first (all up) establishes it quietly, the second sends the
// first "down" webhooks. Each round runs in a slot of its own (past ones,
// so that each starts at its slot's start and has the whole slot for its
// deliveries).
//
// It reports per round the time from the slot's start until the results
// were committed (stored-s, and its maximum), wall time, CPU, webhooks
// sent, and over the measured rounds the peak of open files and of the
// store's PostgreSQL connections; and the process's peak RSS. Nothing
// fails on timing.
//
// Its "rules" variant is issue 12's: every target has a rule (threshold
// 3 of a window of 10, quorum 2, beside the 1% above, which keep
// threshold 1), a maintenance window covers 1,000 of them, and the round
// is the last of three locations to store its slot (the other two are
// stored before it, unmeasured), so that it judges every slot.
func BenchmarkRound10kPostgres(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchRound10kPostgres(b, false) })
	b.Run("rules", func(b *testing.B) { benchRound10kPostgres(b, true) })
}

func benchRound10kPostgres(b *testing.B, rules bool) {
	raiseFileLimit(b)
	ctx := context.Background()
	perGroup := max(int(math.Round(10000*benchScale(b)))/8, 1) // 8 groups: 4 HTTP servers, 4 TCP listeners
	db := pgtest.NewDatabase(b)
	st, err := postgres.Open(ctx, postgres.Config{URL: db})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()

	var webhooks atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { webhooks.Add(1) }))
	defer receiver.Close()
	var up atomic.Bool // the HTTP targets' state this round
	var hosts []string
	for i := 0; i < 4; i++ {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !up.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		defer srv.Close()
		for j := 0; j < perGroup; j++ {
			hosts = append(hosts, fmt.Sprintf("%s/%d", srv.URL, j))
		}
		// The wildcard address, so that it takes connections to every
		// 127.0.0.0/8 address the targets spread over.
		ln, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		for j := 0; j < perGroup; j++ {
			hosts = append(hosts, fmt.Sprintf("127.0.%d.%d:%d", 1+j/250, 1+j%250, ln.Addr().(*net.TCPAddr).Port))
		}
	}
	if err := st.Restore(ctx, store.Restore{Hosts: hosts}); err != nil {
		b.Fatal(err)
	}
	ruled := max(len(hosts)/100, 1) // the first HTTP server's first targets
	for _, h := range hosts[:ruled] {
		if err := st.SetRule(ctx, store.Rule{Host: h, Threshold: 1, Action: receiver.URL + "/?host={HOST}&state={STATE}"}); err != nil {
			b.Fatal(err)
		}
	}
	if rules {
		for _, h := range hosts[ruled:] {
			if err := st.SetRule(ctx, store.Rule{Host: h, Threshold: 3, Window: 10, Quorum: "2",
				Action: receiver.URL + "/?host={HOST}&state={STATE}"}); err != nil {
				b.Fatal(err)
			}
		}
		inWindow := hosts[ruled:min(ruled+1000, len(hosts))]
		if _, err := st.PutMaintenance(ctx, monitor.Maintenance{Hosts: inWindow, Start: time.Now().Add(-24 * time.Hour),
			End: time.Now().Add(24 * time.Hour), Reason: "benchmark"}); err != nil {
			b.Fatal(err)
		}
	}
	// otherLocations stores the slot's results of two other locations
	// (rules only): what the probes will find, the HTTP targets' state
	// as up says.
	otherLocations := func(at time.Time) {
		if !rules {
			return
		}
		monitors, err := st.Monitors(ctx)
		if err != nil {
			b.Fatal(err)
		}
		alerting := notify.NewAlerting(notify.Options{Monitors: monitors})
		for _, loc := range []string{"us", "vps"} {
			rs := make([]store.Result, len(hosts))
			for i, h := range hosts {
				rs[i] = store.Result{Host: h, Location: loc, Slot: at, RTT: time.Millisecond, Up: !strings.Contains(h, "/") || up.Load()}
			}
			if err := st.SaveRound(ctx, rs, alerting); err != nil {
				b.Fatal(err)
			}
		}
	}

	const interval = time.Minute
	p := probe.New(probe.Options{Timeout: 5 * time.Second})
	defer p.Close()
	r := &round.Runner{
		Store: st, Prober: p, Interval: interval, Timeout: 5 * time.Second,
		Sender: &notify.Sender{Logger: quiet}, Logger: quiet,
	}
	const warmUp = 2
	base := time.Now().Add(-time.Duration(warmUp+b.N+1) * interval).Truncate(interval)
	run := func(i int) (sum round.Summary, wall, cpu, stored time.Duration) {
		up.Store(i%2 == 0)
		otherLocations(base.Add(time.Duration(i) * interval))
		beforeCPU := cpuTime()
		start := time.Now()
		sum, err := r.Run(ctx, base.Add(time.Duration(i)*interval))
		wall, cpu = time.Since(start), cpuTime()-beforeCPU
		if err != nil {
			b.Fatal(err)
		}
		if sum.Targets != len(hosts) || sum.Cancelled != 0 || (sum.Down != 0) == up.Load() {
			b.Fatalf("round %d: %+v", i, sum)
		}
		// The round starts at its slot's start, as cron, EventBridge and
		// the standalone ticker start it.
		return sum, wall, cpu, sum.Stored.Sub(start)
	}
	for i := range warmUp {
		run(i)
	}
	webhooks.Store(0)
	peakFiles := watchPeak(b, openFiles)
	peakConns := watchPeak(b, connectionsTo(b, db))
	var cpu, wall, stored, maxStored time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, w, c, s := run(warmUp + i)
		wall, cpu, stored, maxStored = wall+w, cpu+c, stored+s, max(maxStored, s)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(len(hosts)), "targets")
	b.ReportMetric(stored.Seconds()/n, "stored-s/round")
	b.ReportMetric(maxStored.Seconds(), "stored-max-s")
	b.ReportMetric(wall.Seconds()/n, "s/round")
	b.ReportMetric(cpu.Seconds()/n, "cpu-s/round")
	b.ReportMetric(float64(webhooks.Load())/n, "webhooks/round")
	b.ReportMetric(float64(maxRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peakFiles()), "peak-open-files")
	b.ReportMetric(float64(peakConns()), "peak-db-conns")
}

// benchScale is SRVMON_BENCH_SCALE, 1 when it is not set.
func benchScale(b *testing.B) float64 {
	v := os.Getenv(storetest.EnvBenchScale)
	if v == "" {
		return 1
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		b.Fatalf("%s=%q: want a positive number", storetest.EnvBenchScale, v)
	}
	return f
}

func raiseFileLimit(b *testing.B) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSS() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss * 1024
}

// openFiles counts the process's open files.
func openFiles() (int, error) {
	fds, err := os.ReadDir("/proc/self/fd")
	return len(fds), err
}

// connectionsTo returns a func that counts the connections to the
// database at url, its own (one, kept open until the benchmark ends) not
// included.
func connectionsTo(b *testing.B, url string) func() (int, error) {
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex // one query at a time on the connection
	b.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		conn.Close(context.Background())
	})
	return func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		var n int
		err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
		return n, err
	}
}

// watchPeak samples count every 10 ms until the benchmark ends, and
// returns a func that reads the peak.
func watchPeak(b *testing.B, count func() (int, error)) func() int {
	var (
		mu   sync.Mutex
		peak int
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if n, err := count(); err == nil {
					mu.Lock()
					peak = max(peak, n)
					mu.Unlock()
				}
			}
		}
	}()
	b.Cleanup(func() { close(stop); <-done })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// BenchmarkRoundConditions is a round of 10,000 HTTP monitors (on
// distinct paths of four loopback servers, each answering a 2 KB JSON
// body) through the probe pool and the memory store, without conditions
// (plain: the body is not read) and with three conditions each ([STATUS],
// [RESPONSE_TIME] and a JSON path into the body, which is then read and
// parsed). It reports per round the wall time, the time from the round's
// start until its results were stored, and the CPU per target (the
// servers' included: they are in the process). SRVMON_BENCH_SCALE scales
// the number of monitors. Nothing fails on timing.
func BenchmarkRoundConditions(b *testing.B) {
	raiseFileLimit(b)
	n := max(int(math.Round(10000*benchScale(b)))/4*4, 4)
	body := jsonBody(2048)
	var hosts []string
	for range 4 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}))
		defer srv.Close()
		for j := range n / 4 {
			hosts = append(hosts, fmt.Sprintf("%s/health/%d", srv.URL, j))
		}
	}
	for _, c := range []struct {
		name       string
		conditions []string
	}{
		{"plain", nil},
		{"conditions", []string{"[STATUS] == 200", "[RESPONSE_TIME] < 1s", "[BODY].status == ok"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			st := memory.New()
			for _, h := range hosts {
				if _, err := st.PutMonitor(ctx, monitor.Monitor{Host: h, Settings: monitor.Settings{Conditions: c.conditions}}); err != nil {
					b.Fatal(err)
				}
			}
			const interval = time.Minute
			p := probe.New(probe.Options{Timeout: 5 * time.Second})
			defer p.Close()
			r := &round.Runner{Store: st, Prober: p, Interval: interval, Timeout: 5 * time.Second, Logger: quiet}
			base := time.Now().Add(-time.Duration(b.N+2) * interval).Truncate(interval)
			run := func(i int) (wall, cpu, stored time.Duration) {
				beforeCPU := cpuTime()
				start := time.Now()
				sum, err := r.Run(ctx, base.Add(time.Duration(i)*interval))
				wall, cpu = time.Since(start), cpuTime()-beforeCPU
				if err != nil {
					b.Fatal(err)
				}
				if sum.Targets != len(hosts) || sum.Up != len(hosts) {
					b.Fatalf("round %d: %+v: want every one of %d monitors up", i, sum, len(hosts))
				}
				return wall, cpu, sum.Stored.Sub(start)
			}
			run(0) // warm-up
			var wall, cpu, stored time.Duration
			b.ResetTimer()
			for i := range b.N {
				w, c, s := run(1 + i)
				wall, cpu, stored = wall+w, cpu+c, stored+s
			}
			b.StopTimer()
			rounds := float64(b.N)
			b.ReportMetric(float64(len(hosts)), "targets")
			b.ReportMetric(wall.Seconds()/rounds, "s/round")
			b.ReportMetric(stored.Seconds()/rounds, "stored-s/round")
			b.ReportMetric(float64(cpu.Microseconds())/rounds/float64(len(hosts)), "cpu-µs/target")
		})
	}
}

// jsonBody returns a JSON health document of size bytes whose status is
// "ok", padded with checks.
func jsonBody(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"status":"ok","checks":[`)
	for i := 0; b.Len() < size-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"dependency-%03d","status":"ok","latency_ms":%d}`, i, i%17)
	}
	b.WriteString(`],"version":"1.2.3"}`)
	s := b.String()
	return []byte(s + strings.Repeat(" ", max(size-len(s), 0)))
}

// BenchmarkRoundPush measures what push monitors cost a round: a round of
// 10,000 push monitors against a round of none (push=0), in the memory
// and bolt stores (bolt syncing its commits, as it does in production).
// Nothing is probed: the difference is the push monitors' cost (listing
// them with their settings, reading their push times, judging them and
// storing the judgements). Two cases:
//
//   - judged: each was pushed to once, long ago, with a grace that keeps it
//     up, so that every round stores 10,000 judgements (the most a round
//     writes: a nightly job's monitor between its pushes);
//   - pushed: each got a push in the slot judged (a heartbeat every
//     interval), whose result the push stored: the round writes nothing.
//
// SRVMON_BENCH_SCALE scales the number of monitors.
func BenchmarkRoundPush(b *testing.B) {
	n := max(int(math.Round(10000*benchScale(b))), 1)
	for _, backend := range []string{"memory", "bolt"} {
		for _, c := range []struct {
			name   string
			pushes int
			each   bool // push to every monitor in the slot before each round
		}{{"push=0", 0, false}, {"judged", n, false}, {"pushed", n, true}} {
			b.Run(backend+"/"+c.name, func(b *testing.B) {
				benchmarkRoundPush(b, backend, c.pushes, c.each)
			})
		}
	}
}

func benchmarkRoundPush(b *testing.B, backend string, pushes int, each bool) {
	ctx := context.Background()
	const interval = time.Minute
	base := time.Now().Add(-time.Duration(b.N+2) * interval).Truncate(interval)
	// open opens the store; for bolt, without syncing commits when fast
	// (for the setup and the pushes, which are not measured).
	var mem *memory.Store
	path := filepath.Join(b.TempDir(), "srvmon.db")
	open := func(fast bool) store.Store {
		if backend == "memory" {
			if mem == nil {
				mem = memory.New()
			}
			return mem
		}
		var opts []bolt.Option
		if fast {
			opts = append(opts, bolt.WithNoSync())
		}
		st, err := bolt.Open(path, opts...)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	tokens := make([]string, pushes)
	pushAll := func(at time.Time) {
		st := open(true)
		for _, token := range tokens {
			if _, err := st.RecordPush(ctx, token, at, store.Result{Slot: at.Truncate(interval), Up: true}, nil); err != nil {
				b.Fatal(err)
			}
		}
		if backend != "memory" {
			st.Close()
		}
	}
	st := open(true)
	for i := range tokens {
		tokens[i] = monitor.NewPushToken()
		m := monitor.Monitor{Host: fmt.Sprintf("push://job-%05d", i), Settings: monitor.Settings{Grace: monitor.Duration(24 * time.Hour), PushToken: tokens[i]}}
		if _, err := st.PutMonitor(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	if backend != "memory" {
		st.Close()
	}
	pushAll(base.Add(-interval))

	var cpu, wall time.Duration
	b.ResetTimer()
	for i := range b.N {
		slot := base.Add(time.Duration(i+1) * interval)
		b.StopTimer()
		if each {
			pushAll(slot.Add(-interval / 2))
		}
		st := open(false)
		r := &round.Runner{Store: st, Prober: probe.New(probe.Options{}), Interval: interval, Logger: quiet}
		b.StartTimer()
		beforeCPU, start := cpuTime(), time.Now()
		sum, err := r.Run(ctx, slot)
		cpu, wall = cpu+cpuTime()-beforeCPU, wall+time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Push != pushes || sum.PushUp != pushes {
			b.Fatalf("round %d: %+v: want %d push monitors judged up", i, sum, pushes)
		}
		b.StopTimer()
		if backend != "memory" {
			st.Close()
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(pushes), "push-monitors")
	b.ReportMetric(wall.Seconds()*1000/float64(b.N), "ms/round")
	b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/round")
}
