package api

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/srvmon/srvmon/pkg/monitor"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// Report limits: a report reads one hourly bucket per host and hour.
const (
	defaultReportRange = 30 * 24 * time.Hour
	maxReportRange     = 2 * 366 * 24 * time.Hour
)

// reportRow is one host's availability over one period. Figures come
// from the hourly buckets (the store's summaries): counts and the rtt
// maximum are exact; incidents are runs of hours with a down check, and
// the rtt percentiles are those of the hourly mean rtts weighted by the
// hours' up checks (see README: they understate spikes within an hour).
type reportRow struct {
	Host               string    `json:"host"`
	Name               string    `json:"name"`
	Start              time.Time `json:"period_start"`
	End                time.Time `json:"period_end"`
	Uptime             *float64  `json:"uptime_percent"` // nil: no check outside maintenance
	Checks             int64     `json:"checks"`
	DowntimeMinutes    float64   `json:"downtime_minutes"`
	MaintenanceMinutes float64   `json:"maintenance_minutes"`
	Incidents          int       `json:"incidents"`
	LongestIncidentMin float64   `json:"longest_incident_minutes"`
	RTTP50ms           *float64  `json:"rtt_p50_ms"`
	RTTP95ms           *float64  `json:"rtt_p95_ms"`
	RTTMaxms           *float64  `json:"rtt_max_ms"`
}

// reportColumns are the CSV header, in reportRow's order.
var reportColumns = []string{"host", "name", "period_start", "period_end", "uptime_percent", "checks",
	"downtime_minutes", "maintenance_minutes", "incidents", "longest_incident_minutes",
	"rtt_p50_ms", "rtt_p95_ms", "rtt_max_ms"}

// span is one period of a report: [Start, End).
type span struct{ Start, End time.Time }

