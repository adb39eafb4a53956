package config

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
)

func TestLoadGosrvmonSamples(t *testing.T) {
	tests := []struct {
		file string
		want func(c *Config) // fields that differ from Defaults(), set on a copy
		warn []string        // substrings, one per expected warning
	}{
		{
			file: "testdata/gosrvmon-config.json",
			want: func(c *Config) {
				c.DB = DB{Type: StoreBolt, Port: "5432", Database: "gosrvmon.db"}
				c.Checks.HTTPMethod = "HEAD"
			},
		},
		{
			// DB.Type "" with a Database is bolt, gosrvmon's default type.
			file: "testdata/gosrvmon-config-2020.json",
			want: func(c *Config) {
				c.DB = DB{Type: StoreBolt, Port: "5432", Database: "gosrvmon.db"}
				c.Checks.HTTPMethod = "HEAD"
				c.Checks.UseRemoteChecks = true
				c.Checks.AllowSingleChecks = true
			},
			warn: []string{"UseRemoteChecks is true but Checks.RemoteChecksURLs is empty"},
		},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			got, err := Load(Source{File: tt.file})
			if err != nil {
				t.Fatal(err)
			}
			want := Defaults()
			tt.want(&want)
			compareFields(t, got, want)
			if spec := got.StoreSpec(); spec != (StoreSpec{Kind: StoreBolt, Path: "gosrvmon.db"}) {
				t.Errorf("StoreSpec = %+v", spec)
			}
			checkWarnings(t, got.Warnings(), tt.warn)
		})
	}
}

// compareFields compares every exported field of two configs and names
// the ones that differ.
func compareFields(t *testing.T, got, want Config) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for _, f := range fields() {
		gv, wv := g.FieldByIndex(f.index).Interface(), w.FieldByIndex(f.index).Interface()
		if !reflect.DeepEqual(gv, wv) {
			t.Errorf("%s = %#v, want %#v", f.name(), gv, wv)
		}
	}
}

