package config

import (
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary -confstr JSON and one arbitrary environment
// variable to Load: it must never panic, and what it accepts must be a
// config every binary can run with.
func FuzzLoad(f *testing.F) {
	seeds := []struct{ json, env string }{
		{`{"DB":{"Type":"bolt","Database":"gosrvmon.db"}}`, ""},
		{`{"DB":{"Type":"mysql"}}`, ""},
		{`{"Listen":{"Port":"80a"}}`, "SRVMON_LISTEN_PORT=65536"},
		{`{"Checks":{"Interval":-60}}`, "SRVMON_CHECKS_INTERVAL=1m"},
		{`{"Checks":{"Shard":[1,2,3]}}`, "SRVMON_CHECKS_SHARD=4/4"},
		{`{"Checks":{"Shard":"half"}}`, "SRVMON_CHECKS_SHARD=-1/2"},
		{`{"Chart":{"TimeZone":"Mars/Olympus"}}`, "SRVMON_CHART_TIMEZONE=Local"},
		{"{\n  \"DB\": {\"Type\": \"bolt\",}\n}", "DATABASE_URL=postgres://u:p@127.0.0.1/x"},
		{`{"DB": {`, "SRVMON_DB_TYPE=pq"},
		{`{} {}`, "SRVMON_CHECKS_REMOTECHECKSURLS=http://127.0.0.1:1/a,,"},
		{`[1]`, "SRVMON_CHECKS_PINGRETRYCOUNT=-4"},
		{`{"checks":{"interval":9223372036}}`, "SRVMON_NOTIFY_MAXAGE=9223372036854775807"},
		{`{"Checks":{"PingRetryCount":4294967296}}`, "SRVMON_LISTEN_WEBAUTH_ENABLE=true"},
		{`{"Listen":{"Address":"[::1]","Port":"0"}}`, "SRVMON_DB_URL=postgres://[::1"},
	}
	for _, s := range seeds {
		f.Add(s.json, s.env)
	}
	f.Fuzz(func(t *testing.T, confstr, env string) {
		c, err := Load(Source{JSON: confstr, Env: []string{env}, DefaultDatabase: "srvmon.db"})
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") && !strings.Contains(confstr+env, "\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			return
		}
		if c.Interval() <= 0 || c.Timeout() <= 0 || c.Location() == nil || c.Checks.Interval <= 0 {
			t.Fatalf("accepted config with interval %v, timeout %v", c.Interval(), c.Timeout())
		}
		switch c.StoreSpec().Kind {
		case StoreMemory, StoreBolt, StoreQL, StorePostgres:
		default:
			t.Fatalf("accepted unknown store %+v", c.StoreSpec())
		}
		if s := c.Checks.Shard; s.Enabled() && (s.Index < 0 || s.Index >= s.Count) {
			t.Fatalf("accepted shard %v", s)
		}
		_ = c.ListenAddr()
	})
}
