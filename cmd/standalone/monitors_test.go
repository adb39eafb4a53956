package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store/bolt"
)

// Loopback monitors that nothing probes: the tests run with
// PerformChecks false, or probe only httptest servers.
const (
	monA = "http://127.0.0.1:9/a"
	monB = "127.0.0.1:9"
	monC = "http://127.0.0.1:9/api-made"
	monD = "http://u:hunter2@127.0.0.1:9/d"
	// A push monitor without a token in the file: the first start makes
	// one, and restarts keep it.
	monPush = "push://backup"
)

// startWith runs the binary in dir with a config file of the given name
// and content (PerformChecks false unless the content says otherwise) and
// waits until it started.
func startWith(t *testing.T, dir, name, content string) *proctest.Process {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return proctest.Start(t, binary, dir, nil, `msg="srvmon started"`, "-config", p)
}

// monitorLines are the log lines about monitors of the config.
func monitorLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "from the config") || strings.Contains(l, "no longer in the config") {
			out = append(out, l)
		}
	}
	return out
}

// wantLines checks that the monitor lines of a start are exactly want
// (substrings of the lines without their quotes, in order).
func wantLines(t *testing.T, log string, want ...string) {
	t.Helper()
	got := monitorLines(log)
	if len(got) != len(want) {
		t.Fatalf("monitor log lines %q, want %d matching %q", got, len(want), want)
	}
	for i := range want {
		if !strings.Contains(strings.ReplaceAll(got[i], `"`, ""), want[i]) {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// storedMonitors opens the bolt file (the binary has exited) and returns
// its monitors by host.
func storedMonitors(t *testing.T, path string) map[string]monitor.Monitor {
	t.Helper()
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms, err := st.Monitors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]monitor.Monitor{}
	for _, m := range ms {
		out[m.Host] = m
	}
	return out
}

// TestMonitorsAsCodeAcrossRestarts restarts the binary with a changing
// config file: monitors are created, updated and deleted as the file
// says, once each (a restart with the same file changes nothing), a
// monitor made in the API is never touched, a file without Monitors
// leaves them all alone, and Monitors: [] deletes the file's.
func TestMonitorsAsCodeAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "srvmon.db")
	head := `{"DB":{"Type":"bolt","Database":"srvmon.db"},"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"PerformChecks":false},`

	// 1: A and B from the file; C through the API.
	p := startWith(t, dir, "srvmon.json", head+`"Monitors":[{"host":"`+monA+`","name":"a"},{"host":"`+monB+`","timeout":"2s"},{"host":"`+monPush+`"}]}`)
	wantLines(t, p.Log(), "monitor created from the config host="+monA, "monitor created from the config host="+monB,
		"monitor created from the config host="+monPush)
	if code, body := p.Do(t, http.MethodPost, "/api/hosts", monC); code != http.StatusCreated {
		t.Fatalf("add %s: %d %s", monC, code, body)
	}
	p.Stop(t)
	token := storedMonitors(t, db)[monPush].PushToken
	if monitor.CheckPushToken(token) != nil {
		t.Fatalf("push monitor's token %q", token)
	}

	// 2: A changed, B gone, D new (its password masked in the log).
	conf2 := head + `"Monitors":[{"host":"` + monA + `","name":"a2"},{"host":"` + monD + `"},{"host":"` + monPush + `","grace":"2h"}]}`
	p = startWith(t, dir, "srvmon.json", conf2)
	p.Stop(t)
	wantLines(t, p.Log(),
		"monitor created from the config host=http://u:xxxxx@127.0.0.1:9/d",
		"monitor updated from the config host="+monA,
		"monitor updated from the config host="+monPush,
		"monitor deleted: no longer in the config host="+monB)
	if strings.Contains(p.Log(), "hunter2") {
		t.Errorf("the log shows a password:\n%s", p.Log())
	}

	// 3: the same file again: no change, nothing logged.
	p = startWith(t, dir, "srvmon.json", conf2)
	p.Stop(t)
	wantLines(t, p.Log())
	ms := storedMonitors(t, db)
	if len(ms) != 4 || ms[monA].Name != "a2" || ms[monA].Source != monitor.SourceConfig ||
		ms[monD].Source != monitor.SourceConfig || ms[monC].Source != monitor.SourceAPI {
		t.Fatalf("stored monitors: %+v", ms)
	}
	if m := ms[monPush]; m.PushToken != token || m.Grace.D() != 2*time.Hour {
		t.Errorf("push monitor after restarts: %+v; want its first token %q", m, token)
	}

	// 4: a YAML file without Monitors manages none: nothing changes.
	yamlHead := "DB: {Type: bolt, Database: srvmon.db}\nListen: {Address: 127.0.0.1, Port: \"0\"}\nChecks: {PerformChecks: false}\n"
	p = startWith(t, dir, "srvmon.yaml", yamlHead)
	p.Stop(t)
	wantLines(t, p.Log())
	if got := storedMonitors(t, db); len(got) != 4 {
		t.Fatalf("a config without Monitors changed the monitors: %+v", got)
	}

	// 5: Monitors: [] deletes the file's monitors, not the API's.
	p = startWith(t, dir, "srvmon.yaml", yamlHead+"Monitors: []\n")
	p.Stop(t)
	wantLines(t, p.Log(),
		"monitor deleted: no longer in the config host="+monA,
		"monitor deleted: no longer in the config host=http://u:xxxxx@127.0.0.1:9/d",
		"monitor deleted: no longer in the config host="+monPush)
	if got := storedMonitors(t, db); len(got) != 1 || got[monC].Source != monitor.SourceAPI {
		t.Fatalf("after Monitors: []: %+v", got)
	}
}

