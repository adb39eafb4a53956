// Package storetest is the one conformance suite that every store.Store
// backend passes, and the benchmarks every backend reports.
//
// A backend's test calls Run with a func that opens a new, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
//	}
//
// Every case is a named subtest, so one can be run alone, e.g.
// go test -run 'TestConformance/Buckets/HalfOpenEdges'.
//
// The suite stores times with whole microseconds (PostgreSQL's precision);
// only the bounds of a few Buckets ranges have nanoseconds. Its UTC case sets
// time.Local for a while, so Run must not run in parallel with other tests of
// the same process.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// Run runs the conformance suite. open returns a new, empty store for each
// subtest; Run closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	fresh := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		if s == nil {
			t.Fatal("open returned a nil store")
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	runSubtests(t, fresh, []subtest{
		{"Hosts", testHosts},
		{"Monitors", testMonitors},
		{"SaveRound", testSaveRound},
		{"Results", testResults},
		{"Checks", testChecks},
		{"LastCheck", testLastCheck},
		{"Buckets", testBuckets},
		{"Fleet", testFleet},
		{"Summaries", testSummaries},
		{"Days", testDays},
		{"DeleteResultsBefore", testDeleteResultsBefore},
		{"Advance", testAdvance},
		{"Deliveries", testDeliveries},
		{"Rules", testRules},
		{"Alerting", testAlerting},
		{"Restore", testRestore},
		{"RestoreIntoHistory", testRestoreIntoHistory},
		{"RestoreCancelled", testRestoreCancelled},
		{"Maintenance", testMaintenance},
		{"UTC", testUTC},
		{"Context", testContext},
		{"Concurrency", testConcurrency},
	})
}

// opener opens a new, empty store that is closed when the test ends.
type opener func(t *testing.T) store.Store

// base is the first slot the suite uses; slot(i) is i minutes after it.
var base = time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)

func slot(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }

