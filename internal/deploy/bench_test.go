package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	pgstore "github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// Issue 6's targets, against gosrvmon measured on this kind of machine
// (12.6 MB stripped, 42 ms from exec to its first 2xx, 13 MiB idle):
// stripped binaries at most 15 MB each; cmd/api and cmd/standalone from
// exec to the first 2xx within 40 ms, idle RSS at most 20 MiB. The server
// benchmarks run cmd/api on the memory store and on PostgreSQL (a migrated
// database holding benchHosts targets, as on a VPS; it needs
// SRVMON_TEST_DATABASE_URL, see pgtest), and cmd/standalone on the memory
// store and on bbolt. Run:
//
//	go test ./internal/deploy -run '^$' -bench . -benchtime 10x

// BenchmarkBinarySize reports the size of each stripped release binary
// (CGO_ENABLED=0, -trimpath, -ldflags=-s -w: the Dockerfile's, the
// Makefile's and the units' binaries).
func BenchmarkBinarySize(b *testing.B) {
	var pkgs []string
	for p := range release {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	for _, pkg := range pkgs {
		b.Run(pkg, func(b *testing.B) { reportSize(b, release[pkg]) })
	}
}

// BenchmarkLambdaBootstrapSize builds the Lambda bootstraps as sam build
// does (make build-<Function>: linux/arm64, -tags lambda.norpc) and
// reports their sizes.
func BenchmarkLambdaBootstrapSize(b *testing.B) {
	if _, err := exec.LookPath("make"); err != nil {
		b.Skip("SKIPPED LOUDLY: make is not installed")
	}
	for _, name := range []string{"CheckerFunction", "ApiFunction"} {
		b.Run(name, func(b *testing.B) {
			artifacts := b.TempDir()
			cmd := exec.Command("make", "build-"+name)
			cmd.Dir = repoRoot(b)
			cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+artifacts)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("make build-%s: %v\n%s", name, err, out)
			}
			reportSize(b, filepath.Join(artifacts, "bootstrap"))
		})
	}
}

func reportSize(b *testing.B, bin string) {
	st, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := os.Stat(bin); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.Size())/1e6, "MB")
	b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
}

// A server binary and how it is started on a free loopback port.
type serverRun struct {
	name string
	pkg  string
	// setup prepares what every start of the benchmark shares (a database)
	// and returns the arguments of one start, whose own directory is dir.
	setup func(b *testing.B) (args func(dir string) []string)
}

// benchHosts is how many targets the PostgreSQL runs find stored, so that
// their first GET /api/hosts reads rows.
const benchHosts = 100

func serverRuns() []serverRun {
	confstr := func(db string) string {
		return `{"DB":` + db + `,"Listen":{"Address":"127.0.0.1","Port":"0"}}`
	}
	fixed := func(db string) func(*testing.B) func(string) []string {
		return func(*testing.B) func(string) []string {
			return func(string) []string { return []string{"-confstr", confstr(db)} }
		}
	}
	bolt := func(*testing.B) func(string) []string {
		return func(dir string) []string {
			return []string{"-confstr", confstr(`{"Type":"bolt","Database":"` + filepath.Join(dir, "srvmon.db") + `"}`)}
		}
	}
	// A database of its own per benchmark, with its schema and benchHosts
	// targets, as a VPS's api finds it.
	postgres := func(b *testing.B) func(string) []string {
		url := pgtest.NewDatabase(b)
		st, err := pgstore.Open(context.Background(), pgstore.Config{URL: url})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		for i := range benchHosts {
			if err := st.AddHost(context.Background(), fmt.Sprintf("127.0.0.1:%d", 10000+i)); err != nil {
				b.Fatal(err)
			}
		}
		db, err := json.Marshal(map[string]string{"URL": url})
		if err != nil {
			b.Fatal(err)
		}
		return fixed(string(db))(b)
	}
	return []serverRun{
		{"api/memory", "cmd/api", fixed(`{"Type":"memory"}`)},
		{"api/postgres", "cmd/api", postgres},
		{"standalone/memory", "cmd/standalone", fixed(`{"Type":"memory"}`)},
		{"standalone/bolt", "cmd/standalone", bolt},
	}
}

// BenchmarkStartup measures a server binary from exec to its first 2xx
// answer to GET /api/hosts on loopback (the timed part of each
// iteration), and reports it as ms/first-2xx.
func BenchmarkStartup(b *testing.B) {
	for _, run := range serverRuns() {
		b.Run(run.name, func(b *testing.B) {
			args := run.setup(b)
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				b.StartTimer()
				start := time.Now()
				srv := startServer(b, release[run.pkg], args(dir))
				srv.firstOK(b, client)
				total += time.Since(start)
				b.StopTimer()
				srv.stop(b)
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/first-2xx")
		})
	}
}

// BenchmarkIdleRSS starts a server binary, waits for its first 2xx, lets it
// idle for a second and reports its resident memory (VmRSS) as MiB-idle.
func BenchmarkIdleRSS(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("SKIPPED LOUDLY: no /proc: RSS is read from /proc/PID/status")
	}
	for _, run := range serverRuns() {
		b.Run(run.name, func(b *testing.B) {
			args := run.setup(b)
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
			var maxRSS int64
			for i := 0; i < b.N; i++ {
				srv := startServer(b, release[run.pkg], args(b.TempDir()))
				srv.firstOK(b, client)
				time.Sleep(time.Second)
				rss := srv.rss(b)
				maxRSS = max(maxRSS, rss)
				srv.stop(b)
			}
			b.ReportMetric(float64(maxRSS)/(1<<20), "MiB-idle")
		})
	}
}

// server is a started server binary.
type server struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	done chan error
}

var listenAt = regexp.MustCompile(`listen=http://\S*:(\d+)/`)

// startServer execs bin with args and an environment without srvmon's
// settings, and returns once it has logged where it listens.
func startServer(b *testing.B, bin string, args []string) *server {
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SRVMON_") && !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "AWS_LAMBDA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	b.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.done <- cmd.Wait()
	}()
	var log strings.Builder
	timeout := time.After(30 * time.Second)
	for s.base == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				b.Fatalf("%s ended before listening:\n%s", filepath.Base(bin), log.String())
			}
			log.WriteString(l + "\n")
			if m := listenAt.FindStringSubmatch(l); m != nil {
				s.base = "http://127.0.0.1:" + m[1]
			}
		case <-timeout:
			b.Fatalf("%s did not log where it listens within 30 s:\n%s", filepath.Base(bin), log.String())
		}
	}
	go func() { // keep the pipe drained
		for range lines {
		}
	}()
	return s
}

// firstOK polls GET /api/hosts until it answers 2xx.
func (s *server) firstOK(b *testing.B, client *http.Client) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(s.base + "/api/hosts")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			b.Fatalf("GET %s/api/hosts: no 2xx within 10 s: %v", s.base, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// rss is the process's resident set size in bytes.
func (s *server) rss(b *testing.B) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/PID/status")
	return 0
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(b *testing.B) {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			b.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		b.Fatal("no exit within 30 s of SIGTERM")
	}
}
