package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func utc(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

func TestValidateMaintenance(t *testing.T) {
	start, end := utc(2026, 3, 1, 22, 0, 0), utc(2026, 3, 1, 23, 30, 0)
	oneOff := Maintenance{Hosts: []string{"a.test", "https://b.test/x"}, Groups: []string{"db"}, Start: start, End: end, Reason: "firmware"}
	recurring := Maintenance{Cron: "CRON_TZ=Europe/Berlin 0 3 * * SUN", Duration: Duration(2 * time.Hour)}
	with := func(w Maintenance, change func(*Maintenance)) Maintenance {
		w.Hosts, w.Groups = slices.Clone(w.Hosts), slices.Clone(w.Groups)
		change(&w)
		return w
	}
	many := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", s, i)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		w    Maintenance
		want string // the error's start; "" for valid
	}{
		{"OneOff", oneOff, ""},
		{"OneOffEverything", Maintenance{Start: start, End: end}, ""},
		{"Recurring", recurring, ""},
		{"Descriptor", Maintenance{Cron: "@weekly", Duration: Duration(time.Hour)}, ""},
		{"LongestDuration", with(recurring, func(w *Maintenance) { w.Duration = Duration(MaxMaintenanceDuration) }), ""},
		{"TZPrefix", with(recurring, func(w *Maintenance) { w.Cron = "TZ=UTC 0 3 * * *" }), ""},
		{"LeapDay", with(recurring, func(w *Maintenance) { w.Cron = "0 0 29 2 *" }), ""},
		{"StoredID", with(oneOff, func(w *Maintenance) { w.ID = 7 }), ""},

		{"NegativeID", with(oneOff, func(w *Maintenance) { w.ID = -1 }), "id: -1 is negative"},
		{"TooManyHosts", with(oneOff, func(w *Maintenance) { w.Hosts = many(MaxMaintenanceHosts+1, "h") }), "hosts: 10001 hosts"},
		{"EmptyHost", with(oneOff, func(w *Maintenance) { w.Hosts[1] = "" }), "hosts[1]: empty"},
		{"LongHost", with(oneOff, func(w *Maintenance) { w.Hosts[0] = strings.Repeat("a", 257) }), "hosts[0]: longer than 256 bytes"},
		{"ControlInHost", with(oneOff, func(w *Maintenance) { w.Hosts[0] = "a\n.test" }), "hosts[0]: holds a control character"},
		{"TooManyGroups", with(oneOff, func(w *Maintenance) { w.Groups = many(MaxMaintenanceGroups+1, "g") }), "groups: 101 groups"},
		{"EmptyGroup", with(oneOff, func(w *Maintenance) { w.Groups = []string{"db", ""} }), "groups[1]: empty"},
		{"BadUTF8Group", with(oneOff, func(w *Maintenance) { w.Groups[0] = "\xff" }), "groups[0]: not valid UTF-8"},
		{"LongReason", with(oneOff, func(w *Maintenance) { w.Reason = strings.Repeat("r", MaxReasonLen+1) }), "reason: longer than 512 bytes"},
		{"Nothing", Maintenance{}, "start: give start and end, or cron and duration"},
		{"NoStart", with(oneOff, func(w *Maintenance) { w.Start = time.Time{} }), "start: give start and end"},
		{"NoEnd", with(oneOff, func(w *Maintenance) { w.End = time.Time{} }), "end: give start and end"},
		{"DurationOfAOneOff", with(oneOff, func(w *Maintenance) { w.Duration = Duration(time.Hour) }), "duration: only for a recurring window"},
		{"EndBeforeStart", with(oneOff, func(w *Maintenance) { w.Start, w.End = end, start }), "end: 2026-03-01T22:00:00Z is not after start"},
		{"EndAtStart", with(oneOff, func(w *Maintenance) { w.End = start }), "end: 2026-03-01T22:00:00Z is not after start"},
		{"CronWithStart", with(recurring, func(w *Maintenance) { w.Start = start }), "cron: a recurring window has a duration"},
		{"CronWithEnd", with(recurring, func(w *Maintenance) { w.End = end }), "cron: a recurring window has a duration"},
		{"LongCron", with(recurring, func(w *Maintenance) { w.Cron = "0 3 * * * " + strings.Repeat(" ", MaxCronLen) }), "cron: longer than 128 bytes"},
		{"NoDuration", with(recurring, func(w *Maintenance) { w.Duration = 0 }), "duration: 0s is not above 0"},
		{"NegativeDuration", with(recurring, func(w *Maintenance) { w.Duration = Duration(-time.Minute) }), "duration: -1m0s is not above 0"},
		{"TooLong", with(recurring, func(w *Maintenance) { w.Duration = Duration(MaxMaintenanceDuration + time.Second) }), "duration: 744h0m1s is not above 0 and at most 744h0m0s"},
		{"BadCron", with(recurring, func(w *Maintenance) { w.Cron = "0 3 * *" }), "cron: expected exactly 5 fields"},
		{"SecondsField", with(recurring, func(w *Maintenance) { w.Cron = "0 0 3 * * *" }), "cron: expected exactly 5 fields"},
		{"BadZone", with(recurring, func(w *Maintenance) { w.Cron = "CRON_TZ=Nowhere/Atlantis 0 3 * * *" }), "cron: provided bad location Nowhere/Atlantis"},
		{"Every", with(recurring, func(w *Maintenance) { w.Cron = "@every 1h" }), "cron: @every has no times of its own"},
		{"NeverFires", with(recurring, func(w *Maintenance) { w.Cron = "0 0 30 2 *" }), `cron: "0 0 30 2 *" never fires`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateMaintenance(tc.w)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ValidateMaintenance = %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("ValidateMaintenance = %v, want a *FieldError starting %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
}

func TestMaintenanceActive(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	oneOff := Maintenance{Start: utc(2026, 3, 1, 22, 0, 0), End: utc(2026, 3, 1, 23, 30, 0)}
	nightly := Maintenance{Cron: "0 3 * * *", Duration: Duration(2 * time.Hour)}
	// 22:00 in New York, three hours: across midnight.
	evening := Maintenance{Cron: "CRON_TZ=America/New_York 0 22 * * *", Duration: Duration(3 * time.Hour)}
	// 01:00 in New York on the night clocks go forward (2026-03-08,
	// 02:00 EST → 03:00 EDT): two hours of real time.
	dst := Maintenance{Cron: "CRON_TZ=America/New_York 0 1 8 3 *", Duration: Duration(2 * time.Hour)}
	// Every minute, for the longest duration: always active.
	everyMinute := Maintenance{Cron: "* * * * *", Duration: Duration(MaxMaintenanceDuration)}
	// Hourly for 90 minutes: activations overlap; the newest decides.
	overlapping := Maintenance{Cron: "0 * * * *", Duration: Duration(90 * time.Minute)}
	weekly := Maintenance{Cron: "@weekly", Duration: Duration(time.Hour)} // Sunday 00:00 UTC
	// Monthly on the 1st at 00:00 for 31 days: a lookback of the longest
	// duration finds the activation of a month before.
	monthly := Maintenance{Cron: "0 0 1 * *", Duration: Duration(MaxMaintenanceDuration)}
	monthly30 := Maintenance{Cron: "0 0 1 * *", Duration: Duration(30 * 24 * time.Hour)}
	ny := func(mo time.Month, d, h, mi int) time.Time { return time.Date(2026, mo, d, h, mi, 0, 0, newYork) }
	for _, tc := range []struct {
		name      string
		w         Maintenance
		at        time.Time
		wantUntil time.Time // zero: not active
	}{
		{"OneOffBefore", oneOff, utc(2026, 3, 1, 21, 59, 59), time.Time{}},
		{"OneOffAtStart", oneOff, utc(2026, 3, 1, 22, 0, 0), oneOff.End},
		{"OneOffInside", oneOff, utc(2026, 3, 1, 23, 0, 0), oneOff.End},
		{"OneOffLastNanosecond", oneOff, oneOff.End.Add(-1), oneOff.End},
		{"OneOffAtEnd", oneOff, oneOff.End, time.Time{}},
		{"OneOffAfter", oneOff, utc(2026, 3, 2, 0, 0, 0), time.Time{}},

		{"NightlyBefore", nightly, utc(2026, 5, 4, 2, 59, 59), time.Time{}},
		{"NightlyAtStart", nightly, utc(2026, 5, 4, 3, 0, 0), utc(2026, 5, 4, 5, 0, 0)},
		{"NightlyInside", nightly, utc(2026, 5, 4, 4, 59, 59), utc(2026, 5, 4, 5, 0, 0)},
		{"NightlyAtEnd", nightly, utc(2026, 5, 4, 5, 0, 0), time.Time{}},
		{"NightlyDay", nightly, utc(2026, 5, 4, 14, 0, 0), time.Time{}},

		{"ZoneBeforeMidnight", evening, ny(6, 10, 23, 0), ny(6, 11, 1, 0)},
		{"ZoneAfterMidnight", evening, ny(6, 11, 0, 30), ny(6, 11, 1, 0)},
		{"ZoneAtEnd", evening, ny(6, 11, 1, 0), time.Time{}},
		{"ZoneIsNotUTC", evening, utc(2026, 6, 10, 22, 30, 0), time.Time{}},     // 18:30 in New York
		{"DSTInside", dst, utc(2026, 3, 8, 7, 59, 0), utc(2026, 3, 8, 8, 0, 0)}, // 03:59 EDT
		{"DSTEnd", dst, utc(2026, 3, 8, 8, 0, 0), time.Time{}},
		{"DSTStart", dst, utc(2026, 3, 8, 6, 0, 0), utc(2026, 3, 8, 8, 0, 0)}, // 01:00 EST

		{"EveryMinute", everyMinute, utc(2026, 5, 4, 12, 34, 56), utc(2026, 5, 4, 12, 34, 0).Add(MaxMaintenanceDuration)},
		{"Overlapping", overlapping, utc(2026, 5, 4, 10, 10, 0), utc(2026, 5, 4, 11, 30, 0)},
		{"OverlappingAtHour", overlapping, utc(2026, 5, 4, 11, 0, 0), utc(2026, 5, 4, 12, 30, 0)},
		{"WeeklyInside", weekly, utc(2026, 5, 3, 0, 30, 0), utc(2026, 5, 3, 1, 0, 0)}, // a Sunday
		{"WeeklyMidweek", weekly, utc(2026, 5, 6, 0, 30, 0), time.Time{}},
		{"MonthlyLastDay", monthly, utc(2026, 5, 31, 23, 0, 0), utc(2026, 5, 1, 0, 0, 0).Add(MaxMaintenanceDuration)},
		{"MonthlyAfter31Days", monthly, utc(2026, 4, 1, 0, 0, 0).Add(MaxMaintenanceDuration), utc(2026, 5, 1, 0, 0, 0).Add(MaxMaintenanceDuration)},
		{"Monthly30DaysGap", monthly30, utc(2026, 1, 31, 0, 0, 0), time.Time{}}, // January's 30 days are over
		{"Monthly30DaysLastNanosecond", monthly30, utc(2026, 1, 31, 0, 0, 0).Add(-1), utc(2026, 1, 31, 0, 0, 0)},
		{"Monthly30DaysNext", monthly30, utc(2026, 2, 1, 0, 0, 0), utc(2026, 3, 3, 0, 0, 0)},

		{"InvalidCron", Maintenance{Cron: "nonsense", Duration: Duration(time.Hour)}, utc(2026, 5, 4, 3, 0, 0), time.Time{}},
		{"Every", Maintenance{Cron: "@every 1m", Duration: Duration(time.Hour)}, utc(2026, 5, 4, 3, 0, 0), time.Time{}},
		{"NoDuration", Maintenance{Cron: "* * * * *"}, utc(2026, 5, 4, 3, 0, 0), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			until, ok := tc.w.Active(tc.at)
			if ok != !tc.wantUntil.IsZero() || !until.Equal(tc.wantUntil) {
				t.Errorf("Active(%v) = %v, %v; want %v, %v", tc.at, until, ok, tc.wantUntil, !tc.wantUntil.IsZero())
			}
		})
	}
}

func TestMaintenanceNext(t *testing.T) {
	oneOff := Maintenance{Start: utc(2026, 3, 1, 22, 0, 0), End: utc(2026, 3, 1, 23, 30, 0)}
	nightly := Maintenance{Cron: "CRON_TZ=Europe/Berlin 0 3 * * *", Duration: Duration(time.Hour)}
	for _, tc := range []struct {
		name string
		w    Maintenance
		at   time.Time
		want time.Time // zero: none
	}{
		{"OneOffAhead", oneOff, utc(2026, 3, 1, 21, 0, 0), oneOff.Start},
		{"OneOffStarted", oneOff, oneOff.Start, time.Time{}},
		{"OneOffOver", oneOff, utc(2026, 3, 2, 0, 0, 0), time.Time{}},
		{"Recurring", nightly, utc(2026, 7, 1, 12, 0, 0), utc(2026, 7, 2, 1, 0, 0)}, // 03:00 CEST
		{"RecurringAtAStart", nightly, utc(2026, 7, 2, 1, 0, 0), utc(2026, 7, 3, 1, 0, 0)},
		{"Invalid", Maintenance{Cron: "@every 1h", Duration: Duration(time.Hour)}, utc(2026, 7, 1, 12, 0, 0), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.w.Next(tc.at)
			if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
				t.Errorf("Next(%v) = %v, %v; want %v, %v", tc.at, got, ok, tc.want, !tc.want.IsZero())
			}
		})
	}
}

