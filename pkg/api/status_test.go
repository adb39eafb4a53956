package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html/atom"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// The status page shows named monitors by group with their state and a
// 90-day bar, the incidents of the last week, and maintenance in progress
// and ahead; never a target.
func TestStatusPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		hour := now.Truncate(time.Hour)
		var rs []store.Result
		// Three days of hourly checks: the API went down for 30 minutes
		// two days ago and is down now; the shop is up; the database is
		// in a maintenance window now.
		for i := 72; i >= 0; i-- {
			at := hour.Add(-time.Duration(i) * time.Hour)
			for m := 0; m < 60; m += 10 {
				slot := at.Add(time.Duration(m) * time.Minute)
				if slot.After(now) {
					continue
				}
				apiDown := (i == 48 && m < 30) || i == 0
				rs = append(rs,
					store.Result{Host: "http://10.0.0.1/api", Slot: slot, Up: !apiDown, RTT: time.Millisecond, Reason: "refused"},
					store.Result{Host: "http://10.0.0.2/shop", Slot: slot, Up: true, RTT: time.Millisecond},
					store.Result{Host: "10.0.0.3:5432", Slot: slot, Up: true, RTT: time.Millisecond},
					store.Result{Host: "10.0.0.9:22", Slot: slot, Up: true, RTT: time.Millisecond})
			}
		}
		seed(t, st, []string{"http://10.0.0.1/api", "http://10.0.0.2/shop", "10.0.0.3:5432", "10.0.0.9:22"}, rs)
		putMonitor(t, st, monitor.Monitor{Host: "http://10.0.0.1/api", Settings: monitor.Settings{Name: "API", Group: "web"}})
		putMonitor(t, st, monitor.Monitor{Host: "http://10.0.0.2/shop", Settings: monitor.Settings{Name: "Shop", Group: "web"}})
		putMonitor(t, st, monitor.Monitor{Host: "10.0.0.3:5432", Settings: monitor.Settings{Name: "Database", Group: "db"}})
		// 10.0.0.9:22 has no name: not on the page.
		for _, w := range []monitor.Maintenance{
			{Groups: []string{"db"}, Start: now.Add(-time.Hour), End: now.Add(time.Hour), Reason: "upgrade"},
			{Hosts: []string{"http://10.0.0.2/shop"}, Start: now.Add(24 * time.Hour), End: now.Add(26 * time.Hour), Reason: "new release"},
			{Hosts: []string{"10.0.0.9:22"}, Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), Reason: "unnamed window"},
		} {
			if _, err := st.PutMaintenance(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		e := newEnv(t, st, Options{Interval: 10 * time.Minute})

		w := e.get("/status")
		expect(t, w, http.StatusOK, "One service is down.")
		body := w.Body.String()
		for _, leak := range []string{"10.0.0.", "unnamed window", "notifications_params"} {
			if strings.Contains(body, leak) {
				t.Errorf("the status page shows %q", leak)
			}
		}
		doc := e.page("/status", http.StatusOK)
		var groups, bars []string
		for _, h := range findAll(doc, atom.H2) {
			groups = append(groups, textOf(h))
		}
		if want := "db ◆ in maintenance|web ▼ down|Incidents in the last 7 days|Maintenance"; strings.Join(groups, "|") != want {
			t.Errorf("headings %q, want %q", groups, want)
		}
		for _, bar := range findAll(doc, atom.Div) {
			if attrOf(bar, "class") == "bar" {
				bars = append(bars, attrOf(bar, "aria-label"))
				if n := len(findAll(bar, atom.Span)); n != statusDays {
					t.Errorf("%s: %d days in the bar, want %d", attrOf(bar, "aria-label"), n, statusDays)
				}
			}
		}
		if len(bars) != 3 {
			t.Errorf("bars %q, want the three named monitors'", bars)
		}
		expect(t, w, http.StatusOK, `<span aria-hidden="true">▼</span> down`)
		expect(t, w, http.StatusOK, `<span aria-hidden="true">◆</span> in maintenance`)
		expect(t, w, http.StatusOK, `<b class="down">ongoing</b>: API`)
		expect(t, w, http.StatusOK, "30m0s down")
		expect(t, w, http.StatusOK, "nodata")
		expect(t, w, http.StatusOK, `<b class="maint">in progress</b> Database`)
		expect(t, w, http.StatusOK, "Shop: ")
		expect(t, w, http.StatusOK, "(new release)")
		if !strings.Contains(body, "% up, 30m0s down") {
			t.Error("no day's title says the API's half hour down")
		}

		g := e.get("/status/db")
		expect(t, g, http.StatusOK, "Database")
		if strings.Contains(g.Body.String(), "Shop") {
			t.Error("the db group's page shows the shop")
		}
		expect(t, e.get("/status/nope"), http.StatusNotFound, `no group "nope" on the status page`)
	})
}

