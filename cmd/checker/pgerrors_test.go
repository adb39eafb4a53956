package main

import (
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// The password of DATABASE_URL, in every form, is in no output of the
// checker: not in the line that says the schema is ready, not in a
// round's log, not in the one line of a failure (a closed port, where pgx
// tries twice: with TLS, then without).
func TestPasswordNeverShown(t *testing.T) {
	live := pgtest.PasswordForms(t, pgtest.NewDatabase(t)) // trust: the password is not checked
	closed := pgtest.PasswordForms(t, "postgres://u@"+proctest.ClosedAddr(t)+"/db")
	for i, form := range live {
		t.Run(form.Name, func(t *testing.T) {
			for _, run := range []struct {
				url  string
				args []string
				code int
				want string
			}{
				{form.ConnString, []string{"-init"}, 0, `msg="schema ready" store="postgres `},
				{form.ConnString, nil, 0, "msg=round "},
				{closed[i].ConnString, nil, 1, "srvmon-checker: open PostgreSQL store: postgres: connect to 127.0.0.1:"},
			} {
				code, stdout, stderr := runBinary(t, binary, []string{"DATABASE_URL=" + run.url}, run.args...)
				if code != run.code || !strings.Contains(stderr, run.want) {
					t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", run.args, code, stderr, run.code, run.want)
				}
				if code != 0 && strings.Count(stderr, "\n") != 1 {
					t.Errorf("%v: stderr is not one line: %q", run.args, stderr)
				}
				if pgtest.ShowsFormPassword(stdout + stderr) {
					t.Errorf("%v: the password is shown: %s%s", run.args, stdout, stderr)
				}
			}
		})
	}
}

// Every PostgreSQL connection error the checker can meet ends it with
// exit 1 and one line that says what is wrong.
func TestPostgresErrorsOneLine(t *testing.T) {
	c := pgtest.StartCluster(t) // no TLS, passwords checked
	closed, closed2 := proctest.ClosedAddr(t), proctest.ClosedAddr(t)
	_, port, _ := net.SplitHostPort(closed)
	db := func(user, pass, name, query string) string {
		u, err := url.Parse(c.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.User, u.Path, u.RawQuery = url.UserPassword(user, pass), "/"+name, query
		return u.String()
	}
	owner, _ := url.Parse(c.URL)
	user := owner.User.Username()
	for _, tc := range []struct {
		name, url, want string
	}{
		{"closed port", "postgres://u@" + closed + "/db", "connection refused"},
		{"closed ports of two hosts", "postgres://u@" + closed + "," + closed2 + "/db", "connection refused"},
		{"closed port of localhost", "postgres://u@localhost:" + port + "/db", "connection refused"},
		{"closed port, keyword/value", "host=127.0.0.1 port=" + port + " user=u", "connection refused"},
		{"wrong database", db(user, pgtest.ClusterPassword, "nosuchdb", ""), `database "nosuchdb" does not exist (SQLSTATE 3D000)`},
		{"wrong password", db(user, pgtest.FormPassword, "postgres", ""), "password authentication failed"},
		{"unknown user", db("nosuchuser", pgtest.FormPassword, "postgres", ""), "password authentication failed"},
		{"TLS required", db(user, pgtest.ClusterPassword, "postgres", "sslmode=require"), "server refused TLS connection"},
		{"bad settings", db(user, pgtest.FormPassword, "postgres", "sslmode=bogus"), "sslmode is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderr := proctest.FailsWithOneLine(t, binary, []string{"DATABASE_URL=" + tc.url}, tc.want)
			const prefix = "srvmon-checker: open PostgreSQL store: postgres: "
			if !strings.HasPrefix(stderr, prefix) {
				t.Errorf("stderr %q does not begin with %q", stderr, prefix)
			}
			if pgtest.ShowsFormPassword(stderr) {
				t.Errorf("the password is shown: %s", stderr)
			}
		})
	}
}
