package api

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/srvmon/srvmon/internal/lazy"
	"github.com/srvmon/srvmon/pkg/chart"
	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// The pages, their stylesheet, the dashboard's script and nothing else:
// no CDN. Every page works without JavaScript; the script only reloads
// the dashboard's table in place.
//
//go:embed web
var webFS embed.FS

// pages are the page templates, parsed on first use rather than at
// start (lazy.Value): parsing them allocates about 160 KB in 2,700
// objects and runs the template parser, which a process that serves only
// the API (or only runs rounds) never needs. The templates are embedded,
// so they parse or not the same way every time; the tests render every
// page.
var pages = lazy.Value[*template.Template]{New: func() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		// deref is a *bool's value (a monitor's FollowRedirects).
		"deref": func(b *bool) bool { return b != nil && *b },
		// duration writes a monitor's duration as Go does ("1m30s").
		"duration": func(d monitor.Duration) string { return d.D().String() },
		// stateClass and stateIcon show a monitor's state (up, down,
		// maintenance, no data): a CSS class, and a sign that says it
		// without colour.
		"stateClass": stateClass,
		"stateIcon":  stateIcon,
		"stateLabel": stateLabel,
	}).ParseFS(webFS, "web/*.html"))
}}

// serveAsset serves the embedded file web/name (the pages' style sheet,
// the dashboard's script), cached for an hour.
func serveAsset(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := webFS.ReadFile("web/" + name)
		if err != nil {
			http.Error(w, "internal server error: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "max-age=3600")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	}
}

// render executes a page template into a buffer first, so that a template
// error is a 500 rather than half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.Get().ExecuteTemplate(&buf, name, data); err != nil {
		s.fail(w, r, fmt.Errorf("page %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// parseForm reads a small form body (application/x-www-form-urlencoded,
// what the pages' forms send) with parseParams' limits.
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, badRequest(fmt.Sprintf("bad form: Content-Type %q is not application/x-www-form-urlencoded", ct))
		}
	}
	b, err := io.ReadAll(requestBody(w, r, smallBodyBytes, nil))
	if err != nil {
		return nil, bodyError(fmt.Errorf("bad form: %w", err))
	}
	return parseParams("form", string(b))
}

// relRoot is the relative reference from the page r asks for to the
// handler's root: "./" for / and /index.html, "../" for /web/hosts. Every
// link, form and redirect is relative (relRoot plus a path such as
// "web/hosts"), so the pages work under any path prefix (an API Gateway
// stage, a reverse proxy's sub-path) without configuration: the handler
// sees the path without the prefix, the browser resolves against the
// path with it, and both have the same depth below the root.
func relRoot(r *http.Request) string {
	n := strings.Count(r.URL.EscapedPath(), "/") - 1
	if n <= 0 {
		return "./"
	}
	return strings.Repeat("../", n)
}

// seeOther answers 303 with a Location relative to the request (relRoot
// plus page, a path from the root such as "web/hosts?action=created"):
// http.Redirect would make it absolute, which drops a path prefix.
func seeOther(w http.ResponseWriter, r *http.Request, page string) {
	w.Header().Set("Location", relRoot(r)+page)
	w.WriteHeader(http.StatusSeeOther)
}

// formatTime writes a time for people, in the chart time zone.
func (s *server) formatTime(t time.Time) string {
	return t.In(s.Chart.TimeZone).Format("2006-01-02 15:04:05 MST")
}

// formatTimeIfSet is formatTime, or "" for the zero time (unknown, none).
func (s *server) formatTimeIfSet(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return s.formatTime(t)
}

func formatRTT(d time.Duration) string { return d.Round(time.Microsecond).String() }

// pickPage lists the hosts to choose from, for pages opened without one.
func (s *server) pickPage(w http.ResponseWriter, r *http.Request, title string) {
	hosts, err := s.Store.Hosts(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "pick", struct {
		Title, Root, Path string
		Hosts             []string
	}{title, relRoot(r), strings.TrimPrefix(r.URL.Path, "/"), maskHosts(hosts)})
}

// index serves / and /index.html: the dashboard (dashboardPage; its
// parameters q=, state=, page= and refresh=), the page of links as its
// footer and, when single checks are enabled, gosrvmon's form to check a
// host now (?host=, under auth; not for HEAD or from other sites' pages).
func (s *server) index(w http.ResponseWriter, r *http.Request) {
	qv, err := queryParams(r)
	var q dashQuery
	if err == nil {
		q, err = parseDashQuery(qv)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	root := relRoot(r)
	data := dashboardData{Title: "Dashboard", Root: root, Query: q, RefreshSeconds: int(q.Refresh / time.Second),
		CustomRefresh: q.Refresh != DefaultDashboardRefresh, UptimeLabels: []string{"24 h", "7 d", "30 d", "365 d"}, SingleChecks: s.Checker != nil}
	code := http.StatusOK
	if host := strings.TrimSpace(qv.Get("host")); host != "" && s.Checker != nil {
		if !s.mayAct(w, r, "GET", "run a check") {
			return
		}
		data.Host = host
		c, err := s.singleCheck(r, host)
		if err != nil {
			data.Error, code = err.Error(), http.StatusBadRequest
		} else {
			data.Result = &singleResult{Up: c.Up, RTT: formatRTT(c.RTT), Error: c.Error}
		}
	}
	data.dashPage, err = s.dashboardPage(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data.Sections = sectionsOf(data.Rows)
	data.StateOptions = []stateOption{{Value: "all", Label: "all", Selected: q.State == ""}}
	for _, st := range dashStates {
		data.StateOptions = append(data.StateOptions, stateOption{Value: st, Label: stateLabel(st), Selected: q.State == st})
	}
	data.Self = dashboardURL(root, q, data.Page)
	if data.Page > 1 {
		data.PrevURL = dashboardURL(root, q, data.Page-1)
	}
	if data.Page < data.Pages {
		data.NextURL = dashboardURL(root, q, data.Page+1)
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, code, "index", data)
}

// hostsForm serves POST /web/hosts, the hosts page's forms: action=add or
// del with host. It redirects back to the page.
func (s *server) hostsForm(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.hostAction(w, r, f.Get("action"), strings.TrimSpace(f.Get("host")))
}

// preset is a quick range link of the view page.
type preset struct{ Name, URL string }

// viewPage serves GET /web/view?host=&start=&end=: the host's chart with a
// range picker of plain datetime-local inputs (in the chart time zone),
// links to the previous and next range and to common ranges.
func (s *server) viewPage(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if q.Get("host") == "" {
		s.pickPage(w, r, "Charts")
		return
	}
	req, err := s.parseRange(w, r)
	if err == nil {
		err = s.requireHost(r, req.Host)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	span := req.End.Sub(req.Start)
	root := relRoot(r)
	link := func(path string, start, end time.Time) string {
		v := url.Values{"host": {req.Name}, "start": {itoa(start.Unix())}, "end": {itoa(end.Unix())}}
		return root + path + "?" + v.Encode()
	}
	local := func(t time.Time) string { return t.In(s.Chart.TimeZone).Format(datetimeLocal) }
	now := s.Now().UTC()
	var presets []preset
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"hour", time.Hour}, {"day", 24 * time.Hour}, {"week", 7 * 24 * time.Hour}, {"30 days", 30 * 24 * time.Hour}, {"year", 365 * 24 * time.Hour}} {
		presets = append(presets, preset{p.name, link("web/view", now.Add(-p.d), now)})
	}
	s.render(w, r, http.StatusOK, "view", struct {
		Title, Root, Host, StartLocal, EndLocal, TimeZone string
		PrevURL, NextURL, ChartURL, TableURL, JSONURL     string
		Presets                                           []preset
	}{
		Title: probe.MaskSecrets(req.Host), Root: root, Host: req.Name,
		StartLocal: local(req.Start), EndLocal: local(req.End), TimeZone: s.Chart.TimeZone.String(),
		PrevURL:  link("web/view", req.Start.Add(-span), req.Start),
		NextURL:  link("web/view", req.End, req.End.Add(span)),
		ChartURL: link("web/checks/svg", req.Start, req.End),
		TableURL: link("web/checks", req.Start, req.End),
		JSONURL:  link("api/checks", req.Start, req.End),
		Presets:  presets,
	})
}

// chartBuckets reads the buckets of host's chart of [start, end), width
// pixels wide, from the store: the merged ones (chart.Buckets of the
// store's Buckets), and, when several checker locations save results and
// the range is short enough to draw their lines (chart.DrawsLocations),
// each location's too, counted with the merged ones from one read of the
// host's raw results (chart.BucketsByLocation), since the stored
// summaries merge the locations. An installation with one location reads
// what it read before there were lines per location, and its list of
// locations: one small read.
func (s *server) chartBuckets(ctx context.Context, host string, start, end time.Time, width int) ([]store.Bucket, []chart.LocationSeries, error) {
	if chart.DrawsLocations(start, end, s.Interval) {
		locs, err := s.Store.Locations(ctx)
		if err != nil {
			return nil, nil, err
		}
		if len(locs) > 1 {
			return chart.BucketsByLocation(start, end, s.Interval, width, func(start, end time.Time, fn func(store.Result) error) error {
				return s.Store.Results(ctx, host, start, end, fn)
			})
		}
	}
	bs, err := chart.Buckets(start, end, s.Interval, width, func(start, end time.Time, n int) ([]store.Bucket, error) {
		return s.Store.Buckets(ctx, host, start, end, n)
	})
	return bs, nil, err
}

// requireHost is nil for a stored host, else the 404 or 400 to answer.
func (s *server) requireHost(r *http.Request, host string) error {
	ok, err := s.Store.HostExists(r.Context(), host)
	if err != nil {
		return err
	}
	if !ok {
		return unknownHost(host)
	}
	return nil
}

// checksPage serves GET and POST /web/checks (parameters as /api/checks):
// the host's checks as a table, remote instances merged in, streamed.
func (s *server) checksPage(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.Method == http.MethodGet && q.Get("host") == "" {
		s.pickPage(w, r, "Checks")
		return
	}
	req, err := s.parseRange(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := url.Values{"host": {req.Name}, "start": {itoa(req.Start.Unix())}, "end": {itoa(req.End.Unix())}}
	root := relRoot(r)
	data := struct {
		Title, Root, Start, End, TimeZone, ViewURL string
	}{"Checks of " + probe.MaskSecrets(req.Host), root, s.formatTime(req.Start), s.formatTime(req.End), s.Chart.TimeZone.String(), root + "web/view?" + v.Encode()}
	sw := newStreamWriter(w, r, "text/html; charset=utf-8")
	if err := pages.Get().ExecuteTemplate(sw, "checks_head", data); err != nil {
		sw.fail(s, r, err)
		return
	}
	err = s.mergedChecks(r.Context(), req, func(c store.Check) error {
		sw.buf = append(sw.buf, "<tr><td>"...)
		sw.buf = append(sw.buf, s.formatTime(c.Time)...)
		sw.buf = append(sw.buf, "</td><td>"...)
		sw.buf = append(sw.buf, formatRTT(c.RTT)...)
		if c.Up {
			sw.buf = append(sw.buf, `</td><td class="up">up</td><td>`...)
		} else {
			sw.buf = append(sw.buf, `</td><td class="down">down</td><td>`...)
		}
		sw.buf = append(sw.buf, html.EscapeString(c.Error)...)
		sw.buf = append(sw.buf, "</td></tr>\n"...)
		return sw.maybeFlush()
	})
	if err != nil {
		sw.fail(s, r, err)
		return
	}
	if err := pages.Get().ExecuteTemplate(sw, "checks_foot", data); err != nil {
		sw.fail(s, r, err)
		return
	}
	sw.finish(s, r)
}

// chart serves GET and POST /web/checks/svg (parameters as /api/checks,
// plus width and height): the host's chart, from at most one bucket per
// pixel column (see chart.Buckets), remote instances merged in; without
// remote instances, with a line per checker location over ranges up to
// chart.MaxLocationSlots slots (see chartBuckets).
func (s *server) chart(w http.ResponseWriter, r *http.Request) {
	req, err := s.parseRange(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	width, height, err := sizeParams(r)
	if err == nil {
		if e := chart.CheckSize(width, height); e != nil {
			err = badRequest(e.Error())
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	var (
		buckets   []store.Bucket
		locations []chart.LocationSeries
	)
	switch {
	case chart.BucketCount(req.Start, req.End, s.Interval, width) == 0:
		// shorter than an interval: an empty chart, of a real host
		err = s.requireHost(r, req.Host)
	case len(s.RemoteChecksURLs) == 0:
		buckets, locations, err = s.chartBuckets(ctx, req.Host, req.Start, req.End, width)
		err = storeErr(err, req.Host)
	default: // merged as they stream: there are no summaries of the remotes'
		n := chart.BucketCount(req.Start, req.End, s.Interval, width)
		b := store.NewBucketer(req.Start, req.End, n)
		err = s.mergedChecks(ctx, req, func(c store.Check) error { b.Add(c); return nil })
		buckets = b.Buckets()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	err = chart.Render(&buf, chart.Chart{
		Host: probe.MaskSecrets(req.Host), Start: req.Start, End: req.End, Interval: s.Interval,
		Buckets: buckets, Width: width, Height: height, Locations: locations,
	}, s.Chart)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}
