// Package round runs srvmon's check round: one slot, every monitor (or
// one shard of them) compiled by pkg/monitor and probed through the
// bounded pool with its settings, push:// monitors judged from their
// pushes instead (JudgePush), every result stored as it comes, in batches
// of a few milliseconds' results, together with the notification state it
// advances and the certificate expiries the checks saw, due webhooks
// delivered, old results deleted.
//
// A round keeps nothing in memory for the next one: a cron job or a Lambda
// may start a new process on every tick. Running a round twice for the same
// slot stores nothing twice and notifies nothing twice, because the store's
// writes are idempotent on (host, location, slot), notification state
// only advances for slots after the last one applied, and a delivery is
// claimed by one sender at a time (store.Outbox.ClaimDeliveries), however
// many rounds run at once.
package round

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// Prober runs one round of probes; *probe.Prober is one.
type Prober interface {
	// RoundFunc probes targets and calls done once per target, as soon
	// as its result is known, from many goroutines at once; every call
	// has returned when RoundFunc does. See probe.Prober.RoundFunc.
	RoundFunc(ctx context.Context, targets []probe.Target, done func(i int, r probe.Result))
}

// HashTarget is the stable hash that shards targets: FNV-1a 64 of the
// target as the user added it, the same in every process and release.
func HashTarget(target string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(target))
	return h.Sum64()
}

// Shard selects a part of the targets, so that several checker
// invocations share one slot: shard Index of Count checks the targets
// whose HashTarget modulo Count is Index. The zero Shard, and any with a
// Count below 2, checks every target. Index must be below Count.
type Shard struct {
	Index, Count int
}

// Selects reports whether a target whose stable hash is h belongs to the
// shard.
func (s Shard) Selects(h uint64) bool {
	if s.Count < 2 {
		return true
	}
	return h%uint64(s.Count) == uint64(s.Index)
}

// String is "i/n", or "" for the zero Shard, for logs.
func (s Shard) String() string {
	if s == (Shard{}) {
		return ""
	}
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count)
}

// Runner runs rounds. Store, Prober and Interval are required; every other
// field may be left zero.
type Runner struct {
	Store    Store
	Prober   Prober
	Interval time.Duration
	// Timeout is the probe timeout; it bounds how long a round may take
	// after the context is cancelled (see Run). Zero means probe.DefaultTimeout.
	Timeout time.Duration
	// Location is stored with every result of this checker ('' by default).
	Location string
	// Shard selects the targets this runner checks, by HashTarget; the
	// zero Shard checks every one.
	Shard Shard
	// Retention deletes results older than this after each round; zero
	// keeps everything.
	Retention time.Duration
	// TimeZone formats {TIME} in notifications; nil means UTC.
	TimeZone *time.Location
	// LocationTimeout is how long a checker location may store nothing
	// before it no longer counts for quorum (notify.Options); zero means
	// notify.DefaultLocationTimeout.
	LocationTimeout time.Duration
	// Sender delivers due notifications after the results are stored; nil
	// delivers nothing (another process does).
	Sender *notify.Sender
	Logger *slog.Logger
}

// Summary says what a round did; it is also the checker Lambda's answer.
type Summary struct {
	Slot    time.Time `json:"slot"`
	Targets int       `json:"targets"` // targets checked by this round (its shard), push monitors aside
	Up      int       `json:"up"`
	Down    int       `json:"down"`
	Invalid int       `json:"invalid"` // stored monitors that do not compile (kept, recorded down)
	// Push counts the push:// monitors of the round's shard: judged from
	// their pushes, not probed (see JudgePush). PushUp and PushDown count
	// the judgements of the previous slot; the rest were not judged (never
	// pushed). A slot that got a push keeps the push's own result.
	Push      int           `json:"push"`
	PushUp    int           `json:"push_up"`
	PushDown  int           `json:"push_down"`
	Sent      int           `json:"notified"` // notifications delivered
	Failed    int           `json:"notify_failed"`
	Deleted   int64         `json:"deleted"`
	Duration  time.Duration `json:"duration_ns"`
	Cancelled int           `json:"cancelled"` // targets cut off by the round's deadline
	// Stored is when the last of the results was committed (they are
	// stored in batches as the probes finish); zero when some were not.
	Stored time.Time `json:"stored,omitzero"`
}

