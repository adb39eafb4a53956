package main

import (
	"context"
	"strings"
	"testing"

	"github.com/srvmon/srvmon/pkg/monitor"
)

// Several checkers share one database: the one whose config has Monitors
// reconciles them before its round (and its round checks them); one
// without Monitors (a Lambda checker in another region, say) leaves them
// alone; Monitors [] deletes the file's monitors. A monitor made in the
// API is never touched.
func TestCheckersShareMonitors(t *testing.T) {
	st, env := pgStore(t)
	ctx := context.Background()
	target := acceptAll(t)
	const apiHost = "http://127.0.0.1:9/api-made"
	if _, err := st.PutMonitor(ctx, monitor.Monitor{Host: apiHost, Settings: monitor.Settings{Name: "api"}}); err != nil {
		t.Fatal(err)
	}
	head := `{"DB":{"Type":"pg"},"Checks":{"Timeout":1,"Location":"`

	code, _, stderr := runBinary(t, binary, env, "-confstr", head+`vps"},"Monitors":[{"host":"`+target+`","name":"vps target"}]}`)
	if code != 0 || strings.Count(stderr, "monitor created from the config") != 1 || !strings.Contains(stderr, "host="+target) {
		t.Fatalf("checker with Monitors: exit %d, stderr:\n%s", code, stderr)
	}
	if n := countResults(t, st, target); n != 1 {
		t.Errorf("%d results of the config's monitor after its first round, want 1", n)
	}

	for _, args := range [][]string{
		{"-confstr", head + `lambda"}}`}, // no Monitors: manages none
		{"-confstr", head + `vps"},"Monitors":[{"host":"` + target + `","name":"vps target"}]}`}, // unchanged
	} {
		code, _, stderr = runBinary(t, binary, env, args...)
		if code != 0 || strings.Contains(stderr, "from the config") || strings.Contains(stderr, "in the config") {
			t.Fatalf("checker %q: exit %d, stderr:\n%s", args, code, stderr)
		}
	}
	if m, err := st.Monitor(ctx, target); err != nil || m.Source != monitor.SourceConfig || m.Name != "vps target" {
		t.Fatalf("config monitor: %+v, %v", m, err)
	}

	code, _, stderr = runBinary(t, binary, append(env, "SRVMON_MONITORS=[]"), "-confstr", head+`vps"},"Monitors":[{"host":"`+target+`"}]}`)
	if code != 0 || strings.Count(stderr, "monitor deleted: no longer in the config") != 1 {
		t.Fatalf("checker with Monitors []: exit %d, stderr:\n%s", code, stderr)
	}
	ms, err := st.Monitors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Host != apiHost || ms[0].Source != monitor.SourceAPI || ms[0].Name != "api" {
		t.Errorf("monitors left: %+v", ms)
	}
}
