// Command standalone is srvmon in one binary, for a homelab: check rounds on
// interval boundaries (robfig/cron) and the web UI and API on one port,
// stored in bbolt (./srvmon.db by default), ql, memory or PostgreSQL.
//
// It takes gosrvmon's flags and config unchanged: -config FILE, -confstr
// JSON, -init, -check TARGET; every field can also come from the
// environment (DATABASE_URL, SRVMON_…). SIGTERM lets the round in flight
// finish and be stored, then the server drains.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/pkg/api"
	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/probe"
)

const name = "srvmon"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	flags, err := app.ParseFlags(name, args, env, "srvmon.db", stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return app.Fail(stderr, name, err)
	}
	cfg, err := config.Load(flags.Source)
	if err != nil {
		return app.Fail(stderr, name, err)
	}
	log := app.NewLogger(stderr, false)
	popts := app.ProbeOptions(cfg, false, log)
	if flags.Check != "" {
		return app.CheckOne(ctx, stdout, stderr, name, flags.Check, popts)
	}

	st, err := app.OpenStore(ctx, cfg.StoreSpec())
	if err != nil {
		return app.Fail(stderr, name, err)
	}
	defer st.Close()
	if flags.Init {
		log.Info("schema ready", "store", cfg.StoreSpec().Redacted())
		return 0
	}
	ln, err := app.Listen(cfg)
	if err != nil {
		return app.Fail(stderr, name, err)
	}
	log.Info("srvmon started",
		"store", cfg.StoreSpec().Redacted(),
		"listen", "http://"+ln.Addr().String()+"/",
		"interval", cfg.Interval().String(),
		"checks", cfg.Checks.PerformChecks,
	)
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}

	prober := probe.New(popts)
	defer prober.Close()
	handler := api.New(app.APIOptions(cfg, st, prober, log))

	// The server outlives the signal until the round in flight is stored.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	serveErr := make(chan error, 1)
	go func() { serveErr <- app.Serve(serveCtx, ln, handler, cfg, log) }()

	if cfg.Checks.PerformChecks {
		rounds := make(chan struct{})
		go func() {
			app.Rounds(ctx, app.NewRunner(cfg, st, prober, log), log)
			close(rounds)
		}()
		select {
		case <-rounds:
		case err := <-serveErr:
			return app.Fail(stderr, name, err)
		}
	} else {
		select {
		case <-ctx.Done():
		case err := <-serveErr:
			return app.Fail(stderr, name, err)
		}
	}
	stopServing()
	if err := <-serveErr; err != nil {
		return app.Fail(stderr, name, err)
	}
	log.Info("srvmon stopped")
	return 0
}