// farPast and farFuture bound a range that holds every slot the suite uses.
var (
	farPast   = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)
	farFuture = time.Date(2100, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// errStop is what a callback returns to stop a stream.
var errStop = errors.New("storetest: stop")

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func up(host, loc string, at time.Time, rtt time.Duration) store.Result {
	return store.Result{Host: host, Location: loc, Slot: at, RTT: rtt, Up: true}
}

func down(host, loc string, at time.Time, rtt time.Duration, reason string) store.Result {
	return store.Result{Host: host, Location: loc, Slot: at, RTT: rtt, Reason: reason}
}

// inMaintenance returns r marked as checked in maintenance.
func inMaintenance(r store.Result) store.Result {
	r.Maintenance = true
	return r
}

func addHosts(t *testing.T, s store.Store, hosts ...string) {
	t.Helper()
	for _, h := range hosts {
		if err := s.AddHost(t.Context(), h); err != nil {
			t.Fatalf("AddHost(%q): %v", h, err)
		}
	}
}

func save(t *testing.T, s store.Store, rs []store.Result, alerting *store.Alerting) {
	t.Helper()
	if err := s.SaveRound(t.Context(), rs, alerting); err != nil {
		t.Fatalf("SaveRound(%d results): %v", len(rs), err)
	}
}

func setRule(t *testing.T, s store.Store, r store.Rule) {
	t.Helper()
	if err := s.SetRule(t.Context(), r); err != nil {
		t.Fatalf("SetRule(%+v): %v", r, err)
	}
}

func hostsOf(t *testing.T, s store.Reader) []string {
	t.Helper()
	hs, err := s.Hosts(t.Context())
	if err != nil {
		t.Fatalf("Hosts: %v", err)
	}
	return hs
}

func rulesOf(t *testing.T, s store.Store) []store.Rule {
	t.Helper()
	rs, err := s.Rules(t.Context())
	if err != nil {
		t.Fatalf("Rules: %v", err)
	}
	return rs
}

func stateOf(t *testing.T, s store.Store, host string) store.State {
	t.Helper()
	st, err := s.State(t.Context(), host)
	if err != nil {
		t.Fatalf("State(%q): %v", host, err)
	}
	return st
}

func resultsOf(t *testing.T, s store.Store, host string, start, end time.Time) []store.Result {
	t.Helper()
	var got []store.Result
	err := s.Results(t.Context(), host, start, end, func(r store.Result) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Results(%q, %v, %v): %v", host, start, end, err)
	}
	return got
}

func allResults(t *testing.T, s store.Store, host string) []store.Result {
	t.Helper()
	return resultsOf(t, s, host, farPast, farFuture)
}

func checksOf(t *testing.T, s store.Store, host string, start, end time.Time) []store.Check {
	t.Helper()
	var got []store.Check
	err := s.Checks(t.Context(), host, start, end, func(c store.Check) error {
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Checks(%q, %v, %v): %v", host, start, end, err)
	}
	return got
}

func bucketsOf(t *testing.T, s store.Store, host string, start, end time.Time, n int) []store.Bucket {
	t.Helper()
	bs, err := s.Buckets(t.Context(), host, start, end, n)
	if err != nil {
		t.Fatalf("Buckets(%q, %v, %v, %d): %v", host, start, end, n, err)
	}
	return bs
}

func dueOf(t *testing.T, s store.Store, now time.Time, limit int) []store.Delivery {
	t.Helper()
	ds, err := s.DueDeliveries(t.Context(), now, limit)
	if err != nil {
		t.Fatalf("DueDeliveries(%v, %d): %v", now, limit, err)
	}
	return ds
}

// isUTC reports whether t is in UTC (whatever time.Local is).
func isUTC(t time.Time) bool { return t.Location() == time.UTC }

// fmtTime prints an instant with its zone, so a non-UTC time shows.
func fmtTime(t time.Time) string { return t.Format("2006-01-02T15:04:05.999999999Z07:00 MST") }

func fmtResult(r store.Result) string {
	return fmt.Sprintf("{%q %q %s rtt=%v up=%v %q maint=%v}", r.Host, r.Location, fmtTime(r.Slot), r.RTT, r.Up, r.Reason, r.Maintenance)
}

func fmtCheck(c store.Check) string {
	return fmt.Sprintf("{%s rtt=%v up=%v %q maint=%v}", fmtTime(c.Time), c.RTT, c.Up, c.Error, c.Maintenance)
}

func fmtBucket(b store.Bucket) string {
	return fmt.Sprintf("{[%s, %s) up=%d down=%d maint=%d min=%v mean=%v max=%v}",
		fmtTime(b.Start), fmtTime(b.End), b.Up, b.Down, b.Maintenance, b.MinRTT, b.MeanRTT, b.MaxRTT)
}

func fmtState(s store.State) string {
	return fmt.Sprintf("{%q %q count=%d last=%s since=%s recent=%b/%d notified=%q reason=%q locations=%q remind=%s cert=%s/%d}",
		s.Host, s.Status, s.Count, fmtTime(s.LastSlot), fmtTime(s.Since), s.Recent, s.RecentLen, s.Notified, s.Reason, s.Locations,
		fmtTime(s.NextReminder), fmtTime(s.CertExpiry), s.CertDays)
}

func fmtDelivery(d store.Delivery) string {
	return fmt.Sprintf("{id=%d %q %q channel=%q event=%q title=%q message=%q created=%s next=%s attempts=%d %q %q}", d.ID, d.Host, d.URL,
		d.Channel, d.Event, d.Title, d.Message, fmtTime(d.Created), fmtTime(d.NextAttempt), d.Attempts, d.LastError, d.Status)
}

// sameTime reports whether a and b are the same instant, both in UTC or
// neither.
func sameTime(a, b time.Time) bool { return a.Equal(b) && isUTC(a) == isUTC(b) }

func sameResult(a, b store.Result) bool {
	return a.Host == b.Host && a.Location == b.Location && a.Slot.Equal(b.Slot) && isUTC(a.Slot) == isUTC(b.Slot) &&
		a.RTT == b.RTT && a.Up == b.Up && a.Reason == b.Reason && a.Maintenance == b.Maintenance
}

func sameCheck(a, b store.Check) bool {
	return a.Time.Equal(b.Time) && isUTC(a.Time) == isUTC(b.Time) && a.RTT == b.RTT && a.Up == b.Up && a.Error == b.Error &&
		a.Maintenance == b.Maintenance
}

func sameBucket(a, b store.Bucket) bool {
	return a.Start.Equal(b.Start) && a.End.Equal(b.End) && isUTC(a.Start) == isUTC(b.Start) && isUTC(a.End) == isUTC(b.End) &&
		a.Up == b.Up && a.Down == b.Down && a.Maintenance == b.Maintenance && a.MinRTT == b.MinRTT && a.MeanRTT == b.MeanRTT && a.MaxRTT == b.MaxRTT
}

func sameState(a, b store.State) bool {
	return a.Host == b.Host && a.Status == b.Status && a.Count == b.Count && sameTime(a.LastSlot, b.LastSlot) &&
		sameTime(a.Since, b.Since) && a.Recent == b.Recent && a.RecentLen == b.RecentLen && a.Notified == b.Notified &&
		a.Reason == b.Reason && slices.Equal(a.Locations, b.Locations) && sameTime(a.NextReminder, b.NextReminder) &&
		sameTime(a.CertExpiry, b.CertExpiry) && a.CertDays == b.CertDays && a.DownFor == b.DownFor
}

// sameDelivery compares everything but the ID.
func sameDelivery(a, b store.Delivery) bool {
	return a.Host == b.Host && a.URL == b.URL && a.Channel == b.Channel && a.Event == b.Event && a.Title == b.Title &&
		a.Message == b.Message && a.Created.Equal(b.Created) && isUTC(a.Created) == isUTC(b.Created) &&
		a.NextAttempt.Equal(b.NextAttempt) && isUTC(a.NextAttempt) == isUTC(b.NextAttempt) &&
		a.Attempts == b.Attempts && a.LastError == b.LastError && a.Status == b.Status
}

// expectSlice fails the test when got and want differ, listing both.
// Times in want are UTC, so a non-UTC time in got is a difference.
func expectSlice[T any](t *testing.T, what string, got, want []T, same func(a, b T) bool, format func(T) string) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: got nil, want a non-nil slice", what)
	}
	if len(got) == len(want) {
		ok := true
		for i := range got {
			if !same(got[i], want[i]) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: got %d, want %d:", what, len(got), len(want))
	for i := 0; i < max(len(got), len(want)); i++ {
		g, w := "-", "-"
		mark := " "
		if i < len(got) {
			g = format(got[i])
		}
		if i < len(want) {
			w = format(want[i])
		}
		if i >= len(got) || i >= len(want) || !same(got[i], want[i]) {
			mark = "!"
		}
		fmt.Fprintf(&b, "\n%s [%d] got  %s\n  [%d] want %s", mark, i, g, i, w)
		if i > 40 {
			fmt.Fprintf(&b, "\n  ...")
			break
		}
	}
	t.Error(b.String())
}

// expectResults compares streamed results, for which nil means none.
func expectResults(t *testing.T, what string, got, want []store.Result) {
	t.Helper()
	if got == nil {
		got = []store.Result{}
	}
	expectSlice(t, what, got, want, sameResult, fmtResult)
}

func expectChecks(t *testing.T, what string, got, want []store.Check) {
	t.Helper()
	if got == nil {
		got = []store.Check{}
	}
	expectSlice(t, what, got, want, sameCheck, fmtCheck)
}

func expectStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	expectSlice(t, what, got, want, func(a, b string) bool { return a == b }, func(s string) string { return fmt.Sprintf("%q", s) })
}

func expectRules(t *testing.T, what string, got, want []store.Rule) {
	t.Helper()
	expectSlice(t, what, got, want, func(a, b store.Rule) bool { return reflect.DeepEqual(a, b) },
		func(r store.Rule) string { return fmt.Sprintf("%+v", r) })
}

func expectState(t *testing.T, what string, got, want store.State) {
	t.Helper()
	if !sameState(got, want) {
		t.Errorf("%s: got %s, want %s", what, fmtState(got), fmtState(want))
	}
}

// expectDeliveries compares deliveries but their IDs, and checks that each
// has an ID and that the IDs differ.
func expectDeliveries(t *testing.T, what string, got, want []store.Delivery) {
	t.Helper()
	expectSlice(t, what, got, want, sameDelivery, fmtDelivery)
	seen := map[int64]bool{}
	for _, d := range got {
		if d.ID == 0 {
			t.Errorf("%s: delivery %s has no ID", what, fmtDelivery(d))
		}
		if seen[d.ID] {
			t.Errorf("%s: ID %d listed twice", what, d.ID)
		}
		seen[d.ID] = true
	}
}

func expectNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: got error %v, want store.ErrNotFound", what, err)
	}
}

