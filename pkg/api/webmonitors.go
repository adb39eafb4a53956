package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// certWarnDays is how close a certificate's expiry is shown as a warning.
const certWarnDays = 14

// monitorFormValues are the fields of the add and edit forms, as typed.
type monitorFormValues struct {
	Host, Name, Group, Conditions, Method, Headers, Body, Timeout, Grace string
	FollowRedirects, InsecureSkipVerify                                  bool
	// StatusHidden is the status setting's checkbox, "hide from the
	// public status page": unchecked (what a form that lacks it sends)
	// leaves the monitor shown.
	StatusHidden bool
}

// formValuesOf fills the form with m's settings (secrets as
// viewMonitor shows them).
func formValuesOf(m monitor.Monitor) monitorFormValues {
	v := monitorFormValues{
		Host: m.Host, Name: m.Name, Group: m.Group, Method: m.Method, Body: m.Body,
		Conditions:         strings.Join(m.Conditions, "\n"),
		Headers:            strings.Join(headerLines(m.Headers), "\n"),
		FollowRedirects:    m.FollowRedirects == nil || *m.FollowRedirects,
		InsecureSkipVerify: m.InsecureSkipVerify,
		StatusHidden:       !m.OnStatusPage(),
	}
	if m.Timeout != 0 {
		v.Timeout = m.Timeout.D().String()
	}
	if m.Grace != 0 {
		v.Grace = m.Grace.D().String()
	}
	return v
}

// headerLines are headers as "Name: value" lines, by name.
func headerLines(h map[string]string) []string {
	lines := make([]string, 0, len(h))
	for k, v := range h {
		lines = append(lines, k+": "+v)
	}
	slices.Sort(lines)
	return lines
}

// readMonitorForm reads the add and edit forms' fields.
func readMonitorForm(f url.Values) monitorFormValues {
	return monitorFormValues{
		Host: strings.TrimSpace(f.Get("host")), Name: strings.TrimSpace(f.Get("name")), Group: strings.TrimSpace(f.Get("group")),
		Conditions: f.Get("conditions"), Method: strings.TrimSpace(f.Get("method")), Headers: f.Get("headers"),
		Body: f.Get("body"), Timeout: strings.TrimSpace(f.Get("timeout")), Grace: strings.TrimSpace(f.Get("grace")),
		FollowRedirects: f.Get("follow_redirects") != "", InsecureSkipVerify: f.Get("insecure_skip_verify") != "",
		StatusHidden: f.Get("status_hidden") != "",
	}
}

// monitor is the monitor the form describes: a 400 naming the field for
// a header line or duration that does not parse (Validate checks the
// rest). Empty lines of the conditions and headers are skipped; follow
// redirects, on by default, is set only for http(s):// monitors when off;
// status only when hidden.
func (v monitorFormValues) monitor() (monitor.Monitor, error) {
	m := monitor.Monitor{Host: v.Host, Settings: monitor.Settings{
		Name: v.Name, Group: v.Group, Method: v.Method, Body: v.Body, InsecureSkipVerify: v.InsecureSkipVerify,
	}}
	if v.StatusHidden {
		m.Status = new(bool)
	}
	for _, line := range strings.Split(v.Conditions, "\n") {
		if c := strings.TrimSpace(line); c != "" {
			m.Conditions = append(m.Conditions, c)
		}
	}
	for i, line := range strings.Split(v.Headers, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return m, badRequest(fmt.Sprintf("headers: line %d is not \"Name: value\"", i+1))
		}
		if m.Headers == nil {
			m.Headers = make(map[string]string)
		}
		m.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	for _, d := range []struct {
		field, text string
		dst         *monitor.Duration
	}{{"timeout", v.Timeout, &m.Timeout}, {"grace", v.Grace, &m.Grace}} {
		if d.text == "" {
			continue
		}
		if secs, err := strconv.ParseFloat(d.text, 64); err == nil {
			d.text = strconv.FormatFloat(secs, 'f', -1, 64) + "s"
		}
		dur, err := time.ParseDuration(d.text)
		if err != nil {
			return m, badRequest(fmt.Sprintf("%s: %q is not a duration (e.g. 10s, 1m30s)", d.field, d.text))
		}
		*d.dst = monitor.Duration(dur)
	}
	if !v.FollowRedirects {
		if t, err := probe.Parse(v.Host); err == nil && t.Kind == probe.KindHTTP {
			m.FollowRedirects = new(bool)
		}
	}
	return m, nil
}

