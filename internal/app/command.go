package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/round"
)

// Flags are gosrvmon's command-line flags, shared by every binary.
type Flags struct {
	Source config.Source
	// Init creates or migrates the store's schema and exits.
	Init bool
	// Check checks one target, prints the result and exits.
	Check string
}

// ParseFlags parses args (without the program name) into Flags; env is the
// environment (os.Environ()), defaultDB the bolt file used when nothing
// names a store ("" to require one). A bad flag is an error of one line;
// -h prints the usage to stderr and returns flag.ErrHelp.
func ParseFlags(name string, args, env []string, defaultDB string, stderr io.Writer) (Flags, error) {
	f := Flags{Source: config.Source{Env: env, DefaultDatabase: defaultDB}}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Source.AddFlags(fs)
	fs.BoolVar(&f.Init, "init", false, "create or migrate the store's schema, then exit")
	fs.StringVar(&f.Check, "check", "", "check one `target` (http(s)://URL, host:port, [v6]:port, host or IP), print the result and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "Usage of %s:\n", name)
			fs.PrintDefaults()
			fmt.Fprintf(stderr, "\nEvery config field can also be set in the environment, e.g. DATABASE_URL or SRVMON_CHECKS_INTERVAL.\n")
			return f, err
		}
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// A single check stores nothing: it needs no configured store.
	f.Source.StoreUnused = f.Check != ""
	return f, nil
}

// CheckOne checks target once and writes one line to w: the target, up or
// down, the rtt and, when down, the reason. It returns the exit code: 0
// when the check ran (up or down), 2 with one line on stderr when the
// target does not parse.
func CheckOne(ctx context.Context, w, stderr io.Writer, name, target string, opts probe.Options) int {
	t, err := probe.Parse(target)
	if err != nil {
		fmt.Fprintf(stderr, "%s: target %q: %v\n", name, target, err)
		return 2
	}
	p := probe.New(opts)
	defer p.Close()
	r := p.Check(ctx, t)
	if r.Up {
		fmt.Fprintf(w, "%s up rtt=%v\n", r.Target, r.RTT)
	} else {
		fmt.Fprintf(w, "%s down rtt=%v reason=%q\n", r.Target, r.RTT, r.Reason)
	}
	return 0
}

// ScheduledEvent is what the checker Lambda is invoked with: an
// EventBridge rule's scheduled event ({"time": "…", "detail-type":
// "Scheduled Event", …}) or an EventBridge Scheduler target whose input is
// {"time": "<aws.scheduler.scheduled-time>"}, as template.yaml sets it.
type ScheduledEvent struct {
	Time string `json:"time"`
}

// EventTime is the time a scheduled event was due, so that a retried
// invocation runs the same slot. An event without a time (a manual test
// invocation) runs the slot of now.
func EventTime(raw json.RawMessage, now time.Time) (time.Time, error) {
	var ev ScheduledEvent
	if len(strings.TrimSpace(string(raw))) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &ev); err != nil {
			return time.Time{}, fmt.Errorf("scheduled event: %w", err)
		}
	}
	if ev.Time == "" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339, ev.Time)
	if err != nil {
		return time.Time{}, fmt.Errorf("scheduled event: time %q: %w", ev.Time, err)
	}
	return t, nil
}

// CheckerEventHandler is the checker's Lambda handler: one round per
// scheduled event (the config's monitors reconciled first, see
// Round.Run), in the slot of the event's time. It returns an error
// when the results could not be stored, so that the platform retries, and
// logs it ("round not stored").
func CheckerEventHandler(r *Round, log *slog.Logger) func(context.Context, json.RawMessage) (round.Summary, error) {
	return func(ctx context.Context, raw json.RawMessage) (round.Summary, error) {
		at, err := EventTime(raw, time.Now())
		if err != nil {
			log.Error("bad scheduled event", "error", err)
			return round.Summary{}, err
		}
		sum, err := r.Run(ctx, at)
		if err != nil {
			LogRoundFailure(log, sum, err)
		}
		return sum, err
	}
}
