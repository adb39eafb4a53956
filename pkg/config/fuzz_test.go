package config

import (
	"os"
	"path/filepath"
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
		{`{"Monitors":[{"host":"http://127.0.0.1/","timeout":"1s","headers":{"X":"1"}},{"host":"127.0.0.1:22"}]}`, "SRVMON_MONITORS=[]"},
		{`{"Monitors":[{"host":"127.0.0.1:22","source":"config"}]}`, `SRVMON_MONITORS=[{"host":"http://127.0.0.1/","conditions":["[STATUS] == 200"]}]`},
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
		checkReloads(t, c)
	})
}

// FuzzLoadYAML feeds arbitrary YAML config files to Load: it must never
// panic, its errors are one line, and what it accepts loads again as
// itself, from its JSON (the YAML path is the JSON path).
func FuzzLoadYAML(f *testing.F) {
	for _, seed := range []string{
		"DB:\n  Type: memory\n",
		"Checks:\n  Interval: 30\n  PerformChecks: yes\n",
		"Listen: {Port: \"8000\", AllowedHosts: [monitor.lan]}\n",
		"Monitors:\n  - host: http://127.0.0.1:8080/\n    headers: &h {X-Key: k}\n  - host: 127.0.0.1:22\n    timeout: 3s\n  - host: http://127.0.0.1:8081/\n    headers: *h\n",
		"Monitors: []\n",
		"Monitors:\n",
		"a: &a [1, 2]\nb: [*a, *a]\n",
		"Checks:\n  <<: {Interval: 3}\n",
		"? [1]\n: 2\n",
		"1: 2\n",
		"Checks:\n  Interval: 0x3c\n  Timeout: .inf\n",
		"--- {}\n--- {}\n",
		"Checks: !custom 3\n",
		"Checks: &c {Shard: *c}\n",
		"",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, doc string) {
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(Source{File: p, DefaultDatabase: "srvmon.db"})
		if err != nil {
			if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\r\n") && !strings.ContainsAny(doc, "\r\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			return
		}
		checkReloads(t, c)
		data, err := yamlToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("Load accepted what yamlToJSON refuses: %v", err)
		}
		fromJSON, err := Load(Source{JSON: string(data), DefaultDatabase: "srvmon.db"})
		if err != nil {
			t.Fatalf("its JSON does not load: %v\n%s", err, data)
		}
		compareFields(t, fromJSON, c)
	})
}
