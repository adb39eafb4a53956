package notify

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// DefaultLocationTimeout is how long a location may go without saving a
// result before it no longer counts for quorum (Options.LocationTimeout).
const DefaultLocationTimeout = 10 * time.Minute

// Options configure NewAlerting. The zero value works: UTC, the default
// location timeout, no monitor settings (names are hosts, no parents).
type Options struct {
	// TimeZone writes {TIME}; nil means UTC.
	TimeZone *time.Location
	// LocationTimeout: a location whose newest saved slot is older than
	// this before the newest slot being saved does not count (it has
	// stopped reporting); zero means DefaultLocationTimeout.
	LocationTimeout time.Duration
	// Monitors give names, groups and parents (dependencies).
	Monitors []monitor.Monitor
}

// NewAlerting returns the store.Alerting with which a round or a push
// saves its results: srvmon's alerting decided inside the store's
// transaction from what the store holds, so that every checker process,
// wherever it runs and however new, decides the same.
//
// Per host with a rule, each slot not judged yet is judged once it is
// complete: every location still reporting has saved its result for it,
// or a later slot is being saved (a location that lags a whole slot does
// not count for it). Its verdict is down when at least the rule's quorum
// of the locations that reported saw the host down (see quorumOf). The
// verdicts advance the host's state:
//
//   - without Window, Threshold consecutive down verdicts establish
//     "down" (gosrvmon's rule); with Window, Threshold of the last Window
//     verdicts do (N of M), so a host failing every other check is caught;
//   - RecoveryThreshold (Threshold when zero) consecutive up verdicts
//     establish "up" again;
//   - a host's first state is established by its first verdicts, and a
//     first "up" is no news.
//
// A change is told (the action's GET, a message on each channel) when it
// is established, unless it is held back: during maintenance (a slot any
// of whose results is marked in maintenance) nothing is told, and a down
// is not told while the host's parent is down or failing; a held change
// that is still true when the hold ends is told then, and a recovery is
// told only when its down was. A parent's down message lists its children
// that are down too. While a told down lasts, a reminder goes out every
// RemindEvery. With CertExpiryDays, the host's certificate (as this save's
// checks saw it) is announced once it is within that many days of its
// expiry, again within 3 days and 1 day, and once a renewed one is seen.
func NewAlerting(o Options) *store.Alerting {
	j := &judge{
		tz:       cmp.Or(o.TimeZone, time.UTC),
		timeout:  cmp.Or(o.LocationTimeout, DefaultLocationTimeout),
		monitors: make(map[string]monitor.Monitor, len(o.Monitors)),
		children: map[string][]string{},
	}
	for _, m := range o.Monitors {
		j.monitors[m.Host] = m
		if m.Parent != "" && m.Parent != m.Host {
			j.children[m.Parent] = append(j.children[m.Parent], m.Host)
		}
	}
	a := &store.Alerting{Horizon: j.timeout, Decide: j.decide}
	if len(j.children) > 0 {
		a.Related = j.related
	}
	return a
}

// judge is NewAlerting's decision, bound to its options; it is read only
// after NewAlerting returns.
type judge struct {
	tz       *time.Location
	timeout  time.Duration
	monitors map[string]monitor.Monitor
	children map[string][]string // parent → children, in Options order
}

// related names a host's parent and children.
func (j *judge) related(host string) []string {
	kids := j.children[host]
	p := j.monitors[host].Parent
	if p == "" || p == host {
		return kids
	}
	return append(slices.Clip(kids), p)
}

// slotVerdict is every reporting location's judgement of one slot.
type slotVerdict struct {
	slot        time.Time
	down        bool
	maintenance bool
	downAt      []string // locations that saw it down, by name
	reason      string   // the first down location's reason
	rtt         time.Duration
}

// decide is store.Alerting.Decide.
func (j *judge) decide(in store.AlertInput) ([]store.State, []store.Delivery) {
	newest := newestSlot(in.Results)
	if newest.IsZero() {
		return nil, nil
	}
	active := activeLocations(in.Locations, newest, j.timeout)
	certs := newestCerts(in.Results)

	// Parents first, so that a child judged after them sees whether they
	// are down in this same save.
	hosts := j.order(in.Rules)
	states := make(map[string]store.State, len(hosts))
	for h, st := range in.States {
		states[h] = st
	}
	var changed []store.State
	var ds []store.Delivery
	for _, h := range hosts {
		rule := in.Rules[h]
		st := states[h]
		if st.Host == "" {
			st.Host = h
		}
		if st.Status != "" && st.Notified == "" && st.RecentLen == 0 {
			// Kept by srvmon before it held alerts back: every
			// established state was told.
			st.Notified = st.Status
		}
		before := st
		hostActive := active
		if probe.IsPush(h) {
			// Its results are pushes and the rounds' judgements of them,
			// all at the default location: nothing to wait for.
			hostActive = nil
		}
		for _, v := range verdicts(in.Stored[h], rule.Quorum, hostActive, newest) {
			var out []store.Delivery
			st, out = j.apply(rule, st, v, states, in.Stored)
			ds = append(ds, out...)
		}
		if exp, ok := certs[h]; ok && rule.CertExpiryDays > 0 {
			var out []store.Delivery
			st, out = j.certificate(rule, st, exp, newest, in.Stored[h])
			ds = append(ds, out...)
		}
		states[h] = st
		if !sameState(st, before) {
			changed = append(changed, st)
		}
	}
	return changed, ds
}

