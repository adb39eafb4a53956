package api

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// The status page's history.
const (
	statusDays         = 90                  // days of the daily bar
	statusIncidentDays = 7                   // days of recent incidents
	statusIncidentsMax = 50                  // incidents listed: the ongoing, then the newest
	statusUpcoming     = 30 * 24 * time.Hour // how far ahead maintenance is listed
	// statusBarsMax is how many monitors /status draws a bar each for;
	// past it, each group gets one bar (its monitors' days added up) and
	// /status/GROUP draws its monitors': a bar is 90 cells with a title
	// each, about 5 KB, and 10,000 of them would make a 50 MB page.
	statusBarsMax = 100
)

// stateClass is the CSS class of a dashboard state (stateUp, …).
func stateClass(state string) string {
	switch state {
	case stateUp, stateDown:
		return state
	case stateMaintenance:
		return "maint"
	}
	return "nodata"
}

// stateIcon is the dashboard's sign for a state, so that colour is never
// its only signal.
func stateIcon(state string) string {
	switch state {
	case stateUp:
		return "▲"
	case stateDown:
		return "▼"
	case stateMaintenance:
		return "◆"
	}
	return "○"
}

// stateLabel is a state in words.
func stateLabel(state string) string {
	switch state {
	case stateUp, stateDown:
		return state
	case stateMaintenance:
		return "in maintenance"
	}
	return "no data"
}

// statusData is what the public status page shows.
type statusData struct {
	Title, Root string
	Group       string // the group asked for; "" for every group
	Overall     string // a sentence
	OverallCSS  string
	Groups      []statusGroup
	Incidents   []statusIncident
	// MoreIncidents counts those past statusIncidentsMax, not listed.
	MoreIncidents int
	Maintenance   []statusWindow
	Updated       string
}

type statusGroup struct {
	Name     string // "" for the monitors without a group
	State    string
	Monitors []statusMonitor
	// Days is the group's bar, when its monitors have none (too many
	// monitors on the page: see statusBarsMax); Monitors then lists only
	// those that are not up, and Up counts the others.
	Days []statusDay
	Up   int
}

type statusMonitor struct {
	Name, State string
	Uptime      string // over the days with data, "" when none
	Days        []statusDay
}

// statusDay is one cell of a monitor's 90-day bar.
type statusDay struct {
	Class, Title string
}

type statusIncident struct {
	Name, Start, Duration string
	Ongoing               bool
}

type statusWindow struct {
	Covers, When, Reason string
	Active               bool
}

// shownOnStatus reports whether m is on the status page: its status
// setting does not hide it, and it has a name (the page shows names,
// never targets, which may be internal URLs).
func shownOnStatus(m monitor.Monitor) bool { return m.Name != "" && m.OnStatusPage() }

