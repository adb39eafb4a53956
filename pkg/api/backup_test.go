package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/backup"
	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// snapshot is everything a store holds that a backup covers.
type snapshot = storetest.Contents

// takeSnapshot reads st's contents. Monitors without settings are left
// out (Hosts lists them), so that a gosrvmon backup's expected contents
// need not list each host twice; empty settings lists read as nil.
func takeSnapshot(t testing.TB, st store.Store) snapshot {
	c := storetest.ContentsOf(t, st)
	var ms []monitor.Monitor
	for _, m := range c.Monitors {
		if len(m.Conditions) == 0 {
			m.Conditions = nil
		}
		if len(m.Headers) == 0 {
			m.Headers = nil
		}
		if !m.Settings.IsZero() || m.Source != "" {
			ms = append(ms, m)
		}
	}
	c.Monitors = ms
	return c
}

func equalSnapshots(a, b snapshot) bool { return a.Equal(b) }

func TestRestoreGosrvmonBackups(t *testing.T) {
	t12 := time.Date(2021, 3, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		file, endpoint string
		counts         string
		want           snapshot
	}{
		{
			file: "../backup/testdata/gosrvmon-backup.json", endpoint: "/api/backup",
			counts: `{"hosts":4,"notifications":2,"checks":0}`,
			want: snapshot{
				Hosts: []string{"8.8.8.8", "[2001:db8::1]:80", "example.org:443", "http://example.org/"},
				Rules: []store.Rule{
					{Host: "8.8.8.8", Threshold: 3, Action: "https://api.telegram.org/bot123:ABC/sendMessage?chat_id=42&text=State%20changed.%20Host%3A%20{HOST}%20New%20state%3A%20{STATE}%20Time%3A%20{TIME}"},
					{Host: "http://example.org/", Threshold: 1, Action: "http://127.0.0.1:9999/hook?host={HOST}"},
				},
			},
		},
		{
			file: "../backup/testdata/gosrvmon-backup_full.json", endpoint: "/api/backup_full",
			counts: `{"hosts":3,"notifications":0,"checks":5}`,
			want: snapshot{
				Hosts: []string{"8.8.8.8", "example.org:443", "http://example.org/"},
				Rules: []store.Rule{},
				Results: []store.Result{
					{Host: "8.8.8.8", Slot: t12, RTT: 15321000, Up: true},
					{Host: "8.8.8.8", Slot: t12.Add(time.Minute), RTT: 0, Up: false},
					{Host: "8.8.8.8", Slot: t12.Add(2 * time.Minute), RTT: 14870000, Up: true},
					{Host: "http://example.org/", Slot: t12, RTT: 120456789, Up: true},
					{Host: "http://example.org/", Slot: t12.Add(time.Minute), RTT: 10 * time.Second, Up: false},
				},
			},
		},
		{
			// A gosrvmon that saw pings fail: its rtt -1 is stored as 0.
			file: "../backup/testdata/gosrvmon-failed-pings_full.json", endpoint: "/api/backup_full",
			counts: `{"hosts":5,"notifications":1,"checks":14}`,
			want: snapshot{
				Hosts: []string{"10.0.0.1", "http://nas.lan:8080/", "https://example.org/", "nas.lan", "nas.lan:22"},
				Rules: []store.Rule{{Host: "nas.lan", Threshold: 120, Action: "http://127.0.0.1:9999/notify?host={HOST}&state={STATE}"}},
				Results: []store.Result{
					{Host: "10.0.0.1", Slot: t12},
					{Host: "10.0.0.1", Slot: t12.Add(time.Minute)},
					{Host: "10.0.0.1", Slot: t12.Add(2 * time.Minute)},
					{Host: "http://nas.lan:8080/", Slot: t12, RTT: 2871093, Up: true},
					{Host: "http://nas.lan:8080/", Slot: t12.Add(time.Minute), RTT: 10001023457},
					{Host: "https://example.org/", Slot: t12, RTT: 120456789, Up: true},
					{Host: "https://example.org/", Slot: t12.Add(time.Minute), RTT: 118004561, Up: true},
					{Host: "https://example.org/", Slot: t12.Add(2 * time.Minute), RTT: 121230000, Up: true},
					{Host: "nas.lan", Slot: t12, RTT: 431207, Up: true},
					{Host: "nas.lan", Slot: t12.Add(time.Minute)},
					{Host: "nas.lan", Slot: t12.Add(2 * time.Minute), RTT: 398554, Up: true},
					{Host: "nas.lan:22", Slot: t12, RTT: 612390, Up: true},
					{Host: "nas.lan:22", Slot: t12.Add(time.Minute), RTT: 10000541873},
					{Host: "nas.lan:22", Slot: t12.Add(2 * time.Minute), RTT: 289455},
				},
			},
		},
		{
			// /api/backup ignores the checks of a full backup, as gosrvmon does.
			file: "../backup/testdata/gosrvmon-backup_full.json", endpoint: "/api/backup",
			counts: `{"hosts":3,"notifications":0,"checks":0}`,
			want:   snapshot{Hosts: []string{"8.8.8.8", "example.org:443", "http://example.org/"}, Rules: []store.Rule{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file+" to "+tt.endpoint, func(t *testing.T) {
			body, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			forEachBackend(t, func(t *testing.T, st store.Store) {
				e := newEnv(t, st, Options{})
				w := e.serve(request{method: "POST", target: tt.endpoint, body: string(body)})
				expect(t, w, http.StatusOK, tt.counts)
				if got := takeSnapshot(t, st); !equalSnapshots(got, tt.want) {
					t.Errorf("restored\n%+v\nwant\n%+v", got, tt.want)
				}
				// Restoring again changes nothing (existing hosts are fine).
				expect(t, e.serve(request{method: "PUT", target: tt.endpoint, body: string(body)}), http.StatusOK, tt.counts)
				if got := takeSnapshot(t, st); !equalSnapshots(got, tt.want) {
					t.Errorf("restored twice\n%+v", got)
				}
			})
		})
	}
}

// seedBackup fills a store with hosts, a rule and results from two
// locations, with and without reasons.
func seedBackup(t testing.TB, st store.Store) {
	seed(t, st, []string{"a.example", "b.example:22", "https://c.example/?q=1&r=2"}, []store.Result{
		{Host: "a.example", Slot: slot(3), RTT: 3 * time.Millisecond, Up: true},
		{Host: "a.example", Location: "eu-west", Slot: slot(3), RTT: 5 * time.Millisecond, Up: true},
		{Host: "a.example", Slot: slot(2), RTT: time.Second, Up: false, Reason: "timeout \"after\" 1s\n"},
		{Host: "https://c.example/?q=1&r=2", Slot: slot(1), RTT: 7, Up: true},
	})
	if err := st.SetRule(context.Background(), store.Rule{Host: "a.example", Threshold: 2, Action: "https://hook.example/?h={HOST}&x=<y>"}); err != nil {
		t.Fatal(err)
	}
}

func TestBackupExport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seedBackup(t, st)
		e := newEnv(t, st, Options{})
		hosts := `{"hosts":["a.example","b.example:22","https://c.example/?q=1\u0026r=2"],` +
			`"notifications":[{"host":"a.example","threshold":2,"action":"https://hook.example/?h={HOST}\u0026x=\u003cy\u003e"}]`
		w := e.get("/api/backup")
		expect(t, w, http.StatusOK, "")
		if got, want := w.Body.String(), hosts+"}\n"; got != want {
			t.Errorf("backup\n got %s\nwant %s", got, want)
		}
		if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="backup.json"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		w = e.get("/api/backup_full")
		expect(t, w, http.StatusOK, "")
		want := hosts + `,"checks":{"a.example":[` +
			`{"time":"2021-03-02T11:57:00Z","rtt":3000000,"up":true},` +
			`{"time":"2021-03-02T11:57:00Z","rtt":5000000,"up":true,"location":"eu-west"},` +
			`{"time":"2021-03-02T11:58:00Z","rtt":1000000000,"up":false,"error":"timeout \"after\" 1s\n"}],` +
			`"b.example:22":[],` +
			`"https://c.example/?q=1\u0026r=2":[{"time":"2021-03-02T11:59:00Z","rtt":7,"up":true}]}}` + "\n"
		if got := w.Body.String(); got != want {
			t.Errorf("full backup\n got %s\nwant %s", got, want)
		}
		// gosrvmon decodes it: its BackupData ignores the extra fields.
		var gosrvmon struct {
			Hosts         []string
			Notifications []struct {
				Host, Action string
				Threshold    int64
			}
			Checks map[string][]struct {
				Time time.Time `json:"time"`
				Rtt  int64     `json:"rtt"`
				Up   bool      `json:"up"`
			}
		}
		if err := json.Unmarshal(w.Body.Bytes(), &gosrvmon); err != nil || len(gosrvmon.Checks["a.example"]) != 3 {
			t.Errorf("gosrvmon cannot read the backup: %v", err)
		}
	})
}

