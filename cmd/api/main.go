// Command api serves srvmon's web UI and HTTP API from the store, with no
// checks of its own: a plain http.Server on a VPS, or, when
// AWS_LAMBDA_RUNTIME_API is set, the same handler on AWS Lambda through
// aws-lambda-go-api-proxy (API Gateway HTTP API or Function URL payload
// 2.0; REST API payload 1.0 with SRVMON_LISTEN_LAMBDAPAYLOAD=1.0).
//
// Flags: -config FILE, -confstr JSON, -init (create or migrate the schema,
// then exit). The store must be configured (DATABASE_URL or a DB section).
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

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/pkg/api"
	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/probe"
)

const name = "srvmon-api"

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
	cfg, err := config.Load(flags.Source)
	if err != nil {
		return app.Fail(stderr, name, err)
	}
	onLambda := app.OnLambda(env)
	log := app.NewLogger(stderr, onLambda)
	if onLambda {
		// aws-lambda-go logs failed invocations with the log package:
		// make those lines JSON too.
		slog.SetDefault(log)
	}
	popts := app.ProbeOptions(cfg, onLambda, log)
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
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	prober := probe.New(popts)
	defer prober.Close()
	handler := api.New(app.APIOptions(cfg, st, prober, log))

	if onLambda {
		log.Info("srvmon api on Lambda", "store", cfg.StoreSpec().Redacted(), "payload", cfg.LambdaPayload())
		if cfg.LambdaPayload() == config.LambdaPayloadV1 {
			lambda.StartWithOptions(httpadapter.New(handler).ProxyWithContext, lambda.WithContext(ctx))
		} else {
			lambda.StartWithOptions(httpadapter.NewV2(handler).ProxyWithContext, lambda.WithContext(ctx))
		}
		return 0
	}

	ln, err := app.Listen(cfg)
	if err != nil {
		return app.Fail(stderr, name, err)
	}
	log.Info("srvmon api started", "store", cfg.StoreSpec().Redacted(), "listen", "http://"+ln.Addr().String()+"/")
	if err := app.Serve(ctx, ln, handler, cfg, log); err != nil {
		return app.Fail(stderr, name, err)
	}
	log.Info("srvmon api stopped")
	return 0
}