// reportPeriods splits [from, to) into the calendar periods of kind
// ("day", "week" from Monday, "month") in tz, the first and last cut at
// from and to.
func reportPeriods(from, to time.Time, kind string, tz *time.Location) []span {
	var out []span
	for start := from; start.Before(to); {
		l := start.In(tz)
		var next time.Time
		switch kind {
		case "day":
			next = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, tz)
		case "week":
			monday := l.Day() - (int(l.Weekday())+6)%7
			next = time.Date(l.Year(), l.Month(), monday+7, 0, 0, 0, 0, tz)
		default: // month
			next = time.Date(l.Year(), l.Month()+1, 1, 0, 0, 0, 0, tz)
		}
		end := minTime(next, to)
		out = append(out, span{start, end})
		start = end
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// reportRows computes a host's rows for periods from its hourly buckets
// (bs are whole hours, ascending; the periods' hours before and after
// them hold no check: fleetReportBounds); a bucket belongs to the period
// its start is in. interval turns check counts into minutes.
func reportRows(host, name string, bs []store.Bucket, periods []span, interval time.Duration) []reportRow {
	minutes := func(n int64) float64 { return float64(n) * interval.Minutes() }
	rows := make([]reportRow, 0, len(periods))
	i := 0
	for _, p := range periods {
		row := reportRow{Host: host, Name: name, Start: p.Start, End: p.End}
		for i < len(bs) && bs[i].Start.Before(p.Start) {
			i++
		}
		first := i
		for i < len(bs) && bs[i].Start.Before(p.End) {
			i++
		}
		in := bs[first:i]
		var up, down, maint int64
		var means []weighted
		var maxRTT time.Duration
		for _, b := range in {
			up, down, maint = up+b.Up, down+b.Down, maint+b.Maintenance
			if b.Up > 0 {
				means = append(means, weighted{float64(b.MeanRTT), b.Up})
				maxRTT = max(maxRTT, b.MaxRTT)
			}
		}
		incidents := incidentsIn(in, interval)
		row.Incidents = len(incidents)
		for _, inc := range incidents {
			row.LongestIncidentMin = max(row.LongestIncidentMin, inc.downtime.Minutes())
		}
		row.Checks = up + down
		row.DowntimeMinutes, row.MaintenanceMinutes = minutes(down), minutes(maint)
		if up+down > 0 {
			u := 100 * float64(up) / float64(up+down)
			row.Uptime = &u
		}
		if len(means) > 0 {
			p50, p95 := ms(percentile(means, 0.50)), ms(percentile(means, 0.95))
			m := ms(float64(maxRTT))
			row.RTTP50ms, row.RTTP95ms, row.RTTMaxms = &p50, &p95, &m
		}
		rows = append(rows, row)
	}
	return rows
}

// weighted is a value with a weight, for percentile.
type weighted struct {
	v float64
	w int64
}

// percentile is the weighted q-quantile of vs (not empty): the smallest
// value whose cumulative weight reaches q of the total.
func percentile(vs []weighted, q float64) float64 {
	vs = slices.Clone(vs)
	slices.SortFunc(vs, func(a, b weighted) int { return cmp.Compare(a.v, b.v) })
	var total int64
	for _, v := range vs {
		total += v.w
	}
	need := q * float64(total)
	var sum int64
	for _, v := range vs {
		sum += v.w
		if float64(sum) >= need {
			return v.v
		}
	}
	return vs[len(vs)-1].v
}

// ms is nanoseconds as milliseconds, to the microsecond.
func ms(ns float64) float64 { return math.Round(ns/1e3) / 1e3 }

// reportRequest is a report's parameters.
type reportRequest struct {
	host     string // "" for every monitor
	from, to time.Time
	period   string
	csv      bool
}

// parseReport reads host, from, to (as start and end elsewhere; default
// the last 30 days), period (day, week or month; default month) and the
// format (format=csv|json, or Accept: text/csv).
func (s *server) parseReport(r *http.Request) (reportRequest, error) {
	q, err := queryParams(r)
	if err != nil {
		return reportRequest{}, err
	}
	req := reportRequest{host: q.Get("host"), period: cmp.Or(q.Get("period"), "month")}
	switch req.period {
	case "day", "week", "month":
	default:
		return req, badRequest(fmt.Sprintf("period %q: use day, week or month", req.period))
	}
	switch f := q.Get("format"); f {
	case "csv":
		req.csv = true
	case "json":
	case "":
		req.csv = strings.Contains(r.Header.Get("Accept"), "text/csv")
	default:
		return req, badRequest(fmt.Sprintf("format %q: use json or csv", f))
	}
	req.to = s.Now().UTC()
	if v := q.Get("to"); v != "" {
		if req.to, err = s.parseTime("to", v); err != nil {
			return req, err
		}
	}
	req.from = req.to.Add(-defaultReportRange)
	if v := q.Get("from"); v != "" {
		if req.from, err = s.parseTime("from", v); err != nil {
			return req, err
		}
	}
	// Whole hours: the buckets are the hourly summaries.
	req.from = req.from.UTC().Truncate(time.Hour)
	if t := req.to.UTC().Truncate(time.Hour); !t.Equal(req.to.UTC()) {
		req.to = t.Add(time.Hour)
	} else {
		req.to = t
	}
	switch {
	case !req.from.Before(req.to):
		return req, badRequest("to is not after from")
	case req.to.Sub(req.from) > maxReportRange:
		return req, badRequest(fmt.Sprintf("from %s to %s is longer than %d days", req.from.Format(time.RFC3339),
			req.to.Format(time.RFC3339), maxReportRange/(24*time.Hour)))
	case req.from.Before(store.MinTime()) || req.to.After(store.MaxTime()):
		return req, badRequest("from and to must be within 1970-01-01..2262-01-01")
	}
	if req.host != "" {
		if req.host, err = s.resolveHost(r.Context(), req.host); err != nil {
			return req, err
		}
	}
	return req, nil
}

// report serves GET /api/report: availability per period (reportRow) of
// one monitor (host) or every one, as a JSON array or CSV, streamed host
// by host.
func (s *server) report(w http.ResponseWriter, r *http.Request) {
	req, err := s.parseReport(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	// The display names: one monitor's, or every one's.
	var names map[string]string
	if req.host != "" {
		m, err := s.Store.Monitor(ctx, req.host)
		switch {
		case errors.Is(err, store.ErrNotFound):
			s.fail(w, r, unknownHost(req.host))
			return
		case err != nil:
			s.fail(w, r, err)
			return
		}
		names = map[string]string{m.Host: m.Name}
	} else if names, err = s.monitorNames(ctx); err != nil {
		s.fail(w, r, err)
		return
	}
	periods := reportPeriods(req.from, req.to, req.period, s.Chart.TimeZone)
	hours := int(req.to.Sub(req.from) / time.Hour)
	interval := cmp.Or(s.Interval, time.Minute)

	out := newReportWriter(w, r, req.csv)
	emit := func(host string, bs []store.Bucket) error {
		return out.write(s, reportRows(probe.MaskSecrets(host), names[host], bs, periods, interval))
	}
	if req.host != "" {
		// One host's hours: what a survey would save is less than it costs.
		var bs []store.Bucket
		bs, err = s.Store.Buckets(ctx, req.host, req.from, req.to, hours)
		if err == nil {
			err = emit(req.host, bs)
		}
	} else {
		var bounds []time.Time
		firstHost := "" // the first monitor by host
		for h := range names {
			if firstHost == "" || h < firstHost {
				firstHost = h
			}
		}
		if bounds, err = s.fleetReportBounds(ctx, req.from, req.to, firstHost); err == nil {
			err = s.Store.BucketsAll(ctx, store.BucketQuery{Bounds: bounds}, emit)
		}
	}
	out.finish(s, r, err)
}

// errSurveyDone stops a report's survey once every cell has checks.
var errSurveyDone = errors.New("every cell has checks")

// fleetReportBounds returns the bucket bounds of a report of every host
// over [from, to) (whole hours): hourly, over the part of the range where
// the hosts have checks. The figures are those of hourly buckets over all
// of it (reportRows), since an hour without checks adds to none of them
// and ends no incident; but a fleet with days of history costs its days
// in a report over a year, not 8,760 buckets a host.
//
// Where the checks are comes from a first, coarse read (the survey), in
// cells of about the square root of the range's hours (so that neither
// read has many buckets without checks), which stops as soon as every cell
// has some. It reads firstHost (a host; "" for none) first: when that host's
// checks span the range, no other host's can widen what is read, and a
// store that reads every host before it answers (PostgreSQL) reads one.
// The hours from two before now on are read whatever it saw, as a round
// may store checks between the two reads. Both reads' buckets are as wide
// as each other (EvenBounds), which a store that reads bucket by bucket
// otherwise (store.FleetByHost) reads as one.
func (s *server) fleetReportBounds(ctx context.Context, from, to time.Time, firstHost string) ([]time.Time, error) {
	hours := int(to.Sub(from) / time.Hour)
	cell := time.Duration(max(math.Round(math.Sqrt(float64(hours))), 1)) * time.Hour
	cells := int((to.Sub(from) + cell - 1) / cell)
	first, end := cells, 0 // the cells with checks: [first, end)
	if recent := s.Now().Add(-2 * time.Hour); recent.Before(to) {
		first, end = min(first, int(max(recent.Sub(from), 0)/cell)), cells
	}
	// The survey's last cell may end after to: its checks there only
	// widen what is read.
	survey := store.EvenBounds(from, from.Add(time.Duration(cells)*cell), cells)
	for _, hosts := range [][]string{{firstHost}, nil} {
		err := s.Store.BucketsAll(ctx, store.BucketQuery{Hosts: hosts, Bounds: survey}, func(_ string, bs []store.Bucket) error {
			for i, b := range bs {
				if b.Up+b.Down+b.Maintenance > 0 {
					first, end = min(first, i), max(end, i+1)
				}
			}
			if first == 0 && end == cells {
				return errSurveyDone
			}
			return nil
		})
		if errors.Is(err, errSurveyDone) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if first >= end {
		return nil, nil
	}
	start, stop := from.Add(time.Duration(first)*cell), minTime(from.Add(time.Duration(end)*cell), to)
	return store.EvenBounds(start, stop, int(stop.Sub(start)/time.Hour)), nil
}

// monitorNames maps every stored host to its display name ("" when it
// has none).
func (s *server) monitorNames(ctx context.Context) (map[string]string, error) {
	ms, err := s.Store.Monitors(ctx)
	if err != nil {
		return nil, err
	}
	return namesOf(ms), nil
}

// namesOf maps each monitor's host to its name ("" when it has none).
func namesOf(ms []monitor.Monitor) map[string]string {
	names := make(map[string]string, len(ms))
	for _, m := range ms {
		names[m.Host] = m.Name
	}
	return names
}

// reportWriter streams a report's rows as JSON or CSV: the first host's
// at once, so that a client sees the report start however long the rest
// takes, then in chunks (streamWriter).
type reportWriter struct {
	sw    *streamWriter
	csv   *csv.Writer
	first bool
	hosts int // hosts written
}

func newReportWriter(w http.ResponseWriter, r *http.Request, asCSV bool) *reportWriter {
	ct := "application/json"
	if asCSV {
		ct = "text/csv; charset=utf-8"
	}
	rw := &reportWriter{sw: newStreamWriter(w, r, ct), first: true}
	if asCSV {
		rw.csv = csv.NewWriter(sliceWriter{&rw.sw.buf})
		rw.csv.Write(reportColumns)
		rw.csv.Flush()
	} else {
		rw.sw.buf = append(rw.sw.buf, '[')
	}
	return rw
}

// sliceWriter appends to a byte slice.
type sliceWriter struct{ b *[]byte }

func (s sliceWriter) Write(p []byte) (int, error) {
	*s.b = append(*s.b, p...)
	return len(p), nil
}

// write adds one host's rows.
func (rw *reportWriter) write(s *server, rows []reportRow) error {
	for _, row := range rows {
		if rw.csv != nil {
			rw.csv.Write(csvRecord(row))
			rw.csv.Flush()
		} else {
			if !rw.first {
				rw.sw.buf = append(rw.sw.buf, ',')
			}
			rw.first = false
			b, err := json.Marshal(row)
			if err != nil {
				return err
			}
			rw.sw.buf = append(rw.sw.buf, b...)
		}
	}
	if rw.hosts++; rw.hosts == 1 {
		return rw.sw.flushNow()
	}
	return rw.sw.maybeFlush()
}

func (rw *reportWriter) finish(s *server, r *http.Request, err error) {
	if err != nil {
		rw.sw.fail(s, r, err)
		return
	}
	if rw.csv == nil {
		rw.sw.buf = append(rw.sw.buf, "]\n"...)
	}
	rw.sw.finish(s, r)
}

// csvRecord is row as a CSV record, in reportColumns' order; a figure
// without data is empty.
func csvRecord(row reportRow) []string {
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	opt := func(f *float64) string {
		if f == nil {
			return ""
		}
		return num(*f)
	}
	return []string{row.Host, row.Name, row.Start.Format(time.RFC3339), row.End.Format(time.RFC3339), opt(row.Uptime),
		strconv.FormatInt(row.Checks, 10), num(row.DowntimeMinutes), num(row.MaintenanceMinutes),
		strconv.Itoa(row.Incidents), num(row.LongestIncidentMin), opt(row.RTTP50ms), opt(row.RTTP95ms), opt(row.RTTMaxms)}
}

// reportPage serves GET /web/report: a form that picks a monitor (or
// every one), a range and a period, and downloads the report.
func (s *server) reportPage(w http.ResponseWriter, r *http.Request) {
	ms, err := s.Store.Monitors(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tz := s.Chart.TimeZone
	now := s.Now().In(tz)
	s.render(w, r, http.StatusOK, "report", struct {
		Title, Root, TimeZone string
		Monitors              []monitor.Monitor
		From, To              string
	}{"Availability report", relRoot(r), tz.String(), ms,
		now.AddDate(0, -1, 0).Truncate(time.Hour).Format(datetimeLocal), now.Truncate(time.Hour).Format(datetimeLocal)})
}