func TestIncidentsIn(t *testing.T) {
	t0 := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	b := func(i int, up, down int64) store.Bucket {
		return store.Bucket{Start: t0.Add(time.Duration(i) * time.Hour), Up: up, Down: down}
	}
	got := incidentsIn([]store.Bucket{b(0, 6, 0), b(1, 3, 3), b(2, 0, 6), b(3, 0, 0), b(4, 2, 4), b(5, 6, 0), b(6, 5, 1)}, 10*time.Minute)
	want := []incident{{t0.Add(time.Hour), 130 * time.Minute, false}, {t0.Add(6 * time.Hour), 10 * time.Minute, true}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("incidents %+v, want %+v", got, want)
	}
}

// With reads protected, the status page needs credentials unless
// Status.Public is on; a monitor whose status setting is false is never
// on it.
func TestStatusPageAccess(t *testing.T) {
	st := backends()[0].open(t)
	seed(t, st, []string{"a.example", "b.example"}, nil)
	hide := false
	putMonitor(t, st, monitor.Monitor{Host: "a.example", Settings: monitor.Settings{Name: "Shown"}})
	putMonitor(t, st, monitor.Monitor{Host: "b.example", Settings: monitor.Settings{Name: "Hidden", Status: &hide}})
	auth := Auth{Enable: true, User: "admin", Password: "s3cret", ProtectReads: true}
	expect(t, newEnv(t, st, Options{Auth: auth}).get("/status"), http.StatusUnauthorized, "")
	w := newEnv(t, st, Options{Auth: auth, StatusPublic: true}).get("/status")
	expect(t, w, http.StatusOK, "Shown")
	if strings.Contains(w.Body.String(), "Hidden") {
		t.Error("a monitor with status false is on the status page")
	}
	// Status.Public opens the status page, not the other reads.
	expect(t, newEnv(t, st, Options{Auth: auth, StatusPublic: true}).get("/api/hosts"), http.StatusUnauthorized, "")
}

// Past statusBarsMax monitors, /status draws a bar per group, and the
// group's own page a bar per monitor.
func TestStatusPageManyMonitors(t *testing.T) {
	st := backends()[0].open(t)
	var hosts []string
	for i := range statusBarsMax + 50 {
		hosts = append(hosts, fmt.Sprintf("10.1.%d.%d:22", i/200, i%200+1))
	}
	var rs []store.Result
	for _, h := range hosts {
		rs = append(rs, store.Result{Host: h, Slot: slot(1), Up: true, RTT: time.Millisecond},
			store.Result{Host: h, Slot: slot(180), Reason: "refused"}) // an incident each, over
	}
	seed(t, st, hosts, rs)
	for i, h := range hosts {
		putMonitor(t, st, monitor.Monitor{Host: h, Settings: monitor.Settings{Name: fmt.Sprintf("svc %03d", i), Group: fmt.Sprintf("g%d", i%3)}})
	}
	e := newEnv(t, st, Options{})
	bars := func(target string) (groups, monitors int) {
		for _, d := range findAll(e.page(target, http.StatusOK), atom.Div) {
			if attrOf(d, "class") == "bar" {
				if strings.HasPrefix(attrOf(d, "aria-label"), "daily uptime of the group") {
					groups++
				} else {
					monitors++
				}
			}
		}
		return groups, monitors
	}
	if g, m := bars("/status"); g != 3 || m != 0 {
		t.Errorf("/status: %d group bars and %d monitor bars, want 3 and 0", g, m)
	}
	if g, m := bars("/status/g1"); g != 0 || m != 50 {
		t.Errorf("/status/g1: %d group bars and %d monitor bars, want 0 and 50", g, m)
	}
	w := e.get("/status")
	expect(t, w, http.StatusOK, `<a href="./status/g1">g1</a>`)
	expect(t, w, http.StatusOK, "<p>50 up</p>")
	expect(t, w, http.StatusOK, fmt.Sprintf("And %d more.", statusBarsMax+50-statusIncidentsMax))
	if strings.Contains(w.Body.String(), "svc 001") {
		t.Error("/status lists the up monitors of a large fleet one by one")
	}
}

