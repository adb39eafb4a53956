package api

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// The dashboard's states, as the page, its filter and the JSON name them.
const (
	stateUp          = "up"
	stateDown        = "down"
	stateMaintenance = "maintenance"
	stateNoData      = "nodata"
)

// dashStates are the states in the order the state filter lists them.
var dashStates = []string{stateDown, stateUp, stateMaintenance, stateNoData}

const (
	// dashPageRows is how many monitors one page of the dashboard shows:
	// enough for a screenful of groups, few enough that a page of 10,000
	// monitors is small to send, render and refresh.
	dashPageRows = 200
	// dashSparkBuckets is the sparkline's hours.
	dashSparkBuckets = 24
	// DefaultDashboardRefresh is how often the dashboard's script reloads
	// it when the page's ?refresh= does not say.
	DefaultDashboardRefresh = 30 * time.Second
	maxDashboardRefresh     = time.Hour
)

// dashQuery is what the dashboard's parameters ask for.
type dashQuery struct {
	// Text narrows to monitors whose name, host or group contains it,
	// case aside (q=); State to one state (state=, "" for all).
	Text, State string
	Page        int           // page=, from 1
	Refresh     time.Duration // refresh=, seconds; 0 turns the script's reloads off
}

// parseDashQuery reads q=, state=, page= and refresh=: a 400 naming the
// parameter for a bad one.
func parseDashQuery(q url.Values) (dashQuery, error) {
	d := dashQuery{Text: strings.TrimSpace(q.Get("q")), State: q.Get("state"), Page: 1, Refresh: DefaultDashboardRefresh}
	if d.State == "all" {
		d.State = ""
	}
	if d.State != "" && !slices.Contains(dashStates, d.State) {
		return d, badRequest(fmt.Sprintf("state: %q is not one of all, %s", d.State, strings.Join(dashStates, ", ")))
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return d, badRequest(fmt.Sprintf("page: %q is not a page number (1, 2, …)", v))
		}
		d.Page = n
	}
	if v := q.Get("refresh"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxDashboardRefresh {
			return d, badRequest(fmt.Sprintf("refresh: %q is not a number of seconds from 0 (off) to %d", v, int(maxDashboardRefresh/time.Second)))
		}
		d.Refresh = time.Duration(n) * time.Second
	}
	return d, nil
}

// dashMonitor is what the dashboard knows of one monitor while it reads
// the fleet: small and fixed in size, so that 10,000 of them stay under a
// few MB; only a page's rows become dashRows.
type dashMonitor struct {
	host, name, group string
	state             string
	last              time.Time // the last check's slot
	rtt               time.Duration
	since             time.Time // the alert state's Since when it agrees with state
	certExpiry        time.Time
	// up and down count the checks of each uptime period (maintenance
	// left out).
	up, down [4]int64
	// spark is the mean rtt of each hour's up checks, in microseconds;
	// -1 when the hour had none.
	spark [dashSparkBuckets]int32
}

func (m *dashMonitor) displayName() string { return cmp.Or(m.name, m.host) }

// dashRow is one monitor of the dashboard, as the page and GET
// /api/dashboard show it.
type dashRow struct {
	// Host is the host with its secrets masked; Name the display name
	// when the monitor has one.
	Host  string `json:"host"`
	Name  string `json:"name,omitempty"`
	Group string `json:"group,omitempty"`
	// State is up, down, maintenance (the last check was in a
	// maintenance window) or nodata (no check yet).
	State string `json:"state"`
	// Since is when the state began: the alert state's Since
	// (SinceSource "alert") when the host has a rule whose state agrees,
	// else the last check's time (SinceSource "last_check"); absent
	// without a check.
	Since       *time.Time `json:"since,omitempty"`
	SinceSource string     `json:"since_source,omitempty"`
	// RTTMillis is the last check's rtt when it was up.
	RTTMillis *float64 `json:"rtt_ms,omitempty"`
	// Uptime is the percentage of checks up, maintenance left out, over
	// the 24 h, 7 d, 30 d and 365 d before now; null without checks.
	Uptime map[string]*float64 `json:"uptime"`
	// Latency24h is the mean rtt (ms) of each of the last 24 hours' up
	// checks, oldest first; null for an hour without.
	Latency24h []*float64 `json:"latency_24h"`
	// CertDays is the whole days until the certificate expires (negative:
	// expired); absent when unknown.
	CertDays *int64 `json:"cert_days,omitempty"`

	// For the page only: not in the JSON.
	DisplayName string     `json:"-"`
	SinceText   string     `json:"-"`
	RTTText     string     `json:"-"`
	CertText    string     `json:"-"`
	CertWarn    bool       `json:"-"`
	UptimeTexts []string   `json:"-"`
	Spark       *sparkline `json:"-"`
}