func TestMaintenanceCovers(t *testing.T) {
	db := Monitor{Host: "db.test", Settings: Settings{Group: "db"}}
	web := Monitor{Host: "web.test", Settings: Settings{Group: "web"}}
	bare := Monitor{Host: "bare.test"}
	for _, tc := range []struct {
		name string
		w    Maintenance
		want []bool // db, web, bare
	}{
		{"Everything", Maintenance{}, []bool{true, true, true}},
		{"Hosts", Maintenance{Hosts: []string{"web.test", "bare.test"}}, []bool{false, true, true}},
		{"Groups", Maintenance{Groups: []string{"db"}}, []bool{true, false, false}},
		{"HostsOrGroups", Maintenance{Hosts: []string{"bare.test"}, Groups: []string{"web"}}, []bool{false, true, true}},
		{"NoGroupIsNoMatch", Maintenance{Groups: []string{"other"}}, []bool{false, false, false}},
		{"HostNamesExactly", Maintenance{Hosts: []string{"DB.test", "db.test."}}, []bool{false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, m := range []Monitor{db, web, bare} {
				if got := tc.w.Covers(m); got != tc.want[i] {
					t.Errorf("Covers(%s) = %v, want %v", m.Host, got, tc.want[i])
				}
			}
		})
	}
}

