package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// gosrvmonFiles are backups as gosrvmon writes them (testdata/README).
var gosrvmonFiles = []string{"testdata/gosrvmon-backup.json", "testdata/gosrvmon-backup_full.json", "testdata/gosrvmon-failed-pings_full.json"}

// TestRestoreAndEncode restores gosrvmon's backups without a server, and
// what Encode writes of the store restores into another one unchanged.
func TestRestoreAndEncode(t *testing.T) {
	tests := []struct {
		file string
		want Counts
	}{
		{gosrvmonFiles[0], Counts{Hosts: 4, Notifications: 2}},
		{gosrvmonFiles[1], Counts{Hosts: 3, Checks: 5}},
		{gosrvmonFiles[2], Counts{Hosts: 5, Notifications: 1, Checks: 14}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st := memory.New()
			n, err := Restore(t.Context(), st, f, Options{Full: true})
			if err != nil || !equalCounts(n, tt.want) {
				t.Fatalf("Restore: %+v, %v; want %+v", n, err, tt.want)
			}
			var out bytes.Buffer
			if err := Encode(t.Context(), &out, st, true); err != nil {
				t.Fatal(err)
			}
			to := memory.New()
			if _, err := Restore(t.Context(), to, &out, Options{Full: true}); err != nil {
				t.Fatalf("restoring what Encode wrote: %v", err)
			}
			if a, b := storetest.ContentsOf(t, st), storetest.ContentsOf(t, to); !a.Equal(b) {
				t.Errorf("store holds\n%+v\nits backup restores as\n%+v", a, b)
			}
		})
	}
}

func equalCounts(a, b Counts) bool {
	return a.Hosts == b.Hosts && a.Notifications == b.Notifications && a.Checks == b.Checks &&
		slices.Equal(a.Skipped, b.Skipped) && a.SkippedTotal == b.SkippedTotal
}

// failingReader returns its data, then err.
type failingReader struct {
	data string
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestRestoreErrors: a backup Restore refuses is an *Error; one that does
// not arrive whole is the reader's error, kept in the chain (so the API
// answers it as it answers any body it did not receive), and not an
// *Error; either way nothing is stored.
func TestRestoreErrors(t *testing.T) {
	readFailed := errors.New("connection reset")
	start := `{"hosts":["a.example"],"notifications":[],"checks":{"a.example":[{"time":"2021-03-02T12:00:00Z","rtt":5,"up":true},`
	tests := []struct {
		name       string
		body       io.Reader
		format     bool  // an *Error
		chain      error // in the error's chain
		wantSubstr string
	}{
		{"malformed", strings.NewReader(`{"hosts":[1]}`), true, nil, "hosts[0] is not a string"},
		{"cut short", strings.NewReader(start), true, nil, "unexpected EOF"},
		{"item too large", strings.NewReader(`{"x":"` + strings.Repeat("x", 70<<10) + `"}`), true, nil, "larger than the limit of 64 KiB"},
		{"reader fails", &failingReader{start, readFailed}, false, readFailed, "backup cut off at byte"},
		{"reader fails at once", &failingReader{"", readFailed}, false, readFailed, "backup cut off at byte 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memory.New()
			_, err := Restore(t.Context(), st, tt.body, Options{Full: true})
			var be *Error
			if err == nil || errors.As(err, &be) != tt.format || (tt.chain != nil && !errors.Is(err, tt.chain)) || !strings.Contains(err.Error(), tt.wantSubstr) {
				t.Errorf("%v (an *Error: %v), want %q", err, errors.As(err, &be), tt.wantSubstr)
			}
			if c := storetest.ContentsOf(t, st); len(c.Hosts) != 0 {
				t.Errorf("stored %+v", c)
			}
		})
	}
}

// TestEncodeWritesNothingOnAReadError: when the store cannot list its
// hosts, rules, monitors or windows, nothing is written, so the caller can still answer the
// error.
func TestEncodeWritesNothingOnAReadError(t *testing.T) {
	down := errors.New("store down")
	for _, rd := range []store.Reader{failing{hosts: down}, failing{rules: down}, failing{monitors: down}, failing{windows: down}} {
		var out bytes.Buffer
		if err := Encode(t.Context(), &out, rd, true); !errors.Is(err, down) || out.Len() != 0 {
			t.Errorf("Encode: %v, wrote %q", err, out.String())
		}
	}
}