// dashCounts counts monitors by state.
type dashCounts struct {
	Up          int `json:"up"`
	Down        int `json:"down"`
	Maintenance int `json:"maintenance"`
	NoData      int `json:"nodata"`
}

func (c *dashCounts) add(state string) {
	switch state {
	case stateUp:
		c.Up++
	case stateDown:
		c.Down++
	case stateMaintenance:
		c.Maintenance++
	default:
		c.NoData++
	}
}

// dashPage is one page of the dashboard: GET /api/dashboard's JSON and
// the page's data.
type dashPage struct {
	Generated time.Time `json:"generated"`
	// Total is the monitors the filter kept (all pages); Counts every
	// monitor's state, whatever the filter.
	Total   int        `json:"total"`
	Counts  dashCounts `json:"counts"`
	Page    int        `json:"page"`
	Pages   int        `json:"pages"`
	PerPage int        `json:"per_page"`
	Rows    []dashRow  `json:"rows"`
}

// dashboardPage reads the whole fleet's state (the monitors, their last
// checks with store.FleetReader, facts and alert states: a constant number
// of reads whatever the fleet's size) and returns the page q asks for:
// down monitors first, then by group (ungrouped last) and display name,
// case aside. Every monitor's state is read because the order needs them
// all, but only the page's monitors' uptimes and sparklines (dashUptimes),
// and only the page's rows are built: what it holds besides the page is a
// small fixed-size dashMonitor each.
func (s *server) dashboardPage(ctx context.Context, q dashQuery) (dashPage, error) {
	now := s.Now().UTC()
	// The four reads are independent: at once, so that a store across a
	// network (PostgreSQL) answers them in the time of the longest.
	var (
		wg                          sync.WaitGroup
		ms                          []monitor.Monitor
		last                        map[string]store.Check
		states                      []store.State
		facts                       []store.Facts
		msErr, lastErr, stErr, fErr error
	)
	wg.Go(func() {
		last = map[string]store.Check{}
		lastErr = s.Store.LastChecks(ctx, func(host string, c store.Check) error {
			last[host] = c
			return nil
		})
	})
	wg.Go(func() { states, stErr = s.Store.States(ctx) })
	wg.Go(func() { facts, fErr = s.Store.Facts(ctx) })
	ms, msErr = s.Store.Monitors(ctx)
	wg.Wait()
	if err := cmp.Or(msErr, lastErr, stErr, fErr); err != nil {
		return dashPage{}, err
	}
	mons := make([]dashMonitor, len(ms))
	byHost := make(map[string]*dashMonitor, len(ms))
	for i, m := range ms {
		mons[i] = dashMonitor{host: m.Host, name: m.Name, group: m.Group, state: stateNoData}
		for j := range mons[i].spark {
			mons[i].spark[j] = -1
		}
		byHost[m.Host] = &mons[i]
		c, ok := last[m.Host]
		if !ok {
			continue
		}
		mons[i].last, mons[i].rtt = c.Time, c.RTT
		switch {
		case c.Maintenance:
			mons[i].state = stateMaintenance
		case c.Up:
			mons[i].state = stateUp
		default:
			mons[i].state = stateDown
		}
	}
	for _, st := range states {
		if m := byHost[st.Host]; m != nil && st.Status == m.state && !st.Since.IsZero() {
			m.since = st.Since
		}
	}
	for _, f := range facts {
		if m := byHost[f.Host]; m != nil {
			m.certExpiry = f.CertExpiry
		}
	}
	page := dashPage{Generated: now, Page: q.Page, PerPage: dashPageRows}
	text := strings.ToLower(q.Text)
	kept := make([]*dashMonitor, 0, len(mons))
	for i := range mons {
		m := &mons[i]
		page.Counts.add(m.state)
		if q.State != "" && m.state != q.State {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(m.name), text) &&
			!strings.Contains(strings.ToLower(probe.MaskSecrets(m.host)), text) &&
			!strings.Contains(strings.ToLower(m.group), text) {
			continue
		}
		kept = append(kept, m)
	}
	slices.SortFunc(kept, compareDash)
	page.Total = len(kept)
	page.Pages = max(1, (len(kept)+dashPageRows-1)/dashPageRows)
	page.Page = min(page.Page, page.Pages)
	from := (page.Page - 1) * dashPageRows
	kept = kept[from:min(from+dashPageRows, len(kept))]
	if err := s.dashUptimes(ctx, kept, now); err != nil {
		return dashPage{}, err
	}
	page.Rows = make([]dashRow, len(kept))
	for i, m := range kept {
		page.Rows[i] = s.dashRowOf(m, now)
	}
	return page, nil
}

