package backup

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// testWindows are maintenance windows of every kind; they validate.
func testWindows() []monitor.Maintenance {
	return []monitor.Maintenance{
		{Hosts: []string{"a.example", "https://b.example/"}, Reason: "firmware – ünïcode",
			Start: time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC)},
		{Groups: []string{"db"}, Cron: "CRON_TZ=Europe/Berlin 0 3 * * SUN", Duration: monitor.Duration(2 * time.Hour)},
		{Cron: "@daily", Duration: monitor.Duration(time.Minute)},
	}
}

// TestMaintenanceRoundTrip: a backup of a store with windows and results
// in maintenance holds the windows in "maintenance", before "checks", and
// "maintenance": true on exactly the checks of results in maintenance;
// it restores into a fresh store of every backend as it was, windows'
// IDs included, and again over itself unchanged.
func TestMaintenanceRoundTrip(t *testing.T) {
	src := memory.New()
	ctx := t.Context()
	for _, w := range testWindows() {
		if err := monitor.ValidateMaintenance(w); err != nil {
			t.Fatalf("the test's window does not validate: %v", err)
		}
		if _, err := src.PutMaintenance(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	// A deleted window leaves a gap in the IDs, which the backup keeps.
	if err := src.DeleteMaintenance(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a.example", "https://b.example/"} {
		if err := src.AddHost(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	slot := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	rs := []store.Result{
		{Host: "a.example", Slot: slot, RTT: time.Millisecond, Up: true, Maintenance: true},
		{Host: "a.example", Location: "eu", Slot: slot, RTT: 2 * time.Millisecond, Reason: "timeout", Maintenance: true},
		{Host: "a.example", Slot: slot.Add(time.Minute), RTT: time.Millisecond, Up: true},
		{Host: "https://b.example/", Slot: slot, Reason: "refused"},
	}
	if err := src.SaveRound(ctx, rs, nil); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Encode(ctx, &out, src, true); err != nil {
		t.Fatal(err)
	}
	backup := out.String()
	iNotif, iMaint, iChecks := strings.Index(backup, `"notifications":`), strings.Index(backup, `"maintenance":[`), strings.Index(backup, `"checks":`)
	if iNotif < 0 || iMaint < iNotif || iChecks < iMaint {
		t.Errorf("backup %s: want \"notifications\", \"maintenance\", \"checks\" in that order", backup)
	}
	if n := strings.Count(backup, `"maintenance":true`); n != 2 {
		t.Errorf("backup has %d checks with \"maintenance\":true, want 2: %s", n, backup)
	}
	if strings.Contains(backup, `"maintenance":false`) {
		t.Errorf("backup writes \"maintenance\":false: %s", backup)
	}
	var doc struct{ Maintenance []monitor.Maintenance }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Maintenance) != 2 || doc.Maintenance[0].ID != 2 || doc.Maintenance[1].ID != 3 {
		t.Errorf("backup's windows %+v, want IDs 2 and 3", doc.Maintenance)
	}

	want := storetest.ContentsOf(t, src)
	forEachBackend(t, func(t *testing.T, st store.Store) {
		n, err := Restore(t.Context(), st, strings.NewReader(backup), Options{Full: true})
		if err != nil || n.Maintenance != 2 || n.Hosts != 2 || n.Checks != int64(len(rs)) {
			t.Fatalf("Restore: %+v, %v", n, err)
		}
		if got := storetest.ContentsOf(t, st); !got.Equal(want) {
			t.Errorf("restored\n%+v\nwant\n%+v", got, want)
		}
		if _, err := Restore(t.Context(), st, strings.NewReader(backup), Options{Full: true}); err != nil {
			t.Fatalf("Restore again: %v", err)
		}
		if got := storetest.ContentsOf(t, st); !got.Equal(want) {
			t.Errorf("restored twice\n%+v\nwant\n%+v", got, want)
		}
		// A window added after the restore gets an ID above the restored.
		if id, err := st.PutMaintenance(t.Context(), testWindows()[0]); err != nil || id <= 3 {
			t.Errorf("PutMaintenance after the restore = %d, %v; want an ID above 3", id, err)
		}
	})
}

// TestGosrvmonBackupsHaveNoMaintenance: a store restored from gosrvmon's
// backups, without windows or results in maintenance, backs up without a
// word of maintenance, as gosrvmon wrote it.
func TestGosrvmonBackupsHaveNoMaintenance(t *testing.T) {
	for _, file := range gosrvmonFiles {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		st := memory.New()
		if _, err := Restore(t.Context(), st, bytes.NewReader(b), Options{Full: true}); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var out bytes.Buffer
		if err := Encode(t.Context(), &out, st, true); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "maintenance") {
			t.Errorf("%s backs up with maintenance: %s", file, out.String())
		}
	}
}

// TestRestoreInvalidMaintenance: a window that does not validate refuses
// the backup with an *Error naming the entry and the field, or, lenient,
// is skipped; nothing of a refused backup is stored.
func TestRestoreInvalidMaintenance(t *testing.T) {
	head := `{"hosts":["a.example"],"notifications":[],"maintenance":[{"id":4,"cron":"@weekly","duration":"1h"},`
	tail := `],"checks":{"a.example":[{"time":"2026-03-01T22:00:00Z","rtt":1,"up":true,"maintenance":true}]}}`
	tests := []struct {
		name, entry, want string
	}{
		{"BadCron", `{"cron":"0 3 * *","duration":"1h"}`, "maintenance[1]: cron: expected exactly 5 fields"},
		{"Every", `{"cron":"@every 5m","duration":"1h"}`, "maintenance[1]: cron: @every has no times of its own"},
		{"NoDuration", `{"cron":"@weekly"}`, "maintenance[1]: duration: 0s is not above 0"},
		{"NoEnd", `{"start":"2026-03-01T22:00:00Z"}`, "maintenance[1]: end: give start and end"},
		{"EndBeforeStart", `{"start":"2026-03-01T22:00:00Z","end":"2026-03-01T21:00:00Z"}`, "maintenance[1]: end: 2026-03-01T21:00:00Z is not after start"},
		{"EmptyHost", `{"hosts":["a.example",""],"cron":"@weekly","duration":"1h"}`, "maintenance[1]: hosts[1]: empty"},
		{"NegativeID", `{"id":-2,"cron":"@weekly","duration":"1h"}`, "maintenance[1]: id: -2 is negative"},
		{"IDTwice", `{"id":4,"cron":"@daily","duration":"1h"}`, "maintenance[1]: id: 4, the same as maintenance[0]'s"},
		{"BadDuration", `{"cron":"@weekly","duration":"soon"}`, `maintenance[1]: "soon" is not a duration`},
		{"WrongType", `{"hosts":"a.example","cron":"@weekly","duration":"1h"}`, "maintenance[1]: json: cannot unmarshal"},
		{"NotAnObject", `"@weekly"`, "maintenance[1]: json: cannot unmarshal"},
		{"Surrogate", `{"reason":"\ud800","cron":"@weekly","duration":"1h"}`, "maintenance[1]: holds an unpaired UTF-16 surrogate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := head + tt.entry + tail
			st := memory.New()
			_, err := Restore(t.Context(), st, strings.NewReader(body), Options{Full: true})
			var be *Error
			if !errors.As(err, &be) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("strict: %v, want a one-line *Error containing %q", err, tt.want)
			}
			if c := storetest.ContentsOf(t, st); len(c.Hosts) != 0 || len(c.Maintenance) != 0 {
				t.Errorf("a refused backup stored %+v", c)
			}
			n, err := Restore(t.Context(), st, strings.NewReader(body), Options{Full: true, SkipInvalid: true})
			if err != nil || n.Maintenance != 1 || n.SkippedTotal != 1 || n.Skipped[0].What != "maintenance[1]" ||
				!strings.Contains("maintenance[1]: "+n.Skipped[0].Reason, tt.want) {
				t.Errorf("lenient: %+v, %v; want maintenance[1] skipped (%q)", n, err, tt.want)
			}
			if w, err := st.Maintenance(t.Context(), 4); err != nil || w.Cron != "@weekly" {
				t.Errorf("lenient: the valid window: %+v, %v", w, err)
			}
		})
	}
}