// failing is a store.Reader whose Hosts, Rules, Monitors or Maintenances fail.
type failing struct{ hosts, rules, monitors, windows error }

func (f failing) Hosts(context.Context) ([]string, error)             { return []string{"a.example"}, f.hosts }
func (f failing) Rules(context.Context) ([]store.Rule, error)         { return nil, f.rules }
func (f failing) Monitors(context.Context) ([]monitor.Monitor, error) { return nil, f.monitors }
func (f failing) Maintenances(context.Context) ([]monitor.Maintenance, error) {
	return nil, f.windows
}
func (f failing) Results(context.Context, string, time.Time, time.Time, func(store.Result) error) error {
	return nil
}

// FuzzRestore restores arbitrary bodies into a memory store: no panic,
// either a restore or an *Error, and whatever a restore stored comes out
// of a full backup (Encode) and restores into a fresh store unchanged.
// The seeds (gosrvmon's backups and hostile bodies) run as a normal test.
func FuzzRestore(f *testing.F) {
	for _, file := range gosrvmonFiles {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), false)
	}
	for _, s := range []string{
		`{"hosts":["a.example"],"notifications":[{"host":"a.example","threshold":1,"action":"http://127.0.0.1/"}],"checks":{"a.example":[{"time":"2021-03-02T12:00:00Z","rtt":5,"up":true}]}}`,
		`{"checks":{"a.example":[{"time":"2021-03-02T12:00:00Z","rtt":5,"up":false,"error":"x"}]},"hosts":["a.example"]}`,
		`{"hosts":null,"notifications":null,"checks":null}`,
		`{"hosts":["bad host","my_host.lan"],"notifications":[{"host":"gone.example","threshold":1,"action":""}]}`,
		`[]`, ``, `{"x":[[[{}]]]}`, `{"x":` + strings.Repeat("[", 100),
		`{"hosts":["a.example"],"checks":{"a.example":[{"time":"2021-03-02T12:00:00Z","rtt":-1,"up":false,"location":"\u0000"}]}}`,
		"{\"hosts\":[\"a\xff.example\",\"http://a.example/\\ud800\"]}",
		`{"hosts":["a.example"],"checks":{"a.example":[{"time":"2021-03-02T12:00:00Z","up":false,"error":"` + strings.Repeat("e", 600) + `"}]}}`,
		`{"hosts":["http://a.example/","b.example:22"],"notifications":[],"monitors":[{"host":"http://a.example/","name":"A","group":"g","method":"HEAD","headers":{"X-K":"v"},"body":"\u0000","follow_redirects":false,"timeout":"1.5s","insecure_skip_verify":true},{"host":"b.example:22","grace":90,"push_token":"0123456789abcdef","source":"config"}],"checks":{}}`,
		`{"hosts":["http://a.example/"],"monitors":[{"host":"http://a.example/","headers":{},"conditions":[]}]}`,
		`{"monitors":[{"host":"gone.example","name":"x"},{"host":"a.example","push_token":"bad"}],"hosts":["a.example"]}`,
		`{"hosts":["a.example"],"maintenance":[{"id":2,"hosts":["a.example"],"cron":"CRON_TZ=Europe/Berlin 0 3 * * *","duration":"2h"},{"start":"2026-03-01T22:00:00Z","end":"2026-03-01T23:00:00Z"},{"id":2,"cron":"@every 1h","duration":"1h"}],"checks":{"a.example":[{"time":"2021-03-02T12:00:00Z","rtt":5,"up":true,"maintenance":true}]}}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	st := memory.New()
	f.Fuzz(func(t *testing.T, body string, lenient bool) {
		_, err := Restore(t.Context(), st, strings.NewReader(body), Options{Full: true, SkipInvalid: lenient})
		if err != nil {
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("restore of %q: %v, not an *Error", body, err)
			}
			return
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("restored invalid JSON %q", body)
		}
		// What is stored comes out of a backup and restores unchanged.
		var backup bytes.Buffer
		if err := Encode(t.Context(), &backup, st, true); err != nil {
			t.Fatal(err)
		}
		to := memory.New()
		if _, err := Restore(t.Context(), to, &backup, Options{Full: true}); err != nil {
			t.Fatalf("restoring the backup of what %q stored: %v", body, err)
		}
		if a, b := storetest.ContentsOf(t, st), storetest.ContentsOf(t, to); !a.Equal(b) {
			t.Fatalf("after restoring %q, the store holds\n%+v\nand its backup restores as\n%+v", body, a, b)
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
		`{"time":"2021-03-02T12:00:00Z","rtt":1,"up":true,"maintenance":true}`, `{"maintenance":true,"maintenance":false}`, `{"maintenance":1}`,
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
		if !fast.Time.Equal(slow.Time) || fast.RTT != slow.RTT || fast.Up != slow.Up || fast.Location != slow.Location || fast.Error != slow.Error ||
			fast.Maintenance != slow.Maintenance {
			t.Fatalf("%q: fast %+v, encoding/json %+v", raw, fast, slow)
		}
	})
}

// FuzzCheckJSONText: a JSON string checkJSONText accepts decodes without
// NUL, and with U+FFFD only where the text wrote one; one it refuses for
// its surrogates decodes with a U+FFFD that the text did not write.
func FuzzCheckJSONText(f *testing.F) {
	for _, s := range []string{`"a"`, `"\u0000"`, `"\ud800"`, `"\ud83d\ude00"`, `"\ude00\ud83d"`, `"\ufffd"`, "\"\xef\xbf\xbd\"", "\"\xff\"", `"\\u0000"`, `"a\"\u0041"`, `["x",{"y":"\ud800\u0041"}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var v any
		if json.Unmarshal([]byte(raw), &v) != nil {
			return
		}
		err := checkJSONText([]byte(raw), 0)
		texts := jsonStrings(v)
		wroteFFFD := strings.Contains(raw, "\ufffd") || strings.Contains(strings.ToLower(raw), `\ufffd`)
		for _, s := range texts {
			if err == nil && strings.ContainsRune(s, 0) {
				t.Fatalf("%q accepted, decodes with NUL", raw)
			}
			if err == nil && strings.ContainsRune(s, utf8.RuneError) && !wroteFFFD {
				t.Fatalf("%q accepted, decodes with a U+FFFD it did not write", raw)
			}
		}
		if err != nil && strings.Contains(err.Error(), "surrogate") && !wroteFFFD && !slices.ContainsFunc(texts, func(s string) bool { return strings.ContainsRune(s, utf8.RuneError) }) {
			t.Fatalf("%q refused (%v), but decodes without U+FFFD", raw, err)
		}
	})
}