// TestBackupRoundTrip exports a full backup from every backend and
// restores it into every backend: the same data comes out.
func TestBackupRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, from store.Store) {
		seedBackup(t, from)
		want := takeSnapshot(t, from)
		body := newEnv(t, from, Options{}).get("/api/backup_full").Body.String()
		for _, b := range backends() {
			t.Run("into "+b.name, func(t *testing.T) {
				to := b.open(t)
				defer to.Close()
				expect(t, newEnv(t, to, Options{}).serve(request{method: "POST", target: "/api/backup_full", body: body}), http.StatusOK, `{"hosts":3,"notifications":1,"checks":4}`)
				if got := takeSnapshot(t, to); !equalSnapshots(got, want) {
					t.Errorf("restored\n%+v\nwant\n%+v", got, want)
				}
			})
		}
	})
}

// TestRestoreOrder: hand-written backups may put "checks" before "hosts"
// or leave "notifications" out; the checks are spooled and restored.
func TestRestoreOrder(t *testing.T) {
	check := `{"time":"2021-03-02T12:00:00Z","rtt":5,"up":true,"location":"x"}`
	for _, body := range []string{
		`{"checks":{"a.example":[` + check + `]},"hosts":["a.example"],"notifications":[]}`,
		`{"hosts":["a.example"],"checks":{"a.example":[` + check + `]}}`,
		`{"notifications":null,"checks":{"a.example":[` + check + `]},"extra":{"x":[1,{"y":2}]},"hosts":["a.example"]}`,
		`{"hosts":["a.example"],"notifications":[],"checks":{"a.example":[` + check + `]},"version":"x"}`,
	} {
		forEachBackend(t, func(t *testing.T, st store.Store) {
			e := newEnv(t, st, Options{})
			expect(t, e.serve(request{method: "POST", target: "/api/backup_full", body: body}), http.StatusOK, `{"hosts":1,"notifications":0,"checks":1}`)
			want := snapshot{Hosts: []string{"a.example"}, Rules: []store.Rule{}, Results: []store.Result{
				{Host: "a.example", Location: "x", Slot: time.Date(2021, 3, 2, 12, 0, 0, 0, time.UTC), RTT: 5, Up: true},
			}}
			if got := takeSnapshot(t, st); !equalSnapshots(got, want) {
				t.Errorf("%s: restored %+v", body, got)
			}
		})
	}
}

