package monitor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/srvmon/srvmon/pkg/probe"
)

// Maintenance is a maintenance window: while it is active, the monitors
// it covers are still checked, but their results are stored marked as in
// maintenance (left out of uptime, drawn in their own colour) and no
// alert is sent for them; a change that is still true when the window
// ends is sent then.
//
// A window is one-off (Start and End) or recurring (Cron, a robfig/cron
// schedule in the standard five fields or a descriptor such as "@weekly",
// with an optional "CRON_TZ=Zone " prefix (UTC without one), and Duration: each activation
// lasts Duration). "@every" is refused: it fires at intervals from
// whenever it is read, not at times of its own, so it cannot say whether
// a given time is in a window. It covers the monitors named in Hosts, those whose
// group is in Groups, or every monitor when both are empty.
type Maintenance struct {
	// ID is assigned by the store; zero for a window not stored yet.
	ID       int64     `json:"id"`
	Hosts    []string  `json:"hosts,omitempty"`
	Groups   []string  `json:"groups,omitempty"`
	Start    time.Time `json:"start,omitzero"`
	End      time.Time `json:"end,omitzero"`
	Cron     string    `json:"cron,omitempty"`
	Duration Duration  `json:"duration,omitzero"`
	Reason   string    `json:"reason,omitempty"`
}

// Limits of a maintenance window.
const (
	MaxMaintenanceHosts  = 10000
	MaxMaintenanceGroups = 100
	MaxReasonLen         = 512
	MaxCronLen           = 128
	// MaxMaintenanceDuration bounds a recurring window's Duration (and
	// how far back Active looks for the activation that covers a time).
	MaxMaintenanceDuration = 31 * 24 * time.Hour
)

// cronParser reads the standard five fields and the descriptors, as the
// standalone's schedule does.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ValidateMaintenance reports the first invalid field of w as a
// *FieldError naming it.
func ValidateMaintenance(w Maintenance) error {
	if w.ID < 0 {
		return fieldErr("id", "%d is negative", w.ID)
	}
	if len(w.Hosts) > MaxMaintenanceHosts {
		return fieldErr("hosts", "%d hosts, more than %d", len(w.Hosts), MaxMaintenanceHosts)
	}
	for i, h := range w.Hosts {
		if err := checkText(fmt.Sprintf("hosts[%d]", i), h, probe.MaxTargetLen); err != nil {
			return err
		}
		if h == "" {
			return fieldErr(fmt.Sprintf("hosts[%d]", i), "empty")
		}
	}
	if len(w.Groups) > MaxMaintenanceGroups {
		return fieldErr("groups", "%d groups, more than %d", len(w.Groups), MaxMaintenanceGroups)
	}
	for i, g := range w.Groups {
		if err := checkText(fmt.Sprintf("groups[%d]", i), g, MaxGroupLen); err != nil {
			return err
		}
		if g == "" {
			return fieldErr(fmt.Sprintf("groups[%d]", i), "empty")
		}
	}
	if err := checkText("reason", w.Reason, MaxReasonLen); err != nil {
		return err
	}
	switch {
	case w.Cron == "" && w.Start.IsZero():
		return fieldErr("start", "give start and end, or cron and duration")
	case w.Cron == "" && w.End.IsZero():
		return fieldErr("end", "give start and end, or cron and duration")
	case w.Cron == "" && w.Duration != 0:
		return fieldErr("duration", "only for a recurring window (cron)")
	case w.Cron == "" && !w.End.After(w.Start):
		return fieldErr("end", "%s is not after start %s", w.End.Format(time.RFC3339), w.Start.Format(time.RFC3339))
	case w.Cron != "" && (!w.Start.IsZero() || !w.End.IsZero()):
		return fieldErr("cron", "a recurring window has a duration, not start and end")
	case w.Cron != "" && len(w.Cron) > MaxCronLen:
		return fieldErr("cron", "longer than %d bytes", MaxCronLen)
	case w.Cron != "" && (w.Duration <= 0 || w.Duration.D() > MaxMaintenanceDuration):
		return fieldErr("duration", "%v is not above 0 and at most %v", w.Duration.D(), MaxMaintenanceDuration)
	}
	if w.Cron != "" {
		if _, err := parseSchedule(w.Cron); err != nil {
			return fieldErr("cron", "%v", err)
		}
	}
	return nil
}