// jsonStrings returns every string in a decoded JSON value, keys included.
func jsonStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, jsonStrings(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for k, e := range v {
			out = append(out, k)
			out = append(out, jsonStrings(e)...)
		}
		return out
	}
	return nil
}

// A rule's srvmon fields go into a backup whole, channels with their
// secrets included (a backup is for restoring, and needs auth to read),
// and restore unchanged; a restore refuses a rule notify.CheckRule
// refuses. (On the memory store: the other backends keep the new fields
// once their part of issue 12 lands.)
func TestBackupRuleFields(t *testing.T) {
	ctx := t.Context()
	st := memory.New()
	if err := st.AddHost(ctx, "a.example"); err != nil {
		t.Fatal(err)
	}
	rule := store.Rule{Host: "a.example", Threshold: 2, Action: "http://127.0.0.1:9/a",
		Channels: []string{"generic://127.0.0.1:9/hook/SECRET1?template=json", "ntfy://u:SECRET2@127.0.0.1:9/topic"},
		Message:  "{NAME} is {STATE}", RecoveryThreshold: 3, Window: 4, Quorum: "majority",
		RemindEvery: monitor.Duration(time.Hour), CertExpiryDays: 14}
	if err := st.SetRule(ctx, rule); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if err := Encode(ctx, &backup, st, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"SECRET1", "SECRET2", `"remind_every":"1h0m0s"`, `"quorum":"majority"`} {
		if !strings.Contains(backup.String(), s) {
			t.Errorf("backup lacks %s: %s", s, backup.String())
		}
	}
	to := memory.New()
	if _, err := Restore(ctx, to, bytes.NewReader(backup.Bytes()), Options{}); err != nil {
		t.Fatal(err)
	}
	if got, err := to.Rule(ctx, "a.example"); err != nil || !reflect.DeepEqual(got, rule) {
		t.Errorf("restored %+v, %v; want %+v", got, err, rule)
	}
	bad := strings.Replace(backup.String(), "ntfy://", "nosuch://", 1)
	if _, err := Restore(ctx, memory.New(), strings.NewReader(bad), Options{}); err == nil || !strings.Contains(err.Error(), `unknown service "nosuch"`) {
		t.Errorf("restoring an unknown channel service: %v", err)
	}
}
