package probe

import (
	"context"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"time"
)

// Round checks targets concurrently and returns one result per target, in
// the order of targets. ICMP targets run at most ICMPConcurrency at a time
// (the slots are the Prober's, shared with Check), the others at most
// Concurrency at a time, and the starts are paced by how late the Go
// scheduler runs goroutines that are ready (see pacer), so that the
// process is never swamped: an rtt measures its target, not the round's
// own queue. So a round takes at most one Timeout per Concurrency targets
// (per ICMPConcurrency ping targets), plus the time to start them,
// however many of them do not answer.
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
	p.RoundFunc(ctx, targets, func(i int, r Result) { results[i] = r })
	return results
}

// RoundFunc is Round, handing each target's result to done as soon as it
// is known instead of all of them at the end: done(i, r) is called once
// for every i in targets, r being targets[i]'s result, and every call has
// returned when RoundFunc returns. done is called from the probes'
// goroutines, concurrently: it must be safe for that, and quick (a probe's
// slot is held until it returns). A caller that stores results stores the
// first ones while the slowest probes still run.
func (p *Prober) RoundFunc(ctx context.Context, targets []Target, done func(i int, r Result)) {
	if len(targets) == 0 {
		return
	}
	rs := &roundState{targets: targets, done: done, finished: make([]bool, len(targets))}
	var icmpIdx, otherIdx []int
	for i, t := range targets {
		switch t.Kind {
		case KindICMP:
			icmpIdx = append(icmpIdx, i)
		case KindPush:
			// Never probed: check answers at once, without a slot.
			rs.finish(i, p.check(ctx, t, false))
		default:
			otherIdx = append(otherIdx, i)
		}
	}
	if len(icmpIdx)+len(otherIdx) > 0 {
		rs.pc = newPacer()
		// The ICMP pool takes the Prober's ICMP slots itself, so that its
		// checks wait in the pool, not within their Timeout.
		p.pool(ctx, rs, p.icmpSlots, icmpIdx)
		p.pool(ctx, rs, make(chan struct{}, p.opts.Concurrency), otherIdx)
		rs.wg.Wait()
		rs.pc.close()
	}
	for i, ok := range rs.finished {
		if !ok {
			done(i, Result{Target: targets[i], Reason: ReasonCancelled})
		}
	}
}

// roundState is what the pools of one Round share: the pacer, the
// goroutines in flight, the targets, the caller's done, and whether each
// target finished (finished[i] is written by targets[i]'s goroutine only,
// and read after they all ended).
type roundState struct {
	pc       *pacer
	wg       sync.WaitGroup
	targets  []Target
	done     func(i int, r Result)
	finished []bool
}

// finish hands target i's result to the caller.
func (rs *roundState) finish(i int, r Result) {
	rs.done(i, r)
	rs.finished[i] = true
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
				rs.finish(i, p.check(ctx, rs.targets[i], false))
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
	// paceMaxDelay is how late the process may run a goroutine that can
	// run before the pacer halves its rate: a probe's rtt ends when its
	// goroutine runs after the answer came, so this bounds what the
	// round's own load adds to an rtt. It applies to both delays the
	// pacer watches (see pacer).
	paceMaxDelay = 500 * time.Microsecond
	// paceLateShare is the share of the run-queue delays, in parts per
	// 1,000, that may exceed paceMaxDelay in a tick.
	paceLateShare = 100
	// schedLatencyMetric is the distribution of run-queue delays.
	schedLatencyMetric = "/sched/latencies:seconds"
)

