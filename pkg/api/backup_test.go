package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// snapshot is everything a store holds that a backup covers.
type snapshot struct {
	Hosts   []string
	Rules   []store.Rule
	Results []store.Result
}

func takeSnapshot(t testing.TB, st store.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	var s snapshot
	var err error
	if s.Hosts, err = st.Hosts(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Rules, err = st.Rules(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range s.Hosts {
		err := st.Results(ctx, h, minTime(), maxTime(), func(r store.Result) error {
			s.Results = append(s.Results, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func equalSnapshots(a, b snapshot) bool {
	return slices.Equal(a.Hosts, b.Hosts) && slices.Equal(a.Rules, b.Rules) &&
		slices.EqualFunc(a.Results, b.Results, func(x, y store.Result) bool {
			return x.Host == y.Host && x.Location == y.Location && x.Slot.Equal(y.Slot) &&
				x.RTT == y.RTT && x.Up == y.Up && x.Reason == y.Reason
		})
}

func TestRestoreGosrvmonBackups(t *testing.T) {
	t12 := time.Date(2021, 3, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		file, endpoint string
		counts         string
		want           snapshot
	}{
		{
			file: "testdata/gosrvmon-backup.json", endpoint: "/api/backup",
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
			file: "testdata/gosrvmon-backup_full.json", endpoint: "/api/backup_full",
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
			// /api/backup ignores the checks of a full backup, as gosrvmon does.
			file: "testdata/gosrvmon-backup_full.json", endpoint: "/api/backup",
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
	tests := []struct {
		name, body string
		code       int
		want       string
	}{
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
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seedBackup(t, st)
		before := takeSnapshot(t, st)
		e := newEnv(t, st, Options{MaxBodyBytes: 64 << 10})
		for _, tt := range tests {
			w := e.serve(request{method: "POST", target: "/api/backup_full", body: tt.body})
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

func FuzzRestore(f *testing.F) {
	for _, s := range []string{
		`{"hosts":["a.example"],"notifications":[{"host":"a.example","threshold":1,"action":"http://127.0.0.1/"}],"checks":{"a.example":[{"time":"2021-03-02T12:00:00Z","rtt":5,"up":true}]}}`,
		`{"checks":{"a.example":[{"time":"2021-03-02T12:00:00Z","rtt":5,"up":false,"error":"x"}]},"hosts":["a.example"]}`,
		`{"hosts":null,"notifications":null,"checks":null}`,
		`{"hosts":["bad host"]}`, `[]`, ``, `{"x":[[[{}]]]}`,
	} {
		f.Add(s)
	}
	st := backends()[0].open(f)
	e := newEnv(f, st, Options{MaxBodyBytes: 1 << 20})
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		w := e.serve(request{method: "POST", target: "/api/backup_full", body: body})
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("restore of %q: %d %q", body, w.Code, w.Body.String())
		}
		if w.Code == http.StatusOK {
			var n restoreCounts
			if err := json.Unmarshal(w.Body.Bytes(), &n); err != nil {
				t.Fatal(err)
			}
			if !json.Valid([]byte(body)) {
				t.Fatalf("restored invalid JSON %q", body)
			}
		}
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

// FuzzParseCheck: whenever the fast path reads a check, encoding/json
// reads the same.
func FuzzParseCheck(f *testing.F) {
	for _, s := range []string{
		`{"time":"2021-03-02T12:00:00Z","rtt":15321000,"up":true}`,
		` { "up" : false , "rtt" : 0 , "time" : "2021-03-02T15:02:00+03:00" , "location":"eu","error":"timeout" } `,
		`{"time":"2021-03-02T12:00:00.123456789Z","rtt":-5,"up":true,"up":false}`,
		`{"time":"2021-03-02T12:00:00Z","rtt":1.5,"up":true}`, `{"time":"2021-03-02T12:00:00Z","rtt":01,"up":true}`,
		`{"Time":"2021-03-02T12:00:00Z","UP":true}`, `{"error":"a\"b"}`, `{}`, `{"rtt":-0}`, `{"rtt":-}`, `{"up":true}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ok := parseCheckFast(raw)
		var slow backupCheck
		err := json.Unmarshal(raw, &slow)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("fast path read %q, encoding/json fails: %v", raw, err)
		}
		if !fast.Time.Equal(slow.Time) || fast.RTT != slow.RTT || fast.Up != slow.Up || fast.Location != slow.Location || fast.Error != slow.Error {
			t.Fatalf("%q: fast %+v, encoding/json %+v", raw, fast, slow)
		}
	})
}
