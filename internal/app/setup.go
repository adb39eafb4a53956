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
	stderr io.Writer
}

// Setup does what every binary does first: it parses gosrvmon's flags,
// loads the config (defaultDB as in ParseFlags), makes the logger (JSON,
// and the process's default, on Lambda, where aws-lambda-go logs failed
// invocations with the log package), and answers -h and -check itself.
// When ok is false the command is over and code is its exit code.
func Setup(ctx context.Context, name string, args, env []string, defaultDB string, stdout, stderr io.Writer) (c *Command, code int, ok bool) {
	flags, err := ParseFlags(name, args, env, defaultDB, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil, 0, false
	}
	if err != nil {
		return nil, Fail(stderr, name, err), false
	}
	cfg, err := config.Load(flags.Source)
	if err != nil {
		return nil, Fail(stderr, name, err), false
	}
	c = &Command{Name: name, Flags: flags, Config: cfg, Lambda: OnLambda(env), stderr: stderr}
	c.Log = NewLogger(stderr, c.Lambda)
	if c.Lambda {
		slog.SetDefault(c.Log)
	}
	if flags.Check != "" {
		return nil, CheckOne(ctx, stdout, stderr, name, flags.Check, ProbeOptions(cfg, c.Lambda, c.Log)), false
	}
	return c, 0, true
}

// LogWarnings logs what the config accepted but a person should look at.
func (c *Command) LogWarnings() {
	for _, w := range c.Config.Warnings() {
		c.Log.Warn(w)
	}
}

// OpenStore opens the configured store, one of stores, migrating its
// schema, and does -init: when ok is false the command is over (the schema
// is ready, or the store could not be opened) and code is its exit code.
// The caller closes the store.
func (c *Command) OpenStore(ctx context.Context, stores Stores) (st store.Store, code int, ok bool) {
	st, err := stores.Open(ctx, c.Config.StoreSpec())
	if err != nil {
		return nil, Fail(c.stderr, c.Name, err), false
	}
	if c.Flags.Init {
		st.Close()
		c.Log.Info("schema ready", "store", c.Config.StoreSpec().Redacted())
		return nil, 0, false
	}
	return st, 0, true
}
