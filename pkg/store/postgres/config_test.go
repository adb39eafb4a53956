package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

func TestPoolConfig(t *testing.T) {
	pgtest.ClearLibpqEnv(t)
	for _, tc := range []struct {
		name                         string
		cfg                          Config
		host, user, password, dbname string
		port                         uint16
		maxConns                     int32
		timeout                      time.Duration
	}{
		{"URLWins", Config{URL: "postgres://u@127.0.0.1:6543/db", Host: "ignored.test", Port: "1", User: "x"},
			"127.0.0.1", "u", "", "db", 6543, DefaultMaxConns, DefaultConnectTimeout},
		{"URLConnectTimeout", Config{URL: "postgres://u@127.0.0.1/db?connect_timeout=3"},
			"127.0.0.1", "u", "", "db", 5432, DefaultMaxConns, 3 * time.Second},
		{"ConfigOverridesURL", Config{URL: "postgres://u@127.0.0.1/db?connect_timeout=3&pool_max_conns=20", ConnectTimeout: time.Second, MaxConns: 2},
			"127.0.0.1", "u", "", "db", 5432, 2, time.Second},
		{"URLPoolMaxConns", Config{URL: "postgres://u@127.0.0.1/db?pool_max_conns=20"},
			"127.0.0.1", "u", "", "db", 5432, 20, DefaultConnectTimeout},
		{"KeywordValue", Config{URL: "host=127.0.0.1 port=7000 user=u dbname=db"},
			"127.0.0.1", "u", "", "db", 7000, DefaultMaxConns, DefaultConnectTimeout},
		{"GosrvmonFields", Config{Host: "127.0.0.1", Port: "6000", User: "mon", Password: "p@ss:w/rd %", Database: "gosrvmon"},
			"127.0.0.1", "mon", "p@ss:w/rd %", "gosrvmon", 6000, DefaultMaxConns, DefaultConnectTimeout},
		{"FieldDefaults", Config{User: "mon"},
			"localhost", "mon", "", "", 5432, DefaultMaxConns, DefaultConnectTimeout},
		{"IPv6Field", Config{Host: "::1", Port: "5433", User: "mon"},
			"::1", "mon", "", "", 5433, DefaultMaxConns, DefaultConnectTimeout},
		{"UnixSocketField", Config{Host: "/var/run/postgresql", User: "mon", Database: "db"},
			"/var/run/postgresql", "mon", "", "db", 5432, DefaultMaxConns, DefaultConnectTimeout},
		{"PasswordWithoutUser", Config{Host: "127.0.0.1", Password: "pw"},
			"127.0.0.1", "", "pw", "", 5432, DefaultMaxConns, DefaultConnectTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcfg, err := poolConfig(tc.cfg)
			if err != nil {
				t.Fatalf("poolConfig: %v", err)
			}
			cc := pcfg.ConnConfig
			if cc.Host != tc.host || cc.Port != tc.port || cc.Database != tc.dbname || cc.Password != tc.password ||
				(tc.user != "" && cc.User != tc.user) {
				t.Errorf("got host %q port %d user %q password %q database %q; want %q %d %q %q %q",
					cc.Host, cc.Port, cc.User, cc.Password, cc.Database, tc.host, tc.port, tc.user, tc.password, tc.dbname)
			}
			if pcfg.MaxConns != tc.maxConns {
				t.Errorf("MaxConns = %d, want %d", pcfg.MaxConns, tc.maxConns)
			}
			if cc.ConnectTimeout != tc.timeout {
				t.Errorf("ConnectTimeout = %v, want %v", cc.ConnectTimeout, tc.timeout)
			}
			if cc.RuntimeParams["timezone"] != "UTC" {
				t.Errorf("RuntimeParams = %v, want timezone UTC", cc.RuntimeParams)
			}
		})
	}
}