// dump describes everything a store shows about hosts (stored or not), so
// a test can tell that an operation changed nothing.
func dump(t *testing.T, s store.Store, hosts ...string) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	stored := hostsOf(t, s)
	fmt.Fprintf(&b, "hosts %q\n", stored)
	fmt.Fprintf(&b, "rules %+v\n", rulesOf(t, s))
	for _, w := range maintenancesOf(t, s) {
		fmt.Fprintf(&b, "maintenance %s\n", fmtWindow(w))
	}
	for _, m := range monitorsOf(t, s) {
		fmt.Fprintf(&b, "monitor %s\n", fmtMonitor(m))
	}
	for _, f := range factsOf(t, s) {
		fmt.Fprintf(&b, "facts %s\n", fmtFacts(f))
	}
	all := slices.Clone(stored)
	for _, h := range hosts {
		if !slices.Contains(all, h) {
			all = append(all, h)
		}
	}
	for _, h := range all {
		ok, err := s.HostExists(ctx, h)
		if err != nil {
			t.Fatalf("HostExists(%q): %v", h, err)
		}
		fmt.Fprintf(&b, "host %q exists=%v\n", h, ok)
		if !ok {
			continue
		}
		r, err := s.Rule(ctx, h)
		fmt.Fprintf(&b, "  rule %+v err=%v\n", r, err)
		fmt.Fprintf(&b, "  state %s\n", fmtState(stateOf(t, s, h)))
		for _, r := range allResults(t, s, h) {
			fmt.Fprintf(&b, "  %s\n", fmtResult(r))
		}
	}
	for _, d := range dueOf(t, s, farFuture, 1000) {
		fmt.Fprintf(&b, "delivery %s\n", fmtDelivery(d))
	}
	return b.String()
}