// statusPage serves GET /status and /status/{group}: for the people who
// use the monitored services, each named monitor (grouped) with its
// state and a bar of its daily uptime over 90 days, the current and
// recent incidents, and the maintenance in progress and ahead. It shows
// names only, never targets.
func (s *server) statusPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.statusData(r.Context(), r.PathValue("group"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Root = relRoot(r)
	s.render(w, r, http.StatusOK, "status", d)
}

func (s *server) statusData(ctx context.Context, group string) (statusData, error) {
	d := statusData{Title: "Status", Group: group}
	if group != "" {
		d.Title = group + " status"
	}
	monitors, err := s.Store.Monitors(ctx)
	if err != nil {
		return d, err
	}
	shown := map[string]monitor.Monitor{}
	for _, m := range monitors {
		if shownOnStatus(m) && (group == "" || m.Group == group) {
			shown[m.Host] = m
		}
	}
	if group != "" && len(shown) == 0 {
		return d, &httpError{http.StatusNotFound, fmt.Sprintf("no group %q on the status page", group)}
	}
	tz := s.Chart.TimeZone
	now := s.Now()
	d.Updated = s.formatTime(now)
	interval := cmp.Or(s.Interval, time.Minute)

	windows, err := s.Store.Maintenances(ctx)
	if err != nil {
		return d, err
	}
	active := monitor.ActiveAt(windows, now)

	// State: the last check, or maintenance when a window covers it now;
	// read while the buckets are (a store across a network answers both
	// in the time of the longer).
	state := map[string]string{}
	var (
		wg      sync.WaitGroup
		lastErr error
	)
	wg.Go(func() {
		lastErr = s.Store.LastChecks(ctx, func(host string, c store.Check) error {
			if _, ok := shown[host]; ok {
				state[host] = stateDown
				if c.Up {
					state[host] = stateUp
				}
			}
			return nil
		})
	})

	// The 90-day bar and the incidents, from one fleet pass of the shown
	// hosts (statusBuckets).
	sb := newStatusBuckets(now, tz)
	type hostIncident struct {
		host string
		incident
	}
	var incidents []hostIncident
	days := map[string][]statusDay{}
	uptimes := map[string]string{}
	perMonitor := group != "" || len(shown) <= statusBarsMax
	groupDays := map[string][]store.Bucket{} // without perMonitor: each group's days added up
	q := store.BucketQuery{Bounds: sb.bounds}
	if len(shown) < len(monitors) {
		q.Hosts = make([]string, 0, len(shown))
		for h := range shown {
			q.Hosts = append(q.Hosts, h)
		}
	}
	err = s.Store.BucketsAll(ctx, q, func(host string, bs []store.Bucket) error {
		m, ok := shown[host]
		if !ok {
			return nil
		}
		dayBs := sb.days(bs)
		var up, down int64
		for _, b := range dayBs {
			up, down = up+b.Up, down+b.Down
		}
		if perMonitor {
			cells := make([]statusDay, len(dayBs))
			for i, b := range dayBs {
				cells[i] = dayCell(b, tz, interval)
			}
			days[host] = cells
		} else {
			sum := groupDays[m.Group]
			if sum == nil {
				sum = slices.Clone(dayBs)
				for i := range sum {
					sum[i].Up, sum[i].Down, sum[i].Maintenance = 0, 0, 0
				}
				groupDays[m.Group] = sum
			}
			for i, b := range dayBs {
				sum[i].Up, sum[i].Down, sum[i].Maintenance = sum[i].Up+b.Up, sum[i].Down+b.Down, sum[i].Maintenance+b.Maintenance
			}
		}
		if up+down > 0 {
			uptimes[host] = formatPercent(float64(up) / float64(up+down))
		}
		for _, inc := range incidentsIn(bs[sb.incFrom:sb.incTo], interval) {
			incidents = append(incidents, hostIncident{host, inc})
		}
		return nil
	})
	wg.Wait()
	if err := cmp.Or(err, lastErr); err != nil {
		return d, err
	}
	for _, hi := range incidents {
		d.Incidents = append(d.Incidents, statusIncident{Name: shown[hi.host].Name, Start: s.formatTime(hi.start),
			Duration: hi.downtime.String(), Ongoing: hi.ongoing && state[hi.host] == stateDown})
	}
	slices.SortStableFunc(d.Incidents, func(a, b statusIncident) int {
		if a.Ongoing != b.Ongoing {
			if a.Ongoing {
				return -1
			}
			return 1
		}
		return strings.Compare(b.Start, a.Start)
	})
	if n := len(d.Incidents); n > statusIncidentsMax {
		d.Incidents, d.MoreIncidents = d.Incidents[:statusIncidentsMax], n-statusIncidentsMax
	}

	// Groups, monitors by name.
	byGroup := map[string]*statusGroup{}
	downs := 0
	for host, m := range shown {
		st := cmp.Or(state[host], stateNoData)
		for _, w := range active {
			if w.Covers(m) {
				st = stateMaintenance
			}
		}
		if st == stateDown {
			downs++
		}
		g := byGroup[m.Group]
		if g == nil {
			g = &statusGroup{Name: m.Group}
			byGroup[m.Group] = g
		}
		if !perMonitor && st == stateUp {
			g.Up++
			continue
		}
		g.Monitors = append(g.Monitors, statusMonitor{Name: m.Name, State: st, Uptime: uptimes[host], Days: days[host]})
	}
	for _, g := range byGroup {
		slices.SortFunc(g.Monitors, func(a, b statusMonitor) int { return strings.Compare(a.Name, b.Name) })
		g.State = groupState(g.Monitors)
		if g.State == stateNoData && g.Up > 0 {
			g.State = stateUp
		}
		for _, b := range groupDays[g.Name] {
			g.Days = append(g.Days, dayCell(b, tz, interval))
		}
		d.Groups = append(d.Groups, *g)
	}
	slices.SortFunc(d.Groups, func(a, b statusGroup) int { return strings.Compare(a.Name, b.Name) })
	switch {
	case len(shown) == 0:
		d.Overall, d.OverallCSS = "No services are listed yet.", "nodata"
	case downs == 0:
		d.Overall, d.OverallCSS = "All services are operating normally.", "up"
	case downs == 1:
		d.Overall, d.OverallCSS = "One service is down.", "down"
	default:
		d.Overall, d.OverallCSS = fmt.Sprintf("%d services are down.", downs), "down"
	}

	// Maintenance in progress and ahead, of the monitors shown.
	for _, w := range windows {
		covers := coveredNames(w, shown)
		if len(covers) == 0 {
			continue
		}
		row := statusWindow{Covers: strings.Join(covers, ", "), Reason: w.Reason}
		if until, ok := w.Active(now); ok {
			row.Active, row.When = true, "until "+s.formatTime(until)
		} else if next, ok := w.Next(now); ok && next.Sub(now) <= statusUpcoming {
			end := next.Add(w.Duration.D())
			if w.Cron == "" {
				end = w.End
			}
			row.When = s.formatTime(next) + " to " + s.formatTime(end)
		} else {
			continue
		}
		d.Maintenance = append(d.Maintenance, row)
	}
	return d, nil
}

// statusBuckets plans the status page's one fleet read: the bounds of the
// bar's local days and of the hours of the incidents' week (whole hours,
// so that they are read from summaries), merged, and where each bucket
// goes. (Two passes, days for every host then the week's hours for the
// hosts down in it, cost more: a host's read costs mostly its seeks, not
// its buckets.)
type statusBuckets struct {
	bounds []time.Time
	// dayOf is each bucket's day of the bar (-1: none); the incidents'
	// hours are the buckets [incFrom, incTo).
	dayOf          []int
	incFrom, incTo int
	// dayBs is the bar's days, counted by days.
	dayBs []store.Bucket
}

// newStatusBuckets plans the read at now: statusDays local days in tz,
// the last today, and the hours from statusIncidentDays before the
// current one to its end.
func newStatusBuckets(now time.Time, tz *time.Location) *statusBuckets {
	today := startOfDay(now.In(tz))
	barStart := today.AddDate(0, 0, -(statusDays - 1))
	incStart := now.Truncate(time.Hour).Add(-statusIncidentDays * 24 * time.Hour)
	incEnd := now.Truncate(time.Hour).Add(time.Hour)
	sb := &statusBuckets{dayBs: make([]store.Bucket, statusDays)}
	midnights := make([]time.Time, statusDays+1)
	for i := range midnights {
		midnights[i] = barStart.AddDate(0, 0, i)
	}
	for i := range sb.dayBs {
		sb.dayBs[i] = store.Bucket{Start: midnights[i], End: midnights[i+1]}
	}
	// The read ends with the current hour, not at tomorrow's midnight:
	// what follows holds no check yet, and a read of it would cost a
	// store an empty range read per host.
	sb.bounds = append(slices.Clone(midnights[:statusDays]), store.EvenBounds(incStart, incEnd, int(incEnd.Sub(incStart)/time.Hour))...)
	slices.SortFunc(sb.bounds, time.Time.Compare)
	sb.bounds = slices.CompactFunc(sb.bounds, time.Time.Equal)
	sb.incFrom, _ = slices.BinarySearchFunc(sb.bounds, incStart, time.Time.Compare)
	sb.incTo, _ = slices.BinarySearchFunc(sb.bounds, incEnd, time.Time.Compare)
	sb.dayOf = make([]int, len(sb.bounds)-1)
	for i, b := range sb.bounds[:len(sb.bounds)-1] {
		day, found := slices.BinarySearchFunc(midnights, b, time.Time.Compare)
		if !found {
			day-- // inside the day before
		}
		sb.dayOf[i] = -1
		if day >= 0 && day < statusDays {
			sb.dayOf[i] = day
		}
	}
	return sb
}

// days adds a host's buckets of the read up by day of the bar; the slice
// is reused from host to host.
func (sb *statusBuckets) days(bs []store.Bucket) []store.Bucket {
	for i := range sb.dayBs {
		sb.dayBs[i] = store.Bucket{Start: sb.dayBs[i].Start, End: sb.dayBs[i].End}
	}
	for i, b := range bs {
		if d := sb.dayOf[i]; d >= 0 {
			day := &sb.dayBs[d]
			day.Up, day.Down, day.Maintenance = day.Up+b.Up, day.Down+b.Down, day.Maintenance+b.Maintenance
		}
	}
	return sb.dayBs
}

// startOfDay is local midnight of t's day.
func startOfDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

// dayCell is a day of the bar: its class says how it went (up, partial,
// down, maintenance, nodata), its title the day's figures.
func dayCell(b store.Bucket, tz *time.Location, interval time.Duration) statusDay {
	day := b.Start.In(tz).Format("2006-01-02")
	switch {
	case b.Up+b.Down == 0 && b.Maintenance > 0:
		return statusDay{"maint", day + ": maintenance"}
	case b.Up+b.Down == 0:
		return statusDay{"nodata", day + ": no data"}
	}
	ratio := float64(b.Up) / float64(b.Up+b.Down)
	title := day + ": " + formatPercent(ratio) + " up"
	if b.Down > 0 {
		title += fmt.Sprintf(", %s down", (time.Duration(b.Down) * interval).String())
	}
	switch {
	case b.Down == 0:
		return statusDay{"up", title}
	case ratio >= 0.99:
		return statusDay{"partial", title}
	}
	return statusDay{"down", title}
}

// groupState is a group's state: down if any monitor is, else
// maintenance if any is, else up (no data when none has any).
func groupState(ms []statusMonitor) string {
	seen := map[string]bool{}
	for _, m := range ms {
		seen[m.State] = true
	}
	for _, st := range []string{stateDown, stateMaintenance, stateUp} {
		if seen[st] {
			return st
		}
	}
	return stateNoData
}

// coveredNames are the names of the shown monitors that w covers.
func coveredNames(w monitor.Maintenance, shown map[string]monitor.Monitor) []string {
	var names []string
	for _, m := range shown {
		if w.Covers(m) {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	return names
}

// incident is a run of hourly buckets with a down check.
type incident struct {
	start    time.Time
	downtime time.Duration // its down checks times the interval
	ongoing  bool          // it reaches the last bucket
}

// incidentsIn finds the incidents of hourly buckets: each run of buckets
// with a down check, which a bucket with checks and none down ends.
func incidentsIn(bs []store.Bucket, interval time.Duration) []incident {
	var out []incident
	in := false
	for i, b := range bs {
		switch {
		case b.Down > 0:
			if !in {
				out = append(out, incident{start: b.Start})
				in = true
			}
			out[len(out)-1].downtime += time.Duration(b.Down) * interval
			out[len(out)-1].ongoing = i == len(bs)-1
		case b.Up > 0:
			in = false
		}
	}
	return out
}