// StoredAfter is how long after the slot's start the last of the results
// was committed; zero when some were not.
func (s Summary) StoredAfter() time.Duration {
	if s.Stored.IsZero() {
		return 0
	}
	return s.Stored.Sub(s.Slot)
}

// Slot is the slot of a round started at now: now truncated to the
// interval, in UTC.
func Slot(now time.Time, interval time.Duration) time.Time {
	return now.UTC().Truncate(interval)
}

// SaveError is a failure to store a round's results: the platform (cron,
// Lambda) should retry, and the retry lands on the same slot. On Lambda its
// name is the invocation's errorType.
type SaveError struct {
	Slot time.Time
	Err  error
}

func (e *SaveError) Error() string {
	return fmt.Sprintf("results could not be stored: slot %s: %v", e.Slot.Format(time.RFC3339), e.Err)
}

func (e *SaveError) Unwrap() error { return e.Err }

// Run runs the round of the slot that holds now.
//
// Cancelling ctx (SIGTERM) does not abandon the round in flight: its probes
// finish, within one probe timeout, and its results are stored before Run
// returns; the deliveries not yet made are left pending for the next
// round, which may be another process's. A deadline on ctx (a Lambda
// invocation's) is kept: probes still running shortly before it are cut
// off (recorded down, "cancelled") so that the results are stored in time.
//
// Notifications are delivered only in what is left of the slot, less a
// margin, so that a hanging webhook never delays the next round; what is
// not delivered in time is delivered by a later round. Old results are
// deleted with a context of their own, after the deliveries.
//
// Run returns a *SaveError when the results could not be stored, and
// leaves logging it to the caller (cmd/checker prints it as its one line);
// a failure to deliver notifications or to delete old results is logged,
// not returned, since the next round retries both.
func (r *Runner) Run(ctx context.Context, now time.Time) (Summary, error) {
	started := time.Now()
	sum := Summary{Slot: Slot(now, r.Interval)}
	if r.Interval <= 0 {
		return sum, fmt.Errorf("round: interval %v is not positive", r.Interval)
	}

	work, probing, cancel := r.contexts(ctx, started)
	defer cancel()

	monitors, targets, invalid, pushes, err := r.targets(work, &sum)
	if err != nil {
		return sum, &SaveError{Slot: sum.Slot, Err: fmt.Errorf("list monitors: %w", err)}
	}
	judged, err := r.judgePushes(work, pushes, &sum)
	if err != nil {
		return sum, &SaveError{Slot: sum.Slot, Err: fmt.Errorf("read push times: %w", err)}
	}
	inMaintenance, err := r.maintenanceAt(work, sum.Slot, monitors)
	if err != nil {
		return sum, &SaveError{Slot: sum.Slot, Err: fmt.Errorf("list maintenance windows: %w", err)}
	}
	alerting := notify.NewAlerting(notify.Options{TimeZone: r.TimeZone, LocationTimeout: r.LocationTimeout, Monitors: monitors})
	b := r.startBatches(work, alerting, r.parentsIn(monitors), inMaintenance)
	b.add(judged...)
	sum.count(invalid)
	b.add(invalid...)
	r.probe(probing, targets, &sum, b)
	stored, err := b.finish()
	if err != nil {
		sum.Duration = time.Since(started)
		return sum, &SaveError{Slot: sum.Slot, Err: err}
	}
	sum.Stored = stored

	if r.Sender != nil {
		sum.Sent, sum.Failed = r.deliver(ctx, now, started)
	}
	sum.Deleted = r.Maintain(ctx, now)

	sum.Duration = time.Since(started)
	r.logSummary(sum)
	return sum, nil
}

