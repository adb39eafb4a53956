// Command standalone is srvmon in one binary, for a homelab: check rounds on
// interval boundaries (robfig/cron) and the web UI and API on one port,
// stored in bbolt (./srvmon.db by default), ql, memory or PostgreSQL.
//
// It takes gosrvmon's flags and config unchanged: -config FILE, -confstr
// JSON, -init, -check TARGET; every field can also come from the
// environment (DATABASE_URL, SRVMON_…). SIGTERM lets the round in flight
// finish and be stored, then the server drains. With Checks.PerformChecks
// false it only serves, and keeps the store in shape (Checks.Retention,
// hourly summaries) on the rounds' schedule.
//
// The config's Monitors (monitors as code; -config may be YAML, named
// .yaml or .yml) are reconciled into the store at start, before it serves
// or checks, and before every round; a store that fails then stops the
// start with one line.
package main

import (
	"context"
	"io"

	"github.com/srvmon/srvmon/internal/apiwire"
	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/internal/app/filestores"
	"github.com/srvmon/srvmon/pkg/api"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/promtext"
)

const name = "srvmon"

func main() { app.Main(run) }

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	return app.Exit(stderr, name, command(ctx, args, env, stdout, stderr))
}

// command is the whole command; it ends with an error (see app.Exit).
func command(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	c, err := app.Setup(ctx, name, args, env, "srvmon.db", stdout, stderr)
	if err != nil {
		return err
	}
	st, err := c.OpenStore(ctx, filestores.With(app.SharedStores()))
	if err != nil {
		return err
	}
	defer st.Close()
	cfg, log := c.Config, c.Log
	// The config's monitors are in the store before anything serves or
	// checks them; a store that fails here stops the start.
	if err := app.NewMonitorSync(cfg, st, log).Sync(ctx); err != nil {
		return err
	}
	ln, err := app.Listen(cfg)
	if err != nil {
		return err
	}
	log.Info("srvmon started",
		"store", cfg.StoreSpec().Redacted(),
		"listen", "http://"+ln.Addr().String()+"/",
		"interval", cfg.Interval().String(),
		"checks", cfg.Checks.PerformChecks,
	)
	c.LogWarnings()

	prober := probe.New(app.ProbeOptions(cfg, false, log))
	defer prober.Close()
	// /metrics shows this process's rounds too: they run here.
	metrics := promtext.NewProcessRegistry()
	apiOpts := apiwire.APIOptions(cfg, false, st, prober, log)
	apiOpts.Metrics = metrics
	handler := api.New(apiOpts)

	// The server outlives the signal until the round in flight is stored.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	serveErr := make(chan error, 1)
	go func() { serveErr <- app.Serve(serveCtx, ln, handler, cfg, log) }()

	// Rounds, or only their maintenance when it performs no checks. They stop
	// with ctx (SIGTERM), or when serving fails; either way the round in
	// flight is stored before the store closes.
	jobsCtx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	jobs := make(chan struct{})
	go func() {
		defer close(jobs)
		runner := app.NewRunner(cfg, st, prober, log)
		if cfg.Checks.PerformChecks {
			r := app.NewRound(cfg, st, runner, log)
			r.Metrics = apiwire.NewRoundMetrics(metrics)
			app.Rounds(jobsCtx, r, log)
		} else {
			app.Maintenance(jobsCtx, runner, log)
		}
	}()
	select {
	case <-jobs:
	case err := <-serveErr:
		stopJobs()
		<-jobs
		return err
	}
	stopServing()
	if err := <-serveErr; err != nil {
		return err
	}
	log.Info("srvmon stopped")
	return nil
}
