package round_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/loadtest"
	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/round"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
)

// BenchmarkRoundBolt is issue 14's round on bbolt, the standalone's
// store: 5,000 loopback TCP targets (20 listeners) or 5,000 HTTP targets
// (distinct paths of 4 servers), every result stored with its
// notification state (1% of the hosts have a rule), alone ("quiet") and
// while the process serves requests as perfbench's polling makes it
// ("api-load": 8 clients looping over loopback keep-alive GETs). Each
// round runs in a slot of its own, called at what stands for the slot's
// start, as cron calls it.
//
// Per round, from that start: list-ms until the monitors were listed,
// first-stored-s until the first results were committed, stored-s until
// the last (Summary.Stored: what the issue's "slot start to every result
// stored" is, perfbench's polling lag aside), batches the SaveRound calls;
// and over all rounds rtt-median-ms and rtt-p99-ms of the stored rtts
// (loopback: the truth is well under a millisecond), and the process's
// peak RSS. Nothing fails on timing.
//
//	go test -run '^$' -bench RoundBolt -benchtime 5x ./pkg/round
func BenchmarkRoundBolt(b *testing.B) {
	raiseFileLimit(b)
	const n = 5000
	fleets := map[string][]string{"tcp": tcpFleet(b, n), "http": httpFleet(b, n)}
	for _, kind := range []string{"tcp", "http"} {
		for _, load := range []string{"quiet", "api-load"} {
			b.Run(fmt.Sprintf("%s-5k/%s", kind, load), func(b *testing.B) {
				if load == "api-load" {
					defer loadtest.ServeAPI(8)()
				}
				benchmarkRoundBolt(b, fleets[kind])
			})
		}
	}
}

func benchmarkRoundBolt(b *testing.B, hosts []string) {
	ctx := context.Background()
	bs, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	if err := bs.Restore(ctx, store.Restore{Hosts: hosts}); err != nil {
		b.Fatal(err)
	}
	for _, h := range hosts[:len(hosts)/100] {
		// A receiver that never answers: nothing is delivered, since
		// the targets never change state, but every ruled host's state
		// is read and advanced in its batch.
		if err := bs.SetRule(ctx, store.Rule{Host: h, Threshold: 1, Action: "http://127.0.0.1:9/?host={HOST}"}); err != nil {
			b.Fatal(err)
		}
	}
	st := &phaseStore{Store: bs}
	const interval = time.Minute
	p := probe.New(probe.Options{Timeout: 5 * time.Second})
	defer p.Close()
	r := &round.Runner{Store: st, Prober: p, Interval: interval, Timeout: 5 * time.Second, Sender: &notify.Sender{Logger: quiet}, Logger: quiet}
	base := time.Now().Add(-time.Duration(b.N+2) * interval).Truncate(interval)
	var list, first, stored time.Duration
	var batches int
	run := func(i int) {
		st.reset()
		start := time.Now()
		sum, err := r.Run(ctx, base.Add(time.Duration(i)*interval))
		if err != nil {
			b.Fatal(err)
		}
		if sum.Targets != len(hosts) || sum.Up != len(hosts) {
			b.Fatalf("round %d: %+v", i, sum)
		}
		list += st.listed.Sub(start)
		first += st.saved[0].Sub(start)
		stored += sum.Stored.Sub(start)
		batches += len(st.saved)
	}
	run(0) // warm-up: the first round creates the states
	list, first, stored, batches = 0, 0, 0, 0
	st.rtts = st.rtts[:0]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run(1 + i)
	}
	b.StopTimer()
	rounds := float64(b.N)
	b.ReportMetric(float64(list.Milliseconds())/rounds, "list-ms")
	b.ReportMetric(first.Seconds()/rounds, "first-stored-s")
	b.ReportMetric(stored.Seconds()/rounds, "stored-s")
	b.ReportMetric(float64(batches)/rounds, "batches")
	slices.Sort(st.rtts)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(st.rtts[len(st.rtts)/2]), "rtt-median-ms")
	b.ReportMetric(ms(st.rtts[len(st.rtts)*99/100]), "rtt-p99-ms")
	b.ReportMetric(float64(maxRSS())/(1<<20), "peak-RSS-MiB")
}

// phaseStore records when a round listed its monitors, when each of its
// SaveRound calls returned, and the rtts it stored.
type phaseStore struct {
	store.Store
	mu     sync.Mutex
	listed time.Time
	saved  []time.Time
	rtts   []time.Duration
}

func (s *phaseStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listed, s.saved = time.Time{}, s.saved[:0]
}

func (s *phaseStore) Monitors(ctx context.Context) ([]monitor.Monitor, error) {
	ms, err := s.Store.Monitors(ctx)
	s.mu.Lock()
	s.listed = time.Now()
	s.mu.Unlock()
	return ms, err
}

func (s *phaseStore) SaveRound(ctx context.Context, results []store.Result, alerting *store.Alerting) error {
	err := s.Store.SaveRound(ctx, results, alerting)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saved = append(s.saved, time.Now())
	for _, r := range results {
		s.rtts = append(s.rtts, r.RTT)
	}
	return err
}

// tcpFleet is n distinct TCP targets: 4 listeners on the wildcard
// address, which take connections to every 127.0.0.0/8 address, each
// under n/4 of those addresses. The listeners accept and close.
func tcpFleet(b *testing.B, n int) []string {
	var hosts []string
	for i := range 4 {
		ln, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue
					}
					return
				}
				c.Close()
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		for j := i; j < n; j += 4 {
			hosts = append(hosts, fmt.Sprintf("127.0.%d.%d:%d", 1+j/250, 1+j%250, port))
		}
	}
	return hosts
}

// httpFleet is n HTTP targets on distinct paths of 4 loopback servers.
func httpFleet(b *testing.B, n int) []string {
	var hosts []string
	for i := range 4 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		b.Cleanup(srv.Close)
		for j := i; j < n; j += 4 {
			hosts = append(hosts, fmt.Sprintf("%s/t/%d", srv.URL, j))
		}
	}
	return hosts
}
