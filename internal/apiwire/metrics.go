package apiwire

import (
	"errors"

	"github.com/srvmon/srvmon/pkg/promtext"
	"github.com/srvmon/srvmon/pkg/round"
)

// roundSeconds are the buckets of the rounds' durations: a round should
// end well within its interval (a minute by default).
var roundSeconds = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60}

// RoundMetrics counts what this process's rounds did, from each
// round.Summary, for /metrics. Only a process that runs the rounds (the
// standalone binary) has them: cmd/api cannot know what a checker Lambda
// or another host's cmd/checker did, and the stateless API keeps nothing
// between requests (the monitors' own metrics are read from the store
// instead). A nil *RoundMetrics records nothing.
type RoundMetrics struct {
	rounds      *promtext.CounterVec
	duration    *promtext.Histogram
	storedAfter *promtext.Histogram
	targets     *promtext.GaugeVec
	deliveries  *promtext.CounterVec
}

// NewRoundMetrics makes the rounds' metrics and registers them with reg,
// in the order of their names.
func NewRoundMetrics(reg *promtext.Registry) *RoundMetrics {
	m := &RoundMetrics{
		rounds: promtext.NewCounterVec("srvmon_rounds_total",
			"Rounds run by this process, by outcome: stored, not_stored (the store refused the results) or failed.",
			"outcome", "failed", "not_stored", "stored"),
		duration: promtext.NewHistogram("srvmon_round_duration_seconds",
			"How long each round took, from its start to its results stored and notifications sent.", roundSeconds),
		storedAfter: promtext.NewHistogram("srvmon_round_stored_after_slot_seconds",
			"How long after its slot's start each stored round's last result was committed.", roundSeconds),
		targets: promtext.NewGaugeVec("srvmon_round_targets",
			"The targets of this process's last round, by result: up, down, invalid, cancelled, push_up, push_down.",
			"result", "cancelled", "down", "invalid", "push_down", "push_up", "up"),
		deliveries: promtext.NewCounterVec("srvmon_deliveries_total",
			"Notification deliveries tried by this process's rounds, by outcome: sent or failed.",
			"outcome", "failed", "sent"),
	}
	reg.MustRegister(m.deliveries, m.duration, m.storedAfter, m.targets, m.rounds)
	return m
}

// Observe records a round's summary and error (round.Runner.Run's).
func (m *RoundMetrics) Observe(sum round.Summary, err error) {
	if m == nil {
		return
	}
	outcome := "stored"
	if err != nil {
		outcome = "failed"
		if se := (*round.SaveError)(nil); errors.As(err, &se) {
			outcome = "not_stored"
		}
	}
	m.rounds.Inc(outcome)
	m.duration.Observe(sum.Duration.Seconds())
	if after := sum.StoredAfter(); after > 0 {
		m.storedAfter.Observe(after.Seconds())
	}
	for result, n := range map[string]int{"up": sum.Up, "down": sum.Down, "invalid": sum.Invalid, "cancelled": sum.Cancelled,
		"push_up": sum.PushUp, "push_down": sum.PushDown} {
		m.targets.Set(result, float64(n))
	}
	m.deliveries.Add("sent", float64(sum.Sent))
	m.deliveries.Add("failed", float64(sum.Failed))
}