func checkWarnings(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("warnings = %q, want %d matching %q", got, len(want), want)
		return
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("warning %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadLayers(t *testing.T) {
	file := writeFile(t, `{"DB":{"Type":"bolt","Database":"file.db"},
		"Listen":{"Port":"8001","WebAuth":{"Enable":true,"User":"admin","Password":"pw"}},
		"Checks":{"Interval":30,"RemoteChecksURLs":["http://127.0.0.1:9/api/checks"]}}`)
	tests := []struct {
		name string
		src  Source
		want func(c *Config)
		spec StoreSpec
		warn []string
	}{
		{
			name: "no config, standalone default",
			src:  Source{DefaultDatabase: "srvmon.db"},
			want: func(c *Config) { c.DB = DB{Type: StoreBolt, Database: "srvmon.db"} },
			spec: StoreSpec{Kind: StoreBolt, Path: "srvmon.db"},
		},
		{
			name: "no config, no store needed (-check)",
			src:  Source{StoreUnused: true},
			want: func(c *Config) { c.DB = DB{Type: StoreMemory} },
			spec: StoreSpec{Kind: StoreMemory},
		},
		{
			name: "gosrvmon -confstr example",
			src:  Source{JSON: `{"DB":{"Type":"bolt","Database":"gosrvmon.db"}}`},
			want: func(c *Config) { c.DB = DB{Type: StoreBolt, Database: "gosrvmon.db"} },
			spec: StoreSpec{Kind: StoreBolt, Path: "gosrvmon.db"},
		},
		{
			name: "gosrvmon: bolt without Database is in memory",
			src:  Source{JSON: `{"DB":{"Type":"bolt"}}`, DefaultDatabase: "srvmon.db"},
			want: func(c *Config) { c.DB = DB{Type: StoreMemory} },
			spec: StoreSpec{Kind: StoreMemory},
			warn: []string{"kept in memory"},
		},
		{
			name: "bbolt and ql",
			src:  Source{JSON: `{"DB":{"Type":"QL","Database":"x.ql"}}`},
			want: func(c *Config) { c.DB = DB{Type: StoreQL, Database: "x.ql"} },
			spec: StoreSpec{Kind: StoreQL, Path: "x.ql"},
		},
		{
			name: "file",
			src:  Source{File: file},
			want: func(c *Config) {
				c.DB = DB{Type: StoreBolt, Database: "file.db"}
				c.Listen.Port = "8001"
				c.Listen.WebAuth = WebAuth{Enable: true, User: "admin", Password: "pw"}
				c.Checks.Interval = Seconds(30 * time.Second)
				c.Checks.RemoteChecksURLs = []string{"http://127.0.0.1:9/api/checks"}
			},
			spec: StoreSpec{Kind: StoreBolt, Path: "file.db"},
		},
		{
			name: "confstr over file",
			src:  Source{File: file, JSON: `{"Checks":{"Interval":15,"RemoteChecksURLs":[]},"Listen":{"WebAuth":{"User":"root"}}}`},
			want: func(c *Config) {
				c.DB = DB{Type: StoreBolt, Database: "file.db"}
				c.Listen.Port = "8001"
				c.Listen.WebAuth = WebAuth{Enable: true, User: "root", Password: "pw"}
				c.Checks.Interval = Seconds(15 * time.Second)
			},
			spec: StoreSpec{Kind: StoreBolt, Path: "file.db"},
		},
		{
			name: "environment over confstr over file",
			src: Source{File: file, JSON: `{"Checks":{"Interval":15}}`, Env: []string{
				"SRVMON_CHECKS_INTERVAL=5",
				"SRVMON_LISTEN_PORT=0",
				"SRVMON_LISTEN_WEBAUTH_ENABLE=false",
				"SRVMON_CHECKS_REMOTECHECKSURLS= http://127.0.0.1:1/a , http://[::1]:2/b ,",
				"SRVMON_CHART_TIMEZONE=Europe/Berlin",
				"SRVMON_CHECKS_SHARD=1/4",
				"SRVMON_CHECKS_LOCATION=vps-1",
				"SRVMON_CHECKS_HTTPMETHOD=head",
				"SRVMON_CHECKS_PERFORMCHECKS=0",
				"SRVMON_CHECKS_PINGRETRYCOUNT=2",
				"SRVMON_NOTIFY_MAXAGE=3600",
				"SRVMON_CHECKS_TIMEOUT=", // empty: unset
				"HOME=/root",
			}},
			want: func(c *Config) {
				c.DB = DB{Type: StoreBolt, Database: "file.db"}
				c.Listen.Port = "0"
				c.Listen.WebAuth = WebAuth{Enable: false, User: "admin", Password: "pw"}
				c.Checks.Interval = Seconds(5 * time.Second)
				c.Checks.RemoteChecksURLs = []string{"http://127.0.0.1:1/a", "http://[::1]:2/b"}
				c.Chart.TimeZone = "Europe/Berlin"
				c.Checks.Shard = Shard{1, 4}
				c.Checks.Location = "vps-1"
				c.Checks.HTTPMethod = "HEAD"
				c.Checks.PerformChecks = false
				c.Checks.PingRetryCount = 2
				c.Notify.MaxAge = Seconds(3600 * time.Second)
			},
			spec: StoreSpec{Kind: StoreBolt, Path: "file.db"},
			warn: []string{"Checks.Timeout (10 s) is not shorter than Checks.Interval (5 s)"},
		},
		{
			name: "DATABASE_URL means postgres whatever the file says",
			src:  Source{File: file, Env: []string{"DATABASE_URL=postgres://u:secret@127.0.0.1:5432/mon"}},
			want: func(c *Config) {
				c.DB = DB{Type: StorePostgres, Database: "file.db", URL: "postgres://u:secret@127.0.0.1:5432/mon"}
				c.Listen.Port = "8001"
				c.Listen.WebAuth = WebAuth{Enable: true, User: "admin", Password: "pw"}
				c.Checks.Interval = Seconds(30 * time.Second)
				c.Checks.RemoteChecksURLs = []string{"http://127.0.0.1:9/api/checks"}
			},
			spec: StoreSpec{Kind: StorePostgres, URL: "postgres://u:secret@127.0.0.1:5432/mon", Database: "file.db"},
		},
		{
			name: "SRVMON_DB_URL wins over DATABASE_URL",
			src: Source{Env: []string{
				"DATABASE_URL=postgres://127.0.0.1/a",
				"SRVMON_DB_URL=postgresql://127.0.0.1/b",
			}},
			want: func(c *Config) { c.DB = DB{Type: StorePostgres, URL: "postgresql://127.0.0.1/b"} },
			spec: StoreSpec{Kind: StorePostgres, URL: "postgresql://127.0.0.1/b"},
		},
		{
			name: "gosrvmon postgres fields",
			src:  Source{JSON: `{"DB":{"Type":"pg","Host":"127.0.0.1","Port":"5433","User":"mon","Password":"p@ss word","Database":"gosrvmon"}}`},
			want: func(c *Config) {
				c.DB = DB{Type: StorePostgres, Host: "127.0.0.1", Port: "5433", User: "mon", Password: "p@ss word", Database: "gosrvmon"}
			},
			spec: StoreSpec{Kind: StorePostgres, Host: "127.0.0.1", Port: "5433", User: "mon", Password: "p@ss word", Database: "gosrvmon"},
		},
		{
			name: "pq in the environment",
			src:  Source{Env: []string{"SRVMON_DB_TYPE=pq", "SRVMON_DB_HOST=::1", "SRVMON_DB_DATABASE=mon"}},
			want: func(c *Config) { c.DB = DB{Type: StorePostgres, Host: "::1", Database: "mon"} },
			spec: StoreSpec{Kind: StorePostgres, Host: "::1", Database: "mon"},
		},
		{
			name: "explicit memory",
			src:  Source{Env: []string{"SRVMON_DB_TYPE=memory"}},
			want: func(c *Config) { c.DB = DB{Type: StoreMemory} },
			spec: StoreSpec{Kind: StoreMemory},
			warn: []string{"kept in memory"},
		},
		{
			name: "zero means the default, as in gosrvmon",
			src: Source{DefaultDatabase: "d.db", JSON: `{"Listen":{"Port":"","ReadTimeout":0,"WriteTimeout":0,"MaxBodyBytes":0},
				"Checks":{"Timeout":0,"Interval":0,"PingRetryCount":0,"HTTPMethod":"","Concurrency":0,"ICMPConcurrency":0},
				"Chart":{"MaxRttScale":-5,"TimeZone":""},"Notify":{"Timeout":0,"MaxAge":0,"RetryDelay":0}}`},
			want: func(c *Config) { c.DB = DB{Type: StoreBolt, Database: "d.db"} },
			spec: StoreSpec{Kind: StoreBolt, Path: "d.db"},
		},
		{
			name: "shard as two ints, field names in any case",
			src:  Source{DefaultDatabase: "d.db", JSON: `{"checks":{"shard":[2,3],"interval":120}}`},
			want: func(c *Config) {
				c.DB = DB{Type: StoreBolt, Database: "d.db"}
				c.Checks.Shard = Shard{2, 3}
				c.Checks.Interval = Seconds(120 * time.Second)
			},
			spec: StoreSpec{Kind: StoreBolt, Path: "d.db"},
		},
		{
			name: "unknown fields and variables are ignored with a warning",
			src: Source{DefaultDatabase: "d.db", JSON: `{"Checks":{"Intervall":5,"Interval":5},"Extra":{"a":1},"Listen":{"WebAuth":{"Realm":"x"}}}`,
				Env: []string{"SRVMON_CHECK_INTERVAL=5", "SRVMON_TEST_DATABASE_URL=postgres://127.0.0.1/x"}},
			want: func(c *Config) {
				c.DB = DB{Type: StoreBolt, Database: "d.db"}
				c.Checks.Interval = Seconds(5 * time.Second)
			},
			spec: StoreSpec{Kind: StoreBolt, Path: "d.db"},
			warn: []string{
				"-confstr: unknown field Checks.Intervall (ignored)",
				"-confstr: unknown field Extra (ignored)",
				"-confstr: unknown field Listen.WebAuth.Realm (ignored)",
				"unknown environment variable SRVMON_CHECK_INTERVAL (ignored)",
				"Checks.Timeout (10 s) is not shorter than Checks.Interval (5 s)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			want := Defaults()
			tt.want(&want)
			compareFields(t, got, want)
			if spec := got.StoreSpec(); spec != tt.spec {
				t.Errorf("StoreSpec = %+v, want %+v", spec, tt.spec)
			}
			checkWarnings(t, got.Warnings(), tt.warn)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		src  Source
		want string // the whole error line
	}{
		{"no database for checker or api", Source{}, "no database configured: set DATABASE_URL, or DB in the config (-config, -confstr or SRVMON_DB_*)"},
		{"missing file", Source{File: "testdata/nonexistent.json"}, "config file: open testdata/nonexistent.json: no such file or directory"},
		{"unknown DB type", Source{JSON: `{"DB":{"Type":"mysql"}}`}, `DB.Type "mysql": unknown database type (want bolt, ql, pg or memory)`},
		{"unknown DB type from env", Source{Env: []string{"SRVMON_DB_TYPE=sqlite"}}, `DB.Type "sqlite": unknown database type (want bolt, ql, pg or memory)`},
		{"URL with bolt", Source{Env: []string{"SRVMON_DB_TYPE=bolt", "DATABASE_URL=postgres://127.0.0.1/x"}}, `DB.URL is set (a PostgreSQL URL) but DB.Type is "bolt"`},
		{"URL not postgres", Source{Env: []string{"DATABASE_URL=mysql://root:hunter2@127.0.0.1/x"}}, "DB.URL (DATABASE_URL): want a postgres:// or postgresql:// URL"},
		{"bad listen port", Source{DefaultDatabase: "d", JSON: `{"Listen":{"Port":"80a"}}`}, `Listen.Port "80a": want a port number from 0 to 65535`},
		{"listen port too big", Source{DefaultDatabase: "d", Env: []string{"SRVMON_LISTEN_PORT=65536"}}, `Listen.Port "65536": want a port number from 0 to 65535`},
		{"listen port as number", Source{DefaultDatabase: "d", JSON: `{"Listen":{"Port":8000}}`}, "-confstr: Listen.Port: got JSON number, want a string"},
		{"bad DB port", Source{JSON: `{"DB":{"Type":"pg","Port":"0"}}`}, `DB.Port "0": want a port number from 1 to 65535`},
		{"unknown time zone", Source{DefaultDatabase: "d", JSON: `{"Chart":{"TimeZone":"Mars/Olympus"}}`}, `Chart.TimeZone "Mars/Olympus": unknown time zone (want an IANA name such as UTC or Europe/Berlin)`},
		{"negative interval", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Interval":-60}}`}, "Checks.Interval is -60: it must not be negative"},
		{"negative timeout env", Source{DefaultDatabase: "d", Env: []string{"SRVMON_CHECKS_TIMEOUT=-1"}}, "Checks.Timeout is -1: it must not be negative"},
		{"negative retention", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Retention":-1}}`}, "Checks.Retention is -1: it must not be negative"},
		{"negative read timeout", Source{DefaultDatabase: "d", JSON: `{"Listen":{"ReadTimeout":-1}}`}, "Listen.ReadTimeout is -1: it must not be negative"},
		{"negative body limit", Source{DefaultDatabase: "d", JSON: `{"Listen":{"MaxBodyBytes":-1}}`}, "Listen.MaxBodyBytes is -1: it must not be negative"},
		{"unknown Lambda payload", Source{DefaultDatabase: "d", JSON: `{"Listen":{"LambdaPayload":"3.0"}}`}, `Listen.LambdaPayload "3.0": want 2.0 or 1.0`},
		{"negative max age", Source{DefaultDatabase: "d", JSON: `{"Notify":{"MaxAge":-1}}`}, "Notify.MaxAge is -1: it must not be negative"},
		{"negative concurrency", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Concurrency":-1}}`}, "Checks.Concurrency is -1: it must not be negative"},
		{"negative icmp concurrency", Source{DefaultDatabase: "d", JSON: `{"Checks":{"ICMPConcurrency":-2}}`}, "Checks.ICMPConcurrency is -2: it must not be negative"},
		{"interval too long", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Interval":9223372036}}`}, "Checks.Interval is 9223372036 seconds: that is more than 100 years"},
		{"negative ping count", Source{DefaultDatabase: "d", JSON: `{"Checks":{"PingRetryCount":-1}}`}, "-confstr: Checks.PingRetryCount: got JSON number -1, want a non-negative integer"},
		{"fractional interval", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Interval":1.5}}`}, "-confstr: Checks.Interval: got JSON number 1.5, want an integer"},
		{"interval as string", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Interval":"60"}}`}, "-confstr: Checks.Interval: got JSON string, want an integer"},
		{"interval not an int in env", Source{DefaultDatabase: "d", Env: []string{"SRVMON_CHECKS_INTERVAL=1m"}}, `environment SRVMON_CHECKS_INTERVAL (Checks.Interval): "1m" is not an integer`},
		{"bool in env", Source{DefaultDatabase: "d", Env: []string{"SRVMON_CHECKS_PERFORMCHECKS=yes"}}, `environment SRVMON_CHECKS_PERFORMCHECKS (Checks.PerformChecks): "yes" is not true or false`},
		{"uint in env", Source{DefaultDatabase: "d", Env: []string{"SRVMON_CHECKS_PINGRETRYCOUNT=-4"}}, `environment SRVMON_CHECKS_PINGRETRYCOUNT (Checks.PingRetryCount): "-4" is not a non-negative integer`},
		{"urls not a list", Source{DefaultDatabase: "d", JSON: `{"Checks":{"RemoteChecksURLs":"http://127.0.0.1/"}}`}, "-confstr: Checks.RemoteChecksURLs: got JSON string, want an array of strings"},
		{"bad remote url", Source{DefaultDatabase: "d", JSON: `{"Checks":{"RemoteChecksURLs":["127.0.0.1:8000/api/checks"]}}`}, `Checks.RemoteChecksURLs: "127.0.0.1:8000/api/checks" is not an http:// or https:// URL`},
		{"bad http method", Source{DefaultDatabase: "d", JSON: `{"Checks":{"HTTPMethod":"POST"}}`}, `Checks.HTTPMethod "POST": want GET or HEAD`},
		{"shard out of range", Source{DefaultDatabase: "d", Env: []string{"SRVMON_CHECKS_SHARD=4/4"}}, "environment SRVMON_CHECKS_SHARD (Checks.Shard): shard 4/4: want i/n with n >= 1 and 0 <= i < n"},
		{"shard negative", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Shard":[-1,2]}}`}, `-confstr: Checks.Shard: got JSON array [-1,2], want "i/n" or [i, n] with 0 <= i < n`},
		{"shard zero count", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Shard":"0/0"}}`}, `-confstr: Checks.Shard: got JSON string "0/0", want "i/n" or [i, n] with 0 <= i < n`},
		{"shard syntax", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Shard":"half"}}`}, `-confstr: Checks.Shard: got JSON string "half", want "i/n" or [i, n] with 0 <= i < n`},
		{"shard three ints", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Shard":[1,2,3]}}`}, `-confstr: Checks.Shard: got JSON array [1,2,3], want "i/n" or [i, n] with 0 <= i < n`},
		{"shard syntax env", Source{DefaultDatabase: "d", Env: []string{"SRVMON_CHECKS_SHARD=1of3"}}, `environment SRVMON_CHECKS_SHARD (Checks.Shard): shard "1of3": want "i/n"`},
		{"location with newline", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Location":"a\nb"}}`}, `Checks.Location "a\nb": control characters are not allowed`},
		{"webauth without user", Source{DefaultDatabase: "d", JSON: `{"Listen":{"WebAuth":{"Enable":true}}}`}, "Listen.WebAuth.Enable is true but Listen.WebAuth.Password is empty: set it (SRVMON_LISTEN_WEBAUTH_PASSWORD) or disable WebAuth"},
		{"webauth without password", Source{DefaultDatabase: "d", JSON: `{"Listen":{"WebAuth":{"Enable":true,"User":"admin"}}}`}, "Listen.WebAuth.Enable is true but Listen.WebAuth.Password is empty: set it (SRVMON_LISTEN_WEBAUTH_PASSWORD) or disable WebAuth"},
		{"webauth password emptied by env", Source{DefaultDatabase: "d", JSON: `{"Listen":{"WebAuth":{"Enable":true,"User":"admin"}}}`, Env: []string{"SRVMON_LISTEN_WEBAUTH_ENABLE=true"}}, "Listen.WebAuth.Enable is true but Listen.WebAuth.Password is empty: set it (SRVMON_LISTEN_WEBAUTH_PASSWORD) or disable WebAuth"},
		{"allowed host with scheme", Source{DefaultDatabase: "d", JSON: `{"Listen":{"AllowedHosts":["https://monitor.example.com"]}}`}, `Listen.AllowedHosts: "https://monitor.example.com" is not a host name (want e.g. monitor.example.com, without scheme or path, or *)`},
		{"allowed host pattern", Source{DefaultDatabase: "d", Env: []string{"SRVMON_LISTEN_ALLOWEDHOSTS=monitor.lan,*.example.com"}}, `Listen.AllowedHosts: "*.example.com" is not a host name (want e.g. monitor.example.com, without scheme or path, or *)`},
		{"allowed host empty", Source{DefaultDatabase: "d", JSON: `{"Listen":{"AllowedHosts":[""]}}`}, `Listen.AllowedHosts: "" is not a host name (want e.g. monitor.example.com, without scheme or path, or *)`},
		{"location too long", Source{DefaultDatabase: "d", JSON: `{"Checks":{"Location":"` + strings.Repeat("x", 65) + `"}}`}, `Checks.Location is 65 bytes long, the limit is 64`},
		{"syntax error", Source{DefaultDatabase: "d", JSON: "{\n  \"DB\": {\"Type\": \"bolt\",}\n}"}, "-confstr: invalid JSON at line 2, column 25: invalid character '}' looking for beginning of object key string"},
		{"truncated", Source{DefaultDatabase: "d", JSON: `{"DB": {`}, "-confstr: invalid JSON: unexpected end of input"},
		{"trailing data", Source{DefaultDatabase: "d", JSON: `{} {}`}, "-confstr: invalid JSON: more data after the config object"},
		{"not an object", Source{DefaultDatabase: "d", JSON: `[1]`}, "-confstr: the config: got JSON array, want an object"},
		{"section not an object", Source{DefaultDatabase: "d", JSON: `{"Checks": 5}`}, "-confstr: Checks: got JSON number, want an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.src)
			if err == nil {
				t.Fatalf("Load succeeded, want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// A bad config file names itself and the field.
func TestLoadErrorNamesFile(t *testing.T) {
	p := writeFile(t, `{"Checks":{"Timeout":"10"}}`)
	_, err := Load(Source{File: p})
	want := "config file " + p + ": Checks.Timeout: got JSON string, want an integer"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

// The URL's password never appears in an error or in Redacted.
func TestDatabaseURLNotEchoed(t *testing.T) {
	_, err := Load(Source{Env: []string{"DATABASE_URL=mysql://root:hunter2@127.0.0.1/x"}})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error = %v", err)
	}
	c, err := Load(Source{Env: []string{"DATABASE_URL=postgres://root:hunter2@127.0.0.1/x"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.StoreSpec().Redacted(); strings.Contains(r, "hunter2") || !strings.Contains(r, "127.0.0.1/x") {
		t.Errorf("Redacted = %q", r)
	}
	c, err = Load(Source{JSON: `{"DB":{"Type":"pg","User":"u","Password":"hunter2","Database":"x"}}`})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.StoreSpec().Redacted(); strings.Contains(r, "hunter2") {
		t.Errorf("Redacted = %q", r)
	}
}

func TestAccessors(t *testing.T) {
	c, err := Load(Source{DefaultDatabase: "d", JSON: `{"Listen":{"Address":"::1","Port":"0"},
		"Checks":{"Timeout":3,"Interval":30,"Retention":86400,"PingRetryCount":2,"HTTPMethod":"head","Concurrency":50,"ICMPConcurrency":5},
		"Chart":{"MaxRttScale":500,"TimeZone":"Asia/Tokyo"},"Notify":{"Timeout":4,"MaxAge":600,"RetryDelay":7}}`})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"Interval", c.Interval(), 30 * time.Second},
		{"Timeout", c.Timeout(), 3 * time.Second},
		{"Retention", c.Checks.Retention.Duration(), 24 * time.Hour},
		{"RemoteTimeout", c.Checks.RemoteTimeout.Duration(), time.Duration(0)}, // zero: internal/app uses Timeout, 3 s
		{"ReadTimeout", c.Listen.ReadTimeout.Duration(), 30 * time.Second},
		{"WriteTimeout", c.Listen.WriteTimeout.Duration(), 60 * time.Second},
		{"MaxBodyBytes", c.Listen.MaxBodyBytes, int64(1 << 30)},
		{"MaxRTTScale", c.Chart.MaxRTTScale, int64(500)},
		{"NotifyTimeout", c.Notify.Timeout.Duration(), 4 * time.Second},
		{"NotifyMaxAge", c.Notify.MaxAge.Duration(), 10 * time.Minute},
		{"NotifyRetryDelay", c.Notify.RetryDelay.Duration(), 7 * time.Second},
		{"ListenAddr", c.ListenAddr(), "[::1]:0"},
		{"Location", c.Location().String(), "Asia/Tokyo"},
		{"PingRetryCount", c.Checks.PingRetryCount, uint32(2)},
		{"HTTPMethod", c.Checks.HTTPMethod, "HEAD"},
		{"Concurrency", c.Checks.Concurrency, 50},
		{"ICMPConcurrency", c.Checks.ICMPConcurrency, 5},
	} {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s() = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	// {TIME} in the configured zone: the location is a real one.
	if got := time.Date(2021, 3, 2, 12, 0, 0, 0, time.UTC).In(c.Location()).Format("15:04 MST"); got != "21:00 JST" {
		t.Errorf("12:00 UTC in Asia/Tokyo = %s", got)
	}
}

// Defaults holds every default in effect, as a loaded Config does.
func TestDefaults(t *testing.T) {
	c := Defaults()
	if c.Interval() != time.Minute || c.Timeout() != 10*time.Second || c.Checks.Retention != 0 ||
		c.Checks.RemoteTimeout != 0 || c.Listen.ReadTimeout.Duration() != 30*time.Second || c.Listen.WriteTimeout.Duration() != time.Minute ||
		c.Chart.MaxRTTScale != 200 || c.Location() != time.UTC || c.ListenAddr() != ":8000" ||
		c.Notify.Timeout.Duration() != 10*time.Second || c.Notify.MaxAge.Duration() != 24*time.Hour || c.Notify.RetryDelay.Duration() != 30*time.Second ||
		c.Listen.MaxBodyBytes != 1<<30 || c.LambdaPayload() != LambdaPayloadV2 || c.Listen.ShutdownTimeout.Duration() != time.Minute {
		t.Errorf("Defaults: %+v", c)
	}
	if k := c.Checks; k.PingRetryCount != 4 || k.HTTPMethod != "GET" || k.Concurrency != probe.DefaultConcurrency || k.ICMPConcurrency != probe.DefaultICMPConcurrency {
		t.Errorf("Defaults probe settings: %+v", k)
	}
	var zero Config
	if s := zero.StoreSpec(); s != (StoreSpec{Kind: StoreMemory}) {
		t.Errorf("StoreSpec() = %+v", s)
	}
	if zero.Warnings() != nil || zero.Location() != time.UTC {
		t.Errorf("Warnings() = %q", zero.Warnings())
	}
}

func TestShardEnabled(t *testing.T) {
	var all Shard
	s := Shard{Index: 1, Count: 3}
	if !s.Enabled() || all.Enabled() || (Shard{0, 1}).Enabled() {
		t.Errorf("Enabled: %v %v %v", s.Enabled(), all.Enabled(), (Shard{0, 1}).Enabled())
	}
}

func TestEnvNames(t *testing.T) {
	vars := EnvNames()
	seen := map[string]bool{}
	for _, v := range vars {
		if seen[v.Name] {
			t.Errorf("duplicate environment name %s", v.Name)
		}
		seen[v.Name] = true
		if v.Doc == "" {
			t.Errorf("%s (%s) has no doc", v.Name, v.Field)
		}
	}
	for _, name := range []string{
		"DATABASE_URL", "SRVMON_DB_URL", "SRVMON_DB_TYPE", "SRVMON_DB_DATABASE", "SRVMON_LISTEN_PORT",
		"SRVMON_LISTEN_WEBAUTH_ENABLE", "SRVMON_LISTEN_WEBAUTH_PROTECTREADS", "SRVMON_LISTEN_MAXBODYBYTES",
		"SRVMON_CHECKS_REMOTECHECKSURLS", "SRVMON_CHECKS_SHARD", "SRVMON_CHECKS_LOCATION",
		"SRVMON_CHECKS_CONCURRENCY", "SRVMON_CHECKS_ICMPCONCURRENCY", "SRVMON_CHECKS_REMOTETIMEOUT",
		"SRVMON_CHART_TIMEZONE", "SRVMON_NOTIFY_TIMEOUT", "SRVMON_NOTIFY_MAXAGE",
	} {
		if !seen[name] {
			t.Errorf("EnvNames lacks %s", name)
		}
	}
	// One variable per leaf field, plus DATABASE_URL.
	if len(vars) != len(fields())+1 {
		t.Errorf("%d variables for %d fields", len(vars), len(fields()))
	}
	table := EnvTable()
	for _, v := range vars {
		if !strings.Contains(table, "`"+v.Name+"`") {
			t.Errorf("EnvTable lacks %s", v.Name)
		}
	}
	if i := slices.IndexFunc(vars, func(v EnvVar) bool { return v.Name == "SRVMON_LISTEN_PORT" }); vars[i].Default != "8000" {
		t.Errorf("SRVMON_LISTEN_PORT default = %q", vars[i].Default)
	}
}

// Every variable EnvNames lists really sets its field.
func TestEnvSetsEveryField(t *testing.T) {
	special := map[string]string{
		"DB.Type":              "ql",
		"DB.URL":               "postgres://127.0.0.1/x",
		"DB.Port":              "5433",
		"Listen.Port":          "8081",
		"Checks.HTTPMethod":    "HEAD",
		"Checks.Shard":         "1/3",
		"Chart.TimeZone":       "Europe/Berlin",
		"Listen.LambdaPayload": "1.0",
		"Listen.AllowedHosts":  "monitor.lan,srvmon.example.com:8443",
		"Monitors":             `[{"host":"http://127.0.0.1:1/","name":"a"},{"host":"127.0.0.1:2"}]`,
	}
	// DB.URL from the environment means postgres, so DB.Type is set with it.
	base := []string{"SRVMON_DB_DATABASE=d", "SRVMON_LISTEN_WEBAUTH_USER=u", "SRVMON_LISTEN_WEBAUTH_PASSWORD=p"}
	byName := map[string]field{}
	for _, f := range fields() {
		byName[f.name()] = f
	}
	def := reflect.ValueOf(Defaults())
	for _, v := range EnvNames() {
		t.Run(v.Name, func(t *testing.T) {
			f := byName[v.Field]
			value, ok := special[v.Field]
			if !ok {
				switch f.typ.Kind() {
				case reflect.String:
					value = "x1"
				case reflect.Bool:
					value = "true"
					if def.FieldByIndex(f.index).Bool() {
						value = "false"
					}
				case reflect.Int, reflect.Int64, reflect.Uint32:
					value = "7"
				case reflect.Slice:
					value = "http://127.0.0.1:1/a,http://127.0.0.1:2/b"
				default:
					t.Fatalf("no sample value for %s of type %s", v.Field, f.typ)
				}
			}
			env := append(slices.Clone(base), v.Name+"="+value)
			if v.Field == "DB.URL" {
				env = []string{v.Name + "=" + value}
			}
			c, err := Load(Source{Env: env})
			if err != nil {
				t.Fatal(err)
			}
			if got := formatEnv(reflect.ValueOf(c).FieldByIndex(f.index)); got != value {
				t.Errorf("%s=%s: %s = %q", v.Name, value, v.Field, got)
			}
			if got := formatEnv(def.FieldByIndex(f.index)); got == value {
				t.Errorf("sample value %q equals the default: the test proves nothing", value)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite testdata/env-table.md from EnvTable")

// testdata/env-table.md is the README's configuration table; it must match
// EnvTable. Regenerate it with: go test ./pkg/config -run TestEnvTableGolden -update
func TestEnvTableGolden(t *testing.T) {
	const golden = "testdata/env-table.md"
	got := EnvTable()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s is stale: run go test ./pkg/config -run TestEnvTableGolden -update\ngot:\n%s", golden, got)
	}
}

// Redacted never shows a password, from a URL or from the fields.
func TestStoreSpecRedacted(t *testing.T) {
	tests := []struct {
		spec StoreSpec
		want string
	}{
		{StoreSpec{Kind: StorePostgres, URL: "postgres://u:hunter2@127.0.0.1:5432/mon"}, "postgres postgres://u:xxxxx@127.0.0.1:5432/mon"},
		{StoreSpec{Kind: StorePostgres, Host: "127.0.0.1", Port: "5433", User: "u", Password: "hunter2", Database: "mon"}, `postgres host="127.0.0.1" port="5433" user="u" database="mon"`},
		{StoreSpec{Kind: StoreBolt, Path: "srvmon.db"}, "bolt srvmon.db"},
		{StoreSpec{Kind: StoreMemory}, "memory (nothing is kept after exit)"},
	}
	for _, tt := range tests {
		if got := tt.spec.Redacted(); got != tt.want {
			t.Errorf("Redacted() = %q, want %q", got, tt.want)
		}
	}
}

// The README's configuration table is EnvTable: a field added to Config
// without its line in the README fails here.
func TestREADMEListsEveryField(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), EnvTable()) {
		t.Error("README.md does not contain config.EnvTable(); paste pkg/config/testdata/env-table.md into it")
	}
}

// Redacted masks the password of DB.URL in every form it takes, and a
// URL's other parts stay readable.
func TestRedactedMasksEveryForm(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"postgres://u:hunter2@127.0.0.1/x", "postgres postgres://u:xxxxx@127.0.0.1/x"},
		{"postgres://u@127.0.0.1/x?password=hunter2&sslmode=disable", "postgres postgres://u@127.0.0.1/x?password=xxxxx&sslmode=disable"},
		{"postgresql://u@127.0.0.1/x?sslkey=/k.pem&sslpassword=hunter2", "postgres postgresql://u@127.0.0.1/x?sslkey=/k.pem&sslpassword=xxxxx"},
		{"host=127.0.0.1 user=u password=hunter2 dbname=x", "postgres host=127.0.0.1 user=u password=xxxxx dbname=x"},
		{`host=127.0.0.1 password='hunter2 \' hunter2' dbname=x`, "postgres host=127.0.0.1 password=xxxxx dbname=x"},
		{"host=127.0.0.1 sslpassword = hunter2", "postgres host=127.0.0.1 sslpassword = xxxxx"},
	} {
		c, err := Load(Source{Env: []string{"DATABASE_URL=" + tc.url}})
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if got := c.StoreSpec().Redacted(); got != tc.want {
			t.Errorf("Redacted = %q, want %q", got, tc.want)
		}
	}
}

// DATABASE_URL takes libpq's keyword/value settings as well as a URL;
// anything else is refused.
func TestDatabaseURLKeywordValue(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"host=127.0.0.1 dbname=x", true},
		{"  host = 127.0.0.1", true},
		{"dbname=x", true},
		{"srvmon.db", false},
		{"/var/lib/srvmon.db", false},
		{"=x", false},
		{"9host=x", false},
		{"mysql://root@127.0.0.1/x", false},
	} {
		c, err := Load(Source{Env: []string{"DATABASE_URL=" + tc.url}})
		switch {
		case tc.ok && (err != nil || c.StoreSpec().Kind != StorePostgres):
			t.Errorf("%q: %v, store %q; want PostgreSQL", tc.url, err, c.StoreSpec().Kind)
		case !tc.ok && err == nil:
			t.Errorf("%q: accepted", tc.url)
		}
	}
}