func TestPoolConfigForcesUTC(t *testing.T) {
	pgtest.ClearLibpqEnv(t)
	pcfg, err := poolConfig(Config{URL: "postgres://u@127.0.0.1/db?TimeZone=Asia/Tokyo&jit=on"})
	if err != nil {
		t.Fatal(err)
	}
	var zones []string
	for k, v := range pcfg.ConnConfig.RuntimeParams {
		if strings.EqualFold(k, "timezone") {
			zones = append(zones, k+"="+v)
		}
	}
	if len(zones) != 1 || zones[0] != "timezone=UTC" {
		t.Errorf("time zone parameters %v, want only timezone=UTC", zones)
	}
	if got := pcfg.ConnConfig.RuntimeParams["jit"]; got != "on" {
		t.Errorf("jit = %q, want the URL's on", got)
	}
}

func TestPoolConfigErrors(t *testing.T) {
	pgtest.ClearLibpqEnv(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"BadURL", Config{URL: "postgres://u:hunter2@127.0.0.1:notaport/db"}, "bad connection settings"},
		{"NegativeTimeout", Config{URL: "postgres://127.0.0.1/db", ConnectTimeout: -time.Second}, "negative connect timeout"},
		{"NegativeMaxConns", Config{URL: "postgres://127.0.0.1/db", MaxConns: -1}, "negative MaxConns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := poolConfig(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("poolConfig: %v, want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
			if _, err := Open(t.Context(), tc.cfg); err == nil {
				t.Errorf("Open succeeded with %+v", tc.cfg)
			}
		})
	}
}

// FuzzFieldsURL checks that gosrvmon's fields survive the URL built from
// them, whatever characters they hold.
func FuzzFieldsURL(f *testing.F) {
	pgtest.ClearLibpqEnv(f)
	f.Add("mon", "secret", "gosrvmon")
	f.Add("m o@n", "p@ss:w/rd %?#&=", "db name/x?y")
	f.Add("", "", "")
	f.Add("ünïcode", "pa'ss\"word", "d;b")
	f.Fuzz(func(t *testing.T, user, password, database string) {
		if strings.ContainsRune(user+password+database, 0) {
			return // PostgreSQL strings cannot hold NUL
		}
		cfg := Config{Host: "127.0.0.1", Port: "6000", User: user, Password: password, Database: database}
		pcfg, err := poolConfig(cfg)
		if err != nil {
			t.Fatalf("poolConfig(%+v): %v", cfg, err)
		}
		cc := pcfg.ConnConfig
		if (user != "" && cc.User != user) || cc.Password != password || cc.Database != database ||
			cc.Host != "127.0.0.1" || cc.Port != 6000 {
			t.Errorf("fields %+v became user %q password %q database %q host %q port %d",
				cfg, cc.User, cc.Password, cc.Database, cc.Host, cc.Port)
		}
	})
}

func TestBound(t *testing.T) {
	base := time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)
	zone := time.FixedZone("UTC+05:30", 5*3600+30*60)
	for _, tc := range []struct {
		in, want time.Time
	}{
		{base, base},
		{base.Add(1), base.Add(time.Microsecond)},
		{base.Add(999), base.Add(time.Microsecond)},
		{base.Add(1000), base.Add(time.Microsecond)},
		{base.Add(1001), base.Add(2 * time.Microsecond)},
		{base.Add(-1), base},
		{base.In(zone), base},
		{time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(1960, 1, 1, 0, 0, 0, 1000, time.UTC)},
	} {
		if got := bound(tc.in); !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("bound(%v) = %v, want %v in UTC", tc.in, got, tc.want)
		}
	}
}

