package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// outboxRows is how many of the newest deliveries the notifications page
// shows.
const outboxRows = 50

// ruleRow is one rule as the notifications page shows it: channels
// masked, with its host's alert state.
type ruleRow struct {
	store.Rule
	Name         string // the monitor's name, or ""
	Channels     []string
	State        string // "up", "down", or "" before the first verdict
	Since        string
	Told         string // the state the channels were last told, when it differs
	NextReminder string
	Certificate  string // the last certificate alert: "14 days before 2027-01-02"
}

// deliveryRow is one delivery as the page's outbox shows it: where it
// goes masked.
type deliveryRow struct {
	ID                          int64
	Host, Name, To, Event       string // Name: the monitor's, or the host masked
	Status                      string
	Created, NextAttempt, Error string
	Attempts                    int64
}

// locationRow is one checker location and whether it still counts.
type locationRow struct {
	Name, LastSlot string
	Active         bool
}

// rulesPageData is what the notifications page shows.
type rulesPageData struct {
	Title, Root      string
	Created, Deleted bool
	Monitors         []monitor.Monitor
	Rules            []ruleRow
	Edit             ruleForm
	Tested           string              // the host whose rule was tested
	TestResults      []notify.TestResult // its outcomes
	Outbox           []deliveryRow
	Locations        []locationRow
	Placeholders     []string
}

// ruleForm is the page's form, filled in to edit a rule.
type ruleForm struct {
	Host, Action, Channels, Message, Quorum, RemindEvery string
	Threshold, RecoveryThreshold, Window, CertExpiryDays int64
	Editing                                              bool
}