// targets lists the stored monitors of the runner's shard and compiles
// them: the targets to probe, and the push:// monitors, which the round
// judges instead. A monitor that does not compile (a host that does not
// parse, or settings stored by an older or laxer writer, e.g. a gosrvmon
// database) is kept visible: it gets a result, down with the reason, and
// counts in sum.Invalid.
func (r *Runner) targets(ctx context.Context, sum *Summary) (monitors []monitor.Monitor, targets []probe.Target, invalid []store.Result, pushes []probe.Target, err error) {
	monitors, err = r.Store.Monitors(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	targets = make([]probe.Target, 0, len(monitors)) // most monitors are probed
	for _, m := range monitors {
		if !r.Shard.Selects(HashTarget(m.Host)) {
			continue
		}
		t, err := monitor.Compile(m)
		switch {
		case err != nil:
			invalid = append(invalid, store.Result{Host: m.Host, Location: r.Location, Slot: sum.Slot, Reason: store.TruncateReason(err.Error())})
		case t.Kind == probe.KindPush:
			pushes = append(pushes, t)
		default:
			targets = append(targets, t)
		}
	}
	sum.Invalid = len(invalid)
	sum.Targets = len(targets) + sum.Invalid
	sum.Push = len(pushes)
	return monitors, targets, invalid, pushes, nil
}

// maintenanceAt returns the hosts among monitors that a maintenance
// window covers at slot (their results are marked so); nil when none is.
func (r *Runner) maintenanceAt(ctx context.Context, slot time.Time, monitors []monitor.Monitor) (map[string]bool, error) {
	ws, err := r.Store.Maintenances(ctx)
	if err != nil {
		return nil, err
	}
	active := monitor.ActiveAt(ws, slot)
	if len(active) == 0 {
		return nil, nil
	}
	hosts := map[string]bool{}
	for _, m := range monitors {
		for _, w := range active {
			if w.Covers(m) {
				hosts[m.Host] = true
				break
			}
		}
	}
	return hosts, nil
}

// parentsIn maps each monitor of the runner's shard whose parent is in
// the shard too to its parent: the results the round must save in that
// order (see batches); nil when there is none.
func (r *Runner) parentsIn(monitors []monitor.Monitor) map[string]string {
	var parents map[string]string
	for _, m := range monitors {
		if m.Parent == "" || m.Parent == m.Host || !r.Shard.Selects(HashTarget(m.Host)) || !r.Shard.Selects(HashTarget(m.Parent)) {
			continue
		}
		if parents == nil {
			parents = map[string]string{}
		}
		parents[m.Host] = m.Parent
	}
	if parents == nil {
		return nil
	}
	stored := make(map[string]bool, len(monitors))
	for _, m := range monitors {
		stored[m.Host] = true
	}
	maps.DeleteFunc(parents, func(_, p string) bool { return !stored[p] })
	return parents
}

// probe checks targets and hands their results in the slot to b as they
// come, counting them in sum (cut off ones in sum.Cancelled too).
func (r *Runner) probe(ctx context.Context, targets []probe.Target, sum *Summary, b *batches) {
	var mu sync.Mutex // guards sum: the probes' goroutines call back at once
	r.Prober.RoundFunc(ctx, targets, func(_ int, pr probe.Result) {
		res := store.Result{
			Host:       pr.Target.String(),
			Location:   r.Location,
			Slot:       sum.Slot,
			RTT:        pr.RTT,
			Up:         pr.Up,
			Reason:     store.TruncateReason(pr.Reason),
			CertExpiry: pr.CertExpiry,
		}
		mu.Lock()
		sum.count1(res)
		if pr.Reason == probe.ReasonCancelled {
			sum.Cancelled++
		}
		mu.Unlock()
		b.add(res)
	})
}

// count adds up the results that are up and down.
func (s *Summary) count(results []store.Result) {
	for _, res := range results {
		s.count1(res)
	}
}

// count1 counts one result, up or down.
func (s *Summary) count1(res store.Result) {
	if res.Up {
		s.Up++
	} else {
		s.Down++
	}
}

// logSummary logs what a stored round did, one line per round.
func (r *Runner) logSummary(sum Summary) {
	r.logger().Info("round",
		"slot", sum.Slot.Format(time.RFC3339),
		"location", r.Location,
		"shard", r.Shard.String(),
		"targets", sum.Targets,
		"up", sum.Up,
		"down", sum.Down,
		"invalid", sum.Invalid,
		"push", sum.Push,
		"push_up", sum.PushUp,
		"push_down", sum.PushDown,
		"cancelled", sum.Cancelled,
		"notified", sum.Sent,
		"notify_failed", sum.Failed,
		"deleted", sum.Deleted,
		"stored_after_slot", sum.StoredAfter().Round(time.Millisecond).String(),
		"duration", sum.Duration.Round(time.Millisecond).String(),
	)
}

// maxDeliveryMargin bounds what delivery leaves unused at the end of a
// slot; the margin is a tenth of the interval below that.
const maxDeliveryMargin = 5 * time.Second

// deliver sends the due notifications in what is left of the round's
// slot, counted from the round's start (started, when it was at now): so
// a hanging webhook ends before the next slot's round begins. ctx (not
// the round's context) is the parent, so SIGTERM stops delivery at once
// and leaves the rest pending for the next process.
func (r *Runner) deliver(ctx context.Context, now, started time.Time) (sent, failed int) {
	log := r.logger()
	margin := min(r.Interval/10, maxDeliveryMargin)
	left := Slot(now, r.Interval).Add(r.Interval).Sub(now) - margin
	deadline := started.Add(left)
	if !time.Now().Before(deadline) {
		if due, err := r.Store.DueDeliveries(ctx, time.Now(), 1); err == nil && len(due) > 0 {
			log.Warn("notifications left for a later round: no time left before the next slot",
				"slot", Slot(now, r.Interval).Format(time.RFC3339))
		}
		return 0, 0
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	sent, failed, err := r.Sender.DeliverDue(ctx, r.Store)
	if err != nil {
		log.Error("notifications not delivered", "error", err)
	}
	return sent, failed
}

// maintenanceTimeout bounds each step of Maintain.
const maintenanceTimeout = 30 * time.Second

// Maintain keeps the store in shape, each step with a context of its own
// (bounded by maintenanceTimeout and ended by ctx), logging what fails:
// it deletes the results older than Retention (none when it is zero) as
// of now, then brings the store's hourly summaries up to the hours that
// have ended (store.Summariser), a bounded step per call, so that long
// charts stay cheap. It returns how many results it deleted. A round calls
// it after its deliveries; cmd/standalone calls it alone when it performs
// no checks. After SIGTERM it does nothing: the next process will.
func (r *Runner) Maintain(ctx context.Context, now time.Time) (deleted int64) {
	log := r.logger()
	if r.Retention > 0 && ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, maintenanceTimeout)
		n, err := r.Store.DeleteResultsBefore(rctx, now.UTC().Add(-r.Retention))
		cancel()
		if err != nil {
			log.Error("retention: old results not deleted", "deleted", n, "error", err)
		}
		deleted = n
	}
	if sm, ok := r.Store.(store.Summariser); ok && ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, maintenanceTimeout)
		_, err := sm.Summarise(sctx, now)
		cancel()
		if err != nil {
			log.Error("hourly summaries not brought up to date", "error", err)
		}
	}
	return deleted
}

// saveReserve is the part of a round's deadline kept for storing its
// results after the probes.
const saveReserve = 5 * time.Second

// contexts returns the round's context, which outlives ctx's cancellation
// (SIGTERM) but not its deadline, and the probes' context, which ends early
// enough before that deadline to leave time for the save.
func (r *Runner) contexts(ctx context.Context, started time.Time) (work, probing context.Context, cancel context.CancelFunc) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = probe.DefaultTimeout
	}
	deadline := started.Add(2*timeout + 30*time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	reserve := min(saveReserve, deadline.Sub(started)/4)
	work, cancelWork := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	probing, cancelProbing := context.WithDeadline(work, deadline.Add(-reserve))
	return work, probing, func() { cancelProbing(); cancelWork() }
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