// dashUptimes reads the uptimes and sparklines of a page's monitors, in
// one fleet pass of their hosts only: the buckets from each period's
// start (periodBounds) to the 24 hours before the current one's, then the
// hours of the sparkline, the last the current one.
func (s *server) dashUptimes(ctx context.Context, page []*dashMonitor, now time.Time) error {
	byHost := make(map[string]*dashMonitor, len(page))
	hosts := make([]string, len(page))
	for i, m := range page {
		byHost[m.host], hosts[i] = m, m.host
	}
	bounds := periodBounds(now)
	first := bounds[len(bounds)-1] // the 24 hours', an hour before the sparkline's
	for h := 1; h <= dashSparkBuckets+1; h++ {
		bounds = append(bounds, first.Add(time.Duration(h)*time.Hour))
	}
	spark := len(bounds) - 1 - dashSparkBuckets // the sparkline's first bucket
	return s.Store.BucketsAll(ctx, store.BucketQuery{Hosts: hosts, Bounds: bounds}, func(host string, bs []store.Bucket) error {
		m := byHost[host]
		if m == nil {
			return nil
		}
		for i := range uptimePeriods {
			for _, b := range bs[periodBucket(i):] {
				m.up[i] += b.Up
				m.down[i] += b.Down
			}
		}
		for j, b := range bs[spark:] {
			if b.Up > 0 {
				m.spark[j] = int32(min(b.MeanRTT/time.Microsecond, math.MaxInt32))
			}
		}
		return nil
	})
}

// compareDash orders the dashboard: down first, then by group (the
// ungrouped last), display name and host, case aside.
func compareDash(a, b *dashMonitor) int {
	if ad, bd := a.state == stateDown, b.state == stateDown; ad != bd {
		if ad {
			return -1
		}
		return 1
	}
	if (a.group == "") != (b.group == "") {
		if a.group == "" {
			return 1
		}
		return -1
	}
	return cmp.Or(
		strings.Compare(strings.ToLower(a.group), strings.ToLower(b.group)),
		strings.Compare(strings.ToLower(a.displayName()), strings.ToLower(b.displayName())),
		strings.Compare(a.host, b.host))
}

// dashRowOf is m's row as shown.
func (s *server) dashRowOf(m *dashMonitor, now time.Time) dashRow {
	masked := probe.MaskSecrets(m.host)
	r := dashRow{
		Host: masked, Name: m.name, Group: m.group, State: m.state,
		DisplayName: cmp.Or(m.name, masked), SinceText: "–", RTTText: "–",
		Uptime: make(map[string]*float64, len(uptimePeriods)),
	}
	switch {
	case !m.since.IsZero():
		t := m.since.UTC()
		r.Since, r.SinceSource = &t, "alert"
	case !m.last.IsZero():
		t := m.last.UTC()
		r.Since, r.SinceSource = &t, "last_check"
	}
	if r.Since != nil {
		r.SinceText = s.formatTime(*r.Since)
	}
	if m.state == stateUp {
		ms := float64(m.rtt) / float64(time.Millisecond)
		r.RTTMillis, r.RTTText = &ms, formatRTT(m.rtt)
	}
	for i, p := range uptimePeriods {
		text := "–"
		if total := m.up[i] + m.down[i]; total > 0 {
			pct := 100 * float64(m.up[i]) / float64(total)
			r.Uptime[p.name] = &pct
			text = strconv.FormatFloat(pct, 'f', 2, 64) + "%"
		} else {
			r.Uptime[p.name] = nil
		}
		r.UptimeTexts = append(r.UptimeTexts, text)
	}
	r.Latency24h = make([]*float64, dashSparkBuckets)
	for i, us := range m.spark {
		if us >= 0 {
			ms := float64(us) / 1000
			r.Latency24h[i] = &ms
		}
	}
	r.Spark = sparklineOf(r.Latency24h)
	if !m.certExpiry.IsZero() {
		days := int64(m.certExpiry.Sub(now) / (24 * time.Hour))
		r.CertDays = &days
		r.CertText, r.CertWarn = certDays(m.certExpiry, now)
	}
	return r
}

// Sparkline size, in the SVG's user units (CSS pixels).
const sparkWidth, sparkHeight = 96, 20

