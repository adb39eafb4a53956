package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/chart"
	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

func TestReportPeriods(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		kind     string
		from, to string
		want     []string // period starts, then the last end
	}{
		{"day", "2021-03-27 10:00", "2021-03-29 06:00", []string{"2021-03-27 10:00", "2021-03-28 00:00", "2021-03-29 00:00", "2021-03-29 06:00"}},
		{"week", "2021-03-03 00:00", "2021-03-17 00:00", []string{"2021-03-03 00:00", "2021-03-08 00:00", "2021-03-15 00:00", "2021-03-17 00:00"}},
		{"week", "2021-03-07 23:00", "2021-03-08 01:00", []string{"2021-03-07 23:00", "2021-03-08 00:00", "2021-03-08 01:00"}},
		{"month", "2021-01-15 00:00", "2021-03-02 00:00", []string{"2021-01-15 00:00", "2021-02-01 00:00", "2021-03-01 00:00", "2021-03-02 00:00"}},
	}
	for _, tt := range tests {
		ps := reportPeriods(at(tt.from), at(tt.to), tt.kind, berlin)
		var got []string
		for _, p := range ps {
			got = append(got, p.Start.In(berlin).Format("2006-01-02 15:04"))
		}
		got = append(got, ps[len(ps)-1].End.In(berlin).Format("2006-01-02 15:04"))
		if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
			t.Errorf("%s %s..%s: %q, want %q", tt.kind, tt.from, tt.to, got, tt.want)
		}
	}
	// The day of the change to summer time has 23 hours.
	if ps := reportPeriods(at("2021-03-28 00:00"), at("2021-03-29 00:00"), "day", berlin); len(ps) != 1 || ps[0].End.Sub(ps[0].Start) != 23*time.Hour {
		t.Errorf("the day of the DST change: %+v", ps)
	}
}

func TestReportRows(t *testing.T) {
	t0 := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	hour := func(i int, up, down, maint int64, mean, max time.Duration) store.Bucket {
		return store.Bucket{Start: t0.Add(time.Duration(i) * time.Hour), End: t0.Add(time.Duration(i+1) * time.Hour),
			Up: up, Down: down, Maintenance: maint, MinRTT: mean / 2, MeanRTT: mean, MaxRTT: max}
	}
	bs := []store.Bucket{
		hour(0, 60, 0, 0, 10*time.Millisecond, 20*time.Millisecond),
		hour(1, 50, 10, 0, 20*time.Millisecond, 90*time.Millisecond), // an incident of 10 + 5 minutes
		hour(2, 55, 5, 0, 30*time.Millisecond, 40*time.Millisecond),
		hour(3, 0, 0, 60, 0, 0), // maintenance: no check counted, the incident goes on
		hour(4, 58, 2, 0, 10*time.Millisecond, 15*time.Millisecond),
		hour(5, 60, 0, 0, 10*time.Millisecond, 20*time.Millisecond),
		{Start: t0.Add(6 * time.Hour), End: t0.Add(7 * time.Hour)}, // no data
	}
	periods := []span{{t0, t0.Add(3 * time.Hour)}, {t0.Add(3 * time.Hour), t0.Add(6 * time.Hour)}, {t0.Add(6 * time.Hour), t0.Add(7 * time.Hour)}}
	rows := reportRows("h", "H", bs, periods, time.Minute)
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	if r.Checks != 180 || *r.Uptime != 100*165.0/180 || r.DowntimeMinutes != 15 || r.Incidents != 1 || r.LongestIncidentMin != 15 ||
		*r.RTTP50ms != 20 || *r.RTTP95ms != 30 || *r.RTTMaxms != 90 || r.MaintenanceMinutes != 0 {
		t.Errorf("first period %+v (uptime %v p50 %v p95 %v max %v)", r, *r.Uptime, *r.RTTP50ms, *r.RTTP95ms, *r.RTTMaxms)
	}
	r = rows[1]
	if r.Checks != 120 || r.MaintenanceMinutes != 60 || r.DowntimeMinutes != 2 || r.Incidents != 1 || r.LongestIncidentMin != 2 {
		t.Errorf("second period %+v", r)
	}
	if r := rows[2]; r.Uptime != nil || r.RTTP50ms != nil || r.Checks != 0 {
		t.Errorf("a period without data %+v", r)
	}
}

func TestReportAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		// Two hours of one-minute results before now's hour: web is down
		// for 10 minutes, db up; 5 minutes of web in maintenance.
		hourStart := now.Truncate(time.Hour)
		var rs []store.Result
		for i := range 120 {
			at := hourStart.Add(-2*time.Hour + time.Duration(i)*time.Minute)
			down := i >= 30 && i < 40
			rs = append(rs,
				store.Result{Host: "http://web.example/", Slot: at, Up: !down, RTT: time.Duration(10+i%3) * time.Millisecond, Maintenance: i >= 100 && i < 105},
				store.Result{Host: "db.example", Slot: at, Up: true, RTT: 2 * time.Millisecond})
		}
		seed(t, st, []string{"db.example", "http://web.example/"}, rs)
		putMonitor(t, st, monitor.Monitor{Host: "http://web.example/", Settings: monitor.Settings{Name: "Web"}})
		e := newEnv(t, st, Options{Interval: time.Minute})
		from, to := hourStart.Add(-2*time.Hour).Format(time.RFC3339), hourStart.Format(time.RFC3339)

		w := e.get("/api/report?host=http://web.example/&period=day&from=" + from + "&to=" + to)
		expect(t, w, 200, `"name":"Web"`)
		var rows []reportRow
		if err := json.Unmarshal(w.Body.Bytes(), &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].Checks != 115 || rows[0].DowntimeMinutes != 10 || rows[0].MaintenanceMinutes != 5 ||
			rows[0].Incidents != 1 || rows[0].LongestIncidentMin != 10 || rows[0].Uptime == nil || *rows[0].Uptime != 100*105.0/115 {
			t.Errorf("web's report %+v", rows)
		}

		w = e.serve(request{method: "GET", target: "/api/report?period=month&from=" + from + "&to=" + to,
			header: http.Header{"Accept": {"text/csv"}}})
		expect(t, w, 200, "host,name,period_start")
		if ct := w.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		recs, err := csv.NewReader(strings.NewReader(w.Body.String())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 || recs[1][0] != "db.example" || recs[1][4] != "100" || recs[2][0] != "http://web.example/" || recs[2][1] != "Web" {
			t.Errorf("CSV %q", recs)
		}
		for _, tt := range []struct {
			target string
			code   int
			want   string
		}{
			{"/api/report?period=year", 400, `period "year": use day, week or month`},
			{"/api/report?format=xml", 400, `format "xml"`},
			{"/api/report?from=" + to + "&to=" + from, 400, "to is not after from"},
			{"/api/report?from=2000-01-01T00:00:00Z&to=2010-01-01T00:00:00Z", 400, "longer than 732 days"},
			{"/api/report?host=nope.example", 404, "unknown host"},
			{"/web/report", 200, `<option value="http://web.example/">Web (http://web.example/)</option>`},
		} {
			expect(t, e.get(tt.target), tt.code, tt.want)
		}
	})
}

