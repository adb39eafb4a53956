package round

import (
	"context"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// ReasonNoPush is the reason of a push:// monitor's slot judged down: no
// push arrived within its grace.
const ReasonNoPush = "no push received"

// JudgePush is the round's judgement of a push:// monitor (host) from its
// facts (f): a push monitor is never probed; the monitored job pushes to
// the API, which stores each push as a result at location "" in the slot
// of its arrival and records its time and verdict (store.Facts.LastPush,
// LastPushUp, LastPushReason). The round of slot S judges the slot before
// it, P = S − interval, whose pushes have all arrived by then, and returns
// the result for P at location "" (grace is one interval when zero):
//
//   - when the last push arrived within grace before S (S − LastPush ≤
//     grace), the last push's verdict: up, or down with its reason when
//     it said down (status=down). So a push keeps its verdict for grace
//     (a nightly job sets 25h), and a down push followed by silence stays
//     down rather than reading as a heartbeat. A push after S counts too
//     (a round retried late cannot tell an earlier push from it any
//     more). A down verdict without a reason is one recorded before
//     verdicts were (the API always gives one): it reads as up, as it
//     did then;
//   - when it arrived longer ago, down with reason ReasonNoPush;
//   - when there never was a push, down with ReasonNoPush once grace has
//     passed since the monitor was added (S − Added > grace), and only
//     for a slot P not before the one Added fell in: a monitor that was
//     never wired up alerts, while a new one has its grace to get its
//     first push. A monitor whose Added is zero (added before srvmon
//     recorded it: an upgraded store, a gosrvmon database) is not judged
//     (ok is false) until its first push, since it cannot tell a
//     monitor made a second ago from one never wired up.
//
// Since saving a result is idempotent on (host, location, slot), a slot
// that got a push keeps the push's own result (its first push's); the
// judgement fills the slots without one.
func JudgePush(host string, slot time.Time, interval, grace time.Duration, f store.Facts) (r store.Result, ok bool) {
	if grace <= 0 {
		grace = interval
	}
	r = store.Result{Host: host, Slot: slot.Add(-interval).UTC()}
	switch {
	case f.LastPush.IsZero():
		if f.Added.IsZero() || r.Slot.Before(Slot(f.Added, interval)) || slot.Sub(f.Added) <= grace {
			return store.Result{}, false
		}
		r.Reason = ReasonNoPush
	case slot.Sub(f.LastPush) > grace:
		r.Reason = ReasonNoPush
	case !f.LastPushUp && f.LastPushReason != "":
		r.Reason = f.LastPushReason
	default:
		r.Up = true
	}
	return r, true
}

// judgePushes judges each push monitor of pushes for the slot before the
// round's (JudgePush), from the facts the store recorded (push times and
// verdicts, when each was added), counting the judgements in sum. It
// reads the store only when there are any.
func (r *Runner) judgePushes(ctx context.Context, pushes []probe.Target, sum *Summary) ([]store.Result, error) {
	if len(pushes) == 0 {
		return nil, nil
	}
	facts, err := r.Store.Facts(ctx)
	if err != nil {
		return nil, err
	}
	byHost := make(map[string]*store.Facts, len(facts))
	for i := range facts {
		byHost[facts[i].Host] = &facts[i]
	}
	results := make([]store.Result, 0, len(pushes))
	for _, t := range pushes {
		var grace time.Duration
		if t.Settings != nil {
			grace = t.Settings.Grace
		}
		host := t.String()
		var f store.Facts
		if p := byHost[host]; p != nil {
			f = *p
		}
		res, ok := JudgePush(host, sum.Slot, r.Interval, grace, f)
		if !ok {
			continue
		}
		if res.Up {
			sum.PushUp++
		} else {
			sum.PushDown++
		}
		if !f.LastPush.Before(res.Slot) && f.LastPush.Before(sum.Slot) && res.Reason != ReasonNoPush {
			// The last push arrived in the slot judged, and the
			// judgement is its verdict: the API stored a result there,
			// which storing the judgement would not change. Heartbeats
			// that push every interval thus cost the round no write.
			continue
		}
		results = append(results, res)
	}
	return results, nil
}
