package lambdatest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// interval is the checkers' SRVMON_CHECKS_INTERVAL here, and eventTime a
// scheduled event's time that is not on a slot boundary.
const interval = 5 * time.Minute

var eventTime = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// checkerEnv is the environment template.yaml gives the checker function
// for the database at db, with Interval interval and a ProbeTimeout of 5 s.
func checkerEnv(tb testing.TB, db string) []string {
	tb.Helper()
	return templateEnv(tb, "CheckerFunction", map[string]string{
		"DatabaseUrl":  db,
		"Interval":     strconv.Itoa(int(interval.Seconds())),
		"ProbeTimeout": "5",
	})
}

// The checker function under the emulator: a scheduled event runs one
// round in the slot of the event's time, against targets on loopback (an
// HTTP server, a closed port, a ping target that Lambda cannot send); the
// platform's retry of the same event stores nothing twice; the next
// slot's event, as EventBridge Scheduler sends it, stores the next row.
func TestCheckerScheduledEvent(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	st := openStore(t, db)
	ctx := context.Background()

	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	type want struct {
		up     bool
		reason string // substring; "" when up
	}
	hosts := map[string]want{
		srv.URL + "/": {up: true},
		freeAddr(t):   {reason: "connection refused"}, // nothing listens there
		"127.0.0.1":   {reason: app.LambdaICMPUnavailable},
	}
	for h := range hosts {
		if err := st.AddHost(ctx, h); err != nil {
			t.Fatal(err)
		}
	}

	e := startEmulator(t, checkerBoot, checkerEnv(t, db)...)
	slot := eventTime.Truncate(interval)
	for i, ev := range []struct {
		name  string
		event any
		slot  time.Time
		rows  int // per host after it
		hits  int64
	}{
		{"EventBridge rule", scheduledEvent(eventTime), slot, 1, 1},
		{"the platform's retry", scheduledEvent(eventTime), slot, 1, 2},
		{"EventBridge Scheduler, next slot", map[string]string{"time": eventTime.Add(interval).Format(time.RFC3339)}, slot.Add(interval), 2, 3},
	} {
		sum := roundSummary(t, e.Invoke(t, ev.event))
		if !sum.Slot.Equal(ev.slot) || sum.Targets != len(hosts) || sum.Up != 1 || sum.Down != len(hosts)-1 {
			t.Errorf("%s: summary %+v; want slot %s, %d targets, 1 up", ev.name, sum, ev.slot, len(hosts))
		}
		if got := hits.Load(); got != ev.hits {
			t.Errorf("%s: the HTTP target was requested %d times in all, want %d", ev.name, got, ev.hits)
		}
		for h, w := range hosts {
			rs := results(t, st, h)
			if len(rs) != ev.rows {
				t.Errorf("%s: %s has %d stored results, want %d: %+v", ev.name, h, len(rs), ev.rows, rs)
				continue
			}
			for j, r := range rs {
				if !r.Slot.Equal(slot.Add(time.Duration(j)*interval)) || r.Location != "" || r.Up != w.up ||
					!strings.Contains(r.Reason, w.reason) || (w.up && r.Reason != "") {
					t.Errorf("%s: result %d of %s: %+v; want slot %s, up=%v, reason with %q", ev.name, j, h, r, slot.Add(time.Duration(j)*interval), w.up, w.reason)
				}
			}
		}
		if t.Failed() {
			t.Fatalf("after invocation %d; the function's log:\n%s", i+1, strings.Join(e.FunctionLog(), "\n"))
		}
	}
	if r := results(t, st, "127.0.0.1")[0]; r.Reason != app.LambdaICMPUnavailable {
		t.Errorf("ping target: reason %q, want exactly %q", r.Reason, app.LambdaICMPUnavailable)
	}

	// Each round logged one JSON line with its slot.
	round, ok := jsonLogLine(e.FunctionLog(), "round")
	if !ok || round["slot"] != slot.Format(time.RFC3339) || round["level"] != "INFO" {
		t.Errorf("round log line %v; the function's log:\n%s", round, strings.Join(e.FunctionLog(), "\n"))
	}
}