// rulesPage serves GET /web/notifications_params: a form to add or change
// a rule (every field; ?host=H fills it in with H's), the rules with each
// host's alert state, the outbox and the checker locations.
func (s *server) rulesPage(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.rulesPageData(r.Context(), q.Get("host"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Root = relRoot(r)
	d.Created, d.Deleted = q.Get("action") == "created", q.Get("action") == "deleted"
	s.render(w, r, http.StatusOK, "rules", d)
}

// rulesPageData reads what the page shows; edit names the rule to fill
// the form with ("" for none).
func (s *server) rulesPageData(ctx context.Context, edit string) (rulesPageData, error) {
	d := rulesPageData{Title: "Notifications", Placeholders: notify.Placeholders}
	rules, err := s.Store.Rules(ctx)
	if err != nil {
		return d, err
	}
	if d.Monitors, err = s.Store.Monitors(ctx); err != nil {
		return d, err
	}
	states, err := s.Store.States(ctx)
	if err != nil {
		return d, err
	}
	deliveries, err := s.Store.Deliveries(ctx, "", outboxRows)
	if err != nil {
		return d, err
	}
	locations, err := s.Store.Locations(ctx)
	if err != nil {
		return d, err
	}
	tz := s.Chart.TimeZone
	text := s.formatTimeIfSet
	names := namesOf(d.Monitors)
	stateOf := make(map[string]store.State, len(states))
	for _, st := range states {
		stateOf[st.Host] = st
	}
	for _, rl := range rules {
		st := stateOf[rl.Host]
		row := ruleRow{Rule: rl, Name: names[rl.Host], Channels: maskChannels(rl.Channels),
			State: st.Status, Since: text(st.Since), NextReminder: text(st.NextReminder)}
		if st.Notified != "" && st.Notified != st.Status {
			row.Told = st.Notified
		}
		if st.CertDays > 0 {
			row.Certificate = fmt.Sprintf("%d days before %s", st.CertDays, st.CertExpiry.In(tz).Format(time.DateOnly))
		}
		d.Rules = append(d.Rules, row)
		if rl.Host == edit {
			d.Edit = formOfRule(rl)
		}
	}
	if edit != "" && !d.Edit.Editing {
		d.Edit.Host = edit // a new rule for it
	}
	for _, dl := range deliveries {
		to := notify.RedactURL(dl.URL)
		if dl.Channel != "" {
			to = notify.RedactChannel(dl.Channel)
		}
		d.Outbox = append(d.Outbox, deliveryRow{ID: dl.ID, Host: dl.Host, Name: cmp.Or(names[dl.Host], probe.MaskSecrets(dl.Host)), To: to, Event: cmp.Or(dl.Event, "change"),
			Status: dl.Status, Created: text(dl.Created), NextAttempt: text(dl.NextAttempt),
			Error: dl.LastError, Attempts: dl.Attempts})
	}
	newest := time.Time{}
	for _, l := range locations {
		if l.LastSlot.After(newest) {
			newest = l.LastSlot
		}
	}
	for _, l := range locations {
		d.Locations = append(d.Locations, locationRow{Name: cmp.Or(l.Name, "(default)"), LastSlot: text(l.LastSlot),
			Active: !l.LastSlot.Before(newest.Add(-s.locationTimeout()))})
	}
	return d, nil
}

// locationTimeout is Options.LocationTimeout or notify's default.
func (s *server) locationTimeout() time.Duration {
	return cmp.Or(s.LocationTimeout, notify.DefaultLocationTimeout)
}

func formOfRule(rl store.Rule) ruleForm {
	f := ruleForm{Host: rl.Host, Action: rl.Action, Channels: strings.Join(maskChannels(rl.Channels), "\n"),
		Message: rl.Message, Quorum: string(rl.Quorum), Threshold: rl.Threshold,
		RecoveryThreshold: rl.RecoveryThreshold, Window: rl.Window, CertExpiryDays: rl.CertExpiryDays, Editing: true}
	if rl.RemindEvery != 0 {
		f.RemindEvery = rl.RemindEvery.D().String()
	}
	return f
}

// rulesForm serves POST /web/notifications_params: action=add (host,
// threshold, state_action: gosrvmon's form, which leaves srvmon's fields
// as stored; with full=1, the page's form, which sets every field),
// action=del (host), or action=test (host: sends a test message through
// the host's stored rule and shows the outcomes). add and del redirect
// back to the page.
func (s *server) rulesForm(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	host := strings.TrimSpace(f.Get("host"))
	if f.Get("action") == "test" {
		s.rulesFormTest(w, r, host)
		return
	}
	add := func(ctx context.Context) error {
		rule, err := s.Store.Rule(ctx, host)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		rule.Host = host
		if err := ruleOfForm(f, &rule); err != nil {
			return err
		}
		return s.setRule(ctx, rule)
	}
	del := func(ctx context.Context) error { return s.deleteRule(ctx, host) }
	s.runAction(w, r, f.Get("action"), "web/notifications_params", add, del)
}

// ruleOfForm reads the form into rule: gosrvmon's fields always, and
// srvmon's when the form is the page's own (full=1).
func ruleOfForm(f url.Values, rule *store.Rule) error {
	num := func(field string, to *int64) error {
		v := strings.TrimSpace(f.Get(field))
		if v == "" {
			*to = 0
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return badRequest(fmt.Sprintf("%s %q is not a whole number", field, f.Get(field)))
		}
		*to = n
		return nil
	}
	if err := num("threshold", &rule.Threshold); err != nil {
		return err
	}
	if strings.TrimSpace(f.Get("threshold")) == "" {
		return badRequest(`threshold "" is not a whole number`)
	}
	rule.Action = f.Get("state_action")
	if f.Get("full") != "1" {
		return nil // gosrvmon's form: srvmon's fields stay as stored
	}
	for _, p := range []struct {
		field string
		to    *int64
	}{{"recovery_threshold", &rule.RecoveryThreshold}, {"window", &rule.Window}, {"cert_expiry_days", &rule.CertExpiryDays}} {
		if err := num(p.field, p.to); err != nil {
			return err
		}
	}
	rule.Channels = nil
	for _, c := range strings.Split(f.Get("channels"), "\n") {
		if c = strings.TrimSpace(c); c != "" {
			rule.Channels = append(rule.Channels, c)
		}
	}
	rule.Message = strings.TrimSpace(strings.ReplaceAll(f.Get("message"), "\r\n", "\n"))
	rule.Quorum = store.Quorum(strings.TrimSpace(f.Get("quorum")))
	rule.RemindEvery = 0
	if v := strings.TrimSpace(f.Get("remind_every")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return badRequest(fmt.Sprintf("remind_every: %q is not a duration (e.g. 4h, 30m)", v))
		}
		rule.RemindEvery = monitor.Duration(d)
	}
	return nil
}

// rulesFormTest sends a test message through host's stored rule and
// shows the page with the outcomes.
func (s *server) rulesFormTest(w http.ResponseWriter, r *http.Request, host string) {
	rule, err := s.testRule(r.Context(), store.Rule{Host: host})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	results := s.sendTest(r.Context(), rule)
	d, err := s.rulesPageData(r.Context(), "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Root = relRoot(r)
	d.Tested, d.TestResults = host, results
	s.render(w, r, http.StatusOK, "rules", d)
}
