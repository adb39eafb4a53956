package backup

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
	"github.com/srvmon/srvmon/pkg/store/ql"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// backends open an empty store of each backend, closed when the test ends.
var backends = []struct {
	name string
	open func(t *testing.T) (store.Store, error)
}{
	{"memory", func(*testing.T) (store.Store, error) { return memory.New(), nil }},
	{"bolt", func(t *testing.T) (store.Store, error) {
		return bolt.Open(filepath.Join(t.TempDir(), "srvmon.db"), bolt.WithNoSync())
	}},
	{"ql", func(t *testing.T) (store.Store, error) {
		return ql.Open(t.Context(), filepath.Join(t.TempDir(), "srvmon.ql"))
	}},
	{"postgres", func(t *testing.T) (store.Store, error) {
		return postgres.Open(t.Context(), postgres.Config{URL: pgtest.NewDatabase(t)})
	}},
}

// forEachBackend runs test on an empty store of every backend.
func forEachBackend(t *testing.T, test func(t *testing.T, st store.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st, err := b.open(t)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			test(t, st)
		})
	}
}

// TestGosrvmonBackupsRestoreWithoutSettings: gosrvmon's backups have no
// "monitors"; every host restores as a monitor without settings, on
// every backend.
func TestGosrvmonBackupsRestoreWithoutSettings(t *testing.T) {
	for _, file := range gosrvmonFiles {
		t.Run(filepath.Base(file), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, st store.Store) {
				f, err := os.Open(file)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				n, err := Restore(t.Context(), st, f, Options{Full: true})
				if err != nil || n.Monitors != 0 {
					t.Fatalf("Restore: %+v, %v", n, err)
				}
				c := storetest.ContentsOf(t, st)
				if len(c.Monitors) != n.Hosts || len(c.Hosts) != n.Hosts {
					t.Fatalf("%d hosts restored, stored %d hosts and %d monitors", n.Hosts, len(c.Hosts), len(c.Monitors))
				}
				for i, m := range c.Monitors {
					if want := (monitor.Monitor{Host: c.Hosts[i]}); !reflect.DeepEqual(m, want) {
						t.Errorf("monitor %d: %+v, want %+v", i, m, want)
					}
				}
			})
		})
	}
}

func boolPtr(b bool) *bool { return &b }

// withSettings is a store's monitors with settings; they validate.
func withSettings() []monitor.Monitor {
	return []monitor.Monitor{
		{Host: "https://a.example/", Settings: monitor.Settings{
			Name: "Shop – front", Group: "web", Method: "POST",
			Headers: map[string]string{"X-Key": "v\u00e9", "Accept": "*/*"},
			Body:    "{\"a\":1}\x00<&>", FollowRedirects: boolPtr(false),
			Timeout: monitor.Duration(2500 * time.Millisecond), InsecureSkipVerify: true,
			Conditions: []string{"[STATUS] == any(200, 204)", "[BODY].items[0].status == ok", "[CERTIFICATE_EXPIRATION] > 7d"},
		}},
		{Host: "https://b.example/", Settings: monitor.Settings{FollowRedirects: boolPtr(true)}, Source: monitor.SourceConfig},
		{Host: "push://c-job", Settings: monitor.Settings{
			Grace: monitor.Duration(90 * time.Minute), PushToken: "tok_0123456789abcdef-XYZ",
		}},
	}
}