// TestOneConnection runs every method on a pool of one connection: a
// method that needed two (or leaked one) would wait for ever, here until
// the deadline.
func TestOneConnection(t *testing.T) {
	u := pgtest.NewDatabase(t)
	s, err := Open(t.Context(), Config{URL: u, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const n = 10000
	hosts := make([]string, n)
	rules := make([]store.Rule, n)
	round := make([]store.Result, n)
	at := time.Date(2024, time.May, 1, 0, 0, 0, 0, time.UTC)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%05d.test", i)
		rules[i] = store.Rule{Host: hosts[i], Threshold: 1, Action: "http://127.0.0.1:9/"}
		round[i] = store.Result{Host: hosts[i], Slot: at, RTT: time.Second, Reason: "timeout"}
	}
	results := func(ctx context.Context, emit func(store.Result) error) error {
		for _, r := range round {
			r.Slot = r.Slot.Add(-time.Minute)
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}
	step := time.Now()
	took := func(what string) { t.Logf("%s took %v", what, time.Since(step)); step = time.Now() }
	if err := s.Restore(ctx, store.Restore{Hosts: hosts, Rules: rules, Results: results}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	took("Restore")
	advance := func(rule store.Rule, prev store.State, r store.Result) (store.State, *store.Delivery) {
		return store.State{Status: "down", Count: prev.Count + 1, LastSlot: r.Slot},
			&store.Delivery{URL: rule.Action, Created: r.Slot, NextAttempt: r.Slot}
	}
	if err := s.SaveRound(ctx, round, storetest.PerResult(advance)); err != nil {
		t.Fatalf("SaveRound of %d results: %v", n, err)
	}
	took("SaveRound")
	ds, err := s.DueDeliveries(ctx, at, 2*n)
	if err != nil || len(ds) != n {
		t.Fatalf("DueDeliveries = %d, %v; want %d", len(ds), err, n)
	}
	count := 0
	if err := s.Checks(ctx, hosts[7], at.Add(-time.Hour), at.Add(time.Hour), func(store.Check) error { count++; return nil }); err != nil || count != 2 {
		t.Errorf("Checks = %d, %v; want 2", count, err)
	}
	if _, err := s.Buckets(ctx, hosts[7], at.Add(-time.Hour), at.Add(time.Hour), 100); err != nil {
		t.Errorf("Buckets: %v", err)
	}
	took("reads")
	if deleted, err := s.DeleteResultsBefore(ctx, at); err != nil || deleted != n {
		t.Errorf("DeleteResultsBefore = %d, %v; want %d", deleted, err, n)
	}
	took("DeleteResultsBefore")
	if err := s.DeleteHost(ctx, hosts[0]); err != nil {
		t.Errorf("DeleteHost: %v", err)
	}
	if st := s.pool.Stat(); st.MaxConns() != 1 || st.TotalConns() > 1 {
		t.Errorf("pool: %d connections of at most %d", st.TotalConns(), st.MaxConns())
	}
}

// TestSessionTimeZone opens a database whose default TimeZone is not UTC:
// sessions must be UTC, and times must read back as they were written.
func TestSessionTimeZone(t *testing.T) {
	u := pgtest.NewDatabase(t)
	name := u[strings.LastIndexByte(u, '/')+1:]
	name, _, _ = strings.Cut(name, "?")
	s0, err := Open(t.Context(), Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s0.pool.Exec(t.Context(), "ALTER DATABASE "+name+" SET timezone = 'Pacific/Chatham'"); err != nil {
		t.Fatal(err)
	}
	s0.Close()

	s, err := Open(t.Context(), Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	var tz string
	if err := s.pool.QueryRow(ctx, "SHOW TimeZone").Scan(&tz); err != nil || tz != "UTC" {
		t.Errorf("session TimeZone = %q, %v; want UTC", tz, err)
	}
	at := time.Date(2024, time.March, 31, 1, 30, 0, 0, time.FixedZone("UTC+13:45", 13*3600+45*60))
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRound(ctx, []store.Result{{Host: "a.test", Slot: at, RTT: 1, Up: true}}, nil); err != nil {
		t.Fatal(err)
	}
	// What is stored in check_time is the UTC wall clock, as gosrvmon's.
	var stored string
	if err := s.pool.QueryRow(ctx, "SELECT check_time::text FROM checks").Scan(&stored); err != nil || stored != at.UTC().Format("2006-01-02 15:04:05") {
		t.Errorf("check_time = %q, %v; want %q", stored, err, at.UTC().Format("2006-01-02 15:04:05"))
	}
	c, ok, err := s.LastCheck(ctx, "a.test")
	if err != nil || !ok || !c.Time.Equal(at) || c.Time.Location() != time.UTC {
		t.Errorf("LastCheck = %+v, %v, %v; want the check at %v in UTC", c, ok, err, at.UTC())
	}
}
