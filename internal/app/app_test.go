package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

func TestOnLambda(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want bool
	}{
		{nil, false},
		{[]string{"PATH=/bin"}, false},
		{[]string{LambdaEnv + "=127.0.0.1:9001"}, true},
		{[]string{LambdaEnv + "="}, false},
		{[]string{LambdaEnv + "=127.0.0.1:9001", LambdaEnv + "="}, false},
		{[]string{LambdaEnv + "_X=1"}, false},
	} {
		if got := OnLambda(c.env); got != c.want {
			t.Errorf("OnLambda(%q) = %v, want %v", c.env, got, c.want)
		}
	}
}

func TestEventTime(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 30, 0, time.UTC)
	for _, c := range []struct {
		name, event string
		want        time.Time
		err         bool
	}{
		{"EventBridge rule", `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","time":"2026-11-25T09:59:00Z","detail":{}}`, time.Date(2026, 11, 25, 9, 59, 0, 0, time.UTC), false},
		{"Scheduler input", `{"time":"2026-11-25T09:58:00Z"}`, time.Date(2026, 11, 25, 9, 58, 0, 0, time.UTC), false},
		{"manual test event", `{}`, now, false},
		{"empty", ``, now, false},
		{"null", `null`, now, false},
		{"bad time", `{"time":"yesterday"}`, time.Time{}, true},
		{"not an object", `[1]`, time.Time{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := EventTime(json.RawMessage(c.event), now)
			if (err != nil) != c.err || !got.Equal(c.want) {
				t.Errorf("EventTime = %v, %v; want %v, error %v", got, err, c.want, c.err)
			}
		})
	}
}

