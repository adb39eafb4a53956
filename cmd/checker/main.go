// Command checker runs one srvmon check round and exits: every target (or
// one shard of them) probed, every result stored in the slot of now, due
// notifications delivered, old results deleted. Run it from cron (or a
// systemd timer) once per interval; a retried or overlapping run for the
// same slot stores nothing twice and notifies nothing twice.
//
// When AWS_LAMBDA_RUNTIME_API is set it is the checker Lambda instead: one
// round per scheduled event (EventBridge rule or Scheduler), in the slot of
// the event's time, returning an error when the results could not be
// stored so that the platform retries.
//
// Flags (gosrvmon's): -config FILE, -confstr JSON, -init (create or migrate
// the schema, then exit), -check TARGET (check one target, print the result
// on one line and exit). The store must be configured (DATABASE_URL or a
// DB section). Exit status: 0 when the round was stored, 1 with one line
// when it was not or the config is bad, 2 for a target that does not parse.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/probe"
)

const name = "srvmon-checker"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	flags, err := app.ParseFlags(name, args, env, "", stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return app.Fail(stderr, name, err)
	}
	onLambda := app.OnLambda(env)
	cfg, err := config.Load(flags.Source)
	if err != nil {
		return app.Fail(stderr, name, err)
	}
	log := app.NewLogger(stderr, onLambda)
	if onLambda {
		// aws-lambda-go logs failed invocations with the log package:
		// make those lines JSON too.
		slog.SetDefault(log)
	}
	if flags.Check != "" {
		return app.CheckOne(ctx, stdout, stderr, name, flags.Check, app.ProbeOptions(cfg, onLambda, log))
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w)
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
	prober := probe.New(app.ProbeOptions(cfg, onLambda, log))
	defer prober.Close()
	runner := app.NewRunner(cfg, st, prober, log)

	if onLambda {
		lambda.StartWithOptions(app.CheckerEventHandler(runner, log), lambda.WithContext(ctx))
		return 0
	}
	if _, err := runner.Run(ctx, time.Now()); err != nil {
		return app.Fail(stderr, name, err)
	}
	return 0
}
