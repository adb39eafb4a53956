// Package proctest runs srvmon's binaries as processes in tests: it builds
// them, starts them, reads their logs, talks to their HTTP server on
// loopback and stops them with SIGTERM.
package proctest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Build builds the main package in the current directory into dir and
// returns the binary's path. Call it from TestMain.
func Build(dir, name string) (string, error) {
	return BuildPackage(dir, name, ".", nil)
}

// BuildPackage builds the main package pkg (a directory or an import path,
// as go build takes it) into dir/name with env added to the environment
// (e.g. CGO_ENABLED=0) and flags added to go build's (e.g. "-tags",
// "lambda.norpc"), and returns the binary's path. Call it from TestMain.
func BuildPackage(dir, name, pkg string, env []string, flags ...string) (string, error) {
	bin := filepath.Join(dir, name)
	args := append(append([]string{"build", "-o", bin}, flags...), pkg)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// Process is a running binary.
type Process struct {
	cmd   *exec.Cmd
	lines chan string
	log   strings.Builder
	done  chan error
	// Base is http://127.0.0.1:PORT when the process logged where it
	// listens (listen=http://…:PORT/).
	Base string
}

var listenLine = regexp.MustCompile(`listen=http://\S*:(\d+)/`)

// Env is the environment for a binary under test: the test's own, without
// what would configure srvmon behind the test's back (DATABASE_URL and
// every SRVMON_ variable but the SRVMON_TEST_ ones, so that a shell's
// DATABASE_URL cannot turn an embedded-store test into a PostgreSQL one;
// AWS_LAMBDA_ ones, which would start it as a Lambda function), with
// extra added.
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "DATABASE_URL" || strings.HasPrefix(name, "AWS_LAMBDA_") ||
			strings.HasPrefix(name, "SRVMON_") && !strings.HasPrefix(name, "SRVMON_TEST_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// Start runs bin with args, env added to Env(), in dir, and waits (up to
// 30 s) for a log line on stderr that contains ready. The process is
// killed when the test ends, if it still runs.
func Start(t testing.TB, bin, dir string, env []string, ready string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = Env(env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return started(t, cmd, stderr, ready)
}

// StartCmd starts cmd, prepared by the caller (its Dir and Env are used as
// they are: a nil Env inherits the test's environment, so set it from Env
// for a binary of srvmon's), reads its stdout
// and stderr, interleaved, as log lines, and waits (up to 30 s) for a line
// that contains ready. It is for a process whose output on stdout matters
// too, such as the Lambda runtime emulator, which prints its function's
// logs there. cmd.Stdout and cmd.Stderr must be nil. The process is
// killed when the test ends, if it still runs.
func StartCmd(t testing.TB, cmd *exec.Cmd, ready string) *Process {
	t.Helper()
	if cmd.Stdout != nil || cmd.Stderr != nil {
		t.Fatal("proctest.StartCmd: cmd.Stdout and cmd.Stderr must be nil")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close() // the process holds its own copy
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	return started(t, cmd, r, ready)
}

// started reads the log lines of cmd, just started, from out until it is
// closed, then waits for cmd; it waits for the line that contains ready.
func started(t testing.TB, cmd *exec.Cmd, out io.ReadCloser, ready string) *Process {
	t.Helper()
	p := &Process{cmd: cmd, lines: make(chan string, 10000), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		out.Close() // read to the end; Wait would close a StderrPipe itself
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range p.lines {
		}
	})
	l := p.WaitFor(t, ready, 30*time.Second)
	if m := listenLine.FindStringSubmatch(l); m != nil {
		p.Base = "http://127.0.0.1:" + m[1]
	}
	return p
}

// Next returns the next log line.
func (p *Process) Next(t testing.TB, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("the process ended; its log:\n%s", p.log.String())
		}
		p.log.WriteString(l + "\n")
		return l
	case <-time.After(timeout):
		t.Fatalf("no log line within %v; the log so far:\n%s", timeout, p.log.String())
	}
	return ""
}

// WaitFor reads log lines until one contains s, and returns it.
func (p *Process) WaitFor(t testing.TB, s string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l := p.Next(t, time.Until(deadline)); strings.Contains(l, s) {
			return l
		}
	}
}

// Log is what the process has logged so far (what was read of it).
func (p *Process) Log() string { return p.log.String() }

// Drain reads, without waiting, every line the process has logged so far
// and returns the whole log read. Call it now and then for a process that
// logs a lot while nobody waits for its lines, so that its output never
// blocks it.
func (p *Process) Drain() string {
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return p.log.String()
			}
			p.log.WriteString(l + "\n")
		default:
			return p.log.String()
		}
	}
}

// Stop sends SIGTERM, reads the rest of the log, and fails the test unless
// the process exits 0 within 30 s.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if ok {
				p.log.WriteString(l + "\n")
				continue
			}
			if err := <-p.done; err != nil {
				t.Fatalf("exit after SIGTERM: %v; log:\n%s", err, p.log.String())
			}
			return
		case <-timeout:
			t.Fatalf("no exit within 30 s of SIGTERM; log:\n%s", p.log.String())
		}
	}
}

// Kill kills the process with SIGKILL, as a crash would, reads the rest
// of its log and waits for it to end.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for l := range p.lines {
		p.log.WriteString(l + "\n")
	}
	<-p.done
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Do sends a request to the process's server and returns the status and body.
func (p *Process) Do(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// FailsWithOneLine runs bin with args and env added to Env() to its end,
// and fails the test unless it exits non-zero with nothing on stdout and
// one line on stderr that contains want. It returns stderr.
func FailsWithOneLine(t testing.TB, bin string, env []string, want string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = Env(env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || stdout.Len() != 0 || strings.Count(stderr.String(), "\n") != 1 ||
		!strings.HasSuffix(stderr.String(), "\n") || !strings.Contains(stderr.String(), want) {
		t.Errorf("%s %q: %v, stdout %q, stderr %q; want non-zero and one line on stderr with %q",
			filepath.Base(bin), args, err, stdout.String(), stderr.String(), want)
	}
	return stderr.String()
}

// ClosedAddr returns a loopback address (127.0.0.1:PORT) on which
// nothing listens.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Main is a TestMain for a command's tests: it builds the command in the
// current directory once into a temporary directory, sets *bin to the
// binary, runs the tests, removes the directory and exits.
func Main(m *testing.M, name string, bin *string) {
	dir, err := os.MkdirTemp("", name+"-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin, err = Build(dir, name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Memory is one of the process's memory figures from /proc/PID/status, in
// bytes: "VmRSS" (resident now) or "VmHWM" (the peak resident size).
func (p *Process) Memory(t testing.TB, field string) int64 {
	t.Helper()
	return Memory(t, p.Pid(), field)
}

// Memory is one of process pid's memory figures from /proc/PID/status, in
// bytes; see Process.Memory.
func Memory(t testing.TB, pid int, field string) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", field, v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