// hostRow is one line of the hosts page.
type hostRow struct {
	// Host is the host masked, for links and to show; Name the display
	// name when the monitor has one.
	Host, Name, Group, State, LastTime, LastRTT, LastReason, Uptime string
	Conditions                                                      []string
	// Cert is the days until the certificate expires ("" when unknown);
	// CertWarn marks an expiry within certWarnDays.
	Cert                     string
	CertWarn, Insecure, Conf bool
}

// certDays says when a certificate expires, in whole days from now, and
// whether that is soon.
func certDays(expiry, now time.Time) (string, bool) {
	if expiry.IsZero() {
		return "", false
	}
	d := expiry.Sub(now)
	days := int64(d / (24 * time.Hour))
	switch {
	case d < 0:
		return "expired", true
	case days == 1:
		return "1 day", days < certWarnDays
	}
	return itoa(days) + " days", days < certWarnDays
}

// hostsData is the hosts page's data.
type hostsData struct {
	Title, Root      string
	Created, Deleted bool
	Hosts            []hostRow
	// Form is the add form's values; Error the reason the last add was
	// refused.
	Form  monitorFormValues
	Error string
}

// hostsPage serves GET /web/hosts: every monitor with its settings, its
// current state, last rtt and reason, uptime over the last 24 hours and
// certificate expiry; and the form to add one.
func (s *server) hostsPage(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data := hostsData{
		Created: q.Get("action") == "created", Deleted: q.Get("action") == "deleted",
		Form: monitorFormValues{FollowRedirects: true},
	}
	s.renderHosts(w, r, http.StatusOK, data)
}

