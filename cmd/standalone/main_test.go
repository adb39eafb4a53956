package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/promtext/promtexttest"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// binary is the standalone binary, built once for the tests that run it
// as a process.
var binary string

func TestMain(m *testing.M) { proctest.Main(m, "srvmon", &binary) }

// start runs the binary and waits for its first log line, which must say
// that it started and where it listens.
func start(t *testing.T, dir string, env []string, args ...string) *proctest.Process {
	t.Helper()
	p := proctest.Start(t, binary, dir, env, "", args...)
	if first := p.Log(); !strings.Contains(first, `msg="srvmon started"`) || p.Base == "" {
		t.Fatalf("first log line %q does not say srvmon started and where it listens", first)
	}
	return p
}

// goldenFamilies are the lines of testdata/metrics-families.txt: the
// families of /metrics (promtexttest.Families) as client_golang served
// them.
func goldenFamilies(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "metrics-families.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

// TestEndToEnd runs the binary with a 1 s interval on every store:
// targets are added through the API, rounds check them, and /api/checks
// serves what they stored.
func TestEndToEnd(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := closed.Listener.Addr().String()
	closed.Close()

	stores := []struct {
		name string
		conf string
		env  func(t *testing.T) []string
	}{
		{"bolt", `"DB":{"Type":"bolt","Database":"srvmon.db"}`, nil},
		{"ql", `"DB":{"Type":"ql","Database":"srvmon.ql"}`, nil},
		{"memory", `"DB":{"Type":"memory"}`, nil},
		{"postgres", `"DB":{"Type":"pg"}`, func(t *testing.T) []string {
			return []string{"DATABASE_URL=" + pgtest.NewDatabase(t)}
		}},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			var env []string
			if s.env != nil {
				env = s.env(t)
			}
			conf := `{` + s.conf + `,"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"Interval":1,"Timeout":1}}`
			p := start(t, t.TempDir(), env, "-confstr", conf)
			for _, h := range []string{target.URL, closedAddr} {
				if code, body := p.Do(t, http.MethodPost, "/api/hosts", h); code != http.StatusCreated {
					t.Fatalf("add %s: %d %s", h, code, body)
				}
			}
			p.WaitFor(t, "targets=2 up=1 down=1", 10*time.Second)

			for _, c := range []struct {
				host string
				up   bool
			}{{target.URL, true}, {closedAddr, false}} {
				code, body := p.Do(t, http.MethodGet, "/api/checks?host="+url.QueryEscape(c.host), "")
				if code != http.StatusOK {
					t.Fatalf("checks of %s: %d %s", c.host, code, body)
				}
				var checks []store.Check
				if err := json.Unmarshal([]byte(body), &checks); err != nil {
					t.Fatalf("checks of %s: %v in %s", c.host, err, body)
				}
				if len(checks) == 0 || checks[len(checks)-1].Up != c.up {
					t.Errorf("checks of %s = %s, want the last up=%v", c.host, body, c.up)
				}
			}
			// /metrics: the monitors' state from the store, and the rounds
			// of this process (a round is counted once Run has returned,
			// just after it logged its line: asked until it is there).
			rounds := regexp.MustCompile(`(?m)^srvmon_rounds_total\{outcome="stored"\} [1-9][0-9]*$`)
			var body string
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				var code int
				code, body = p.Do(t, http.MethodGet, "/metrics", "")
				if code != http.StatusOK {
					t.Fatalf("/metrics: %d %s", code, body)
				}
				if rounds.MatchString(body) || time.Now().After(deadline) {
					break
				}
			}
			for _, want := range []*regexp.Regexp{
				rounds,
				regexp.MustCompile(`(?m)^srvmon_up\{group="",host="` + regexp.QuoteMeta(target.URL) + `",name="` + regexp.QuoteMeta(target.URL) + `"\} 1$`),
				regexp.MustCompile(`(?m)^srvmon_up\{group="",host="` + regexp.QuoteMeta(closedAddr) + `",name="` + regexp.QuoteMeta(closedAddr) + `"\} 0$`),
				regexp.MustCompile(`(?m)^srvmon_round_targets\{result="up"\} 1$`),
			} {
				if !want.MatchString(body) {
					t.Errorf("/metrics lacks %s:\n%s", want, body)
				}
			}
			// Every family that /metrics served with client_golang, and
			// only those, with their types and labels.
			if got, want := promtexttest.Families(t, body), goldenFamilies(t); !slices.Equal(got, want) {
				t.Errorf("/metrics families\n%s\nwant (testdata/metrics-families.txt)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			p.Stop(t)
		})
	}
}

