package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/proctest"
	pgstore "github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// Issue 6's targets, against gosrvmon measured on this kind of machine
// (12.6 MB stripped, 42 ms from exec to its first 2xx, 13 MiB idle):
// stripped binaries at most 15 MB each (since issue 11: see maxAPIBytes); cmd/api and cmd/standalone from
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
				srv := proctest.Start(b, release[run.pkg], dir, nil, "listen=http://", args(dir)...)
				firstOK(b, client, srv.Base)
				total += time.Since(start)
				b.StopTimer()
				srv.Stop(b)
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
				dir := b.TempDir()
				srv := proctest.Start(b, release[run.pkg], dir, nil, "listen=http://", args(dir)...)
				firstOK(b, client, srv.Base)
				time.Sleep(time.Second)
				maxRSS = max(maxRSS, proctest.Memory(b, srv.Pid(), "VmRSS"))
				srv.Stop(b)
			}
			b.ReportMetric(float64(maxRSS)/(1<<20), "MiB-idle")
		})
	}
}

// firstOK polls GET /api/hosts of the server at base until it answers 2xx.
func firstOK(b *testing.B, client *http.Client, base string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(base + "/api/hosts")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			b.Fatalf("GET %s/api/hosts: no 2xx within 10 s: %v", base, err)
		}
		time.Sleep(time.Millisecond)
	}
}