// renderHosts renders the hosts page with data's form and messages.
func (s *server) renderHosts(w http.ResponseWriter, r *http.Request, code int, data hostsData) {
	rows, err := s.hostRows(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data.Title, data.Root, data.Hosts = "Hosts", relRoot(r), rows
	s.render(w, r, code, "hosts", data)
}

// hostRows are the hosts page's lines, by display name (case aside).
func (s *server) hostRows(ctx context.Context) ([]hostRow, error) {
	ms, err := s.Store.Monitors(ctx)
	if err != nil {
		return nil, err
	}
	facts, err := s.factsByHost(ctx)
	if err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	rows := make([]hostRow, 0, len(ms))
	for _, m := range ms {
		row, err := s.hostRow(ctx, m, facts[m.Host], now)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since Monitors was read
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	slices.SortStableFunc(rows, func(a, b hostRow) int {
		return strings.Compare(strings.ToLower(cmp.Or(a.Name, a.Host)), strings.ToLower(cmp.Or(b.Name, b.Host)))
	})
	return rows, nil
}

// hostRow is m's line of the hosts page (and the summary of its own
// page): its settings and facts f, its last check and its uptime over the
// 24 hours before now, checks in maintenance left out. ErrNotFound when m's host has been deleted.
func (s *server) hostRow(ctx context.Context, m monitor.Monitor, f store.Facts, now time.Time) (hostRow, error) {
	h := m.Host
	row := hostRow{
		Host: probe.MaskSecrets(h), Name: m.Name, Group: m.Group, Conditions: m.Conditions,
		State: "unknown", LastTime: "never", LastRTT: "–", Uptime: "–",
		Insecure: m.InsecureSkipVerify, Conf: m.Source == monitor.SourceConfig,
	}
	row.Cert, row.CertWarn = certDays(f.CertExpiry, now)
	c, ok, err := s.Store.LastCheck(ctx, h)
	if err != nil {
		return row, err
	}
	if ok {
		row.State, row.LastTime, row.LastReason = "down", s.formatTime(c.Time), c.Error
		if c.Up {
			row.State, row.LastRTT = "up", formatRTT(c.RTT)
		}
	}
	bs, err := s.Store.Buckets(ctx, h, now.Add(-24*time.Hour), now, 1)
	if err != nil {
		return row, err
	}
	// Uptime leaves maintenance out: up of the checks up or down. A host
	// checked only in maintenance has none.
	switch {
	case len(bs) != 1:
	case bs[0].Up+bs[0].Down > 0:
		row.Uptime = strconv.FormatFloat(100*float64(bs[0].Up)/float64(bs[0].Up+bs[0].Down), 'f', 2, 64) + "%"
	case bs[0].Maintenance > 0:
		row.Uptime = "maintenance"
	}
	return row, nil
}

// monitorData is the monitor page's data.
type monitorData struct {
	Title, Root string
	// Host is the host masked (links, the edit form's key); Monitor its
	// settings as the reader may see them.
	Host    string
	Monitor monitor.Monitor
	Row     hostRow
	// Secrets: the reader may see secrets and so edit; Conf: the config
	// file manages the monitor (read-only).
	Secrets, Conf, Push, Saved bool
	PushURL, LastPush          string
	CertExpiry                 string
	Form                       monitorFormValues
	Error                      string
}

// monitorPage serves GET /web/monitor?host=H: the monitor's settings,
// state and facts, and (unless the config file manages it) the form to
// change it. Secrets (header values, body, push URL) and the form are
// shown only to a reader who may change it (canSeeSecrets); edit
// (GET /web/monitor/edit, under the write guard, which asks for the
// credentials) shows them.
func (s *server) monitorPage(edit bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := queryParams(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if q.Get("host") == "" {
			s.pickPage(w, r, "Monitors")
			return
		}
		m, err := s.storedMonitor(r.Context(), q.Get("host"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		secrets := edit || s.canSeeSecrets(r)
		s.renderMonitor(w, r, http.StatusOK, m, secrets, monitorData{Saved: q.Get("action") == "saved"})
	}
}

// renderMonitor renders m's page; data holds the form (when re-shown
// with an error) and messages.
func (s *server) renderMonitor(w http.ResponseWriter, r *http.Request, code int, m monitor.Monitor, secrets bool, data monitorData) {
	ctx := r.Context()
	facts, err := s.factsByHost(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := facts[m.Host]
	row, err := s.hostRow(ctx, m, f, s.Now().UTC())
	if err != nil && !errors.Is(err, store.ErrNotFound) { // deleted meanwhile: no check to show
		s.fail(w, r, err)
		return
	}
	data.Row = row
	view := viewMonitor(m, secrets)
	data.Title, data.Root, data.Host, data.Monitor = view.DisplayName(), relRoot(r), view.Host, view
	data.Secrets, data.Conf, data.Push = secrets, m.Source == monitor.SourceConfig, isPush(m.Host)
	if mf := factsOf(m, f, secrets); mf.PushURL != "" {
		data.PushURL = mf.PushURL
	}
	if !f.LastPush.IsZero() {
		data.LastPush = s.formatTime(f.LastPush)
	}
	if !f.CertExpiry.IsZero() {
		days, _ := certDays(f.CertExpiry, s.Now())
		data.CertExpiry = s.formatTime(f.CertExpiry) + " (" + days + ")"
	}
	if data.Error == "" {
		data.Form = formValuesOf(view)
	}
	s.render(w, r, code, "monitor", data)
}

// monitorForm serves POST /web/monitor, the add form of the hosts page
// (mode=add: creates, 409 if the host is stored) and the edit form of the
// monitor page (mode=edit: replaces; new_push_token gives a push monitor
// a new token). It validates as PUT /api/monitor does; a monitor that is
// refused re-renders its page with the one-line reason and the values as
// typed; a saved one redirects to its page.
func (s *server) monitorForm(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	v := readMonitorForm(f)
	edit := f.Get("mode") == "edit"
	var old monitor.Monitor
	if edit {
		if old, err = s.storedMonitor(ctx, v.Host); err == nil && old.Source == monitor.SourceConfig {
			err = managedErr(old.Host) // its page has no form
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	m, err := v.monitor()
	if err == nil && edit {
		m.Host = old.Host
		m.PushToken = old.PushToken
		if f.Get("new_push_token") != "" {
			m.PushToken = monitor.NewPushToken()
		}
	}
	if err == nil {
		m, _, err = s.saveMonitor(ctx, m, edit)
	}
	var he *httpError
	switch {
	case err == nil:
		seeOther(w, r, "web/monitor?"+url.Values{"host": {probe.MaskSecrets(m.Host)}, "action": {"saved"}}.Encode())
	case !errors.As(err, &he):
		s.fail(w, r, err)
	case edit:
		s.renderMonitor(w, r, he.code, old, true, monitorData{Form: v, Error: oneLine(he.msg)})
	default:
		s.renderHosts(w, r, he.code, hostsData{Form: v, Error: oneLine(he.msg)})
	}
}