// TestSIGTERMStoresTheRoundInFlight sends SIGTERM while a round waits for
// slow targets: every result of that round is stored, up, before exit.
func TestSIGTERMStoresTheRoundInFlight(t *testing.T) {
	var hits atomic.Int32
	started := make(chan struct{}, 100)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		started <- struct{}{}
		time.Sleep(1500 * time.Millisecond)
	}))
	defer slow.Close()

	dir := t.TempDir()
	conf := `{"DB":{"Type":"bolt","Database":"srvmon.db"},"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"Interval":1,"Timeout":5}}`
	p := start(t, dir, nil, "-confstr", conf)
	const n = 5
	for i := 0; i < n; i++ {
		if code, body := p.Do(t, http.MethodPost, "/api/hosts", fmt.Sprintf("%s/%d", slow.URL, i)); code != http.StatusCreated {
			t.Fatalf("add: %d %s", code, body)
		}
	}
	// Wait for a round that checks all n, then stop it mid-flight.
	for hits.Load() < n {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("no round reached the targets")
		}
	}
	p.Stop(t)

	st, err := bolt.Open(filepath.Join(dir, "srvmon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		host := fmt.Sprintf("%s/%d", slow.URL, i)
		c, ok, err := st.LastCheck(ctx, host)
		if err != nil || !ok {
			t.Fatalf("%s: no stored result (ok=%v, err=%v); log:\n%s", host, ok, err, p.Log())
		}
		if !c.Up || c.RTT < time.Second {
			t.Errorf("%s: last check %+v, want up after the slow answer", host, c)
		}
	}
}

// TestBadConfigFailsWithOneLine: a bad config, an unknown store, a busy
// port or an unknown time zone exits non-zero with one line.
func TestBadConfigFailsWithOneLine(t *testing.T) {
	busy := httptest.NewServer(http.NotFoundHandler())
	defer busy.Close()
	busyPort := busy.Listener.Addr().(*net.TCPAddr).Port
	cases := []struct {
		name, confstr, want string
	}{
		{"syntax", `{"DB":`, "-confstr: invalid JSON"},
		{"unknown store", `{"DB":{"Type":"mongo"}}`, "mongo"},
		{"unknown time zone", `{"DB":{"Type":"memory"},"Chart":{"TimeZone":"Mars/Olympus"}}`, "Mars/Olympus"},
		{"busy port", fmt.Sprintf(`{"DB":{"Type":"memory"},"Listen":{"Address":"127.0.0.1","Port":"%d"}}`, busyPort), "address already in use"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), []string{"-confstr", c.confstr}, nil, &stdout, &stderr)
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Errorf("exit %d, stderr %q: want non-zero and one line with %q", code, stderr.String(), c.want)
			}
		})
	}
}

// TestWebAuthWithoutPasswordRefused: WebAuth enabled with an empty
// password (which would make "user:" the admin) stops the binary at start
// with one line, whether the config or the environment leaves it empty,
// and opens no store and no port.
func TestWebAuthWithoutPasswordRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		args []string
	}{
		{"config", nil, []string{"-confstr", `{"DB":{"Type":"memory"},"Listen":{"Address":"127.0.0.1","Port":"0","WebAuth":{"Enable":true,"User":"admin"}}}`}},
		{"environment", []string{"SRVMON_DB_TYPE=memory", "SRVMON_LISTEN_ADDRESS=127.0.0.1", "SRVMON_LISTEN_PORT=0",
			"SRVMON_LISTEN_WEBAUTH_ENABLE=true", "SRVMON_LISTEN_WEBAUTH_USER=admin"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // a binary that starts is killed
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, c.args...)
			cmd.Dir = t.TempDir()
			cmd.Env = proctest.Env(c.env...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
				t.Errorf("exit %d (%v), want 1", code, err)
			}
			want := "srvmon: Listen.WebAuth.Enable is true but Listen.WebAuth.Password is empty"
			if lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
				t.Errorf("stderr %q: want one line starting %q", stderr.String(), want)
			}
		})
	}
}

// unshareNet is the unshare(1) command line that runs a program in a new
// network namespace of its own (with a user namespace when not root), or
// it fails (CI=true) or skips the test loudly where that is not possible.
func unshareNet(t *testing.T) []string {
	t.Helper()
	args := []string{"unshare", "--net"}
	if os.Geteuid() != 0 {
		args = append(args, "--map-root-user")
	}
	if out, err := exec.Command(args[0], append(args[1:], "true")...).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true, so this must run: %s: %v %s", strings.Join(args, " "), err, out)
		}
		t.Skipf("!!! SKIPPED: cannot make a network namespace (%s: %v %s)", strings.Join(args, " "), err, out)
	}
	return args
}

// TestNoConfigDefaults runs the binary with no config at all (and none in
// the environment), in a network namespace of its own so that port 8000
// is free: its first log line, logged once the port is bound, says it
// stores in ./srvmon.db with bbolt and listens on port 8000.
func TestNoConfigDefaults(t *testing.T) {
	unshare := unshareNet(t)
	dir := t.TempDir()
	p := proctest.Start(t, unshare[0], dir, nil, "", append(unshare[1:], binary)...)
	first := p.Log()
	for _, want := range []string{`msg="srvmon started"`, `store="bolt srvmon.db"`, `listen=http://[::]:8000/`} {
		if !strings.Contains(first, want) {
			t.Errorf("first log line %q does not say %s", first, want)
		}
	}
	p.Stop(t)
	if _, err := os.Stat(filepath.Join(dir, "srvmon.db")); err != nil {
		t.Errorf("no ./srvmon.db: %v", err)
	}
}