// TestRestoreAllOrNothing: a bad backup is a 400 (or 413) that says what is
// wrong, and the store is left exactly as it was.
func TestRestoreAllOrNothing(t *testing.T) {
	good := `{"time":"2021-03-02T12:00:00Z","rtt":5,"up":true}`
	many := strings.Repeat(good+",", 500)
	tests := []refusal{
		{"not an object", `[]`, 400, "a backup must be a JSON object"},
		{"empty", ``, 400, "unexpected EOF"},
		{"cut short", `{"hosts":["new.example"],"checks":{"new.example":[` + good, 400, "unexpected EOF"},
		{"bad host", `{"hosts":["new.example","bad host"]}`, 400, `hosts[1]: host "bad host" is not acceptable`},
		{"hosts not strings", `{"hosts":[1]}`, 400, `hosts[0] is not a string`},
		{"malformed check after many good ones", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[` + many + `{"time":"2021-03-02T12:00:00Z","rtt":5,"up":"yes"}]}}`, 400, `check 500 of "new.example"`},
		{"malformed check, spooled", `{"checks":{"new.example":[` + many + `{"time":"2021-03-02T12:00:00Z","up":true,"rtt":"5"}]},"hosts":["new.example"]}`, 400, `check 500 of "new.example"`},
		{"missing time", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[{"rtt":5,"up":true}]}}`, 400, `missing "time"`},
		{"missing up", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[{"time":"2021-03-02T12:00:00Z"}]}}`, 400, `missing "up"`},
		{"negative rtt on an up check", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[{"time":"2021-03-02T12:00:00Z","rtt":-1,"up":true}]}}`, 400, "check 0 of \"new.example\": negative rtt -1 on a check that was up"},
		{"time out of range", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[{"time":"1969-12-31T23:59:59Z","up":true}]}}`, 400, "outside 1970..2262"},
		{"checks not an object", `{"hosts":[],"notifications":[],"checks":[]}`, 400, `"checks" must be an object`},
		{"checks of a host not an array", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":{}}}`, 400, `checks of "new.example" must be an array`},
		{"checks of an unknown host", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[` + good + `],"other.example":[` + good + `]}}`, 400, `checks of host "other.example": the host is neither`},
		{"checks of an unknown host, spooled", `{"checks":{"other.example":[` + good + `]},"hosts":["new.example"]}`, 400, `checks of host "other.example": the host is neither`},
		{"rule of an unknown host", `{"hosts":["new.example"],"notifications":[{"host":"other.example","threshold":1,"action":""}]}`, 400, `notifications[0]: host "other.example" is neither`},
		{"rule with a bad action", `{"hosts":["new.example"],"notifications":[{"host":"new.example","threshold":1,"action":"javascript:alert(1)"}]}`, 400, "notifications[0]: rule for \"new.example\": action must be an http or https URL"},
		{"hosts twice", `{"hosts":["new.example"],"hosts":[]}`, 400, `"hosts" twice`},
		{"hosts again after streamed checks", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[` + good + `]},"hosts":[]}`, 400, `"hosts" twice`},
		{"data after the object", `{"hosts":["new.example"]} x`, 400, "data after the backup object"},
		{"data after streamed checks", `{"hosts":["new.example"],"notifications":[],"checks":{}} {}`, 400, "data after the backup object"},
		{"over the size limit", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[` + many + many + many + good + `]}}`, 413, "larger than the limit of 64 KiB"},
	}
	expectRefused(t, Options{MaxBodyBytes: 64 << 10}, "/api/backup_full", tests)
}

// refusal is a backup a restore refuses, and how.
type refusal struct {
	name, body string
	code       int
	want       string
}

// expectRefused restores each backup on every backend and expects it
// refused with code and a one-line reason holding want, the store left
// exactly as it was.
func expectRefused(t *testing.T, opts Options, target string, tests []refusal) {
	t.Helper()
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seedBackup(t, st)
		before := takeSnapshot(t, st)
		e := newEnv(t, st, opts)
		for _, tt := range tests {
			w := e.serve(request{method: "POST", target: target, body: tt.body})
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("%s: %d %q, want %d %q", tt.name, w.Code, w.Body.String(), tt.code, tt.want)
			}
			if strings.Count(strings.TrimSpace(w.Body.String()), "\n") > 0 {
				t.Errorf("%s: reason is not one line", tt.name)
			}
			if after := takeSnapshot(t, st); !equalSnapshots(after, before) {
				t.Fatalf("%s: the store changed:\n%+v\nwas\n%+v", tt.name, after, before)
			}
		}
	})
}

// TestRestoreRefusesHostileBackups: what would exhaust memory, be stored
// differently on different backends, or be silently changed (invalid
// UTF-8 becomes U+FFFD) is a 400 naming where, on every backend, and
// nothing is stored.
func TestRestoreRefusesHostileBackups(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	check := func(fields string) string {
		return `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[{"time":"2021-03-02T12:00:00Z","rtt":5,"up":false` + fields + `}]}}`
	}
	rule := func(host, action string) string {
		return `{"hosts":["new.example"],"notifications":[{"host":"` + host + `","threshold":1,"action":"` + action + `"}]}`
	}
	big := strings.Repeat("x", 70<<10)
	tests := []refusal{
		// Nesting, in each position.
		{"deep unknown field", `{"x":` + deep(65) + `}`, 400, "nested deeper than 64 levels"},
		{"deep unknown field, cut off", `{"x":` + strings.Repeat("[", 100000), 400, "nested deeper than 64 levels"},
		{"deep host", `{"hosts":[` + deep(100) + `]}`, 400, "hosts[0] is not a string"},
		{"deep rule", `{"hosts":["new.example"],"notifications":[{"host":"new.example","threshold":1,"action":"","x":` + deep(70) + `}]}`, 400, "notifications[0]: nested deeper than 64 levels"},
		{"deep check", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[` + deep(100) + `]}}`, 400, `check 0 of "new.example"`},
		{"deep field of a check", check(`,"x":` + deep(70)), 400, `check 0 of "new.example": nested deeper than 64 levels`},
		{"deep checks of a spooled host", `{"checks":{"new.example":[` + deep(100) + `]},"hosts":["new.example"]}`, 400, `check 0 of "new.example"`},
		// Sizes.
		{"huge unknown string", `{"x":"` + big + `"}`, 400, "larger than the limit of 64 KiB"},
		{"huge check", check(`,"error":"` + big + `"`), 400, "larger than the limit of 64 KiB"},
		{"huge white space", `{"hosts":` + strings.Repeat(" ", 70<<10) + `[]}`, 400, "larger than the limit of 64 KiB"},
		{"long error", check(`,"error":"` + strings.Repeat("e", 513) + `"`), 400, `check 0 of "new.example": error is 513 bytes long, the limit is 512`},
		{"long location", check(`,"location":"` + strings.Repeat("l", 65) + `"`), 400, `check 0 of "new.example": location is 65 bytes long, the limit is 64`},
		{"long host", `{"hosts":["` + strings.Repeat("h", 300) + `"]}`, 400, "is not acceptable: invalid target: 300 bytes long, the limit is 256"},
		// Bytes PostgreSQL refuses, or that decode as another text.
		{"NUL in an error", check(`,"error":"a\u0000b"`), 400, `check 0 of "new.example": holds NUL`},
		{"NUL in a location", check(`,"location":"\u0000"`), 400, `check 0 of "new.example": holds NUL`},
		{"control character in a location", check(`,"location":"a\u0001"`), 400, `check 0 of "new.example": location "a\x01" holds a control character`},
		{"NUL in a host", `{"hosts":["a\u0000b"]}`, 400, `hosts[0]: holds NUL (\u0000)`},
		{"NUL in an action", rule("new.example", `http://127.0.0.1/\u0000`), 400, "notifications[0]: holds NUL"},
		{"invalid UTF-8 in a host", "{\"hosts\":[\"new.example\",\"a\xffb.example\"]}", 400, "hosts[1]: not valid UTF-8"},
		{"unpaired surrogate in a host", `{"hosts":["http://a.example/\ud800"]}`, 400, "hosts[0]: holds an unpaired UTF-16 surrogate"},
		{"reversed surrogates in a host", `{"hosts":["http://a.example/\udc00\ud800"]}`, 400, "hosts[0]: holds an unpaired UTF-16 surrogate"},
		{"U+FFFD in a host", `{"hosts":["http://a.example/\ufffd"]}`, 400, "is not acceptable: invalid target: contains U+FFFD"},
		{"invalid UTF-8 in a key of checks", "{\"hosts\":[\"new.example\"],\"notifications\":[],\"checks\":{\"new.\xffexample\":[]}}", 400, `a key of "checks" is not valid UTF-8`},
		{"invalid UTF-8 in a rule's host", rule("new.\xffexample", ""), 400, "notifications[0]: not valid UTF-8"},
		{"invalid UTF-8 in an action", rule("new.example", "http://127.0.0.1/\xff"), 400, "notifications[0]: not valid UTF-8"},
		{"invalid UTF-8 in an error", check(",\"error\":\"\xff\""), 400, `check 0 of "new.example": not valid UTF-8`},
		{"invalid UTF-8 in a spooled check", "{\"checks\":{\"new.example\":[{\"time\":\"2021-03-02T12:00:00Z\",\"up\":false,\"error\":\"\xff\"}]},\"hosts\":[\"new.example\"]}", 400, `check 0 of "new.example": not valid UTF-8`},
		// gosrvmon never stored a negative rtt on a check that was up.
		{"rtt -1 up", `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[{"time":"2021-03-02T12:00:00Z","rtt":-1,"up":true}]}}`, 400, "negative rtt -1 on a check that was up"},
	}
	expectRefused(t, Options{}, "/api/backup_full", tests)
	// /api/backup skips "checks", within the same bounds.
	expectRefused(t, Options{}, "/api/backup", []refusal{
		{"deep checks skipped", `{"hosts":[],"checks":{"a":` + deep(70) + `}}`, 400, "nested deeper than 64 levels"},
		{"huge string in skipped checks", `{"hosts":[],"checks":{"a":["` + big + `"]}}`, 400, "larger than the limit of 64 KiB"},
	})
}