func TestIntervalScheduleFiresOnBoundaries(t *testing.T) {
	s := IntervalSchedule(time.Minute)
	for _, c := range []struct{ at, want string }{
		{"10:00:00", "10:01:00"},
		{"10:00:59.999", "10:01:00"},
		{"10:59:30", "11:00:00"},
	} {
		at, _ := time.Parse("15:04:05.999", c.at)
		want, _ := time.Parse("15:04:05", c.want)
		if got := s.Next(at); !got.Equal(want) {
			t.Errorf("Next(%s) = %s, want %s", c.at, got.Format("15:04:05.999"), c.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	f, err := ParseFlags("x", []string{"-confstr", `{"DB":{"Type":"memory"}}`, "-init"}, nil, "", io.Discard)
	if err != nil || !f.Init || f.Source.JSON == "" || f.Source.StoreUnused {
		t.Errorf("ParseFlags = %+v, %v", f, err)
	}
	f, err = ParseFlags("x", []string{"-check", "127.0.0.1"}, nil, "", io.Discard)
	if err != nil || f.Check != "127.0.0.1" || !f.Source.StoreUnused {
		t.Errorf("-check: %+v, %v", f, err)
	}
	if _, err := ParseFlags("x", []string{"extra"}, nil, "", io.Discard); err == nil {
		t.Error("an extra argument is accepted")
	}
	var usage strings.Builder
	if _, err := ParseFlags("x", []string{"-h"}, nil, "", &usage); !errors.Is(err, flag.ErrHelp) || !strings.Contains(usage.String(), "-confstr") {
		t.Errorf("-h: %v, usage %q", err, usage.String())
	}
}

// Fail writes one line, whatever the error's lines, with PostgreSQL
// passwords masked.
func TestFail(t *testing.T) {
	for _, tc := range []struct {
		err, want string
	}{
		{"bad", "cmd: bad\n"},
		{"failed to connect to `user=u database=db`:\n\t127.0.0.1:1 (127.0.0.1): dial error: refused\n\t127.0.0.1:1 (127.0.0.1): dial error: refused",
			"cmd: failed to connect to `user=u database=db`: 127.0.0.1:1 (127.0.0.1): dial error: refused\n"},
		{"failed to connect to `user=u database=db`:\n\t127.0.0.1:5432 (127.0.0.1): tls error: server refused TLS connection\n\t127.0.0.1:5432 (127.0.0.1): server error: FATAL: database \"x\" does not exist (SQLSTATE 3D000)",
			"cmd: failed to connect to `user=u database=db`: 127.0.0.1:5432 (127.0.0.1): tls error: server refused TLS connection; 127.0.0.1:5432 (127.0.0.1): server error: FATAL: database \"x\" does not exist (SQLSTATE 3D000)\n"},
		{"a\r\n\r\nb\n", "cmd: a; b\n"},
		{"\n", "cmd: \n"},
		{"open postgres://u:hunter2@127.0.0.1/db?sslpassword=hunter3: no", "cmd: open postgres://u:xxxxx@127.0.0.1/db?sslpassword=xxxxx no\n"},
		{"bad settings in host=h password='hunter2\nx'", "cmd: bad settings in host=h password=xxxxx\n"},
	} {
		var b strings.Builder
		if code := Fail(&b, "cmd", errors.New(tc.err)); code != 1 || b.String() != tc.want {
			t.Errorf("Fail(%q): %d %q, want 1 %q", tc.err, code, b.String(), tc.want)
		}
	}
}

// The wiring hands the loaded config's values on: durations from
// gosrvmon's seconds (MaxRttScale's milliseconds), Checks.RemoteTimeout
// falling back to Checks.Timeout as in gosrvmon, and the probe settings.
func TestOptionsFromConfig(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		json          string
		remoteTimeout time.Duration
	}{
		{`"Timeout":3`, 3 * time.Second},
		{`"Timeout":3,"RemoteTimeout":7`, 7 * time.Second},
	} {
		cfg, err := config.Load(config.Source{JSON: `{"DB":{"Type":"memory"},"Checks":{` + tc.json +
			`,"Interval":30,"Retention":86400,"PingRetryCount":2,"HTTPMethod":"head","Concurrency":50,"ICMPConcurrency":5,"Shard":"1/3"},` +
			`"Chart":{"MaxRttScale":500,"DynamicRttScale":true},"Listen":{"MaxBodyBytes":99},"Notify":{"Timeout":4,"MaxAge":600,"RetryDelay":7}}`})
		if err != nil {
			t.Fatal(err)
		}
		p := ProbeOptions(cfg, false, log)
		if p.Timeout != 3*time.Second || p.PingCount != 2 || p.HTTPMethod != "HEAD" || p.Concurrency != 50 || p.ICMPConcurrency != 5 || p.ICMPUnavailable != "" {
			t.Errorf("ProbeOptions = %+v", p)
		}
		if p := ProbeOptions(cfg, true, log); p.ICMPUnavailable != LambdaICMPUnavailable {
			t.Errorf("ProbeOptions on Lambda: ICMPUnavailable %q", p.ICMPUnavailable)
		}
		r := NewRunner(cfg, memory.New(), nil, log)
		if r.Interval != 30*time.Second || r.Timeout != 3*time.Second || r.Retention != 24*time.Hour || r.Shard.String() != "1/3" ||
			r.Sender.Timeout != 4*time.Second || r.Sender.MaxAge != 10*time.Minute {
			t.Errorf("NewRunner = %+v, sender %+v", r, r.Sender)
		}
	}
}

// Setup and OpenStore end -h, -check and -init with an *ExitError whose
// code Exit returns; any other error is one line on stderr and code 1.
func TestSetupExit(t *testing.T) {
	ctx := context.Background()
	mem := []string{"-confstr", `{"DB":{"Type":"memory"}}`}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // a substring; "" for none
	}{
		{"help", []string{"-h"}, 0, "Usage of x"},
		{"check target that does not parse", []string{"-check", "http://"}, 2, `x: target "http://"`},
		{"bad flag", []string{"-nope"}, 1, "x: flag provided but not defined: -nope"},
		{"bad config", []string{"-confstr", `{"DB":{"Type":"mysql"}}`}, 1, `x: DB.Type "mysql"`},
		{"init", append(mem, "-init"), 0, ""},
		{"run", mem, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			c, err := Setup(ctx, "x", tc.args, nil, "", &stdout, &stderr)
			if err == nil {
				var st store.Store
				if st, err = c.OpenStore(ctx, SharedStores()); err == nil {
					st.Close()
				}
			}
			if code := Exit(&stderr, "x", err); code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d, %q", code, stderr.String(), tc.code, tc.stderr)
			}
			var ee *ExitError
			if errors.As(err, &ee) != (tc.name == "help" || tc.name == "init" || strings.HasPrefix(tc.name, "check")) {
				t.Errorf("error %#v", err)
			}
		})
	}
}
