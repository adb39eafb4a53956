package app

import (
	"context"
	"errors"
	"fmt"
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
// round in flight to finish and be stored. Each round reconciles the
// config's monitors first (Round.Run). A round still running when the
// next tick comes makes that tick skip, with a warning (its slot is left
// to the retry of a cron or Lambda deployment; here the next slot comes
// soon enough). Run bounds its deliveries to its slot, so a hanging
// webhook does not make ticks skip. Each round's summary goes to
// r.Metrics.
func Rounds(ctx context.Context, r *Round, log *slog.Logger) {
	Every(ctx, r.Runner.Interval, "round", func() {
		// ctx is only for what Run may abandon; the round in flight
		// outlives SIGTERM (see round.Runner.Run).
		sum, err := r.Run(ctx, time.Now())
		if r.Metrics != nil {
			r.Metrics.Observe(sum, err)
		}
		if err != nil {
			LogRoundFailure(log, sum, err)
		}
	}, log)
}

// Maintenance runs r.Maintain (retention and hourly summaries) on interval
// boundaries until ctx ends, for a process that performs no checks, whose
// rounds would do it.
func Maintenance(ctx context.Context, r *round.Runner, log *slog.Logger) {
	Every(ctx, r.Interval, "maintenance", func() {
		if n := r.Maintain(ctx, time.Now()); n > 0 {
			log.Info("retention", "deleted", n)
		}
	}, log)
}

// Every runs job on interval boundaries until ctx ends, then waits for the
// job in flight. A job still running at the next tick makes that tick
// skip, with a warning that names what (e.g. "round") and the slot.
func Every(ctx context.Context, interval time.Duration, what string, job func(), log *slog.Logger) {
	logger := cronLogger{log: log, what: what, interval: interval}
	c := cron.New(
		cron.WithLocation(time.UTC),
		cron.WithLogger(logger),
		cron.WithChain(cron.SkipIfStillRunning(logger)),
	)
	c.Schedule(IntervalSchedule(interval), cron.FuncJob(job))
	c.Start()
	<-ctx.Done()
	<-c.Stop().Done()
}

// LogRoundFailure logs what a round that returned err did: "round not
// stored" for a *round.SaveError. round.Runner.Run leaves this to its
// caller, so that cmd/checker can say it in its one line instead.
func LogRoundFailure(log *slog.Logger, sum round.Summary, err error) {
	if se := (*round.SaveError)(nil); errors.As(err, &se) {
		log.Error("round not stored", "slot", sum.Slot.Format(time.RFC3339), "targets", sum.Targets, "error", err)
		return
	}
	log.Error("round failed", "slot", sum.Slot.Format(time.RFC3339), "error", err)
}

// cronLogger is robfig/cron's logger on slog: a skipped tick is a
// warning, cron's other messages are debug lines and its errors errors.
type cronLogger struct {
	log      *slog.Logger
	what     string
	interval time.Duration
}

// cronSkip is what cron.SkipIfStillRunning logs for a skipped tick.
const cronSkip = "skip"

func (l cronLogger) Info(msg string, keysAndValues ...any) {
	if msg == cronSkip {
		l.log.Warn(fmt.Sprintf("%s skipped: the previous %s still runs", l.what, l.what),
			"slot", round.Slot(time.Now(), l.interval).Format(time.RFC3339))
		return
	}
	l.log.Debug("cron: "+msg, keysAndValues...)
}

func (l cronLogger) Error(err error, msg string, keysAndValues ...any) {
	l.log.Error("cron: "+msg, append(keysAndValues, "error", err)...)
}