// TestRestoreMaintenanceEdges: where "maintenance" may stand, a window
// without an ID, a stored window replaced by ID, a check's
// "maintenance" on every path (streamed, spooled), and what refuses.
func TestRestoreMaintenanceEdges(t *testing.T) {
	check := `{"time":"2026-03-01T22:00:00Z","rtt":1,"up":true,"maintenance":true}`
	tests := []struct {
		name, body, want string // want: "" for a restore
	}{
		{"AfterNotifications", `{"hosts":["a.example"],"notifications":[],"maintenance":[{"id":9,"cron":"@weekly","duration":"1h"}],"checks":{"a.example":[` + check + `]}}`, ""},
		{"First", `{"maintenance":[{"id":9,"cron":"@weekly","duration":"1h"}],"hosts":["a.example"],"notifications":[],"checks":{"a.example":[` + check + `]}}`, ""},
		{"ChecksFirst", `{"checks":{"a.example":[` + check + `]},"maintenance":[{"id":9,"cron":"@weekly","duration":"1h"}],"hosts":["a.example"],"notifications":[]}`, ""},
		{"Null", `{"hosts":["a.example"],"maintenance":null,"checks":{"a.example":[` + check + `]}}`, ""},
		{"AfterStreamedChecks", `{"hosts":["a.example"],"notifications":[],"checks":{},"maintenance":[]}`, `"maintenance" after "checks"`},
		{"Twice", `{"hosts":["a.example"],"maintenance":[],"maintenance":[]}`, `"maintenance" twice`},
		{"NotAnArray", `{"hosts":["a.example"],"maintenance":{}}`, `"maintenance" must be an array`},
		{"CheckMaintenanceNotABool", `{"hosts":["a.example"],"notifications":[],"checks":{"a.example":[{"time":"2026-03-01T22:00:00Z","rtt":1,"up":true,"maintenance":1}]}}`,
			"maintenance must be true or false, not 1"},
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
			c := storetest.ContentsOf(t, st)
			if len(c.Results) != 1 || !c.Results[0].Maintenance {
				t.Errorf("restored results %+v, want one in maintenance", c.Results)
			}
			if strings.Contains(tt.body, `"id":9`) && (len(c.Maintenance) != 1 || c.Maintenance[0].ID != 9) {
				t.Errorf("restored windows %+v, want window 9", c.Maintenance)
			}
		})
	}

	// Replaced by ID, added without one.
	st := memory.New()
	for _, w := range testWindows() {
		if _, err := st.PutMaintenance(t.Context(), w); err != nil {
			t.Fatal(err)
		}
	}
	body := `{"hosts":[],"maintenance":[{"id":2,"cron":"@monthly","duration":"3h","reason":"restored"},{"start":"2027-01-01T00:00:00Z","end":"2027-01-02T00:00:00Z"}]}`
	n, err := Restore(t.Context(), st, strings.NewReader(body), Options{})
	if err != nil || n.Maintenance != 2 {
		t.Fatalf("Restore: %+v, %v", n, err)
	}
	ws, err := st.Maintenances(t.Context())
	if err != nil || len(ws) != 4 || ws[1].ID != 2 || ws[1].Reason != "restored" || ws[0].Reason != testWindows()[0].Reason ||
		ws[3].ID != 4 || !ws[3].Start.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("windows after the restore: %+v, %v; want window 2 replaced and a window 4 added", ws, err)
	}
}
