package probe

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// Round checks targets concurrently and returns one result per target, in
// the order of targets. ICMP targets run at most ICMPConcurrency at a time
// (the slots are the Prober's, shared with Check), the others at most
// Concurrency at a time, and the starts are paced by how busy the Go
// scheduler is, so that the process is never swamped: an rtt measures its
// target, not the round's own queue. So a round takes at most one Timeout
// per Concurrency targets (per ICMPConcurrency ping targets), plus the
// time to start them, however many of them do not answer.
//
// ICMP is bounded twice, for two different costs. The count of pings in
// flight bounds what they cost while they wait, answered or not (see
// Options.ICMPConcurrency). The pacing bounds bursts: raw sockets opened
// by the hundred at once drop replies (pro-bing issue #104), most likely
// in the moment between opening a socket and attaching its filter, when
// it takes every ICMP packet; paced starts do not. The figures behind
// both are in bench_test.go.
//
// Push targets are not probed: each is down with ReasonPushNotProbed (the
// caller judges push monitors by their pushes).
//
// When ctx ends, Round returns promptly: the targets that finished keep
// their results and every other one is down with reason "cancelled".
func (p *Prober) Round(ctx context.Context, targets []Target) []Result {
	results := make([]Result, len(targets))
	if len(targets) == 0 {
		return results
	}
	rs := &roundState{targets: targets, results: results, done: make([]bool, len(targets))}
	var icmpIdx, otherIdx []int
	for i, t := range targets {
		switch t.Kind {
		case KindICMP:
			icmpIdx = append(icmpIdx, i)
		case KindPush:
			// Never probed: check answers at once, without a slot.
			results[i], rs.done[i] = p.check(ctx, t, false), true
		default:
			otherIdx = append(otherIdx, i)
		}
	}
	rs.pc = newPacer()
	// The ICMP pool takes the Prober's ICMP slots itself, so that its
	// checks wait in the pool, not within their Timeout.
	p.pool(ctx, rs, p.icmpSlots, icmpIdx)
	p.pool(ctx, rs, make(chan struct{}, p.opts.Concurrency), otherIdx)
	rs.wg.Wait()
	rs.pc.close()
	for i, ok := range rs.done {
		if !ok {
			results[i] = Result{Target: targets[i], Reason: ReasonCancelled}
		}
	}
	return results
}

// roundState is what the pools of one Round share: the pacer, the
// goroutines in flight, and each target's result and whether it finished
// (index i of results and done is targets[i]'s, written by its goroutine
// only).
type roundState struct {
	pc      *pacer
	wg      sync.WaitGroup
	targets []Target
	results []Result
	done    []bool
}

// pool checks the targets at idx on rs.wg: each target gets its own
// goroutine once the pacer admits it and it holds one of slots (a
// semaphore: its capacity is the bound). It stops starting probes when
// ctx ends.
func (p *Prober) pool(ctx context.Context, rs *roundState, slots chan struct{}, idx []int) {
	if len(idx) == 0 {
		return
	}
	rs.wg.Go(func() {
		for _, i := range idx {
			if !rs.pc.wait(ctx) {
				return
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			rs.wg.Go(func() {
				defer func() { <-slots }()
				rs.results[i] = p.check(ctx, rs.targets[i], false)
				rs.done[i] = true
			})
		}
	})
}

// The pacer's settings.
const (
	// paceTick is how often the pacer looks at the scheduler and hands
	// out starts.
	paceTick = time.Millisecond
	// paceMaxPerTick caps the starts per tick: a million a second.
	paceMaxPerTick = 1024
	// paceRunnablePerProc is the backlog of runnable goroutines, per
	// GOMAXPROCS, above which the pacer halves its rate.
	paceRunnablePerProc = 2
	// runnableMetric counts goroutines ready to run but not running.
	runnableMetric = "/sched/goroutines/runnable:goroutines"
)

// pacer admits the starts of a round's probes so that the process never
// queues more work than it runs promptly. A probe's rtt is timed by the
// process: were ten thousand probes started at once (gosrvmon's way), each
// wakeup would wait behind thousands of others in the Go scheduler's run
// queue, and a loopback target would report the queue, hundreds of
// milliseconds, as its rtt.
//
// Every tick the pacer reads how many goroutines are runnable. Above
// paceRunnablePerProc per GOMAXPROCS it halves the starts it hands out per
// tick (never below one); otherwise, if the last tick's starts were all
// taken, it raises them by half, up to paceMaxPerTick. Probes that wait on
// the network (slow or dead targets) are not runnable, so for them the
// rate climbs within milliseconds as high as the CPU cost of starting them
// allows; probes that keep the CPU busy (loopback, LAN, TLS handshakes)
// are admitted at the rate the process completes them. The probes in
// flight are still bounded by Concurrency.
type pacer struct {
	tokens chan struct{} // the starts handed out and not yet taken
	stop   chan struct{}
	done   chan struct{}
}

// newPacer starts a pacer; close it when the round is over.
func newPacer() *pacer {
	pc := &pacer{
		tokens: make(chan struct{}, paceMaxPerTick),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	procs := runtime.GOMAXPROCS(0)
	rate := min(4*procs, paceMaxPerTick)
	for range rate {
		pc.tokens <- struct{}{}
	}
	go pc.run(rate, paceRunnablePerProc*procs)
	return pc
}

// close stops the pacer.
func (pc *pacer) close() {
	close(pc.stop)
	<-pc.done
}

// wait returns true when a probe may start, false if ctx ended first.
func (pc *pacer) wait(ctx context.Context) bool {
	select {
	case <-pc.tokens:
		return true
	case <-ctx.Done():
		return false
	}
}

// run adjusts the rate, in starts per tick, every tick until close.
func (pc *pacer) run(rate, maxRunnable int) {
	defer close(pc.done)
	samples := []metrics.Sample{{Name: runnableMetric}}
	tick := time.NewTicker(paceTick)
	defer tick.Stop()
	for {
		select {
		case <-pc.stop:
			return
		case <-tick.C:
		}
		rate = nextRate(rate, runnable(samples), maxRunnable, len(pc.tokens) == 0)
		// Only run sends to tokens, so len only drops meanwhile.
		for len(pc.tokens) > rate {
			select {
			case <-pc.tokens:
			default:
			}
		}
		for len(pc.tokens) < rate {
			pc.tokens <- struct{}{}
		}
	}
}

// runnable reads the number of runnable goroutines; 0 if the runtime
// does not have the metric.
func runnable(samples []metrics.Sample) int {
	metrics.Read(samples)
	if samples[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int(samples[0].Value.Uint64())
}

// nextRate is the pacer's rule: halve the rate when more than maxRunnable
// goroutines wait to run, raise it by half when every start was taken.
func nextRate(rate, runnable, maxRunnable int, allTaken bool) int {
	switch {
	case runnable > maxRunnable:
		return max(rate/2, 1)
	case allTaken:
		return min(rate+rate/2+1, paceMaxPerTick)
	}
	return rate
}
