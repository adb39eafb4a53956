package notify

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// sim keeps what a store keeps for alerting and saves as its SaveRound
// does (store.AlertInput's contract), so that the decision can be tested
// round by round without a backend; storetest runs the real ones.
type sim struct {
	t         *testing.T
	alerting  *store.Alerting
	rules     map[string]store.Rule
	states    map[string]store.State
	results   []store.Result
	locations map[string]time.Time
	sent      []store.Delivery
}

func newSim(t *testing.T, o Options, rules ...store.Rule) *sim {
	s := &sim{t: t, alerting: NewAlerting(o), rules: map[string]store.Rule{},
		states: map[string]store.State{}, locations: map[string]time.Time{}}
	for _, r := range rules {
		s.rules[r.Host] = r
	}
	return s
}

// save saves rs as one SaveRound and returns the deliveries it enqueued.
func (s *sim) save(rs ...store.Result) []store.Delivery {
	s.t.Helper()
	for _, r := range rs {
		if i := slices.IndexFunc(s.results, func(o store.Result) bool {
			return o.Host == r.Host && o.Location == r.Location && o.Slot.Equal(r.Slot)
		}); i >= 0 {
			continue // idempotent
		}
		s.results = append(s.results, r)
		if !probe.IsPush(r.Host) && r.Slot.After(s.locations[r.Location]) {
			s.locations[r.Location] = r.Slot
		}
	}
	slices.SortStableFunc(s.results, func(a, b store.Result) int {
		if c := a.Slot.Compare(b.Slot); c != 0 {
			return c
		}
		return strings.Compare(a.Location, b.Location)
	})
	in := store.AlertInput{Results: rs, Rules: map[string]store.Rule{}, States: map[string]store.State{},
		Stored: map[string][]store.Result{}}
	want := map[string]bool{}
	for _, r := range rs {
		want[r.Host] = true
		if s.alerting.Related != nil {
			for _, h := range s.alerting.Related(r.Host) {
				want[h] = true
			}
		}
	}
	newest := newestSlot(rs)
	for h := range want {
		rule, ok := s.rules[h]
		if !ok {
			continue
		}
		in.Rules[h] = rule
		st, ok := s.states[h]
		if !ok {
			st = store.State{Host: h}
		}
		in.States[h] = st
		for _, r := range s.results {
			if r.Host == h && r.Slot.After(st.LastSlot) && !r.Slot.After(newest) &&
				!r.Slot.Before(newest.Add(-s.alerting.Horizon)) {
				in.Stored[h] = append(in.Stored[h], r)
			}
		}
	}
	for name, last := range s.locations {
		in.Locations = append(in.Locations, store.Location{Name: name, LastSlot: last})
	}
	slices.SortFunc(in.Locations, func(a, b store.Location) int { return strings.Compare(a.Name, b.Name) })
	states, ds := s.alerting.Decide(in)
	for _, st := range states {
		if _, ok := s.rules[st.Host]; !ok {
			s.t.Fatalf("Decide returned the state of %q, which has no rule", st.Host)
		}
		s.states[st.Host] = st
	}
	s.sent = append(s.sent, ds...)
	return ds
}

// events writes deliveries as "host:event" (channel deliveries as
// "host:event@channel"), in order.
func events(ds []store.Delivery) string {
	var b []string
	for _, d := range ds {
		e := d.Host + ":" + d.Event
		if d.Channel != "" {
			e += "@" + d.Channel
		}
		b = append(b, e)
	}
	return strings.Join(b, " ")
}

