package app

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"

	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/store"
)

// Command is what every binary sets up before its own work.
type Command struct {
	Name   string
	Flags  Flags
	Config config.Config
	Log    *slog.Logger
	Lambda bool // running under the AWS Lambda runtime
}

// Setup does what every binary does first: it parses gosrvmon's flags,
// loads the config (defaultDB as in ParseFlags), makes the logger (JSON,
// and the process's default, on Lambda, where aws-lambda-go logs failed
// invocations with the log package), and answers -h and -check itself.
// Those end with an *ExitError; a bad flag or config with its error (see
// Exit).
func Setup(ctx context.Context, name string, args, env []string, defaultDB string, stdout, stderr io.Writer) (*Command, error) {
	flags, err := ParseFlags(name, args, env, defaultDB, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil, &ExitError{Code: 0}
	}
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(flags.Source)
	if err != nil {
		return nil, err
	}
	c := &Command{Name: name, Flags: flags, Config: cfg, Lambda: OnLambda(env)}
	c.Log = NewLogger(stderr, c.Lambda)
	if c.Lambda {
		slog.SetDefault(c.Log)
	}
	if flags.Check != "" {
		return nil, &ExitError{Code: CheckOne(ctx, stdout, stderr, name, flags.Check, ProbeOptions(cfg, c.Lambda, c.Log))}
	}
	return c, nil
}

// LogWarnings logs what the config accepted but a person should look at.
func (c *Command) LogWarnings() {
	for _, w := range c.Config.Warnings() {
		c.Log.Warn(w)
	}
}

// OpenStore opens the configured store, one of stores, migrating its
// schema, and does -init: with -init it closes the store once the schema
// is ready and returns an *ExitError with code 0. The caller closes the
// store it returns.
func (c *Command) OpenStore(ctx context.Context, stores Stores) (store.Store, error) {
	st, err := stores.Open(ctx, c.Config.StoreSpec())
	if err != nil {
		return nil, err
	}
	if c.Flags.Init {
		st.Close()
		c.Log.Info("schema ready", "store", c.Config.StoreSpec().Redacted())
		return nil, &ExitError{Code: 0}
	}
	return st, nil
}