// TestBadMonitorStopsStart: a bad entry stops the start with one line
// naming the file, the entry and the field, and the store is not
// touched (the bolt file is byte for byte the same).
func TestBadMonitorStopsStart(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "srvmon.db")
	head := `{"DB":{"Type":"bolt","Database":"srvmon.db"},"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"PerformChecks":false,"Timeout":5},`
	p := startWith(t, dir, "srvmon.json", head+`"Monitors":[{"host":"`+monA+`"}]}`)
	p.Stop(t)
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"srvmon.json", head + `"Monitors":[{"host":"` + monB + `"},{"host":"` + monA + `","timeout":"6s"}]}`,
			`: Monitors[1] (host "` + monA + `"): timeout: 6s is longer than the round's probe timeout, 5s`},
		{"srvmon.json", head + `"Monitors":[{"host":"` + monB + `"},{"host":"` + monB + `"}]}`,
			`: Monitors[1] (host "` + monB + `"): host: the same host as Monitors[0]; a host is one monitor`},
		{"srvmon.yaml", "DB: {Type: bolt, Database: srvmon.db}\nMonitors:\n  - host: " + monA + "\n    conditon: x\n",
			`: Monitors[0] (host "` + monA + `"): unknown field "conditon"`},
		{"srvmon.yaml", "DB: {Type: bolt, Database: srvmon.db}\nMonitors:\n  - host: " + monA + "\n  host: " + monB + "\n",
			`: invalid YAML: line 2: did not find expected '-' indicator`},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := []string{"-config", path}
		stderr := proctest.FailsWithOneLine(t, binary, nil, "srvmon: config file "+path+tc.want, cmd...)
		if !strings.HasPrefix(stderr, "srvmon: config file "+path+": ") {
			t.Errorf("stderr %q does not name the file", stderr)
		}
	}
	after, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a start refused for a bad monitor changed the store")
	}
}

// TestRoundsReconcile: the config's monitors are checked, and every
// round reconciles first, so that a config monitor deleted behind the
// binary's back (another process on the same database) is back on the
// next round.
func TestRoundsReconcile(t *testing.T) {
	st, dbURL := pgStore(t)
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	ctx := context.Background()
	if _, err := st.PutMonitor(ctx, monitor.Monitor{Host: monC, Settings: monitor.Settings{Name: "api"}}); err != nil {
		t.Fatal(err)
	}
	conf := `{"DB":{"Type":"pg"},"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"Interval":1,"Timeout":1},
		"Monitors":[{"host":"` + target.URL + `","name":"target","conditions":[]}]}`
	p := proctest.Start(t, binary, t.TempDir(), []string{"DATABASE_URL=" + dbURL}, `msg="srvmon started"`, "-confstr", conf)
	wantLines(t, p.Log(), "monitor created from the config host="+target.URL)
	p.WaitFor(t, "msg=round ", 10*time.Second)
	if err := st.DeleteHost(ctx, target.URL); err != nil {
		t.Fatal(err)
	}
	p.WaitFor(t, "msg=\"monitor created from the config\" host="+target.URL, 10*time.Second)
	p.Stop(t)
	m, err := st.Monitor(ctx, target.URL)
	if err != nil || m.Source != monitor.SourceConfig || m.Name != "target" {
		t.Errorf("Monitor(%s) = %+v, %v", target.URL, m, err)
	}
	if m, err := st.Monitor(ctx, monC); err != nil || m.Source != monitor.SourceAPI || m.Name != "api" {
		t.Errorf("API monitor: %+v, %v", m, err)
	}
}