// pgStore opens a store on a fresh PostgreSQL database, for the test to
// look into what the binary, given the URL, stores there.
func pgStore(t *testing.T) (store.Store, string) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	st, err := postgres.Open(context.Background(), postgres.Config{URL: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, db
}

// TestPerformChecksFalseOnlyServes: with PerformChecks false the binary
// serves and deletes old results on the rounds' schedule, but stores no
// result of its own.
func TestPerformChecksFalseOnlyServes(t *testing.T) {
	st, db := pgStore(t)
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	ctx := context.Background()
	if err := st.AddHost(ctx, target.URL); err != nil {
		t.Fatal(err)
	}
	old := store.Result{Host: target.URL, Slot: time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second), Up: true, RTT: time.Millisecond}
	if err := st.SaveRound(ctx, []store.Result{old}, nil); err != nil {
		t.Fatal(err)
	}

	conf := `{"DB":{"Type":"pg"},"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"Interval":1,"Timeout":1,"PerformChecks":false,"Retention":3600}}`
	p := start(t, t.TempDir(), []string{"DATABASE_URL=" + db}, "-confstr", conf)
	if !strings.Contains(p.Log(), "checks=false") {
		t.Errorf("first log line %q does not say checks=false", p.Log())
	}
	// Retention runs on a tick, where a round (were there one) would have
	// stored its result before deleting.
	p.WaitFor(t, "msg=retention deleted=1", 10*time.Second)
	if code, body := p.Do(t, http.MethodGet, "/api/checks?host="+url.QueryEscape(target.URL), ""); code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Errorf("/api/checks: %d %s; want 200 and no checks", code, body)
	}
	p.Stop(t)
	var n int
	if err := st.Results(ctx, target.URL, time.Unix(0, 0), time.Now().Add(time.Hour), func(store.Result) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 || strings.Contains(p.Log(), "msg=round") {
		t.Errorf("%d results stored with PerformChecks false; log:\n%s", n, p.Log())
	}
}

// TestHangingWebhookDoesNotStopRounds: a webhook that never answers (its
// timeout an hour) does not delay the rounds: they go on every second.
func TestHangingWebhookDoesNotStopRounds(t *testing.T) {
	st, db := pgStore(t)
	arrived := make(chan struct{}, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // never answers
	}))
	defer receiver.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	down := closed.Listener.Addr().String()
	closed.Close()
	ctx := context.Background()
	if err := st.AddHost(ctx, down); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRule(ctx, store.Rule{Host: down, Threshold: 1, Action: receiver.URL + "/?state={STATE}"}); err != nil {
		t.Fatal(err)
	}

	conf := `{"DB":{"Type":"pg"},"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"Interval":1,"Timeout":1},"Notify":{"Timeout":3600}}`
	p := start(t, t.TempDir(), []string{"DATABASE_URL=" + db}, "-confstr", conf)
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatalf("no webhook; log:\n%s", p.Drain())
	}
	p.Drain()
	for range 3 { // rounds after the one that is stuck on the webhook
		p.WaitFor(t, "msg=round ", 5*time.Second)
	}
	p.Stop(t)
	if strings.Contains(p.Log(), "skipped") {
		t.Errorf("a tick was skipped; log:\n%s", p.Log())
	}
}

// TestKilledRestoreLeavesNoSpool: a restore whose checks come before its
// hosts spools them to a temporary file; killing the process (kill -9)
// in the middle of it must leave no file behind in TMPDIR.
func TestKilledRestoreLeavesNoSpool(t *testing.T) {
	tmp := t.TempDir()
	conf := `{"DB":{"Type":"memory"},"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"PerformChecks":false}}`
	p := start(t, t.TempDir(), []string{"TMPDIR=" + tmp}, "-confstr", conf)
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.Base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Checks first, then the body stalls: the restore holds its spool.
	part := `{"checks":{"a.example":[` + strings.Repeat(`{"time":"2021-03-02T12:00:00Z","rtt":5,"up":true},`, 2000)
	fmt.Fprintf(conn, "POST /api/backup_full HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", 10<<20, part)

	spooled := func() bool { // the process has the spool open
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", p.Pid()))
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && strings.Contains(l, "srvmon-restore-") {
				return true
			}
		}
		return false
	}
	leftovers := func() []string {
		m, _ := filepath.Glob(filepath.Join(tmp, "srvmon-restore-*"))
		return m
	}
	deadline := time.Now().Add(10 * time.Second)
	for !spooled() {
		if time.Now().After(deadline) {
			t.Fatalf("the restore opened no spool in 10 s; log:\n%s", p.Drain())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := leftovers(); len(m) != 0 {
		t.Errorf("while restoring, TMPDIR holds %v", m)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(p.Pid(), 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the process is still there 10 s after kill -9")
		}
	}
	if m := leftovers(); len(m) != 0 {
		t.Errorf("after kill -9, TMPDIR holds %v", m)
	}
}