// TestReportAsHourly checks that the report of every monitor and of one
// equals reportRows over hourly buckets (what fleetReportBounds saves reading):
// hosts with checks in a few hours far apart, an incident across hours
// without checks, hours of maintenance only, hours summarised and not, a
// host without checks; periods of days, weeks and months in zones whose
// midnight is not a whole UTC hour.
func TestReportAsHourly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		hour := now.Truncate(time.Hour)
		var rs []store.Result
		add := func(host string, from time.Time, minutes int, down func(i int) bool, maint bool) {
			for i := range minutes {
				rs = append(rs, store.Result{Host: host, Slot: from.Add(time.Duration(i) * time.Minute), Up: !down(i),
					RTT: time.Duration(5+i%7+len(rs)%11) * time.Millisecond, Maintenance: maint})
			}
		}
		never := func(int) bool { return false }
		// a: a day and a half, down a little, ending down; nothing for 17
		// hours; down 30 more minutes, up, an hour in maintenance; the
		// current hour.
		add("a.example", hour.Add(-72*time.Hour), 36*60, func(i int) bool { return i%50 < 3 || i >= 36*60-20 }, false)
		add("a.example", hour.Add(-19*time.Hour), 3*60, func(i int) bool { return i < 30 }, false)
		add("a.example", hour.Add(-16*time.Hour), 60, never, true)
		add("a.example", hour, 1, never, false)
		// b: two hours 20 days ago, one check down; d: maintenance only.
		add("b.example", hour.Add(-20*24*time.Hour+7*time.Hour), 120, func(i int) bool { return i == 70 }, false)
		add("d.example", hour.Add(-10*24*time.Hour), 90, never, true)
		seed(t, st, []string{"a.example", "b.example", "c.example", "d.example"}, rs)
		putMonitor(t, st, monitor.Monitor{Host: "d.example", Settings: monitor.Settings{Name: "D"}})
		if sm, ok := st.(store.Summariser); ok { // the hours before the last 36
			for more := true; more; {
				var err error
				if more, err = sm.Summarise(ctx, hour.Add(-36*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
		}
		from, to := hour.Add(-40*24*time.Hour), hour.Add(time.Hour)
		for _, tz := range []string{"UTC", "Asia/Kolkata", "America/St_Johns"} {
			loc, err := time.LoadLocation(tz)
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, st, Options{Interval: time.Minute, Chart: chart.Options{TimeZone: loc}})
			for _, period := range []string{"day", "week", "month"} {
				periods := reportPeriods(from, to, period, loc)
				want := func(hosts ...string) string {
					var rows []reportRow
					for _, h := range hosts {
						bs, err := st.Buckets(ctx, h, from, to, int(to.Sub(from)/time.Hour))
						if err != nil {
							t.Fatal(err)
						}
						rows = append(rows, reportRows(h, map[string]string{"d.example": "D"}[h], bs, periods, time.Minute)...)
					}
					b, err := json.Marshal(rows)
					if err != nil {
						t.Fatal(err)
					}
					return string(b) + "\n"
				}
				query := "period=" + period + "&from=" + from.Format(time.RFC3339) + "&to=" + to.Format(time.RFC3339)
				for _, tt := range []struct{ query, want string }{
					{query, want("a.example", "b.example", "c.example", "d.example")},
					{"host=a.example&" + query, want("a.example")},
					{"host=b.example&" + query, want("b.example")},
					{"host=d.example&" + query, want("d.example")},
				} {
					w := e.get("/api/report?" + tt.query)
					if w.Code != 200 || w.Body.String() != tt.want {
						t.Errorf("%s %s: %d\n%s\nwant (hourly)\n%s", tz, tt.query, w.Code, w.Body, tt.want)
					}
				}
			}
		}
		// A range without checks: the same rows, without data.
		e := newEnv(t, st, Options{Interval: time.Minute})
		from, to = hour.Add(-90*24*time.Hour), hour.Add(-60*24*time.Hour)
		periods := reportPeriods(from, to, "week", time.UTC)
		var rows []reportRow
		for _, h := range []string{"a.example", "b.example", "c.example", "d.example"} {
			rows = append(rows, reportRows(h, map[string]string{"d.example": "D"}[h], nil, periods, time.Minute)...)
		}
		b, err := json.Marshal(rows)
		if err != nil {
			t.Fatal(err)
		}
		w := e.get("/api/report?period=week&from=" + from.Format(time.RFC3339) + "&to=" + to.Format(time.RFC3339))
		if w.Code != 200 || w.Body.String() != string(b)+"\n" {
			t.Errorf("a range without checks: %d\n%s\nwant\n%s", w.Code, w.Body, b)
		}
	})
}

// fleetReadCounter counts the hosts that a store's last BucketsAll gave
// its caller.
type fleetReadCounter struct {
	store.Store
	hosts int
}

func (c *fleetReadCounter) BucketsAll(ctx context.Context, q store.BucketQuery, fn func(string, []store.Bucket) error) error {
	c.hosts = 0
	return c.Store.BucketsAll(ctx, q, func(h string, bs []store.Bucket) error {
		c.hosts++
		return fn(h, bs)
	})
}

// firstWriteCanceller cancels the request when the response's first bytes
// leave, as a client that goes away then, and notes how many hosts were
// read by then.
type firstWriteCanceller struct {
	*httptest.ResponseRecorder
	cancel  context.CancelFunc
	st      *fleetReadCounter
	atFirst int // hosts read when the first bytes left; -1 before
}

func (w *firstWriteCanceller) Write(p []byte) (int, error) {
	if w.atFirst < 0 {
		w.atFirst = w.st.hosts
		w.cancel()
	}
	return w.ResponseRecorder.Write(p)
}

// TestReportStreams checks that a report of every monitor sends its first
// bytes with the first host's rows, and that a request cancelled then
// stops reading the store.
func TestReportStreams(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		const hosts = 300
		var names []string
		var rs []store.Result
		for i := range hosts {
			names = append(names, fmt.Sprintf("h%03d.example", i))
			rs = append(rs, store.Result{Host: names[i], Slot: slot(i % 60), Up: true, RTT: time.Millisecond})
		}
		seed(t, st, names, rs)
		counter := &fleetReadCounter{Store: st}
		e := newEnv(t, counter, Options{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:8000/api/report?format=csv", nil)
		w := &firstWriteCanceller{ResponseRecorder: httptest.NewRecorder(), cancel: cancel, st: counter, atFirst: -1}
		func() {
			defer func() {
				if p := recover(); p != nil && p != http.ErrAbortHandler {
					panic(p)
				}
			}()
			e.h.ServeHTTP(w, r)
		}()
		if w.atFirst != 1 {
			t.Errorf("the first bytes left after %d hosts, want 1", w.atFirst)
		}
		if counter.hosts >= hosts/2 {
			t.Errorf("a cancelled report read %d hosts of %d", counter.hosts, hosts)
		}
	})
}
