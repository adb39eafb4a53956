package round

import (
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// ReasonNoPush is the reason of a push:// monitor's slot judged down: no
// push arrived within its grace.
const ReasonNoPush = "no push received"

// JudgePush is the round's judgement of a push:// monitor (host): a push
// monitor is never probed; the monitored job pushes to the API, which
// stores each push as a result at location "" in the slot of its arrival
// and records its time (store.Facts.LastPush). The round of slot S judges
// the slot before it, P = S − interval, whose pushes have all arrived by
// then, and returns the result for P at location "":
//
//   - up when the last push arrived within grace before S: S − lastPush ≤
//     grace (grace is one interval when zero). So a push keeps the monitor
//     up for grace: a nightly job sets 25h. A push after S counts too (a
//     round retried late cannot tell an earlier push from it any more);
//   - otherwise down, with reason ReasonNoPush.
//
// Since saving a result is idempotent on (host, location, slot), a slot
// that got a push keeps the push's own result (up, or down as the push
// said with status=down); the judgement fills the slots without one.
//
// A monitor that never got a push (lastPush zero) is not judged (ok is
// false): it has no result until its first push, and is never down before
// it. The store records no creation time, so the round cannot tell a
// monitor created a second ago from one that was never wired up; judging
// neither keeps a brand-new monitor from going down before its job had a
// chance to push.
func JudgePush(host string, slot time.Time, interval, grace time.Duration, lastPush time.Time) (r store.Result, ok bool) {
	if lastPush.IsZero() {
		return store.Result{}, false
	}
	if grace <= 0 {
		grace = interval
	}
	r = store.Result{Host: host, Slot: slot.Add(-interval).UTC()}
	if slot.Sub(lastPush) <= grace {
		r.Up = true
	} else {
		r.Reason = ReasonNoPush
	}
	return r, true
}
