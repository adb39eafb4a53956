package main

import (
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// The password of DATABASE_URL, in every form, is in no output of the
// standalone binary: not in the line that says it started, not in the
// one line of a failure to connect (a closed port).
func TestPasswordNeverShown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	live := pgtest.PasswordForms(t, pgtest.NewDatabase(t)) // trust: the password is not checked
	closed := pgtest.PasswordForms(t, "postgres://u@"+closedAddr+"/db")
	for i, form := range live {
		t.Run(form.Name, func(t *testing.T) {
			p := start(t, t.TempDir(), []string{"DATABASE_URL=" + form.ConnString,
				"SRVMON_LISTEN_ADDRESS=127.0.0.1", "SRVMON_LISTEN_PORT=0", "SRVMON_CHECKS_PERFORMCHECKS=false"})
			p.Stop(t)
			if !strings.Contains(p.Log(), `store="postgres `) {
				t.Errorf("the log does not say which store: %s", p.Log())
			}

			cmd := exec.Command(binary)
			cmd.Env = proctest.Env("DATABASE_URL=" + closed[i].ConnString)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			var exitErr *exec.ExitError
			if err := cmd.Run(); !errors.As(err, &exitErr) || strings.Count(stderr.String(), "\n") != 1 ||
				!strings.Contains(stderr.String(), "connection refused") {
				t.Errorf("closed port: %v, stderr %q; want non-zero and one line that says connection refused", err, stderr.String())
			}
			if out := p.Log() + stdout.String() + stderr.String(); pgtest.ShowsFormPassword(out) {
				t.Errorf("the password is shown: %s", out)
			}
		})
	}
}
