package round_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/round"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// BenchmarkRound10kPostgres is a whole round of 10,000 loopback targets
// (5,000 HTTP on distinct paths of four servers, 5,000 TCP to four
// listeners) through the probe pool, PostgreSQL (a bounded pool) and
// notify (100 hosts with rules, every one of them changing state, so 100
// webhooks per round). It reports the round's wall time, CPU, the peak
// RSS of the process and the peak of its open files.
func BenchmarkRound10kPostgres(b *testing.B) {
	raiseFileLimit(b)
	ctx := context.Background()
	st, err := postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()

	var webhooks atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { webhooks.Add(1) }))
	defer receiver.Close()
	var up atomic.Bool // the HTTP targets flip every round, so the rules fire
	var hosts []string
	for i := 0; i < 4; i++ {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !up.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		defer srv.Close()
		for j := 0; j < 1250; j++ {
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
		for j := 0; j < 1250; j++ {
			hosts = append(hosts, fmt.Sprintf("127.0.%d.%d:%d", 1+j/250, 1+j%250, ln.Addr().(*net.TCPAddr).Port))
		}
	}
	if err := st.Restore(ctx, store.Restore{Hosts: hosts}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := st.SetRule(ctx, store.Rule{Host: hosts[i], Threshold: 1, Action: receiver.URL + "/?host={HOST}&state={STATE}"}); err != nil {
			b.Fatal(err)
		}
	}

	p := probe.New(probe.Options{Timeout: 5 * time.Second})
	defer p.Close()
	r := &round.Runner{
		Store: st, Prober: p, Interval: time.Minute, Timeout: 5 * time.Second,
		Sender: &notify.Sender{Logger: quiet}, Logger: quiet,
	}
	peakFiles := watchOpenFiles(b)
	base := time.Now().Add(-time.Duration(b.N+1) * time.Minute).Truncate(time.Minute)
	var cpu, wall time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		up.Store(i%2 == 0)
		before := cpuTime()
		start := time.Now()
		sum, err := r.Run(ctx, base.Add(time.Duration(i)*time.Minute))
		wall += time.Since(start)
		cpu += cpuTime() - before
		if err != nil {
			b.Fatal(err)
		}
		if sum.Targets != len(hosts) || sum.Cancelled != 0 || sum.Down != 0 && up.Load() {
			b.Fatalf("round %+v", sum)
		}
	}
	b.StopTimer()
	b.ReportMetric(wall.Seconds()/float64(b.N), "s/round")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/round")
	b.ReportMetric(float64(maxRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peakFiles()), "peak-open-files")
	b.ReportMetric(float64(webhooks.Load())/float64(b.N), "webhooks/round")
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

// watchOpenFiles samples the process's open files every 10 ms until the
// benchmark ends, and returns a func that reads the peak.
func watchOpenFiles(b *testing.B) func() int {
	var (
		mu   sync.Mutex
		peak int
		stop = make(chan struct{})
	)
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
					mu.Lock()
					peak = max(peak, len(fds))
					mu.Unlock()
				}
			}
		}
	}()
	b.Cleanup(func() { close(stop) })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