// recorder makes an Alerting (alerting) whose Decide records its inputs
// and applies each result of the save, in order, whose host has a rule
// and whose slot is after the host's state's LastSlot, as gosrvmon's
// rule does: its state counts the results applied, and a down result
// enqueues a delivery due at its slot. Each application is recorded as
// an advanceCall.
type recorder struct {
	mu     sync.Mutex
	calls  []advanceCall
	inputs []store.AlertInput
	// related and horizon are the Alerting's Related and Horizon.
	related map[string][]string
	horizon time.Duration
}

type advanceCall struct {
	rule store.Rule
	prev store.State
	r    store.Result
}

// alerting returns the recorder's Alerting.
func (rec *recorder) alerting() *store.Alerting {
	return &store.Alerting{
		Related: func(host string) []string { return rec.related[host] },
		Horizon: rec.horizon,
		Decide:  rec.decide,
	}
}

func (rec *recorder) decide(in store.AlertInput) ([]store.State, []store.Delivery) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.inputs = append(rec.inputs, in)
	return applyEach(in, rec.advance)
}

// PerResult returns an Alerting that applies advance to each result of
// a save, in order, whose host has a rule and whose slot is after the
// host's state's LastSlot (as it stands after the save's earlier
// results), as gosrvmon's rule does; a delivery without a host is the
// result's. For backends' own tests of what SaveRound does with a
// decision.
func PerResult(advance func(rule store.Rule, prev store.State, r store.Result) (store.State, *store.Delivery)) *store.Alerting {
	return &store.Alerting{Decide: func(in store.AlertInput) ([]store.State, []store.Delivery) { return applyEach(in, advance) }}
}

