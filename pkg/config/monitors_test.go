package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
)

func writeNamed(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testdata/full.json and full.yaml are one config: they load equal, with
// the monitors as written.
func TestLoadFullJSONAndYAML(t *testing.T) {
	fromJSON, err := Load(Source{File: "testdata/full.json"})
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := Load(Source{File: "testdata/full.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	compareFields(t, fromYAML, fromJSON)
	if w := append(fromJSON.Warnings(), fromYAML.Warnings()...); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	no := false
	want := MonitorList{
		{Host: "https://127.0.0.1:8443/health", Settings: monitor.Settings{
			Name: "API health", Group: "web",
			Conditions: []string{"[STATUS] == 200", "[RESPONSE_TIME] < 500"},
			Method:     "POST",
			Headers:    map[string]string{"Authorization": "Bearer token123", "X-Check": "srvmon"},
			Body:       `{"ping": true}`, FollowRedirects: &no,
			Timeout: monitor.Duration(5 * time.Second), InsecureSkipVerify: true,
		}},
		{Host: "127.0.0.1:5432", Settings: monitor.Settings{Name: "PostgreSQL", Group: "db", Timeout: monitor.Duration(3 * time.Second)}},
		{Host: "http://127.0.0.1:8080/", Settings: monitor.Settings{Name: "yes"}},
		{Host: "127.0.0.1"},
		{Host: "push://nightly-backup", Settings: monitor.Settings{Name: "backup", Grace: monitor.Duration(90 * time.Minute)}},
	}
	if !reflect.DeepEqual(fromJSON.Monitors, want) {
		t.Errorf("Monitors = %+v\nwant %+v", fromJSON.Monitors, want)
	}
	if !fromJSON.ManagesMonitors() || fromJSON.Checks.Shard != (Shard{0, 2}) || fromJSON.Location().String() != "Europe/Berlin" {
		t.Errorf("loaded %+v", fromJSON)
	}
}

// Monitors in every layer; a layer that sets it replaces the list, and
// nil (not set anywhere, or null) differs from [].
func TestLoadMonitorsLayers(t *testing.T) {
	a := `{"host":"http://127.0.0.1:8081/a","name":"a"}`
	b := `{"host":"127.0.0.1:8082"}`
	file := writeNamed(t, "config.json", `{"Monitors":[`+a+`,`+b+`]}`)
	yamlFile := writeNamed(t, "config.yml", "Monitors:\n  - host: http://127.0.0.1:8081/a\n    name: a\n")
	hosts := func(hs ...string) []string { return append([]string{}, hs...) }
	tests := []struct {
		name  string
		src   Source
		hosts []string // nil: not managed
	}{
		{"absent", Source{JSON: `{"Checks":{"Interval":30}}`}, nil},
		{"null", Source{JSON: `{"Monitors":null}`}, nil},
		{"empty in -confstr", Source{JSON: `{"Monitors":[]}`}, hosts()},
		{"file", Source{File: file}, hosts("http://127.0.0.1:8081/a", "127.0.0.1:8082")},
		{"yaml file", Source{File: yamlFile}, hosts("http://127.0.0.1:8081/a")},
		{"yaml empty list", Source{File: writeNamed(t, "e.yaml", "Monitors: []\n")}, hosts()},
		{"yaml key without value is null", Source{File: writeNamed(t, "n.yaml", "Monitors:\n")}, nil},
		{"-confstr replaces the file's list", Source{File: file, JSON: `{"Monitors":[` + b + `]}`}, hosts("127.0.0.1:8082")},
		{"-confstr empties the file's list", Source{File: file, JSON: `{"Monitors":[]}`}, hosts()},
		{"-confstr without Monitors keeps the file's", Source{File: file, JSON: `{"Monitors":null,"Checks":{}}`}, hosts("http://127.0.0.1:8081/a", "127.0.0.1:8082")},
		{"environment", Source{Env: []string{"SRVMON_MONITORS=[" + b + "]"}}, hosts("127.0.0.1:8082")},
		{"environment empty list", Source{Env: []string{"SRVMON_MONITORS=[]"}}, hosts()},
		{"environment replaces the file's list", Source{File: file, Env: []string{"SRVMON_MONITORS=[" + a + "]"}}, hosts("http://127.0.0.1:8081/a")},
		{"environment empty string is unset", Source{File: file, Env: []string{"SRVMON_MONITORS="}}, hosts("http://127.0.0.1:8081/a", "127.0.0.1:8082")},
		{"environment null leaves the file's", Source{File: file, Env: []string{"SRVMON_MONITORS=null"}}, hosts("http://127.0.0.1:8081/a", "127.0.0.1:8082")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.src.DefaultDatabase = "d"
			c, err := Load(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if c.ManagesMonitors() != (tt.hosts != nil) || (c.Monitors == nil) != (tt.hosts == nil) {
				t.Fatalf("Monitors = %#v, ManagesMonitors %v; want managed %v", c.Monitors, c.ManagesMonitors(), tt.hosts != nil)
			}
			var got []string
			for _, m := range c.Monitors {
				got = append(got, m.Host)
				if m.Source != monitor.SourceAPI {
					t.Errorf("%s: source %q in the loaded config", m.Host, m.Source)
				}
			}
			if len(got) != len(tt.hosts) || !reflect.DeepEqual(got, []string(tt.hosts)) && len(got) > 0 {
				t.Errorf("hosts = %q, want %q", got, tt.hosts)
			}
		})
	}
}

// Every bad entry stops Load with one line that names the layer, the
// entry (index and host) and the field.
func TestLoadMonitorsErrors(t *testing.T) {
	file := writeNamed(t, "config.json", `{"Monitors":[{"host":"http://127.0.0.1:1/"},{"host":"http://127.0.0.1:2/","timeout":"11s"}]}`)
	yamlFile := writeNamed(t, "config.yaml", "Monitors:\n  - host: http://127.0.0.1:1/\n    headers: [a]\n")
	tests := []struct {
		name string
		src  Source
		want string
	}{
		{"not a list", Source{JSON: `{"Monitors":{"host":"127.0.0.1"}}`}, `-confstr: Monitors: got JSON object, want an array of monitor objects`},
		{"string list", Source{JSON: `{"Monitors":"127.0.0.1"}`}, `-confstr: Monitors: got JSON string, want an array of monitor objects`},
		{"entry not an object", Source{JSON: `{"Monitors":[{"host":"127.0.0.1"},"127.0.0.2"]}`}, `-confstr: Monitors[1]: got JSON string, want a monitor object`},
		{"entry null", Source{JSON: `{"Monitors":[null]}`}, `-confstr: Monitors[0]: got JSON null, want a monitor object`},
		{"unknown field", Source{JSON: `{"Monitors":[{"host":"http://127.0.0.1/","conditon":["[STATUS] == 200"]}]}`},
			`-confstr: Monitors[0] (host "http://127.0.0.1/"): unknown field "conditon" (want one of host, name, group, conditions, parent, status, method, headers, body, follow_redirects, timeout, insecure_skip_verify, grace, push_token)`},
		{"source", Source{JSON: `{"Monitors":[{"host":"http://127.0.0.1/","source":"config"}]}`},
			`-confstr: Monitors[0] (host "http://127.0.0.1/"): source: srvmon sets it ("config" for every monitor of this list); leave it out`},
		{"source in any case", Source{JSON: `{"Monitors":[{"host":"http://127.0.0.1/","Source":""}]}`},
			`-confstr: Monitors[0] (host "http://127.0.0.1/"): source: srvmon sets it ("config" for every monitor of this list); leave it out`},
		{"wrong type", Source{JSON: `{"Monitors":[{"host":"http://127.0.0.1/","conditions":"[STATUS] == 200"}]}`},
			`-confstr: Monitors[0] (host "http://127.0.0.1/"): conditions: got JSON string, want an array of strings`},
		{"bool as string", Source{JSON: `{"Monitors":[{"host":"https://127.0.0.1/","insecure_skip_verify":"yes"}]}`},
			`-confstr: Monitors[0] (host "https://127.0.0.1/"): insecure_skip_verify: got JSON string, want true or false`},
		{"host not a string", Source{JSON: `{"Monitors":[{"host":5}]}`}, `-confstr: Monitors[0]: host: got JSON number, want a string`},
		{"bad duration", Source{JSON: `{"Monitors":[{"host":"http://127.0.0.1/","timeout":"soon"}]}`},
			`-confstr: Monitors[0] (host "http://127.0.0.1/"): timeout: "soon" is not a duration (e.g. "10s", "1m30s")`},
		{"no host", Source{JSON: `{"Monitors":[{"name":"x"}]}`}, `-confstr: Monitors[0]: host: invalid target: empty`},
		{"bad host", Source{JSON: `{"Monitors":[{"host":"http://127.0.0.1/"},{"host":"ftp://127.0.0.1/"}]}`},
			`-confstr: Monitors[1] (host "ftp://127.0.0.1/"): host: invalid target: URL scheme "ftp" is not http, https, tls, dns or push`},
		{"timeout longer than the probe timeout", Source{File: file}, `config file ` + file + `: Monitors[1] (host "http://127.0.0.1:2/"): timeout: 11s is longer than the round's probe timeout, 10s`},
		{"the probe timeout from a later layer", Source{JSON: `{"Checks":{"Timeout":3},"Monitors":[{"host":"http://127.0.0.1/","timeout":4}]}`},
			`-confstr: Monitors[0] (host "http://127.0.0.1/"): timeout: 4s is longer than the round's probe timeout, 3s`},
		{"negative timeout", Source{JSON: `{"Monitors":[{"host":"http://127.0.0.1/","timeout":-1}]}`},
			`-confstr: Monitors[0] (host "http://127.0.0.1/"): timeout: -1s is negative`},
		{"HTTP setting on a TCP monitor", Source{JSON: `{"Monitors":[{"host":"127.0.0.1:22","method":"POST"}]}`},
			`-confstr: Monitors[0] (host "127.0.0.1:22"): method: applies only to http:// and https:// monitors`},
		{"bad header", Source{JSON: `{"Monitors":[{"host":"http://127.0.0.1/","headers":{"X Key":"1"}}]}`},
			`-confstr: Monitors[0] (host "http://127.0.0.1/"): headers["X Key"]: not a valid header name`},
		{"name with a newline", Source{JSON: `{"Monitors":[{"host":"http://127.0.0.1/","name":"a\nb"}]}`},
			`-confstr: Monitors[0] (host "http://127.0.0.1/"): name: holds a control character`},
		{"short push token", Source{JSON: `{"Monitors":[{"host":"push://backup","push_token":"abc"}]}`},
			`-confstr: Monitors[0] (host "push://backup"): push_token: a push token has 16 to 128 characters`},
		{"push token on an HTTP monitor", Source{JSON: `{"Monitors":[{"host":"http://127.0.0.1/","push_token":"0123456789abcdef"}]}`},
			`-confstr: Monitors[0] (host "http://127.0.0.1/"): push_token: applies only to push:// monitors`},
		{"bad condition", Source{JSON: `{"Monitors":[{"host":"https://127.0.0.1:8443/health","conditions":["[STATUS] == 200","[STATUS] =="]}]}`},
			`-confstr: Monitors[0] (host "https://127.0.0.1:8443/health"): conditions[1]: position 12: expected a value after "==", got end of condition`},
		{"duplicate host", Source{JSON: `{"Monitors":[{"host":"127.0.0.1:1"},{"host":"http://127.0.0.1/"},{"host":"127.0.0.1:1","name":"again"}]}`},
			`-confstr: Monitors[2] (host "127.0.0.1:1"): host: the same host as Monitors[0]; a host is one monitor`},
		{"duplicate push token", Source{JSON: `{"Monitors":[{"host":"push://a","push_token":"0123456789abcdef"},{"host":"push://b","push_token":"0123456789abcdef"}]}`},
			`-confstr: Monitors[1] (host "push://b"): push_token: the same push token as Monitors[0]`},
		{"password in the host is masked", Source{JSON: `{"Monitors":[{"host":"http://u:hunter2@127.0.0.1/","timeout":"1h"}]}`},
			`-confstr: Monitors[0] (host "http://u:xxxxx@127.0.0.1/"): timeout: 1h0m0s is longer than the round's probe timeout, 10s`},
		{"environment", Source{Env: []string{`SRVMON_MONITORS=[{"host":"127.0.0.1:22","body":"x"}]`}},
			`environment SRVMON_MONITORS: Monitors[0] (host "127.0.0.1:22"): body: applies only to http:// and https:// monitors`},
		{"environment decoding", Source{Env: []string{`SRVMON_MONITORS=[{"host":"127.0.0.1:22","bdy":"x"}]`}},
			`environment SRVMON_MONITORS (Monitors): Monitors[0] (host "127.0.0.1:22"): unknown field "bdy" (want one of host, name, group, conditions, parent, status, method, headers, body, follow_redirects, timeout, insecure_skip_verify, grace, push_token)`},
		{"environment not JSON", Source{Env: []string{`SRVMON_MONITORS=127.0.0.1:22`}},
			`environment SRVMON_MONITORS (Monitors): Monitors: got JSON number 127.0.0.1:22, want an array of monitor objects`},
		{"environment truncated", Source{Env: []string{`SRVMON_MONITORS=[{"host":"127.0.0.1:22"}`}},
			`environment SRVMON_MONITORS (Monitors): Monitors: unexpected end of JSON input`},
		{"yaml", Source{File: yamlFile}, `config file ` + yamlFile + `: Monitors[0] (host "http://127.0.0.1:1/"): headers: got JSON array, want map[string]string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.src.DefaultDatabase = "d"
			_, err := Load(tt.src)
			if err == nil {
				t.Fatalf("Load succeeded, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err, tt.want)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// YAML gives the JSON path the same values, and its own mistakes are one
// line with the YAML line.
func TestLoadYAML(t *testing.T) {
	tests := []struct {
		name, yaml string
		json       string // "": an error
		want       string // the error after the file's prefix
	}{
		{name: "scalars", yaml: "Checks:\n  Interval: 30\n  PerformChecks: false\n  Location: \"null\"\n  HTTPMethod: head\n",
			json: `{"Checks":{"Interval":30,"PerformChecks":false,"Location":"null","HTTPMethod":"head"}}`},
		{name: "flow style", yaml: `{Checks: {Interval: 30, RemoteChecksURLs: ["http://127.0.0.1:1/api/checks"]}}`,
			json: `{"Checks":{"Interval":30,"RemoteChecksURLs":["http://127.0.0.1:1/api/checks"]}}`},
		{name: "null leaves the default", yaml: "Checks:\n  Interval: ~\n", json: `{"Checks":{"Interval":null}}`},
		{name: "hex integer", yaml: "Checks:\n  Interval: 0x3c\n", json: `{"Checks":{"Interval":60}}`},
		{name: "anchors and aliases", yaml: "Monitors:\n  - host: http://127.0.0.1:1/\n    headers: &h {X-Key: k}\n  - host: http://127.0.0.1:2/\n    headers: *h\n",
			json: `{"Monitors":[{"host":"http://127.0.0.1:1/","headers":{"X-Key":"k"}},{"host":"http://127.0.0.1:2/","headers":{"X-Key":"k"}}]}`},
		{name: "a date is a string", yaml: "Checks:\n  Location: 2024-01-02\n", json: `{"Checks":{"Location":"2024-01-02"}}`},
		{name: "unknown fields warn as in JSON", yaml: "Checks:\n  Intervall: 30\n", json: `{"Checks":{"Intervall":30}}`},
		{name: "yes is a string", yaml: "Checks:\n  PerformChecks: yes\n", want: "Checks.PerformChecks: got JSON string, want true or false"},
		{name: "a port is a string", yaml: "Listen:\n  Port: 8000\n", want: "Listen.Port: got JSON number, want a string"},
		{name: "1.0 is not an integer, as in JSON", yaml: "Checks:\n  Interval: 1.0\n", want: "Checks.Interval: got JSON number 1.0, want an integer"},
		{name: "not a mapping", yaml: "- 1\n- 2\n", want: "the config: got JSON array, want an object"},
		{name: "syntax", yaml: "Checks:\n  Interval: 30\n Timeout: 3\n", want: "invalid YAML: line 2: did not find expected key"},
		{name: "tab", yaml: "Checks:\n\tInterval: 30\n", want: "invalid YAML: line 2: found character that cannot start any token"},
		{name: "empty", yaml: "", want: "invalid YAML: the file holds no document"},
		{name: "comment only", yaml: "# nothing\n", want: "invalid YAML: the file holds no document"},
		{name: "two documents", yaml: "Checks: {}\n---\nChecks: {}\n", want: "invalid YAML at line 2: more than one document (---): a config is one"},
		{name: "integer key", yaml: "Monitors:\n  - host: http://127.0.0.1/\n    headers:\n      1: x\n", want: `invalid YAML at line 4: the key "1" is not a string (quote it)`},
		{name: "bool key", yaml: "true: 1\n", want: `invalid YAML at line 1: the key "true" is not a string (quote it)`},
		{name: "mapping key", yaml: "? {a: 1}\n: 2\n", want: `invalid YAML at line 1: the key (a mapping) is not a string (quote it)`},
		{name: "duplicate key", yaml: "Checks:\n  Interval: 30\n  Interval: 60\n", want: `invalid YAML at line 3: key "Interval" is given twice (first at line 2)`},
		{name: "merge key", yaml: "a: &a {Interval: 30}\nChecks:\n  <<: *a\n", want: "invalid YAML at line 3: merge keys (<<) are not supported: repeat the fields, or use an alias for a whole value"},
		{name: "infinity", yaml: "Checks:\n  Interval: .inf\n", want: `invalid YAML at line 2: ".inf" is not a finite number`},
		{name: "custom tag", yaml: "Checks:\n  Interval: !secret x\n", want: "invalid YAML at line 2: tag !secret is not supported (a config holds strings, numbers, true/false, null, lists and mappings)"},
		{name: "unknown alias", yaml: "Checks: *nope\n", want: `invalid YAML: unknown anchor 'nope' referenced`},
		{name: "alias bomb", yaml: yamlBomb(), want: "invalid YAML at line 7: expands to more than 16 MiB (aliases?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeNamed(t, "config.yaml", tt.yaml)
			got, err := Load(Source{File: p, DefaultDatabase: "d"})
			if tt.json == "" {
				want := "config file " + p + ": " + tt.want
				if err == nil || err.Error() != want {
					t.Fatalf("error\n got %v\nwant %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := Load(Source{JSON: tt.json, DefaultDatabase: "d"})
			if err != nil {
				t.Fatal(err)
			}
			compareFields(t, got, want)
			if len(got.Warnings()) != len(want.Warnings()) {
				t.Errorf("warnings %q, JSON's %q", got.Warnings(), want.Warnings())
			}
		})
	}
}

// yamlBomb is a billion-laughs document: a few lines that aliases
// expand without end.
func yamlBomb() string {
	var b strings.Builder
	b.WriteString(`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	prev := "a"
	for i := range 10 {
		name := string(rune('b' + i))
		b.WriteString(name + ": &" + name + " [")
		for j := range 9 {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = name
	}
	b.WriteString("Checks: *" + prev + "\n")
	return b.String()
}

// Only .yaml and .yml files are YAML; any other name is JSON.
func TestIsYAMLFile(t *testing.T) {
	for name, want := range map[string]bool{
		"srvmon.yaml": true, "srvmon.yml": true, "/etc/srvmon/CONFIG.YML": true,
		"srvmon.json": false, "config": false, "yaml": false, "srvmon.yaml.json": false,
	} {
		if got := isYAMLFile(name); got != want {
			t.Errorf("isYAMLFile(%q) = %v", name, got)
		}
	}
}

// A loaded Config written as JSON loads again as itself.
func TestLoadedConfigReloads(t *testing.T) {
	for _, file := range []string{"testdata/full.yaml", "testdata/gosrvmon-config.json"} {
		c, err := Load(Source{File: file})
		if err != nil {
			t.Fatal(err)
		}
		checkReloads(t, c)
	}
}

func checkReloads(t *testing.T, c Config) {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(Source{JSON: string(data)})
	if err != nil {
		t.Fatalf("%v\nconfig: %s", err, data)
	}
	compareFields(t, again, c)
}
