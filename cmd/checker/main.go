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
// Before each round it reconciles the config's Monitors (monitors as
// code) into the store; a checker without Monitors manages none and
// leaves the monitors of other processes alone.
//
// Flags (gosrvmon's): -config FILE, -confstr JSON, -init (create or migrate
// the schema, then exit), -check TARGET (check one target, print the result
// on one line and exit). The store must be configured (DATABASE_URL or a
// DB section). Exit status: 0 when the round was stored, 1 with one line
// when it was not or the config is bad, 2 for a target that does not parse.
package main

import (
	"context"
	"io"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/pkg/probe"
)

const name = "srvmon-checker"

func main() { app.Main(run) }

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	return app.Exit(stderr, name, command(ctx, args, env, stdout, stderr))
}

// command is the whole command; it ends with an error (see app.Exit).
func command(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	c, err := app.Setup(ctx, name, args, env, "", stdout, stderr)
	if err != nil {
		return err
	}
	c.LogWarnings()
	st, err := c.OpenStore(ctx, app.SharedStores())
	if err != nil {
		return err
	}
	defer st.Close()
	prober := probe.New(app.ProbeOptions(c.Config, c.Lambda, c.Log))
	defer prober.Close()
	runner := app.NewRound(c.Config, st, app.NewRunner(c.Config, st, prober, c.Log), c.Log)

	if c.Lambda {
		lambda.StartWithOptions(app.CheckerEventHandler(runner, c.Log), lambda.WithContext(ctx))
		return nil
	}
	if _, err := runner.Run(ctx, time.Now()); err != nil {
		return err
	}
	return nil
}