// A checker invocation whose results cannot be stored returns an error, so
// that the platform retries; the retry, once the database takes writes
// again, stores the round in the event's slot.
func TestCheckerSaveFails(t *testing.T) {
	t.Parallel()

	t.Run("insert refused", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDatabase(t)
		st := openStore(t, db) // creates the schema
		host := freeAddr(t)    // nothing listens there
		if err := st.AddHost(context.Background(), host); err != nil {
			t.Fatal(err)
		}
		// The database refuses the results: every insert into gosrvmon's
		// checks table fails, as with a full disk or a read-only role.
		pgtest.Exec(t, db, `CREATE FUNCTION lambdatest_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'lambdatest: no inserts into checks'; END $$;
			CREATE TRIGGER lambdatest_refuse BEFORE INSERT ON checks FOR EACH STATEMENT EXECUTE FUNCTION lambdatest_refuse()`)
		e := startEmulator(t, checkerBoot, checkerEnv(t, db)...)

		fe := functionError(t, e.Invoke(t, scheduledEvent(eventTime)))
		if !strings.Contains(fe.Message, "results could not be stored") || !strings.Contains(fe.Message, "lambdatest: no inserts into checks") || fe.Type != "SaveError" {
			t.Errorf("function error %+v; want the save's failure", fe)
		}
		if rs := results(t, st, host); len(rs) != 0 {
			t.Errorf("stored %+v after a failed save", rs)
		}
		if l, ok := jsonLogLine(e.FunctionLog(), "round not stored"); !ok || l["level"] != "ERROR" {
			t.Errorf("no JSON error line \"round not stored\"; the function's log:\n%s", strings.Join(e.FunctionLog(), "\n"))
		}

		pgtest.Exec(t, db, `DROP TRIGGER lambdatest_refuse ON checks`)
		sum := roundSummary(t, e.Invoke(t, scheduledEvent(eventTime)))
		rs := results(t, st, host)
		if !sum.Slot.Equal(eventTime.Truncate(interval)) || len(rs) != 1 || !rs[0].Slot.Equal(sum.Slot) {
			t.Errorf("the retry: summary %+v, stored %+v", sum, rs)
		}
	})

	t.Run("database dropped after init", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDatabase(t)
		e := startEmulator(t, checkerBoot, checkerEnv(t, db)...)
		// The first invocation starts the function: its init opens the
		// store and creates the schema, its round has no target.
		if sum := roundSummary(t, e.Invoke(t, scheduledEvent(eventTime))); sum.Targets != 0 {
			t.Fatalf("summary %+v of an empty database", sum)
		}
		u, err := url.Parse(db)
		if err != nil {
			t.Fatal(err)
		}
		pgtest.Exec(t, pgtest.ServerURL(t), "DROP DATABASE "+strings.TrimPrefix(u.Path, "/")+" WITH (FORCE)")

		// The pool's first connection was terminated by the drop; the
		// next one finds no database. Either way the round is not stored.
		for i := 1; i <= 2; i++ {
			fe := functionError(t, e.Invoke(t, scheduledEvent(eventTime.Add(time.Duration(i)*interval))))
			if !strings.Contains(fe.Message, "results could not be stored") || !strings.Contains(fe.Message, "postgres: ") {
				t.Errorf("invocation %d after the drop: function error %+v; want the store's failure", i, fe)
			}
		}
	})
}

// A function whose configuration is bad fails its init with one line
// that says why, and every invocation fails (502 from the emulator) until
// it is fixed.
func TestInitFails(t *testing.T) {
	t.Parallel()
	missing, err := url.Parse(pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	missing.Path = "/srvmon_lambdatest_no_such_database"
	for _, tc := range []struct {
		name, bootstrap string
		env             []string
		event           any
		line            string // the start of the one line
		reason          string
	}{
		{"checker, missing database", checkerBoot, []string{"DATABASE_URL=" + missing.String()}, scheduledEvent(eventTime),
			"srvmon-checker: open PostgreSQL store: ", `database "srvmon_lambdatest_no_such_database" does not exist`},
		{"api, bad config", apiBoot, []string{"DATABASE_URL=" + missing.String(), "SRVMON_CHECKS_HTTPMETHOD=POST"}, map[string]any{},
			"srvmon-api: ", `Checks.HTTPMethod "POST": want GET or HEAD`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startEmulator(t, tc.bootstrap, tc.env...)
			a := e.Invoke(t, tc.event)
			e.WaitLog(t, tc.line)
			lines := e.FunctionLog()
			if a.Status != http.StatusBadGateway || len(lines) != 1 || !strings.HasPrefix(lines[0], tc.line) || !strings.Contains(lines[0], tc.reason) {
				t.Errorf("invocation: %d %q; the function's log:\n%s\nwant 502 and one line %q…%q…", a.Status, a.Body, strings.Join(lines, "\n"), tc.line, tc.reason)
			}
		})
	}
}