// order returns the ruled hosts with each parent before its children
// (one level: a parent's own parent is not followed), otherwise by host.
func (j *judge) order(rules map[string]store.Rule) []string {
	hosts := make([]string, 0, len(rules))
	for h := range rules {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	if len(j.children) == 0 {
		return hosts
	}
	isParent := func(h string) bool { return len(j.children[h]) > 0 }
	slices.SortStableFunc(hosts, func(a, b string) int {
		switch pa, pb := isParent(a), isParent(b); {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return 0
	})
	return hosts
}

// apply advances st by one slot's verdict and returns the deliveries it
// makes.
func (j *judge) apply(rule store.Rule, st store.State, v slotVerdict, states map[string]store.State,
	stored map[string][]store.Result,
) (store.State, []store.Delivery) {
	st.LastSlot = v.slot
	st.Recent <<= 1
	if v.down {
		st.Recent |= 1
	}
	st.RecentLen = min(st.RecentLen+1, 64)

	observed := state(!v.down)
	threshold := max(rule.Threshold, 1)
	recovery := cmp.Or(max(rule.RecoveryThreshold, 0), threshold)
	switch {
	case st.Status == observed:
		st.Count = 0
	case st.Status == "" && observed == StatusUp:
		// A first up is no news: established quietly.
		st.Status, st.Count, st.Since, st.Notified = StatusUp, 0, v.slot, StatusUp
	default:
		st.Count++
		need := recovery
		reached := st.Count >= need
		if observed == StatusDown {
			need = threshold
			reached = st.Count >= need
			if rule.Window > 0 {
				reached = downsIn(st.Recent, st.RecentLen, rule.Window) >= need
			}
		}
		if reached {
			if st.Status == StatusDown {
				st.DownFor = v.slot.Sub(st.Since)
			}
			st.Status, st.Count, st.Since = observed, 0, v.slot
			st.Reason, st.Locations = v.reason, v.downAt
			st.NextReminder = time.Time{}
		}
	}

	// What is told: nothing during maintenance; a down not while the
	// parent is down or failing; a recovery only after a told down.
	if v.maintenance {
		return st, nil
	}
	var ds []store.Delivery
	switch {
	case st.Status == st.Notified:
	case st.Status == StatusUp && st.Notified != StatusDown:
		st.Notified = StatusUp // the down was never told: nor is its end
	case st.Status == StatusDown && j.parentDown(st.Host, states):
		// Held: the parent's alert lists it.
	default:
		st.Notified = st.Status
		ev := store.EventDown
		if st.Status == StatusUp {
			ev = store.EventUp
		}
		ds = j.tell(rule, st, ev, v, states, stored)
		if st.Status == StatusDown && rule.RemindEvery > 0 {
			st.NextReminder = v.slot.Add(rule.RemindEvery.D())
		}
		return st, ds
	}
	switch {
	case st.Status != StatusDown || st.Notified != StatusDown || rule.RemindEvery <= 0:
		st.NextReminder = time.Time{}
	case st.NextReminder.IsZero():
		// remind_every set while the host was down: from now on.
		st.NextReminder = v.slot.Add(rule.RemindEvery.D())
	case !v.slot.Before(st.NextReminder):
		ds = j.tell(rule, st, store.EventReminder, v, states, stored)
		st.NextReminder = v.slot.Add(rule.RemindEvery.D())
	}
	return st, ds
}

// parentDown reports whether host's parent is down, or failing (its
// newest verdict down) without being down yet: both fail in one round
// while the parent's threshold is higher.
func (j *judge) parentDown(host string, states map[string]store.State) bool {
	p := j.monitors[host].Parent
	if p == "" || p == host {
		return false
	}
	ps, ok := states[p]
	return ok && (ps.Status == StatusDown || (ps.RecentLen > 0 && ps.Recent&1 == 1))
}

// childrenDown lists host's children that are down or whose verdict at
// slot is down, by host.
func (j *judge) childrenDown(host string, slot time.Time, states map[string]store.State, stored map[string][]store.Result) []string {
	var down []string
	for _, c := range j.children[host] {
		if cs, ok := states[c]; ok && cs.Status == StatusDown {
			down = append(down, c)
			continue
		}
		for _, r := range stored[c] {
			if r.Slot.Equal(slot) && !r.Up {
				down = append(down, c)
				break
			}
		}
	}
	slices.Sort(down)
	return down
}

// certificate announces a certificate's coming expiry and its renewal.
// exp is the newest expiry this save's checks saw; now the newest slot.
func (j *judge) certificate(rule store.Rule, st store.State, exp, now time.Time, stored []store.Result) (store.State, []store.Delivery) {
	if inMaintenance(stored, now) {
		return st, nil
	}
	v := slotVerdict{slot: now}
	if st.CertDays > 0 && exp.After(st.CertExpiry) {
		st.CertExpiry, st.CertDays = exp, 0
		return st, j.tell(rule, st, store.EventCertificateRenewed, v, nil, nil)
	}
	left := exp.Sub(now)
	due := int64(0)
	for _, days := range certThresholds(rule.CertExpiryDays) {
		if left <= time.Duration(days)*24*time.Hour {
			due = days
		}
	}
	if due == 0 || (st.CertDays != 0 && due >= st.CertDays && exp.Equal(st.CertExpiry)) {
		return st, nil
	}
	st.CertExpiry, st.CertDays = exp, due
	return st, j.tell(rule, st, store.EventCertificate, v, nil, nil)
}

// certThresholds are the days at which a certificate is announced:
// the rule's, then 3 and 1 when below it; descending.
func certThresholds(days int64) []int64 {
	ts := []int64{days}
	for _, d := range []int64{3, 1} {
		if d < days {
			ts = append(ts, d)
		}
	}
	return ts
}

// tell makes the deliveries of one event: gosrvmon's action GET for a
// change (not for reminders and certificates, which gosrvmon never sent),
// and a message on each channel.
func (j *judge) tell(rule store.Rule, st store.State, ev string, v slotVerdict, states map[string]store.State,
	stored map[string][]store.Result,
) []store.Delivery {
	slot := v.slot.UTC()
	var ds []store.Delivery
	if (ev == store.EventDown || ev == store.EventUp) && strings.TrimSpace(rule.Action) != "" {
		r := store.Result{Host: st.Host, Slot: slot, RTT: v.rtt, Up: ev == store.EventUp, Reason: v.reason}
		ds = append(ds, store.Delivery{
			Host: st.Host, URL: ExpandAction(rule.Action, r, j.tz),
			Event: ev, Created: slot, NextAttempt: slot, Status: store.DeliveryPending,
		})
	}
	if len(rule.Channels) == 0 {
		return ds
	}
	vars := j.vars(st, ev, v)
	if ev == store.EventDown {
		for _, c := range j.childrenDown(st.Host, v.slot, states, stored) {
			vars.ChildrenDown = append(vars.ChildrenDown, cmp.Or(j.monitors[c].Name, c))
		}
	}
	if ev == store.EventCertificateRenewed {
		vars.Event, vars.CertRenewed = store.EventCertificate, true
	}
	title, msg := DefaultTitle(vars), Render(rule.Message, vars)
	for _, ch := range rule.Channels {
		ds = append(ds, store.Delivery{
			Host: st.Host, Channel: ch, Event: ev, Title: title, Message: msg,
			Created: slot, NextAttempt: slot, Status: store.DeliveryPending,
		})
	}
	return ds
}

// vars are the placeholders' values of an event.
func (j *judge) vars(st store.State, ev string, v slotVerdict) Vars {
	m := j.monitors[st.Host]
	vs := Vars{
		Event: ev, Host: st.Host, Name: m.Name, Group: m.Group,
		State: st.Status, Up: st.Status == StatusUp, Slot: v.slot, TimeZone: j.tz, RTT: v.rtt,
		Reason: st.Reason, Locations: st.Locations, CertExpiry: st.CertExpiry,
	}
	switch ev {
	case store.EventUp:
		vs.Reason, vs.Locations, vs.Duration = "", nil, st.DownFor
	case store.EventDown, store.EventReminder:
		vs.Duration = v.slot.Sub(st.Since)
	}
	return vs
}

// verdicts turns a host's stored results (oldest first) into the
// verdicts of its complete slots, oldest first: a slot is complete when
// it is before newest, or every active location has reported it.
func verdicts(rs []store.Result, q store.Quorum, active map[string]bool, newest time.Time) []slotVerdict {
	var out []slotVerdict
	for i := 0; i < len(rs); {
		n := i + 1
		for n < len(rs) && rs[n].Slot.Equal(rs[i].Slot) {
			n++
		}
		slot := rs[i:n]
		i = n
		if slot[0].Slot.After(newest) {
			break
		}
		if slot[0].Slot.Equal(newest) && !reportedByAll(slot, active) {
			break
		}
		out = append(out, verdictOf(slot, q))
	}
	return out
}

// verdictOf merges one slot's results, by location, with quorum q.
func verdictOf(slot []store.Result, q store.Quorum) slotVerdict {
	v := slotVerdict{slot: slot[0].Slot}
	bestUp := time.Duration(-1)
	for _, r := range slot {
		v.maintenance = v.maintenance || r.Maintenance
		if r.Up {
			if bestUp < 0 || r.RTT < bestUp {
				bestUp = r.RTT
			}
			continue
		}
		if len(v.downAt) == 0 {
			v.reason, v.rtt = r.Reason, r.RTT
		}
		v.downAt = append(v.downAt, r.Location)
	}
	v.down = len(v.downAt) >= quorumOf(q, len(slot))
	if !v.down {
		v.reason, v.downAt, v.rtt = "", nil, max(bestUp, 0)
	}
	return v
}

// quorumOf is how many of n reporting locations must see a host down:
// one for "" and "1"; a majority (more than half) for "majority"; a
// number k for "k", but never more than n, so that a quorum above the
// locations still reporting is the unanimity of those that are.
func quorumOf(q store.Quorum, n int) int {
	switch q {
	case "", "1":
		return 1
	case "majority":
		return n/2 + 1
	}
	k, err := strconv.Atoi(string(q))
	if err != nil || k < 1 {
		return 1
	}
	return max(min(k, n), 1)
}

// reportedByAll reports whether every active location has a result in
// slot (a slot's results from a location that is not active count too).
func reportedByAll(slot []store.Result, active map[string]bool) bool {
	seen := 0
	for _, r := range slot {
		if active[r.Location] {
			seen++
		}
	}
	return seen >= len(active)
}

// activeLocations are the locations whose newest slot is within timeout
// of newest.
func activeLocations(ls []store.Location, newest time.Time, timeout time.Duration) map[string]bool {
	active := make(map[string]bool, len(ls))
	for _, l := range ls {
		if !l.LastSlot.Before(newest.Add(-timeout)) {
			active[l.Name] = true
		}
	}
	return active
}

// newestSlot is the newest slot among rs; zero when rs is empty.
func newestSlot(rs []store.Result) time.Time {
	var t time.Time
	for _, r := range rs {
		if r.Slot.After(t) {
			t = r.Slot
		}
	}
	return t
}

// newestCerts is each host's certificate expiry as its newest result
// among rs saw it.
func newestCerts(rs []store.Result) map[string]time.Time {
	var certs map[string]time.Time
	slots := map[string]time.Time{}
	for _, r := range rs {
		if r.CertExpiry.IsZero() || r.Slot.Before(slots[r.Host]) {
			continue
		}
		if certs == nil {
			certs = map[string]time.Time{}
		}
		certs[r.Host], slots[r.Host] = r.CertExpiry, r.Slot
	}
	return certs
}

// inMaintenance reports whether any result at slot is marked in
// maintenance.
func inMaintenance(rs []store.Result, slot time.Time) bool {
	for _, r := range rs {
		if r.Slot.Equal(slot) && r.Maintenance {
			return true
		}
	}
	return false
}

// downsIn counts the down verdicts among the newest window of recent's
// n verdicts.
func downsIn(recent uint64, n, window int64) int64 {
	w := min(window, n, 64)
	if w < 64 {
		recent &= 1<<uint(w) - 1
	}
	c := int64(0)
	for ; recent != 0; recent &= recent - 1 {
		c++
	}
	return c
}

// sameState reports whether a and b hold the same state.
func sameState(a, b store.State) bool {
	return a.Host == b.Host && a.Status == b.Status && a.Count == b.Count && a.LastSlot.Equal(b.LastSlot) &&
		a.Since.Equal(b.Since) && a.DownFor == b.DownFor && a.Recent == b.Recent && a.RecentLen == b.RecentLen &&
		a.Notified == b.Notified && a.Reason == b.Reason && slices.Equal(a.Locations, b.Locations) &&
		a.NextReminder.Equal(b.NextReminder) && a.CertExpiry.Equal(b.CertExpiry) && a.CertDays == b.CertDays
}