// sparkline is a row's inline SVG latency line.
type sparkline struct {
	// Lines are polyline point lists: one per run of hours with checks
	// up (an hour without is a gap).
	Lines []string
	// Label says what it shows in words, for screen readers and the
	// tooltip.
	Label string
}

// sparklineOf draws 24 hourly means (nil: no up check that hour); nil
// when there is none.
func sparklineOf(ms []*float64) *sparkline {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range ms {
		if v != nil {
			lo, hi = min(lo, *v), max(hi, *v)
		}
	}
	if math.IsInf(lo, 1) {
		return nil
	}
	span := hi - lo
	step := float64(sparkWidth-2) / float64(len(ms)-1)
	point := func(b []byte, x, y float64) []byte {
		b = strconv.AppendFloat(b, x, 'f', 1, 64)
		b = append(b, ',')
		return strconv.AppendFloat(b, y, 'f', 1, 64)
	}
	var sp sparkline
	for i := 0; i < len(ms); {
		if ms[i] == nil {
			i++
			continue
		}
		var line []byte
		first := i
		for ; i < len(ms) && ms[i] != nil; i++ {
			y := float64(sparkHeight) / 2
			if span > 0 {
				y = 1 + (sparkHeight-2)*(1-(*ms[i]-lo)/span)
			}
			if len(line) > 0 {
				line = append(line, ' ')
			}
			line = point(line, 1+step*float64(i), y)
			if i == first && (i+1 == len(ms) || ms[i+1] == nil) {
				// a lone hour: a short dash rather than an invisible line
				line = append(line, ' ')
				line = point(line, 2+step*float64(i), y)
			}
		}
		sp.Lines = append(sp.Lines, string(line))
	}
	sp.Label = fmt.Sprintf("latency over 24 h: %s to %s ms", strconv.FormatFloat(lo, 'f', 1, 64), strconv.FormatFloat(hi, 'f', 1, 64))
	return &sp
}

// dashSection is a folding section of the page: the down monitors, then
// each group's.
type dashSection struct {
	ID, Title string
	Down      bool
	Rows      []dashRow
}

// sectionsOf splits a page's rows (in dashboard order) into sections.
func sectionsOf(rows []dashRow) []dashSection {
	var out []dashSection
	for _, r := range rows {
		id, title := "group-"+idOf(r.Group), r.Group
		if r.Group == "" {
			id, title = "nogroup", "No group"
		}
		if r.State == stateDown {
			id, title = "down", "Down"
		}
		if len(out) == 0 || out[len(out)-1].ID != id {
			out = append(out, dashSection{ID: id, Title: title, Down: r.State == stateDown})
		}
		out[len(out)-1].Rows = append(out[len(out)-1].Rows, r)
	}
	return out
}

// idOf makes a group's name an HTML id: letters, digits, '-' kept, any
// other byte as '_' and its two hex digits, so that two groups never
// share one (the script keeps a folded section folded by its id).
func idOf(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}

// stateOption is an entry of the state filter.
type stateOption struct {
	Value, Label string
	Selected     bool
}

// dashboardData is the index page's data.
type dashboardData struct {
	dashPage
	Title, Root            string
	Query                  dashQuery
	RefreshSeconds         int
	CustomRefresh          bool     // refresh= is not the default: the filter form keeps it
	UptimeLabels           []string // the uptime columns' periods, for people
	Sections               []dashSection
	StateOptions           []stateOption
	PrevURL, NextURL, Self template.URL
	// The single check form (index), when enabled.
	SingleChecks bool
	Host, Error  string
	Result       *singleResult
}

// singleResult is the single check form's answer.
type singleResult struct {
	Up         bool
	RTT, Error string
}

// dashboardURL is the page's own URL (relative to the root) with q and
// page.
func dashboardURL(root string, q dashQuery, page int) template.URL {
	v := url.Values{}
	if q.Text != "" {
		v.Set("q", q.Text)
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Refresh != DefaultDashboardRefresh {
		v.Set("refresh", itoa(int64(q.Refresh/time.Second)))
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return template.URL(root)
	}
	return template.URL(root + "?" + v.Encode())
}

// dashboardJSON serves GET /api/dashboard?q=&state=&page=: one page of
// the dashboard's rows, as the page at / shows them.
func (s *server) dashboardJSON(w http.ResponseWriter, r *http.Request) {
	qv, err := queryParams(r)
	var q dashQuery
	if err == nil {
		q, err = parseDashQuery(qv)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.dashboardPage(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, page)
}