// fullBackup is a full backup of two hosts with n checks each.
func fullBackup(n int) string {
	var b strings.Builder
	b.WriteString(`{"hosts":["a.example","b.example"],"notifications":[],"checks":{`)
	for i, h := range []string{"a.example", "b.example"} {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q:[", h)
		for j := range n {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"time":"%s","rtt":%d,"up":%t}`, slot(j).Format(time.RFC3339), j, j%5 != 0)
		}
		b.WriteString("]")
	}
	b.WriteString("}}")
	return b.String()
}

func TestRestoreCountsMatchStore(t *testing.T) {
	// A larger restore, streamed: every check arrives once.
	body := fullBackup(3000)
	forEachBackend(t, func(t *testing.T, st store.Store) {
		expect(t, newEnv(t, st, Options{}).serve(request{method: "POST", target: "/api/backup_full", body: body}), http.StatusOK, `"checks":6000`)
		if n := len(takeSnapshot(t, st).Results); n != 6000 {
			t.Errorf("%d results stored, want 6000", n)
		}
	})
}

// TestRestoreLenient: ?skip_invalid=1 restores what it can of a backup a
// strict restore refuses (hosts srvmon does not accept, rules and checks of
// hosts missing from the file) and lists what it skipped; the default
// stays all or nothing.
func TestRestoreLenient(t *testing.T) {
	c := `[{"time":"2021-03-02T12:00:00Z","rtt":5,"up":true}]`
	hostsAndRules := "\"hosts\":[\"ok.example\",\"my_host.lan\",\"bad host\",\"a\xffb.example\"]," +
		`"notifications":[{"host":"ok.example","threshold":1,"action":""},{"host":"gone.example","threshold":1,"action":""},{"host":"my_host.lan","threshold":1,"action":"javascript:x"}]`
	checks := `"checks":{"ok.example":` + c + `,"bad host":` + c + `,"gone.example":` + c + `,"my_host.lan":` + c + `}`
	slot0 := time.Date(2021, 3, 2, 12, 0, 0, 0, time.UTC)
	want := snapshot{
		Hosts: []string{"my_host.lan", "ok.example"},
		Rules: []store.Rule{{Host: "ok.example", Threshold: 1}},
		Results: []store.Result{
			{Host: "my_host.lan", Slot: slot0, RTT: 5, Up: true},
			{Host: "ok.example", Slot: slot0, RTT: 5, Up: true},
		},
	}
	answer := `{"hosts":2,"notifications":1,"checks":2,"skipped":[` +
		`{"what":"hosts[2]","reason":"host \"bad host\" is not acceptable: invalid target: contains white space (U+0020)"},` +
		`{"what":"hosts[3]","reason":"not valid UTF-8"},` +
		`{"what":"notifications[2]","reason":"rule for \"my_host.lan\": action must be an http or https URL"},` +
		`{"what":"notifications[1]","reason":"host \"gone.example\" is neither in the backup's hosts nor stored"},` +
		`{"what":"checks of host \"bad host\"","reason":"the host is neither in the backup's hosts nor stored"},` +
		`{"what":"checks of host \"gone.example\"","reason":"the host is neither in the backup's hosts nor stored"}],"skipped_total":6}`
	for _, body := range []string{
		"{" + hostsAndRules + "," + checks + "}",
		"{" + checks + "," + hostsAndRules + "}", // spooled
	} {
		forEachBackend(t, func(t *testing.T, st store.Store) {
			e := newEnv(t, st, Options{})
			expect(t, e.serve(request{method: "POST", target: "/api/backup_full", body: body}), http.StatusBadRequest, "hosts[2]")
			if got := takeSnapshot(t, st); len(got.Hosts) != 0 {
				t.Fatalf("a strict restore that failed stored %+v", got)
			}
			w := e.serve(request{method: "POST", target: "/api/backup_full?skip_invalid=1", body: body})
			expect(t, w, http.StatusOK, "")
			if got := strings.TrimSpace(w.Body.String()); got != answer {
				t.Errorf("answer\n got %s\nwant %s", got, answer)
			}
			if got := takeSnapshot(t, st); !equalSnapshots(got, want) {
				t.Errorf("restored\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// TestRestoreLenientBoundsItsAnswer: the list of what was skipped stops
// at backup.MaxSkipped entries; the total counts them all.
func TestRestoreLenientBoundsItsAnswer(t *testing.T) {
	body := `{"hosts":[` + strings.Repeat(`"bad host",`, backup.MaxSkipped+500) + `"ok.example"]}`
	e := newEnv(t, backends()[0].open(t), Options{})
	w := e.serve(request{method: "POST", target: "/api/backup?skip_invalid=true", body: body})
	expect(t, w, http.StatusOK, `"skipped_total":1500`)
	var got lenientCounts
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got.Skipped) != backup.MaxSkipped || got.Hosts != 1 {
		t.Errorf("answer with %d entries, %d hosts: %v", len(got.Skipped), got.Hosts, err)
	}
	expect(t, e.serve(request{method: "POST", target: "/api/backup?skip_invalid=maybe", body: body}), http.StatusBadRequest, `skip_invalid="maybe"`)
}

// TestRestoreAcceptsWhatGoResolves: host names with underscores, which
// Go's resolver (and gosrvmon) accept, restore on every backend.
func TestRestoreAcceptsWhatGoResolves(t *testing.T) {
	body := `{"hosts":["my_host.lan","my_host.lan:22","http://my_host.lan/"],"notifications":null}`
	forEachBackend(t, func(t *testing.T, st store.Store) {
		expect(t, newEnv(t, st, Options{}).serve(request{method: "POST", target: "/api/backup", body: body}), http.StatusOK, `{"hosts":3,"notifications":0,"checks":0}`)
		if got := takeSnapshot(t, st); len(got.Hosts) != 3 {
			t.Errorf("stored %v", got.Hosts)
		}
	})
}