func TestActiveAt(t *testing.T) {
	at := utc(2026, 5, 4, 3, 30, 0)
	ws := []Maintenance{
		{ID: 1, Cron: "0 3 * * *", Duration: Duration(time.Hour)},
		{ID: 2, Start: utc(2026, 5, 4, 4, 0, 0), End: utc(2026, 5, 4, 5, 0, 0)},
		{ID: 3, Start: utc(2026, 5, 4, 0, 0, 0), End: utc(2026, 5, 5, 0, 0, 0)},
		{ID: 4, Cron: "@every 1m", Duration: Duration(time.Hour)},
	}
	var ids []int64
	for _, w := range ActiveAt(ws, at) {
		ids = append(ids, w.ID)
	}
	if !slices.Equal(ids, []int64{1, 3}) {
		t.Errorf("ActiveAt = windows %v, want [1 3]", ids)
	}
	if got := ActiveAt(nil, at); len(got) != 0 {
		t.Errorf("ActiveAt(nil) = %v, want none", got)
	}
}

// FuzzValidateMaintenance feeds windows as the API and a backup read
// them: ValidateMaintenance never panics and refuses with a one-line
// *FieldError naming the field; what it accepts, Active and Next can
// judge, and an active window is active until after the time asked.
func FuzzValidateMaintenance(f *testing.F) {
	for _, s := range []string{
		`{"hosts":["a.test"],"start":"2026-03-01T22:00:00Z","end":"2026-03-01T23:30:00Z","reason":"x"}`,
		`{"groups":["db"],"cron":"CRON_TZ=Europe/Berlin 0 3 * * SUN","duration":"2h"}`,
		`{"cron":"@weekly","duration":3600}`,
		`{"cron":"* * * * *","duration":"744h"}`,
		`{"cron":"@every 1h","duration":"1h"}`,
		`{"cron":"0 0 30 2 *","duration":"1h"}`,
		`{"start":"2026-03-01T22:00:00+05:00","end":"2026-03-01T22:00:00Z"}`,
		`{"id":-3,"hosts":[""]}`,
	} {
		f.Add([]byte(s), int64(1777777777))
	}
	f.Fuzz(func(t *testing.T, body []byte, unix int64) {
		var w Maintenance
		if json.Unmarshal(body, &w) != nil {
			return
		}
		err := ValidateMaintenance(w)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" || strings.Contains(err.Error(), "\n") {
				t.Fatalf("ValidateMaintenance(%s) = %q: want a one-line *FieldError naming the field", body, err)
			}
			return
		}
		if w.Cron != "" {
			if _, err := parseSchedule(w.Cron); err != nil {
				t.Fatalf("valid window %s: schedule %v", body, err)
			}
		}
		at := time.Unix(unix%(1<<34), 0).UTC()
		if until, ok := w.Active(at); ok && !until.After(at) {
			t.Fatalf("window %s active at %v until %v, not after it", body, at, until)
		}
		if next, ok := w.Next(at); ok && !next.After(at) {
			t.Fatalf("window %s: Next(%v) = %v, not after it", body, at, next)
		}
	})
}

// BenchmarkMaintenanceActive is what a round pays per window and slot.
func BenchmarkMaintenanceActive(b *testing.B) {
	at := utc(2026, 5, 6, 12, 34, 0)
	for _, bc := range []struct {
		name string
		w    Maintenance
	}{
		{"OneOff", Maintenance{Start: utc(2026, 5, 4, 0, 0, 0), End: utc(2026, 5, 5, 0, 0, 0)}},
		{"WeeklyTwoHours", Maintenance{Cron: "CRON_TZ=Europe/Berlin 0 3 * * SUN", Duration: Duration(2 * time.Hour)}},
		{"EveryMinute31Days", Maintenance{Cron: "* * * * *", Duration: Duration(MaxMaintenanceDuration)}},
		{"Monthly31Days", Maintenance{Cron: "0 0 1 * *", Duration: Duration(MaxMaintenanceDuration)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.w.Active(at)
			}
		})
	}
}