func slotN(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

func res(host, loc string, i int, up bool) store.Result {
	r := store.Result{Host: host, Location: loc, Slot: slotN(i), Up: up, RTT: time.Millisecond}
	if !up {
		r.Reason = "connection refused"
	}
	return r
}

// verdictsOf turns "UDDU.." into results of host at location "" from
// slot 0, one save each ('.' skips a slot), and returns the events of
// each save, "-" for none.
func runVerdicts(s *sim, host, pattern string) []string {
	var got []string
	for i, c := range pattern {
		if c == '.' {
			continue
		}
		r := res(host, "", i, c == 'U')
		r.Maintenance = c == 'u' || c == 'd'
		if c == 'u' {
			r.Up = true
		}
		e := events(s.save(r))
		got = append(got, cmpOrDash(e))
	}
	return got
}

func cmpOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func TestDecideThresholds(t *testing.T) {
	tests := []struct {
		name    string
		rule    store.Rule
		pattern string
		want    []string
	}{
		{"recovery threshold 3 after threshold 1", store.Rule{Threshold: 1, RecoveryThreshold: 3},
			"UDUUDUUU", []string{"-", "h:down", "-", "-", "-", "-", "-", "h:up"}},
		{"recovery threshold 1 after threshold 3", store.Rule{Threshold: 3, RecoveryThreshold: 1},
			"DDDUDDD", []string{"-", "-", "h:down", "h:up", "-", "-", "h:down"}},
		{"no window: alternating failures never reach 2", store.Rule{Threshold: 2},
			"UDUDUDUD", []string{"-", "-", "-", "-", "-", "-", "-", "-"}},
		{"window 4: 2 of the last 4 failing is down, 2 ups (the threshold) recover", store.Rule{Threshold: 2, Window: 4},
			"UDUDUDUU", []string{"-", "-", "-", "h:down", "-", "-", "-", "h:up"}},
		{"window 4, recovery 3: up after 3 consecutive ups", store.Rule{Threshold: 2, Window: 4, RecoveryThreshold: 3},
			"UDUDUDUUU", []string{"-", "-", "-", "h:down", "-", "-", "-", "-", "h:up"}},
		{"window 5, threshold 3: 2 of 5 is not enough", store.Rule{Threshold: 3, Window: 5},
			"UDUUDUUDUUD", []string{"-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"}},
		{"window larger than the history so far", store.Rule{Threshold: 2, Window: 10},
			"DUD", []string{"-", "-", "h:down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rule.Host = "h"
			tt.rule.Channels = nil
			tt.rule.Action = "http://127.0.0.1:1/{STATE}"
			got := runVerdicts(newSim(t, Options{}, tt.rule), "h", tt.pattern)
			if !slices.Equal(got, tt.want) {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDecideQuorum: three locations on one host.
func TestDecideQuorum(t *testing.T) {
	rule := func(q store.Quorum) store.Rule {
		return store.Rule{Host: "h", Threshold: 1, Quorum: q, Channels: []string{"generic://127.0.0.1:9/hook"}}
	}
	// save each location's result of one slot in turn: "UUD" is a, b, c.
	slotOf := func(s *sim, i int, verdicts string) []string {
		var got []string
		for k, c := range verdicts {
			got = append(got, cmpOrDash(events(s.save(res("h", string(rune('a'+k)), i, c == 'U')))))
		}
		return got
	}
	t.Run("a one-location blip sends nothing at quorum 2", func(t *testing.T) {
		s := newSim(t, Options{}, rule("2"))
		slotOf(s, 0, "UUU")
		if got := slotOf(s, 1, "UUD"); !slices.Equal(got, []string{"-", "-", "-"}) {
			t.Errorf("blip at c: %q", got)
		}
		if got := slotOf(s, 2, "DUU"); !slices.Equal(got, []string{"-", "-", "-"}) {
			t.Errorf("blip at a: %q", got)
		}
		if st := s.states["h"]; st.Status != StatusUp {
			t.Errorf("state %+v, want up", st)
		}
	})
	t.Run("a real outage sends one alert naming the locations", func(t *testing.T) {
		s := newSim(t, Options{}, rule("2"))
		slotOf(s, 0, "UUU")
		got := slotOf(s, 1, "DUD")
		if !slices.Equal(got, []string{"-", "-", "h:down@generic://127.0.0.1:9/hook"}) {
			t.Fatalf("outage: %q", got)
		}
		if st := s.states["h"]; !slices.Equal(st.Locations, []string{"a", "c"}) {
			t.Errorf("locations %q, want a and c", st.Locations)
		}
		if d := s.sent[len(s.sent)-1]; !strings.Contains(d.Message+d.Title, "h") {
			t.Errorf("message %q", d.Message)
		}
		if got := slotOf(s, 2, "UUU"); !slices.Equal(got, []string{"-", "-", "h:up@generic://127.0.0.1:9/hook"}) {
			t.Errorf("recovery: %q", got)
		}
	})
	t.Run("majority of three is two", func(t *testing.T) {
		s := newSim(t, Options{}, rule("majority"))
		slotOf(s, 0, "UUU")
		if got := slotOf(s, 1, "UDU"); slices.ContainsFunc(got, func(e string) bool { return e != "-" }) {
			t.Errorf("one of three: %q", got)
		}
		if got := slotOf(s, 2, "DDU"); got[2] == "-" {
			t.Errorf("two of three: %q", got)
		}
	})
	t.Run("quorum 1: any location, decided on the merged slot", func(t *testing.T) {
		s := newSim(t, Options{}, rule(""))
		slotOf(s, 0, "UUU")
		// a saves down first; the slot is judged once all have reported.
		if got := slotOf(s, 1, "DUU"); !slices.Equal(got, []string{"-", "-", "h:down@generic://127.0.0.1:9/hook"}) {
			t.Errorf("one location down at quorum 1: %q", got)
		}
	})
	t.Run("a lagging location does not hold a slot beyond the next", func(t *testing.T) {
		s := newSim(t, Options{}, rule("2"))
		slotOf(s, 0, "UUU")
		s.save(res("h", "a", 1, false))
		s.save(res("h", "b", 1, false))
		// c has not reported slot 1; a saving slot 2 completes slot 1.
		if got := events(s.save(res("h", "a", 2, false))); got != "h:down@generic://127.0.0.1:9/hook" {
			t.Errorf("slot 1 judged when slot 2 is saved: %q", got)
		}
		// c's late result of slot 1 changes nothing.
		if got := events(s.save(res("h", "c", 1, true))); got != "" {
			t.Errorf("late result: %q", got)
		}
	})
	t.Run("a location that stopped reporting drops out", func(t *testing.T) {
		s := newSim(t, Options{LocationTimeout: 5 * time.Minute}, rule("2"))
		slotOf(s, 0, "UUU")
		// c stops; ten minutes later a and b are the only ones.
		for i := 1; i <= 10; i++ {
			s.save(res("h", "a", i, true))
			s.save(res("h", "b", i, true))
		}
		if got := events(s.save(res("h", "a", 11, false))); got != "" {
			t.Errorf("a alone: %q", got)
		}
		if got := events(s.save(res("h", "b", 11, false))); got != "h:down@generic://127.0.0.1:9/hook" {
			t.Errorf("a and b, c dropped out: %q", got)
		}
	})
	t.Run("quorum above the reporting locations needs all of them", func(t *testing.T) {
		s := newSim(t, Options{}, rule("5"))
		slotOf(s, 0, "UUU")
		if got := slotOf(s, 1, "DDU"); got[2] != "-" {
			t.Errorf("two of three at quorum 5: %q", got)
		}
		if got := slotOf(s, 2, "DDD"); got[2] == "-" {
			t.Errorf("three of three at quorum 5: %q", got)
		}
	})
}

// A push monitor's slots are judged as they are saved, whatever checker
// locations report other hosts: its results come from pushes.
func TestDecidePushWithSeveralLocations(t *testing.T) {
	s := newSim(t, Options{}, store.Rule{Host: "push://job", Threshold: 1, Channels: []string{"ntfy://127.0.0.1:9/t"}})
	s.locations["eu"], s.locations["us"] = slotN(0), slotN(0) // checker locations, pushes not counted
	if got := events(s.save(res("push://job", "", 1, false))); got != "push://job:down@ntfy://127.0.0.1:9/t" {
		t.Errorf("a push saying down: %q", got)
	}
}

func TestDecideMaintenance(t *testing.T) {
	rule := store.Rule{Host: "h", Threshold: 1, Action: "http://127.0.0.1:1/{STATE}"}
	tests := []struct {
		name    string
		pattern string // U/D out of maintenance, u/d in
		want    []string
	}{
		{"an outage inside the window sends nothing", "UuddduU", []string{"-", "-", "-", "-", "-", "-", "-"}},
		{"an outage that outlasts the window is sent when it ends", "UudddDDU",
			[]string{"-", "-", "-", "-", "-", "h:down", "-", "h:up"}},
		{"a recovery inside the window is sent when it ends", "UDdduuU",
			[]string{"-", "h:down", "-", "-", "-", "-", "h:up"}},
		{"down then up inside: nothing", "UdduU", []string{"-", "-", "-", "-", "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runVerdicts(newSim(t, Options{}, rule), "h", tt.pattern)
			if !slices.Equal(got, tt.want) {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecideDependencies(t *testing.T) {
	ch := "generic://127.0.0.1:9/hook"
	rules := []store.Rule{
		{Host: "router", Threshold: 1, Channels: []string{ch}},
		{Host: "a", Threshold: 1, Channels: []string{ch}},
		{Host: "b", Threshold: 1, Channels: []string{ch}},
	}
	o := Options{Monitors: []monitor.Monitor{
		{Host: "router"},
		{Host: "a", Settings: monitor.Settings{Parent: "router"}},
		{Host: "b", Settings: monitor.Settings{Parent: "router", Name: "B"}},
	}}
	round := func(s *sim, i int, router, a, b bool) string {
		// Children first in the round's order: the decision must not
		// depend on it.
		return events(s.save(res("b", "", i, b), res("a", "", i, a), res("router", "", i, up(router))))
	}
	t.Run("parent and two children down in one round: one alert", func(t *testing.T) {
		s := newSim(t, o, rules...)
		round(s, 0, true, true, true)
		if got := round(s, 1, false, false, false); got != "router:down@"+ch {
			t.Fatalf("events %q, want the router's alone", got)
		}
		d := s.sent[len(s.sent)-1]
		if !slices.Equal(childrenIn(d), []string{"B", "a"}) && !strings.Contains(d.Message, "a") {
			t.Errorf("the router's alert does not list its children: %q", d.Message)
		}
		// All recover: the router's recovery only, the children's downs
		// were never sent.
		if got := round(s, 2, true, true, true); got != "router:up@"+ch {
			t.Errorf("recovery: %q", got)
		}
	})
	t.Run("a child down before its parent: its recovery is still sent", func(t *testing.T) {
		s := newSim(t, o, rules...)
		round(s, 0, true, true, true)
		if got := round(s, 1, true, false, true); got != "a:down@"+ch {
			t.Fatalf("child alone: %q", got)
		}
		if got := round(s, 2, false, false, false); got != "router:down@"+ch {
			t.Fatalf("then the router and b: %q", got)
		}
		if got := round(s, 3, true, true, true); got != "router:up@"+ch+" a:up@"+ch {
			t.Errorf("recovery: %q", got)
		}
	})
	t.Run("a child still down when its parent recovers is sent then", func(t *testing.T) {
		s := newSim(t, o, rules...)
		round(s, 0, true, true, true)
		round(s, 1, false, false, true)
		if got := round(s, 2, true, false, true); got != "router:up@"+ch+" a:down@"+ch {
			t.Errorf("events %q", got)
		}
	})
	t.Run("the parent failing below its threshold holds the child back", func(t *testing.T) {
		slow := slices.Clone(rules)
		slow[0].Threshold = 3
		s := newSim(t, o, slow...)
		round(s, 0, true, true, true)
		if got := round(s, 1, false, false, true); got != "" {
			t.Errorf("router failing once, a down: %q", got)
		}
	})
}

func up(b bool) bool { return b }

// childrenIn is a test's view of the children a parent's message names.
func childrenIn(d store.Delivery) []string {
	var names []string
	for _, n := range []string{"B", "a"} {
		if strings.Contains(d.Message, n) {
			names = append(names, n)
		}
	}
	return names
}

func TestDecideReminders(t *testing.T) {
	rule := store.Rule{Host: "h", Threshold: 1, Channels: []string{"ntfy://127.0.0.1:9/t"},
		RemindEvery: monitor.Duration(3 * time.Minute)}
	got := runVerdicts(newSim(t, Options{}, rule), "h", "UDDDDDDDU")
	want := []string{"-", "h:down@ntfy://127.0.0.1:9/t", "-", "-", "h:reminder@ntfy://127.0.0.1:9/t", "-", "-",
		"h:reminder@ntfy://127.0.0.1:9/t", "h:up@ntfy://127.0.0.1:9/t"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	// A gosrvmon action is not reminded: gosrvmon never sent reminders.
	rule.Channels, rule.Action = nil, "http://127.0.0.1:1/{STATE}"
	got = runVerdicts(newSim(t, Options{}, rule), "h", "UDDDDU")
	if want := []string{"-", "h:down", "-", "-", "-", "h:up"}; !slices.Equal(got, want) {
		t.Errorf("action: events %q, want %q", got, want)
	}
}

// A reminder set while the host is down starts from then; one taken
// away stops.
func TestDecideReminderSetWhileDown(t *testing.T) {
	rule := store.Rule{Host: "h", Threshold: 1, Channels: []string{"ntfy://127.0.0.1:9/t"}}
	s := newSim(t, Options{}, rule)
	runVerdicts(s, "h", "UDD")
	rule.RemindEvery = monitor.Duration(2 * time.Minute)
	s.rules["h"] = rule
	var got []string
	for i := 3; i < 8; i++ {
		got = append(got, cmpOrDash(events(s.save(res("h", "", i, false)))))
	}
	if want := []string{"-", "-", "h:reminder@ntfy://127.0.0.1:9/t", "-", "h:reminder@ntfy://127.0.0.1:9/t"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	rule.RemindEvery = 0
	s.rules["h"] = rule
	for i := 8; i < 12; i++ {
		if e := events(s.save(res("h", "", i, false))); e != "" {
			t.Errorf("slot %d: %q after remind_every was taken away", i, e)
		}
	}
	if !s.states["h"].NextReminder.IsZero() {
		t.Errorf("next reminder %v, want none", s.states["h"].NextReminder)
	}
}

func TestDecideReminderDuration(t *testing.T) {
	rule := store.Rule{Host: "h", Threshold: 1, Channels: []string{"ntfy://127.0.0.1:9/t"},
		RemindEvery: monitor.Duration(2 * time.Minute)}
	s := newSim(t, Options{}, rule)
	runVerdicts(s, "h", "UDDDU")
	st := s.states["h"]
	if st.DownFor != 3*time.Minute {
		t.Errorf("DownFor %v, want 3m", st.DownFor)
	}
}

func TestDecideCertificates(t *testing.T) {
	rule := store.Rule{Host: "h", Threshold: 1, Channels: []string{"ntfy://127.0.0.1:9/t"}, CertExpiryDays: 14}
	s := newSim(t, Options{}, rule)
	day := 24 * time.Hour
	expiry := slotN(0).Add(20 * day)
	check := func(i int, exp time.Time) string {
		r := res("h", "", i, true)
		r.Slot = slotN(0).Add(time.Duration(i) * day)
		r.CertExpiry = exp
		return events(s.save(r))
	}
	const cert = "h:certificate@ntfy://127.0.0.1:9/t"
	steps := []struct {
		day  int
		exp  time.Time
		want string
	}{
		{0, expiry, ""},
		{5, expiry, ""},
		{6, expiry, cert}, // 14 days left
		{7, expiry, ""},
		{16, expiry, ""},
		{17, expiry, cert}, // 3 days left
		{18, expiry, ""},
		{19, expiry, cert}, // 1 day left
		{19, expiry, ""},   // the same slot again: nothing
		{20, expiry.Add(90 * day), "h:certificate-renewed@ntfy://127.0.0.1:9/t"},
		{21, expiry.Add(90 * day), ""},
	}
	for _, st := range steps {
		if got := check(st.day, st.exp); got != st.want {
			t.Errorf("day %d: events %q, want %q", st.day, got, st.want)
		}
	}
	texts := []string{}
	for _, d := range s.sent {
		texts = append(texts, d.Message)
	}
	for i, want := range []string{"(in 14 days)", "(in 3 days)", "(in 1 day)", "was renewed"} {
		if i >= len(texts) || !strings.Contains(texts[i], want) {
			t.Errorf("certificate message %d: %q, want it to say %q", i, texts, want)
		}
	}
}

// TestDecideUpgradedState: a state kept before srvmon held alerts back
// was told; it is not told again.
func TestDecideUpgradedState(t *testing.T) {
	rule := store.Rule{Host: "h", Threshold: 1, Action: "http://127.0.0.1:1/{STATE}"}
	s := newSim(t, Options{}, rule)
	s.states["h"] = store.State{Host: "h", Status: StatusDown, LastSlot: slotN(0)}
	if got := events(s.save(res("h", "", 1, false))); got != "" {
		t.Errorf("still down after the upgrade: %q", got)
	}
	if got := events(s.save(res("h", "", 2, true))); got != "h:up" {
		t.Errorf("recovery after the upgrade: %q", got)
	}
}

func TestQuorumOf(t *testing.T) {
	tests := []struct {
		q    store.Quorum
		n    int
		want int
	}{
		{"", 3, 1}, {"1", 3, 1}, {"majority", 1, 1}, {"majority", 2, 2}, {"majority", 3, 2},
		{"majority", 4, 3}, {"2", 3, 2}, {"2", 1, 1}, {"7", 3, 3}, {"0", 3, 1}, {"x", 3, 1},
	}
	for _, tt := range tests {
		if got := quorumOf(tt.q, tt.n); got != tt.want {
			t.Errorf("quorumOf(%q, %d) = %d, want %d", tt.q, tt.n, got, tt.want)
		}
	}
}