// neverReference is where parseSchedule looks for a schedule's first
// firing; any date would do.
var neverReference = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// parseSchedule parses a window's Cron; it refuses "@every" (see
// Maintenance) and a schedule that never fires ("0 0 30 2 *").
//
// A schedule is in UTC unless it starts with "CRON_TZ=Zone " (or
// "TZ=Zone "): robfig/cron's default, the process's local zone, would
// make a Lambda in UTC and a VPS in its own zone see one window at two
// times.
func parseSchedule(spec string) (cron.Schedule, error) {
	written := spec
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		// robfig/cron indexes past the zone's end when no space
		// follows it (it panics on "TZ=").
		if !strings.Contains(spec, " ") {
			return nil, fmt.Errorf("%q: a time zone prefix is followed by a space and a schedule (\"CRON_TZ=Europe/Berlin 0 3 * * SUN\")", spec)
		}
	} else {
		spec = "CRON_TZ=UTC " + spec
	}
	sched, err := cronParser.Parse(spec)
	if err != nil {
		return nil, err
	}
	if _, ok := sched.(cron.ConstantDelaySchedule); ok {
		return nil, errors.New("@every has no times of its own: give a schedule such as \"0 3 * * 0\" or \"@weekly\"")
	}
	// robfig/cron gives up after five years: a schedule that fires by
	// then from one date does from any (a 29 February every four years).
	if sched.Next(neverReference).IsZero() {
		return nil, fmt.Errorf("%q never fires", written)
	}
	return sched, nil
}

// Covers reports whether w applies to m: m is named in Hosts, its group
// is in Groups, or w names neither (every monitor).
func (w Maintenance) Covers(m Monitor) bool {
	if len(w.Hosts) == 0 && len(w.Groups) == 0 {
		return true
	}
	return slices.Contains(w.Hosts, m.Host) || (m.Group != "" && slices.Contains(w.Groups, m.Group))
}

// Active reports whether w is active at t, and if so until when. A
// recurring window is active from each time its schedule fires for
// Duration; an invalid schedule is never active. Start is inclusive, End
// exclusive.
func (w Maintenance) Active(t time.Time) (until time.Time, ok bool) {
	if w.Cron == "" {
		if !t.Before(w.Start) && t.Before(w.End) {
			return w.End, true
		}
		return time.Time{}, false
	}
	start, ok := w.lastStart(t)
	if !ok {
		return time.Time{}, false
	}
	if end := start.Add(w.Duration.D()); t.Before(end) {
		return end, true
	}
	return time.Time{}, false
}

// Next returns the first start of w after t (a one-off window's Start
// while it is ahead), for the pages that list upcoming windows; ok is
// false when there is none.
func (w Maintenance) Next(t time.Time) (start time.Time, ok bool) {
	if w.Cron == "" {
		if w.Start.After(t) {
			return w.Start, true
		}
		return time.Time{}, false
	}
	sched, err := parseSchedule(w.Cron)
	if err != nil {
		return time.Time{}, false
	}
	next := sched.Next(t)
	return next, !next.IsZero()
}

// lastStart is the newest time not after t at which w's schedule fires,
// if it is after t−Duration−1m: an older one cannot cover t.
//
// robfig/cron only looks forward (Next). The first firing after
// t−Duration−1m settles most cases: after t, none covers t; else a few
// steps forward reach the last not after t. A schedule that fires more
// often (every minute, for up to 31 days: 44,640 firings) is searched
// instead for a firing in (t−lb, t] for lookbacks lb of 1m, 2m, 4m, …,
// then walked forward from the first found: a step or two.
func (w Maintenance) lastStart(t time.Time) (time.Time, bool) {
	sched, err := parseSchedule(w.Cron)
	if err != nil || w.Duration <= 0 {
		return time.Time{}, false
	}
	// lastFrom walks forward from a firing not after t, at most steps
	// times; ok is false when it did not get past t.
	lastFrom := func(first time.Time, steps int) (last time.Time, ok bool) {
		last = first
		for range steps {
			n := sched.Next(last)
			if n.IsZero() || n.After(t) {
				return last, true
			}
			last = n
		}
		return last, false
	}
	limit := w.Duration.D() + time.Minute
	first := sched.Next(t.Add(-limit))
	if first.IsZero() || first.After(t) {
		return time.Time{}, false
	}
	if last, ok := lastFrom(first, 8); ok {
		return last, true
	}
	for lb := time.Minute; lb < limit; lb *= 2 {
		if next := sched.Next(t.Add(-lb)); !next.IsZero() && !next.After(t) {
			if last, ok := lastFrom(next, int(lb/time.Minute)+1); ok {
				return last, true
			}
		}
	}
	// Firings at least a minute apart: this many steps get past t.
	last, _ := lastFrom(first, int(limit/time.Minute)+1)
	return last, true
}

// ActiveAt returns the windows among ws that are active at t, in their
// order. A round calls it once per slot, then Covers per monitor: finding
// a recurring window's activation walks its schedule.
func ActiveAt(ws []Maintenance, t time.Time) []Maintenance {
	var active []Maintenance
	for _, w := range ws {
		if _, ok := w.Active(t); ok {
			active = append(active, w)
		}
	}
	return active
}
