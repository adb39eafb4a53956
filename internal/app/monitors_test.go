package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// Sync logs one line per change, masked, and nothing when nothing
// changed; a config without Monitors does nothing at all.
func TestMonitorSync(t *testing.T) {
	ctx := t.Context()
	st := memory.New()
	if _, err := st.PutMonitor(ctx, monitor.Monitor{Host: "http://127.0.0.1:9/old", Source: monitor.SourceConfig}); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	load := func(confstr string) config.Config {
		c, err := config.Load(config.Source{JSON: confstr, DefaultDatabase: "d"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// No Monitors: nothing, not even the deletion of the stored one.
	if err := NewMonitorSync(load(`{}`), st, log).Sync(ctx); err != nil || logs.Len() != 0 {
		t.Fatalf("Sync without Monitors: %v, log %q", err, logs.String())
	}
	if err := (*MonitorSync)(nil).Sync(ctx); err != nil {
		t.Fatal(err)
	}

	cfg := load(`{"Monitors":[{"host":"http://u:hunter2@127.0.0.1:9/a"}]}`)
	if err := NewMonitorSync(cfg, st, log).Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`level=INFO msg="monitor created from the config" host=http://u:xxxxx@127.0.0.1:9/a`,
		`level=INFO msg="monitor deleted: no longer in the config" host=http://127.0.0.1:9/old`,
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("log:\n%s", logs.String())
	}
	for i := range want {
		if !strings.HasSuffix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
	logs.Reset()
	if err := NewMonitorSync(cfg, st, log).Sync(ctx); err != nil || logs.Len() != 0 {
		t.Errorf("second Sync: %v, log %q", err, logs.String())
	}
}

// failingStore fails every call, as a store that is down does.
type failingStore struct{}

var errDown = errors.New("store down")

func (failingStore) Monitors(context.Context) ([]monitor.Monitor, error) { return nil, errDown }
func (failingStore) PutMonitor(context.Context, monitor.Monitor) (bool, error) {
	return false, errDown
}
func (failingStore) DeleteHost(context.Context, string) error { return errDown }

// The Lambda handler reconciles before its round; a reconciliation that
// fails is logged and the round still runs.
func TestCheckerEventHandlerReconciles(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	cfg, err := config.Load(config.Source{DefaultDatabase: "d",
		JSON: `{"Checks":{"Interval":60,"Timeout":2},"Monitors":[{"host":"` + target.URL + `","name":"t"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	p := probe.New(ProbeOptions(cfg, true, log))
	defer p.Close()
	st := memory.New()
	r := NewRound(cfg, st, NewRunner(cfg, st, p, log), log)
	event := json.RawMessage(`{"time":"2026-01-02T03:04:00Z"}`)
	sum, err := CheckerEventHandler(r, log)(t.Context(), event)
	if err != nil || sum.Targets != 1 || sum.Up != 1 {
		t.Fatalf("round: %+v, %v; log:\n%s", sum, err, logs.String())
	}
	if m, err := st.Monitor(t.Context(), target.URL); err != nil || m.Source != monitor.SourceConfig || m.Name != "t" {
		t.Errorf("monitor: %+v, %v", m, err)
	}

	logs.Reset()
	r.Monitors.Store = failingStore{}
	sum, err = r.Run(t.Context(), time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC))
	if err != nil || sum.Targets != 1 {
		t.Fatalf("round after a failed reconciliation: %+v, %v", sum, err)
	}
	if !strings.Contains(logs.String(), `level=ERROR msg="monitors not reconciled" error="reconcile monitors: store down"`) {
		t.Errorf("log:\n%s", logs.String())
	}
}
