package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// maintenanceView is a window as the API shows it: as stored, with
// whether it is active now (and until when) and when it next starts.
type maintenanceView struct {
	monitor.Maintenance
	Active bool      `json:"active"`
	Until  time.Time `json:"until,omitzero"`
	Next   time.Time `json:"next,omitzero"`
}

func viewMaintenance(w monitor.Maintenance, now time.Time) maintenanceView {
	v := maintenanceView{Maintenance: w}
	v.Until, v.Active = w.Active(now)
	if !v.Active {
		v.Until = time.Time{}
	}
	v.Next, _ = w.Next(now)
	return v
}

// maintenanceList serves GET /api/maintenance: every window, by ID.
func (s *server) maintenanceList(w http.ResponseWriter, r *http.Request) {
	ws, err := s.Store.Maintenances(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.Now()
	views := make([]maintenanceView, len(ws))
	for i, m := range ws {
		views[i] = viewMaintenance(m, now)
	}
	writeJSON(w, http.StatusOK, views)
}

// maintenanceAdd serves POST /api/maintenance: the body is a window
// without an ID; 201 with the window as stored.
func (s *server) maintenanceAdd(w http.ResponseWriter, r *http.Request) {
	m, err := decodeMaintenance(w, r)
	if err == nil && m.ID != 0 {
		err = badRequest("id: set by srvmon; to change window N, PUT /api/maintenance?id=N")
	}
	if err == nil {
		m, err = s.saveMaintenance(r.Context(), m)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewMaintenance(m, s.Now()))
}

// maintenancePut serves PUT /api/maintenance?id=N: the body replaces
// window N (an id in the body must be N); 404 if there is none.
func (s *server) maintenancePut(w http.ResponseWriter, r *http.Request) {
	id, err := maintenanceID(r)
	var m monitor.Maintenance
	if err == nil {
		m, err = decodeMaintenance(w, r)
	}
	if err == nil && m.ID != 0 && m.ID != id {
		err = badRequest(fmt.Sprintf("id: the body's %d is not the query's %d", m.ID, id))
	}
	if err == nil {
		m.ID = id
		m, err = s.saveMaintenance(r.Context(), m)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewMaintenance(m, s.Now()))
}

// maintenanceDelete serves DELETE /api/maintenance?id=N; 404 if there is
// no window N.
func (s *server) maintenanceDelete(w http.ResponseWriter, r *http.Request) {
	id, err := maintenanceID(r)
	if err == nil {
		err = s.deleteMaintenance(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// maintenanceID reads the query's id: a positive whole number.
func maintenanceID(r *http.Request) (int64, error) {
	q, err := queryParams(r)
	if err != nil {
		return 0, err
	}
	return parseMaintenanceID(q.Get("id"))
}

func parseMaintenanceID(s string) (int64, error) {
	if s == "" {
		return 0, badRequest("missing id parameter")
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest(fmt.Sprintf("id %q is not a maintenance window's id", s))
	}
	return id, nil
}

// decodeMaintenance reads a window's JSON body strictly: an unknown field
// is a 400 naming it. The read-only fields a list shows (active, until,
// next) are ignored, so that a window read from the API can be sent back.
func decodeMaintenance(w http.ResponseWriter, r *http.Request) (monitor.Maintenance, error) {
	b, err := io.ReadAll(requestBody(w, r, smallBodyBytes, nil))
	if err != nil {
		return monitor.Maintenance{}, bodyError(fmt.Errorf("bad JSON body: %w", err))
	}
	if err := checkJSONDepth(b, maxJSONDepth); err != nil {
		return monitor.Maintenance{}, err
	}
	var v struct {
		monitor.Maintenance
		Active *bool     `json:"active"`
		Until  time.Time `json:"until"`
		Next   time.Time `json:"next"`
	}
	if err := strictUnmarshal(b, &v); err != nil {
		return monitor.Maintenance{}, badRequest("bad JSON body: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	return v.Maintenance, nil
}

// saveMaintenance validates a window (monitor.ValidateMaintenance, and
// every host stored) and stores it: new when its ID is zero, else in
// place of that window (404 if there is none).
func (s *server) saveMaintenance(ctx context.Context, m monitor.Maintenance) (monitor.Maintenance, error) {
	if err := monitor.ValidateMaintenance(m); err != nil {
		return m, badRequest(err.Error())
	}
	for i, h := range m.Hosts {
		host, err := s.resolveHost(ctx, h)
		if err != nil {
			return m, err
		}
		switch ok, err := s.Store.HostExists(ctx, host); {
		case err != nil:
			return m, err
		case !ok:
			return m, badRequest(fmt.Sprintf("hosts[%d]: %q is not a stored host", i, h))
		}
		m.Hosts[i] = host
	}
	id, err := s.Store.PutMaintenance(ctx, m)
	if errors.Is(err, store.ErrNotFound) {
		return m, &httpError{http.StatusNotFound, fmt.Sprintf("no maintenance window %d", m.ID)}
	}
	m.ID = id
	return m, err
}

// deleteMaintenance deletes window id: 404 if there is none.
func (s *server) deleteMaintenance(ctx context.Context, id int64) error {
	err := s.Store.DeleteMaintenance(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return &httpError{http.StatusNotFound, fmt.Sprintf("no maintenance window %d", id)}
	}
	return err
}

// maintenancePage serves GET /web/maintenance: the windows, a form to add
// one or (with ?id=N) change window N, and a button to delete each.
func (s *server) maintenancePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q, err := queryParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ws, err := s.Store.Maintenances(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	monitors, err := s.Store.Monitors(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tz := s.Chart.TimeZone
	now := s.Now()
	var edit maintenanceForm
	if id := q.Get("id"); id != "" {
		n, err := parseMaintenanceID(id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		i := slices.IndexFunc(ws, func(m monitor.Maintenance) bool { return m.ID == n })
		if i < 0 {
			s.fail(w, r, &httpError{http.StatusNotFound, fmt.Sprintf("no maintenance window %d", n)})
			return
		}
		edit = formOfMaintenance(ws[i], tz)
	} else {
		// A new window: the next full hour, for an hour.
		start := now.In(tz).Truncate(time.Hour).Add(time.Hour)
		edit.Start, edit.End = start.Format(datetimeLocal), start.Add(time.Hour).Format(datetimeLocal)
	}
	var groups []string
	for _, m := range monitors {
		if m.Group != "" && !slices.Contains(groups, m.Group) {
			groups = append(groups, m.Group)
		}
	}
	slices.Sort(groups)
	rows := make([]maintenanceRow, len(ws))
	for i, m := range ws {
		rows[i] = s.rowOfMaintenance(viewMaintenance(m, now))
	}
	s.render(w, r, http.StatusOK, "maintenance", struct {
		Title, Root      string
		Created, Deleted bool
		TimeZone         string
		Monitors         []monitor.Monitor
		Groups           []string
		Windows          []maintenanceRow
		Edit             maintenanceForm
	}{"Maintenance", relRoot(r), q.Get("action") == "created", q.Get("action") == "deleted",
		tz.String(), monitors, groups, rows, edit})
}

// maintenanceRow is a window as the page's table shows it, its times
// written in the chart's time zone.
type maintenanceRow struct {
	maintenanceView
	StartText, EndText, UntilText, NextText string
}

func (s *server) rowOfMaintenance(v maintenanceView) maintenanceRow {
	text := s.formatTimeIfSet
	return maintenanceRow{v, text(v.Start), text(v.End), text(v.Until), text(v.Next)}
}

// maintenanceForm is a window as the page's form shows it.
type maintenanceForm struct {
	ID                                         int64
	Selected                                   map[string]bool // the hosts named
	Groups, Start, End, Cron, Reason, Duration string
	Recurring                                  bool
}

func formOfMaintenance(m monitor.Maintenance, tz *time.Location) maintenanceForm {
	f := maintenanceForm{ID: m.ID, Selected: map[string]bool{}, Groups: strings.Join(m.Groups, ", "),
		Cron: m.Cron, Reason: m.Reason, Recurring: m.Cron != ""}
	for _, h := range m.Hosts {
		f.Selected[h] = true
	}
	if !m.Start.IsZero() {
		f.Start, f.End = m.Start.In(tz).Format(datetimeLocal), m.End.In(tz).Format(datetimeLocal)
	}
	if m.Duration != 0 {
		f.Duration = m.Duration.D().String()
	}
	return f
}

// maintenanceForm serves POST /web/maintenance: action=add (a new window,
// or window id when id is set) with hosts (repeated), groups (comma
// separated), kind (once: start and end in the chart's time zone;
// recurring: cron and duration) and reason; or action=del with id. It
// redirects back to the page.
func (s *server) maintenanceFormPost(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	add := func(ctx context.Context) error {
		m, err := s.maintenanceOfForm(f)
		if err != nil {
			return err
		}
		_, err = s.saveMaintenance(ctx, m)
		return err
	}
	del := func(ctx context.Context) error {
		id, err := parseMaintenanceID(f.Get("id"))
		if err != nil {
			return err
		}
		return s.deleteMaintenance(ctx, id)
	}
	s.runAction(w, r, f.Get("action"), "web/maintenance", add, del)
}

// maintenanceOfForm reads the page's form; its times are datetime-local
// values in the chart's time zone (parseTime).
func (s *server) maintenanceOfForm(f url.Values) (monitor.Maintenance, error) {
	m := monitor.Maintenance{Reason: strings.TrimSpace(f.Get("reason"))}
	if id := f.Get("id"); id != "" {
		n, err := parseMaintenanceID(id)
		if err != nil {
			return m, err
		}
		m.ID = n
	}
	for _, h := range f["hosts"] {
		if h = strings.TrimSpace(h); h != "" {
			m.Hosts = append(m.Hosts, h)
		}
	}
	for _, g := range strings.Split(f.Get("groups"), ",") {
		if g = strings.TrimSpace(g); g != "" {
			m.Groups = append(m.Groups, g)
		}
	}
	switch f.Get("kind") {
	case "recurring":
		m.Cron = strings.TrimSpace(f.Get("cron"))
		d, err := time.ParseDuration(strings.TrimSpace(f.Get("duration")))
		if err != nil {
			return m, badRequest(fmt.Sprintf("duration: %q is not a duration (e.g. 2h, 30m)", f.Get("duration")))
		}
		m.Duration = monitor.Duration(d)
	case "once", "":
		for _, p := range []struct {
			field string
			to    *time.Time
		}{{"start", &m.Start}, {"end", &m.End}} {
			t, err := s.parseTime(p.field, strings.TrimSpace(f.Get(p.field)))
			if err != nil {
				return m, badRequest(fmt.Sprintf("%s: %q is not a date and time (%s)", p.field, f.Get(p.field), datetimeLocal))
			}
			*p.to = t
		}
	default:
		return m, badRequest(fmt.Sprintf("kind %q: use once or recurring", f.Get("kind")))
	}
	return m, nil
}