// TestStatusBuckets checks the status page's read plan: ascending bounds,
// 90 local days whatever the zone (one with half-hour offsets, one across
// a change of summer time), every bucket inside its day, and the
// incidents' whole hours.
func TestStatusBuckets(t *testing.T) {
	zone := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatalf("LoadLocation(%q): %v", name, err)
		}
		return loc
	}
	for _, tc := range []struct {
		tz  *time.Location
		now time.Time
	}{
		{time.UTC, time.Date(2026, 3, 2, 12, 0, 30, 0, time.UTC)},
		{zone("Asia/Kolkata"), time.Date(2026, 3, 2, 20, 10, 0, 0, time.UTC)}, // 01:40 local, past midnight at :30 UTC
		{zone("Europe/Berlin"), time.Date(2026, 3, 31, 9, 0, 0, 0, time.UTC)}, // days after summer time began
	} {
		t.Run(tc.tz.String(), func(t *testing.T) {
			sb := newStatusBuckets(tc.now, tc.tz)
			if _, err := store.NewBucketerAt(sb.bounds); err != nil {
				t.Fatalf("bounds: %v", err)
			}
			if len(sb.dayBs) != statusDays {
				t.Fatalf("%d days, want %d", len(sb.dayBs), statusDays)
			}
			for i, d := range sb.dayBs {
				if l := d.Start.In(tc.tz); l.Hour() != 0 || l.Minute() != 0 {
					t.Errorf("day %d starts at %s, not local midnight", i, l)
				}
				if i > 0 && !d.Start.Equal(sb.dayBs[i-1].End) {
					t.Errorf("day %d does not follow day %d", i, i-1)
				}
			}
			if last := sb.dayBs[statusDays-1]; tc.now.Before(last.Start) || !tc.now.Before(last.End) {
				t.Errorf("the last day [%s, %s) is not today (%s)", last.Start, last.End, tc.now.In(tc.tz))
			}
			for i, day := range sb.dayOf {
				lo, hi := sb.bounds[i], sb.bounds[i+1]
				if day >= 0 && (lo.Before(sb.dayBs[day].Start) || hi.After(sb.dayBs[day].End)) {
					t.Errorf("bucket [%s, %s) is not inside its day %d", lo, hi, day)
				}
				if day < 0 && !lo.Before(sb.dayBs[0].Start) && !hi.After(sb.dayBs[statusDays-1].End) {
					t.Errorf("bucket [%s, %s) inside the bar has no day", lo, hi)
				}
			}
			incStart := tc.now.Truncate(time.Hour).Add(-statusIncidentDays * 24 * time.Hour)
			incEnd := tc.now.Truncate(time.Hour).Add(time.Hour)
			if !sb.bounds[sb.incFrom].Equal(incStart) || !sb.bounds[sb.incTo].Equal(incEnd) {
				t.Errorf("incidents [%s, %s), want [%s, %s)", sb.bounds[sb.incFrom], sb.bounds[sb.incTo], incStart, incEnd)
			}
			if end := sb.bounds[len(sb.bounds)-1]; !end.Equal(incEnd) {
				t.Errorf("the read ends at %s, want the current hour's end %s", end, incEnd)
			}
			// Every whole hour of the incidents' week is a bound (a
			// half-hour midnight splits one in two).
			for h := incStart; !h.After(incEnd); h = h.Add(time.Hour) {
				if _, found := slices.BinarySearchFunc(sb.bounds, h, time.Time.Compare); !found {
					t.Errorf("hour %s is not a bound", h)
				}
			}
		})
	}
}