// applyEach is PerResult's Decide.
func applyEach(in store.AlertInput, advance func(rule store.Rule, prev store.State, r store.Result) (store.State, *store.Delivery)) ([]store.State, []store.Delivery) {
	changed := make([]string, 0, len(in.Rules))
	next := make(map[string]store.State, len(in.Rules))
	var ds []store.Delivery
	for _, r := range in.Results {
		rule, ok := in.Rules[r.Host]
		if !ok {
			continue
		}
		prev, seen := next[r.Host]
		if !seen {
			prev = in.States[r.Host]
		}
		if !r.Slot.After(prev.LastSlot) {
			continue
		}
		st, d := advance(rule, prev, r)
		st.Host = r.Host
		if !seen {
			changed = append(changed, r.Host)
		}
		next[r.Host] = st
		if d != nil {
			if d.Host == "" {
				d.Host = r.Host
			}
			ds = append(ds, *d)
		}
	}
	states := make([]store.State, len(changed))
	for i, h := range changed {
		states[i] = next[h]
	}
	return states, ds
}

func (rec *recorder) advance(rule store.Rule, prev store.State, r store.Result) (store.State, *store.Delivery) {
	rec.calls = append(rec.calls, advanceCall{rule, prev, r})
	next := nextState(prev, r)
	if r.Up {
		return next, nil
	}
	return next, &store.Delivery{
		Host:        r.Host,
		URL:         deliveryURL(rule, r),
		Created:     r.Slot,
		NextAttempt: r.Slot,
		Status:      store.DeliveryPending,
	}
}

// lastInput returns the input of the last Decide.
func (rec *recorder) lastInput(t *testing.T) store.AlertInput {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.inputs) == 0 {
		t.Fatal("Decide was not called")
	}
	return rec.inputs[len(rec.inputs)-1]
}

func (rec *recorder) reset() []advanceCall {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	calls := rec.calls
	rec.calls = nil
	return calls
}

func nextState(prev store.State, r store.Result) store.State {
	status := "down"
	if r.Up {
		status = "up"
	}
	return store.State{Host: r.Host, Status: status, Count: prev.Count + 1, LastSlot: r.Slot, Since: r.Slot}
}

func deliveryURL(rule store.Rule, r store.Result) string {
	return rule.Action + "?at=" + r.Slot.UTC().Format(time.RFC3339)
}

// pendingFor is the delivery recorder.advance enqueues for a down result.
func pendingFor(rule store.Rule, r store.Result) store.Delivery {
	return store.Delivery{
		Host: r.Host, URL: deliveryURL(rule, r), Created: r.Slot.UTC(), NextAttempt: r.Slot.UTC(),
		Status: store.DeliveryPending,
	}
}

// cancelled returns a context that is already cancelled.
func cancelled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// subtest is a named case of the suite; runSubtests runs each as a
// subtest of that name.
type subtest struct {
	name string
	run  func(t *testing.T, open opener)
}

// runSubtests runs tests in order, each as t.Run(name), with open.
func runSubtests(t *testing.T, open opener, tests []subtest) {
	t.Helper()
	for _, st := range tests {
		t.Run(st.name, func(t *testing.T) { st.run(t, open) })
	}
}
