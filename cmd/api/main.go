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
	"io"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/srvmon/srvmon/internal/apiwire"
	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/pkg/api"
	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/probe"
)

const name = "srvmon-api"

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
	cfg, log := c.Config, c.Log
	prober := probe.New(app.ProbeOptions(cfg, c.Lambda, log))
	defer prober.Close()
	handler := api.New(apiwire.APIOptions(cfg, c.Lambda, st, prober, log))

	if c.Lambda {
		log.Info("srvmon api on Lambda", "store", cfg.StoreSpec().Redacted(), "payload", cfg.LambdaPayload())
		if cfg.LambdaPayload() == config.LambdaPayloadV1 {
			lambda.StartWithOptions(httpadapter.New(handler).ProxyWithContext, lambda.WithContext(ctx))
		} else {
			lambda.StartWithOptions(httpadapter.NewV2(handler).ProxyWithContext, lambda.WithContext(ctx))
		}
		return nil
	}

	ln, err := app.Listen(cfg)
	if err != nil {
		return err
	}
	log.Info("srvmon api started", "store", cfg.StoreSpec().Redacted(), "listen", "http://"+ln.Addr().String()+"/")
	if err := app.Serve(ctx, ln, handler, cfg, log); err != nil {
		return err
	}
	log.Info("srvmon api stopped")
	return nil
}
