// Package app builds srvmon's parts from its configuration, so that the
// three binaries (cmd/checker, cmd/api, cmd/standalone) are wired the same
// way and hold no logic of their own that tests cannot reach.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/round"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/connstr"
)

// LambdaEnv is set by the AWS Lambda runtime (and its emulator).
const LambdaEnv = "AWS_LAMBDA_RUNTIME_API"

// OnLambda reports whether the process runs under the AWS Lambda runtime:
// AWS_LAMBDA_RUNTIME_API is set, not empty, in env (os.Environ(); the last
// setting wins, as in os/exec).
func OnLambda(env []string) bool {
	on := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, LambdaEnv+"="); ok {
			on = v != ""
		}
	}
	return on
}

// NewLogger logs JSON on Lambda (CloudWatch reads it) and text elsewhere.
func NewLogger(w io.Writer, lambda bool) *slog.Logger {
	if lambda {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// An Opener opens the store that a spec names, migrating its schema
// (creating it when new).
type Opener func(ctx context.Context, spec config.StoreSpec) (store.Store, error)

// Stores are the kinds of store a binary opens, each with its opener. A
// binary links only the backends it lists: cmd/api and cmd/checker, which
// run as separate processes on one database, only PostgreSQL and memory
// (SharedStores: bolt and ql lock their file to one process); cmd/standalone
// adds the embedded files (package filestores).
type Stores map[string]Opener

// SharedStores are PostgreSQL and, for tests and gosrvmon's Database "",
// memory.
func SharedStores() Stores {
	return Stores{config.StoreMemory: openMemory, config.StorePostgres: openPostgres}
}

// Open opens the store that spec names, if the binary has its kind.
func (s Stores) Open(ctx context.Context, spec config.StoreSpec) (store.Store, error) {
	open := s[spec.Kind]
	if open == nil {
		return nil, fmt.Errorf("store type %q is not available here: the API and the checker share a PostgreSQL database "+
			"(a bolt or ql file serves one process: use srvmon-standalone for those)", spec.Kind)
	}
	return open(ctx, spec)
}

func openMemory(context.Context, config.StoreSpec) (store.Store, error) { return memory.New(), nil }

func openPostgres(ctx context.Context, spec config.StoreSpec) (store.Store, error) {
	s, err := postgres.Open(ctx, postgres.Config{
		URL: spec.URL, Host: spec.Host, Port: spec.Port,
		User: spec.User, Password: spec.Password, Database: spec.Database,
	})
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL store: %w", err)
	}
	return s, nil
}

// LambdaICMPUnavailable is the reason every ping target is down with on
// AWS Lambda, which cannot send ICMP (probe.Options.ICMPUnavailable).
const LambdaICMPUnavailable = "ICMP is not allowed on AWS Lambda: check ping targets from a VPS checker or the standalone binary"

// ProbeOptions are the prober's options from cfg. On Lambda, where ICMP
// cannot be sent, every ping target is recorded down with a reason that
// says so.
func ProbeOptions(cfg config.Config, lambda bool, log *slog.Logger) probe.Options {
	o := probe.Options{
		Timeout:         cfg.Timeout(),
		PingCount:       int(cfg.Checks.PingRetryCount),
		HTTPMethod:      cfg.Checks.HTTPMethod,
		Concurrency:     cfg.Checks.Concurrency,
		ICMPConcurrency: cfg.Checks.ICMPConcurrency,
		Logger:          log,
	}
	if lambda {
		o.ICMPUnavailable = LambdaICMPUnavailable
	}
	return o
}

// NewRunner makes the round runner for cfg.
func NewRunner(cfg config.Config, st store.Store, p round.Prober, log *slog.Logger) *round.Runner {
	return &round.Runner{
		Store:           st,
		Prober:          p,
		Interval:        cfg.Interval(),
		Timeout:         cfg.Timeout(),
		Location:        cfg.Checks.Location,
		Shard:           round.Shard{Index: cfg.Checks.Shard.Index, Count: cfg.Checks.Shard.Count},
		Retention:       cfg.Checks.Retention.Duration(),
		TimeZone:        cfg.Location(),
		LocationTimeout: cfg.Notify.LocationTimeout.Duration(),
		Sender:          NewSender(cfg, log),
		Logger:          log,
	}
}

// NewSender makes the notification sender for cfg.
func NewSender(cfg config.Config, log *slog.Logger) *notify.Sender {
	return &notify.Sender{
		Timeout: cfg.Notify.Timeout.Duration(),
		MaxAge:  cfg.Notify.MaxAge.Duration(),
		Backoff: notify.ExponentialBackoff(cfg.Notify.RetryDelay.Duration(), time.Hour),
		Logger:  log,
	}
}

// Listen opens the API's listening socket, so that a busy port fails at
// start with one line.
func Listen(cfg config.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.ListenAddr(), err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx ends, then stops listening and lets the
// requests in flight finish, restores included, within the shutdown
// timeout (Listen.ShutdownTimeout). It logs what it waits for and the
// outcome. Requests still running then are cut off (a restore cut off
// stores nothing), and Serve returns once their handlers have returned,
// so that the caller may close the store.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, cfg config.Config, log *slog.Logger) error {
	var fl inFlight
	srv := &http.Server{
		Handler:           fl.track(h),
		ReadTimeout:       cfg.Listen.ReadTimeout.Duration(),
		ReadHeaderTimeout: cfg.Listen.ReadTimeout.Duration(),
		WriteTimeout:      cfg.Listen.WriteTimeout.Duration(),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if err := shutdown(ctx, srv, &fl, cfg.Listen.ShutdownTimeout.Duration(), log); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Fail writes one line for a command that cannot go on and returns its
// exit code, 1: err's message on one line (oneLine), with every
// PostgreSQL password in it masked (connstr.Redact).
func Fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "%s: %s\n", cmd, connstr.Redact(oneLine(err.Error())))
	return 1
}

// oneLine joins the lines of a message into one, without the blank ones
// and without repeats: pgx puts each attempt of a failed connection on a
// line of its own, often the same one twice (with TLS, then without). A
// line that ends in ":" is followed by a space, any other by "; ".
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var lines []string
	for l := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	var b strings.Builder
	for i, l := range lines {
		switch {
		case i == 0:
		case strings.HasSuffix(lines[i-1], ":"):
			b.WriteString(" ")
		default:
			b.WriteString("; ")
		}
		b.WriteString(l)
	}
	return b.String()
}
