package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/probe"
)

// binary is the checker, built once for the tests that run it.
var binary string

func TestMain(m *testing.M) { proctest.Main(m, "checker", &binary) }

// runBinary runs the binary, not as a Lambda, with env added to
// proctest.Env() and returns its exit code, stdout and stderr.
func runBinary(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = proctest.Env(append([]string{"AWS_LAMBDA_RUNTIME_API="}, env...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// acceptAll serves a TCP listener on 127.0.0.1 that closes what it accepts.
func acceptAll(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestCheckBinary(t *testing.T) {
	bin := binary
	var (
		mu      sync.Mutex
		methods []string
	)
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		switch r.URL.Path {
		case "/500":
			w.WriteHeader(http.StatusInternalServerError)
		case "/slow":
			select {
			case arrived <- struct{}{}:
			default:
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}))
	defer srv.Close()
	open, closed := acceptAll(t), proctest.ClosedAddr(t)

	const rtt = `rtt=[0-9.]+(ns|µs|ms|s)`
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		out  string // regexp for stdout
		err  string // substring of stderr
	}{
		{nil, []string{"-check", open}, 0, `^` + regexp.QuoteMeta(open) + ` up ` + rtt + `\n$`, ""},
		{nil, []string{"-check", closed}, 0, `^` + regexp.QuoteMeta(closed) + ` down ` + rtt + ` reason="connection refused"\n$`, ""},
		{nil, []string{"-check", srv.URL + "/"}, 0, ` up ` + rtt + `\n$`, ""},
		{[]string{"SRVMON_CHECKS_HTTPMETHOD=HEAD"}, []string{"-check", srv.URL + "/head"}, 0, ` up `, ""},
		{nil, []string{"-confstr", `{"Checks":{"HTTPMethod":"HEAD"}}`, "-check", srv.URL + "/head"}, 0, ` up `, ""},
		{nil, []string{"-check", srv.URL + "/500"}, 0, ` down ` + rtt + ` reason="HTTP 500"\n$`, ""},
		{[]string{"SRVMON_CHECKS_TIMEOUT=1"}, []string{"-check", srv.URL + "/slow"}, 0, ` down ` + rtt + ` reason="timeout after 1s"\n$`, ""},
		{nil, []string{"-check", "foo bar"}, 2, `^$`, `srvmon-checker: target "foo bar": invalid target: contains white space`},
		{nil, []string{"-check", "127.0.0.1:65536"}, 2, `^$`, "out of range"},
		{nil, []string{"-check", "http://"}, 2, `^$`, "no host"},
		{[]string{"SRVMON_CHECKS_HTTPMETHOD=POST"}, []string{"-check", open}, 1, `^$`, `Checks.HTTPMethod "POST": want GET or HEAD`},
		{nil, []string{"-confstr", `{"Checks":`, "-check", open}, 1, `^$`, "-confstr: invalid JSON"},
		{nil, []string{"-no-such-flag"}, 1, `^$`, "flag provided but not defined: -no-such-flag"},
		{nil, nil, 1, `^$`, "no database configured"},
	} {
		t.Run(strings.Join(append(tc.env, tc.args...), " "), func(t *testing.T) {
			code, stdout, stderr := runBinary(t, bin, tc.env, tc.args...)
			if code != tc.code || !regexp.MustCompile(tc.out).MatchString(stdout) || !strings.Contains(stderr, tc.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout like %q, stderr with %q", code, stdout, stderr, tc.code, tc.out, tc.err)
			}
			if tc.code != 0 && strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", stderr)
			}
		})
	}
	if strings.Join(methods, ",") != "GET,HEAD,HEAD,GET,GET" {
		t.Errorf("server saw %v", methods)
	}
}

func TestCheckBinaryICMP(t *testing.T) {
	if err := probe.New(probe.Options{}).ICMPAvailable(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true, so this must run: %v", err)
		}
		t.Logf("!!! SKIPPED: ICMP needs root, CAP_NET_RAW or ping_group_range: %v", err)
		t.SkipNow()
	}
	bin := binary
	code, stdout, stderr := runBinary(t, bin, []string{"SRVMON_CHECKS_PINGRETRYCOUNT=2"}, "-check", "127.0.0.1")
	if code != 0 || !regexp.MustCompile(`^127\.0\.0\.1 up rtt=\S+\n$`).MatchString(stdout) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestCheckBinarySIGTERM: a check interrupted by SIGTERM reports
// "cancelled" at once and exits 0.
func TestCheckBinarySIGTERM(t *testing.T) {
	bin := binary
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	var stdout bytes.Buffer
	cmd := exec.Command(bin, "-check", srv.URL+"/")
	cmd.Env = proctest.Env("SRVMON_CHECKS_TIMEOUT=3600")
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the check never reached the server")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(stdout.String(), ` down `) || !strings.Contains(stdout.String(), `reason="cancelled"`) {
			t.Errorf("after SIGTERM: %v, stdout %q", err, stdout.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("checker did not exit after SIGTERM")
	}
}

func TestCheckOnLambda(t *testing.T) {
	var out, errw bytes.Buffer
	env := []string{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"}
	if code := run(context.Background(), []string{"-check", "127.0.0.1"}, env, &out, &errw); code != 0 {
		t.Fatalf("exit %d, %s", code, errw.String())
	}
	if !strings.Contains(out.String(), app.LambdaICMPUnavailable) {
		t.Errorf("on Lambda: %q", out.String())
	}
}
