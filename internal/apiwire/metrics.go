package apiwire

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/srvmon/srvmon/pkg/round"
)

// ProcessRegistry is a registry of the Go runtime's and the process's
// collectors: the api.Options.Metrics of a process that adds its own
// (RoundMetrics) to /metrics.
func ProcessRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

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
	rounds      *prometheus.CounterVec
	duration    prometheus.Histogram
	storedAfter prometheus.Histogram
	targets     *prometheus.GaugeVec
	deliveries  *prometheus.CounterVec
}

// NewRoundMetrics makes the rounds' metrics and registers them with reg.
func NewRoundMetrics(reg prometheus.Registerer) *RoundMetrics {
	m := &RoundMetrics{
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "srvmon_rounds_total",
			Help: "Rounds run by this process, by outcome: stored, not_stored (the store refused the results) or failed."}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "srvmon_round_duration_seconds",
			Help: "How long each round took, from its start to its results stored and notifications sent.", Buckets: roundSeconds}),
		storedAfter: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "srvmon_round_stored_after_slot_seconds",
			Help: "How long after its slot's start each stored round's last result was committed.", Buckets: roundSeconds}),
		targets: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "srvmon_round_targets",
			Help: "The targets of this process's last round, by result: up, down, invalid, cancelled, push_up, push_down."}, []string{"result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "srvmon_deliveries_total",
			Help: "Notification deliveries tried by this process's rounds, by outcome: sent or failed."}, []string{"outcome"}),
	}
	reg.MustRegister(m.rounds, m.duration, m.storedAfter, m.targets, m.deliveries)
	for _, o := range []string{"stored", "not_stored", "failed"} {
		m.rounds.WithLabelValues(o)
	}
	for _, o := range []string{"sent", "failed"} {
		m.deliveries.WithLabelValues(o)
	}
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
	m.rounds.WithLabelValues(outcome).Inc()
	m.duration.Observe(sum.Duration.Seconds())
	if after := sum.StoredAfter(); after > 0 {
		m.storedAfter.Observe(after.Seconds())
	}
	for result, n := range map[string]int{"up": sum.Up, "down": sum.Down, "invalid": sum.Invalid, "cancelled": sum.Cancelled,
		"push_up": sum.PushUp, "push_down": sum.PushDown} {
		m.targets.WithLabelValues(result).Set(float64(n))
	}
	m.deliveries.WithLabelValues("sent").Add(float64(sum.Sent))
	m.deliveries.WithLabelValues("failed").Add(float64(sum.Failed))
}
