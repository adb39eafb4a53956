package pgtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/proctest"
)

// ClusterPassword is the password of the superuser of a Cluster, which
// asks for it (scram-sha-256) on TCP connections.
const ClusterPassword = "pgtest-password"

// Cluster is a PostgreSQL cluster of a test's own, on a loopback port: a
// test that stops PostgreSQL stops this one, never the shared server.
type Cluster struct {
	// URL is the superuser's URL to the postgres database, with the
	// password (postgres://USER:ClusterPassword@127.0.0.1:PORT/postgres).
	URL string

	bin, dir string
	port     int
	asPG     []string // the command prefix that runs a program as the cluster's owner
}

// StartCluster makes a cluster with the system's initdb in a temporary
// directory (about 2 s), starts it on a free loopback port, and stops and
// removes it when the test ends. Run as root, it runs initdb and pg_ctl
// as the postgres user, as scripts/test does. Without initdb and pg_ctl
// the test fails when CI=true and skips otherwise.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := pgBin()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true, so this must run: %v", err)
		}
		tb.Skipf("SKIPPED: %v", err)
	}
	// Not t.TempDir: the server's socket path must stay short.
	dir, err := os.MkdirTemp("", "srvmon-pgtest")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{bin: bin, dir: dir}
	tb.Cleanup(func() {
		c.run(context.Background(), "pg_ctl", "-D", c.data(), "-m", "immediate", "stop")
		os.RemoveAll(dir)
	})
	owner := "postgres"
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		u, err := user.Lookup(owner)
		if err != nil {
			tb.Fatalf("as root, initdb needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		if err := os.Chown(dir, uid, -1); err != nil {
			tb.Fatal(err)
		}
		c.asPG = []string{"runuser", "-u", owner, "--"}
	} else if u, err := user.Current(); err == nil {
		owner = u.Username
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(ClusterPassword+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	if out, err := c.run(tb.Context(), "initdb", "--no-sync", "-U", owner, "--pwfile", pwfile,
		"--auth-local", "trust", "--auth-host", "scram-sha-256", "-D", c.data()); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	_, port, _ := net.SplitHostPort(proctest.ClosedAddr(tb))
	c.port, _ = strconv.Atoi(port)
	c.URL = (&url.URL{Scheme: "postgres", User: url.UserPassword(owner, ClusterPassword),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), Path: "/postgres", RawQuery: "sslmode=disable"}).String()
	c.Start(tb)
	return c
}

// Start starts the cluster again, on its port, after Stop; it returns
// once the server accepts connections.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	// fsync off: the machine does not crash, only the server does. What
	// is committed must survive Stop: synchronous_commit stays on.
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off",
		c.port, c.dir)
	// -l: without a log file the server keeps pg_ctl's output open.
	if out, err := c.run(tb.Context(), "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"),
		"-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		tb.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server at once (pg_ctl stop -m immediate): every
// connection ends without a word, transactions in flight are lost, as
// when the server crashes.
func (c *Cluster) Stop(tb testing.TB) {
	tb.Helper()
	if out, err := c.run(tb.Context(), "pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop"); err != nil {
		tb.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// NewDatabase creates an empty database on the cluster and returns its
// URL. It goes with the cluster.
func (c *Cluster) NewDatabase(tb testing.TB, name string) string {
	tb.Helper()
	Exec(tb, c.URL, "CREATE DATABASE "+name)
	u, err := url.Parse(c.URL)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// run runs one of PostgreSQL's programs as the cluster's owner, within a
// minute, and returns its output.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	argv := append(append(append([]string(nil), c.asPG...), filepath.Join(c.bin, prog)), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// pgBin returns the directory of initdb and pg_ctl: Debian's
// /usr/lib/postgresql/VERSION/bin, or the PATH's.
func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("no initdb in /usr/lib/postgresql/*/bin or on the PATH: a throwaway cluster cannot be made")
	}
	d := filepath.Dir(initdb)
	if !isExec(filepath.Join(d, "pg_ctl")) {
		return "", fmt.Errorf("no pg_ctl beside %s", initdb)
	}
	return d, nil
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
