package main

import (
	"strings"
	"testing"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// The password of DATABASE_URL, in every form, is in no output of the
// API: not in the line that says it started, not in the one line of a
// failure to connect (a closed port).
func TestPasswordNeverShown(t *testing.T) {
	live := pgtest.PasswordForms(t, pgtest.NewDatabase(t)) // trust: the password is not checked
	closed := pgtest.PasswordForms(t, "postgres://u@"+proctest.ClosedAddr(t)+"/db")
	for i, form := range live {
		t.Run(form.Name, func(t *testing.T) {
			p := proctest.Start(t, binary, t.TempDir(), []string{"DATABASE_URL=" + form.ConnString,
				"SRVMON_LISTEN_ADDRESS=127.0.0.1", "SRVMON_LISTEN_PORT=0"}, "srvmon api started")
			p.Stop(t)
			if !strings.Contains(p.Log(), `store="postgres `) {
				t.Errorf("the log does not say which store: %s", p.Log())
			}
			failed := proctest.FailsWithOneLine(t, binary, []string{"DATABASE_URL=" + closed[i].ConnString}, "connection refused")
			if out := p.Log() + failed; pgtest.ShowsFormPassword(out) {
				t.Errorf("the password is shown: %s", out)
			}
		})
	}
}
