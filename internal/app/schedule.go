package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/srvmon/srvmon/pkg/round"
)

// IntervalSchedule is a robfig/cron schedule that fires on interval
// boundaries (every minute at :00 for a 60 s interval), so that a round
// starts at the beginning of its slot, as a crontab or an EventBridge
// schedule starts cmd/checker.
type IntervalSchedule time.Duration

// Next is the first interval boundary after t.
func (s IntervalSchedule) Next(t time.Time) time.Time {
	d := time.Duration(s)
	return t.Truncate(d).Add(d)
}

// Rounds ticks r on interval boundaries until ctx ends, then waits for the
// round in flight to finish and be stored. A round still running when the
// next tick comes makes that tick skip (its slot is left to the retry of a
// cron or Lambda deployment; here the next slot comes soon enough).
func Rounds(ctx context.Context, r *round.Runner, log *slog.Logger) {
	c := cron.New(
		cron.WithLocation(time.UTC),
		cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)),
	)
	c.Schedule(IntervalSchedule(r.Interval), cron.FuncJob(func() {
		// ctx is only for what Run may abandon; the round in flight
		// outlives SIGTERM (see round.Runner.Run).
		if _, err := r.Run(ctx, time.Now()); err != nil {
			log.Error("round failed", "error", err)
		}
	}))
	c.Start()
	<-ctx.Done()
	<-c.Stop().Done()
}
