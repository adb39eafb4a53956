package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/round"
)

// MonitorSync reconciles the config's Monitors (monitors as code) into
// the store: the standalone binary once at start, and every checker
// before each round, so that a checker whose file changed applies it on
// its next round. cmd/api does not: it serves what the checkers keep.
type MonitorSync struct {
	Store monitor.ReconcileStore
	// Declared is the config's Monitors. Nil: this process does not
	// manage monitors, and Sync does nothing (a Lambda checker without
	// Monitors leaves a VPS's file monitors alone).
	Declared config.MonitorList
	Log      *slog.Logger
}

// NewMonitorSync is the MonitorSync of cfg's Monitors.
func NewMonitorSync(cfg config.Config, st monitor.ReconcileStore, log *slog.Logger) *MonitorSync {
	return &MonitorSync{Store: st, Declared: cfg.Monitors, Log: log}
}

// Sync reconciles (monitor.Reconcile) and logs one line per change,
// nothing when nothing changed. Its error is the reconciliation's; the
// changes made before it are logged.
func (s *MonitorSync) Sync(ctx context.Context) error {
	if s == nil || s.Declared == nil {
		return nil
	}
	ch, err := monitor.Reconcile(ctx, s.Store, s.Declared)
	for _, c := range []struct {
		msg   string
		hosts []string
	}{
		{"monitor created from the config", ch.Created},
		{"monitor updated from the config", ch.Updated},
		{"monitor deleted: no longer in the config", ch.Deleted},
	} {
		for _, h := range c.hosts {
			s.Log.Info(c.msg, "host", probe.MaskSecrets(h))
		}
	}
	return err
}

// Round is a checker's round: the config's monitors reconciled, then
// the round run.
type Round struct {
	Runner   *round.Runner
	Monitors *MonitorSync // nil: no reconciliation
	Log      *slog.Logger
	// Metrics records each round's summary (Rounds); nil records none.
	Metrics RoundObserver
}

// RoundObserver is told each round's outcome (apiwire.RoundMetrics, for
// /metrics).
type RoundObserver interface {
	Observe(sum round.Summary, err error)
}

// NewRound is the round of cfg: r (NewRunner's) after the MonitorSync
// of cfg's Monitors into st.
func NewRound(cfg config.Config, st monitor.ReconcileStore, r *round.Runner, log *slog.Logger) *Round {
	return &Round{Runner: r, Monitors: NewMonitorSync(cfg, st, log), Log: log}
}

// Run reconciles the monitors, then runs the round in the slot of at
// (round.Runner.Run). A reconciliation that fails is logged ("monitors
// not reconciled") and the round runs with the monitors stored: checks
// go on while the store is unwell, and the next round tries again.
func (r *Round) Run(ctx context.Context, at time.Time) (round.Summary, error) {
	if err := r.Monitors.Sync(ctx); err != nil {
		r.Log.Error("monitors not reconciled", "error", err)
	}
	return r.Runner.Run(ctx, at)
}