// pacer admits the starts of a round's probes so that the process never
// queues more work than it runs promptly. A probe's rtt is timed by the
// process: were ten thousand probes started at once (gosrvmon's way), each
// wakeup would wait behind thousands of others in the Go scheduler's run
// queue, and a loopback target would report the queue, hundreds of
// milliseconds, as its rtt.
//
// Every tick the pacer looks at two delays, which are what an rtt
// suffers, and is late when either exceeds paceMaxDelay:
//
//   - the run-queue delays of the goroutines that ran since the last tick
//     (the runtime's /sched/latencies histogram, all of the process's
//     goroutines, not only the round's), late when more than
//     paceLateShare of them are;
//   - how late a goroutine parked on a socket runs once the socket is
//     readable (wakeCanary): the runtime notices ready sockets mostly
//     when a P runs out of work, so a process kept busy wakes its probes
//     late although it runs every goroutine it knows promptly.
//
// When late, it halves the starts it hands out per tick (never below
// one); otherwise, if the last tick's starts were all taken, it raises
// them by half, up to paceMaxPerTick. It used to halve whenever more than
// two goroutines per GOMAXPROCS were runnable: a proxy that the API's own
// request goroutines kept above the mark while a round ran, so starts
// crawled (bench_test.go's api-load figures) without any rtt to protect.
// Probes that wait on the network (slow or dead targets) cost no
// scheduling, so for them the rate climbs within milliseconds as high as
// the CPU cost of starting them allows; probes that keep the CPU busy
// (loopback, LAN, TLS handshakes) are admitted at the rate the process
// completes them. The probes in flight are still bounded by Concurrency.
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
	rate := min(4*runtime.GOMAXPROCS(0), paceMaxPerTick)
	for range rate {
		pc.tokens <- struct{}{}
	}
	go pc.run(rate)
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
func (pc *pacer) run(rate int) {
	defer close(pc.done)
	canary, err := newWakeCanary()
	if err == nil {
		defer canary.close()
	}
	var delays schedDelays
	delays.late() // the baseline: delays before the round are not its own
	late := func() bool {
		late := delays.late()
		if canary != nil {
			late = canary.late(paceMaxDelay) || late
		}
		return late
	}
	tick := time.NewTicker(paceTick)
	defer tick.Stop()
	for {
		select {
		case <-pc.stop:
			return
		case <-tick.C:
		}
		rate = nextRate(rate, late(), len(pc.tokens) == 0)
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

// schedDelays reads the runtime's distribution of scheduling delays and
// tells, on each read, whether the delays since the last one were late.
type schedDelays struct {
	samples []metrics.Sample
	prev    []uint64 // the counts of the last read
	// from is the first bucket whose delays all exceed paceMaxDelay; -1
	// when the runtime does not have the metric.
	from int
}

// late reports whether more than paceLateShare of the scheduling delays
// recorded since the last call exceeded paceMaxDelay; false on the first
// call, when there were none, and when the runtime does not have the
// metric.
func (s *schedDelays) late() bool {
	if s.samples == nil {
		s.samples = []metrics.Sample{{Name: schedLatencyMetric}}
		s.from = -1
	}
	metrics.Read(s.samples)
	if s.samples[0].Value.Kind() != metrics.KindFloat64Histogram {
		return false
	}
	h := s.samples[0].Value.Float64Histogram()
	if s.prev == nil {
		s.prev = slices.Clone(h.Counts)
		// Bucket i holds [Buckets[i], Buckets[i+1]).
		s.from = len(h.Counts)
		for i := range h.Counts {
			if h.Buckets[i] >= paceMaxDelay.Seconds() {
				s.from = i
				break
			}
		}
		return false
	}
	var all, over uint64
	for i, c := range h.Counts {
		d := c - s.prev[i]
		all += d
		if i >= s.from {
			over += d
		}
		s.prev[i] = c
	}
	return over*1000 > all*paceLateShare
}

// nextRate is the pacer's rule: halve the rate when the scheduler ran
// goroutines late, raise it by half when every start was taken.
func nextRate(rate int, late, allTaken bool) int {
	switch {
	case late:
		return max(rate/2, 1)
	case allTaken:
		return min(rate+rate/2+1, paceMaxPerTick)
	}
	return rate
}