// TestMonitorsRoundTrip: a backup of a store with settings holds them in
// "monitors", between "notifications" and "checks", without sources and
// without the hosts that have none, and restores them into a fresh store
// of every backend as API-made monitors.
func TestMonitorsRoundTrip(t *testing.T) {
	src := memory.New()
	ms := withSettings()
	for _, m := range ms {
		if err := monitor.Validate(m, monitor.Limits{}); err != nil {
			t.Fatalf("the test's monitor %s does not validate: %v", m.Host, err)
		}
		if _, err := src.PutMonitor(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.AddHost(t.Context(), "plain.example"); err != nil {
		t.Fatal(err)
	}
	slot := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	err := src.SaveRound(t.Context(), []store.Result{{Host: "plain.example", Slot: slot, RTT: time.Millisecond, Up: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Encode(t.Context(), &out, src, true); err != nil {
		t.Fatal(err)
	}
	backup := out.String()
	iNotif, iMon, iChecks := strings.Index(backup, `"notifications":`), strings.Index(backup, `"monitors":`), strings.Index(backup, `"checks":`)
	if iNotif < 0 || iMon < iNotif || iChecks < iMon {
		t.Errorf("backup %s: want \"notifications\", \"monitors\", \"checks\" in that order", backup)
	}
	var doc struct{ Monitors []map[string]any }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Monitors) != len(ms) {
		t.Errorf("backup has %d monitors, want the %d with settings: %s", len(doc.Monitors), len(ms), backup)
	}
	for _, m := range doc.Monitors {
		if _, ok := m["source"]; ok {
			t.Errorf("a monitor of the backup has a source: %v", m)
		}
	}

	want := storetest.ContentsOf(t, src)
	for i := range want.Monitors {
		want.Monitors[i].Source = monitor.SourceAPI
	}
	forEachBackend(t, func(t *testing.T, st store.Store) {
		n, err := Restore(t.Context(), st, strings.NewReader(backup), Options{Full: true})
		if err != nil || n.Monitors != len(ms) || n.Hosts != 4 || n.Checks != 1 {
			t.Fatalf("Restore: %+v, %v", n, err)
		}
		if got := storetest.ContentsOf(t, st); !got.Equal(want) {
			t.Errorf("restored\n%+v\nwant\n%+v", got, want)
		}
		m, err := st.MonitorByPushToken(t.Context(), "tok_0123456789abcdef-XYZ")
		if err != nil || m.Host != "push://c-job" {
			t.Errorf("MonitorByPushToken: %+v, %v", m, err)
		}
		// Restored again over itself: the same (its own tokens are no conflict).
		if _, err := Restore(t.Context(), st, strings.NewReader(backup), Options{Full: true}); err != nil {
			t.Fatalf("Restore again: %v", err)
		}
		if got := storetest.ContentsOf(t, st); !got.Equal(want) {
			t.Errorf("restored twice\n%+v\nwant\n%+v", got, want)
		}
	})
}

// TestRestoreInvalidMonitors: a monitor that does not validate refuses
// the backup with an *Error naming the entry and the field, or, lenient,
// is skipped; nothing of a refused backup is stored.
func TestRestoreInvalidMonitors(t *testing.T) {
	head := `{"hosts":["db.example:5432","http://a.example/"],"notifications":[],"monitors":[{"host":"http://a.example/","name":"ok"},`
	tail := `],"checks":{}}`
	tests := []struct {
		name, entry, want string
	}{
		{"NameTooLong", `{"host":"http://a.example/","name":"` + strings.Repeat("n", monitor.MaxNameLen+1) + `"}`, "monitors[1]: name: longer than"},
		{"HTTPSettingOfTCP", `{"host":"db.example:5432","headers":{"X":"1"}}`, "monitors[1]: headers: applies only to http"},
		{"BadPushToken", `{"host":"push://a","push_token":"short"}`, "monitors[1]: push_token:"},
		{"NegativeTimeout", `{"host":"http://a.example/","timeout":"-1s"}`, "monitors[1]: timeout:"},
		{"BadDuration", `{"host":"push://a","grace":"soon"}`, `monitors[1]: "soon" is not a duration`},
		{"WrongType", `{"host":"http://a.example/","follow_redirects":"yes"}`, "monitors[1]: json: cannot unmarshal"},
		{"NotAnObject", `"http://a.example/"`, "monitors[1]: json: cannot unmarshal"},
		{"BadHost", `{"host":"not a host"}`, "monitors[1]: host:"},
		{"UnknownHost", `{"host":"http://other.example/","name":"x"}`, `monitors[1]: host "http://other.example/" is neither in the backup's hosts nor stored`},
		{"Surrogate", `{"host":"http://a.example/","name":"\ud800"}`, "monitors[1]: holds an unpaired UTF-16 surrogate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := head + tt.entry + tail
			st := memory.New()
			_, err := Restore(t.Context(), st, strings.NewReader(body), Options{Full: true})
			var be *Error
			if !errors.As(err, &be) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("strict: %v, want an *Error containing %q", err, tt.want)
			}
			if c := storetest.ContentsOf(t, st); len(c.Hosts) != 0 {
				t.Errorf("a refused backup stored %+v", c)
			}
			n, err := Restore(t.Context(), st, strings.NewReader(body), Options{Full: true, SkipInvalid: true})
			if err != nil || n.Monitors != 1 || n.SkippedTotal != 1 || n.Skipped[0].What != "monitors[1]" ||
				!strings.Contains("monitors[1]: "+n.Skipped[0].Reason, tt.want) {
				t.Errorf("lenient: %+v, %v; want monitors[1] skipped (%q)", n, err, tt.want)
			}
			if m, err := st.Monitor(t.Context(), "http://a.example/"); err != nil || m.Name != "ok" {
				t.Errorf("lenient: the valid monitor: %+v, %v", m, err)
			}
		})
	}
}

// TestRestoreMonitorsEdges: sources are dropped, a token twice in one
// backup is refused, "monitors" after streamed checks is refused, an
// entry may be larger than MaxItem but not than MaxMonitorItem.
func TestRestoreMonitorsEdges(t *testing.T) {
	big := strings.Repeat("b", monitor.MaxBodyLen)
	tooBig := strings.Repeat("x", MaxMonitorItem+64<<10)
	tests := []struct {
		name, body, want string // want: "" for a restore
	}{
		{"SourceDropped", `{"hosts":["http://a.example/"],"monitors":[{"host":"http://a.example/","name":"n","source":"config"}]}`, ""},
		{"LargeEntry", `{"hosts":["http://a.example/"],"monitors":[{"host":"http://a.example/","body":"` + big + `","name":"n"}]}`, ""},
		{"MonitorsFirst", `{"monitors":[{"host":"http://a.example/","name":"n"}],"hosts":["http://a.example/"],"notifications":[],"checks":{}}`, ""},
		{"ChecksFirst", `{"checks":{},"monitors":[{"host":"http://a.example/","name":"n"}],"hosts":["http://a.example/"],"notifications":[]}`, ""},
		{"TokenTwice", `{"hosts":["push://a","push://b"],"monitors":[{"host":"push://a","push_token":"0123456789abcdef"},{"host":"push://b","push_token":"0123456789abcdef"}]}`,
			"monitors[1]: push_token: the same as monitors[0]'s"},
		{"MonitorsAfterStreamedChecks", `{"hosts":["http://a.example/"],"notifications":[],"checks":{},"monitors":[{"host":"http://a.example/","name":"n"}]}`,
			`"monitors" after "checks"`},
		{"MonitorsTwice", `{"hosts":["http://a.example/"],"monitors":[],"monitors":[]}`, `"monitors" twice`},
		{"EntryTooLarge", `{"hosts":["http://a.example/"],"monitors":[{"host":"http://a.example/","x":"` + tooBig + `"}]}`, "larger than the limit of 1024 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memory.New()
			_, err := Restore(t.Context(), st, strings.NewReader(tt.body), Options{Full: true})
			if tt.want != "" {
				var be *Error
				if !errors.As(err, &be) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Restore: %v, want an *Error containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			m, err := st.Monitor(t.Context(), "http://a.example/")
			if err != nil || m.Source != monitor.SourceAPI || m.Name == "" && m.Body == "" {
				t.Errorf("Monitor: %+v, %v; want the restored settings, API-made", m, err)
			}
		})
	}
}
