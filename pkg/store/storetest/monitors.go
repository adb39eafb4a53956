package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

func testMonitors(t *testing.T, open opener) {
	runSubtests(t, open, []subtest{
		{"HostsWithoutSettingsReadAsZero", monitorsHostsWithoutSettingsReadAsZero},
		{"PutCreatesAndReplaces", monitorsPutCreatesAndReplaces},
		{"SettingsRoundTrip", monitorsSettingsRoundTrip},
		{"CallersCannotMutateStoredSettings", monitorsCallersCannotMutateStoredSettings},
		{"PushTokenIndex", monitorsPushTokenIndex},
		{"EmptyHostRefused", monitorsEmptyHostRefused},
		{"DeleteHostRemovesSettingsTokenFacts", monitorsDeleteHostRemovesSettingsTokenFacts},
		{"FactsFromCertExpiry", monitorsFactsFromCertExpiry},
		{"RecordPush", monitorsRecordPush},
		{"RecordPushUnknownToken", monitorsRecordPushUnknownToken},
		{"AddedOnEveryAddPath", monitorsAddedOnEveryAddPath},
		{"Restore", monitorsRestore},
		{"RestoreRollsBack", monitorsRestoreRollsBack},
		{"SnapshotSeesSettings", monitorsSnapshotSeesSettings},
	})
}

// Push tokens of the suite (monitor.CheckPushToken accepts them, though
// the store does not check).
const (
	tokenA = "token-a-0123456789abcdef"
	tokenB = "token-b-0123456789abcdef"
)

func boolPtr(b bool) *bool { return &b }

// fullMonitor is a monitor with every setting set.
func fullMonitor(host string) monitor.Monitor {
	return monitor.Monitor{
		Host: host,
		Settings: monitor.Settings{
			Name:               "Shop – front page",
			Group:              "web",
			Conditions:         []string{`status == 200`, `body contains "ok"`},
			Method:             "POST",
			Headers:            map[string]string{"X-Key": "v\u00e9", "Accept": "*/*"},
			Body:               "{\"a\":1}\x00\n",
			FollowRedirects:    boolPtr(false),
			Status:             boolPtr(false),
			Timeout:            monitor.Duration(2500 * time.Millisecond),
			InsecureSkipVerify: true,
			Grace:              monitor.Duration(90 * time.Second),
			PushToken:          tokenA,
		},
		Source: monitor.SourceConfig,
	}
}

func fmtMonitor(m monitor.Monitor) string {
	b, err := json.Marshal(m)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func fmtFacts(f store.Facts) string {
	return fmt.Sprintf("%s cert %s push %s up=%v %q added %s", f.Host, fmtTime(f.CertExpiry), fmtTime(f.LastPush),
		f.LastPushUp, f.LastPushReason, fmtTime(f.Added))
}

func monitorsOf(t *testing.T, s store.Reader) []monitor.Monitor {
	t.Helper()
	ms, err := s.Monitors(t.Context())
	if err != nil {
		t.Fatalf("Monitors: %v", err)
	}
	return ms
}

func monitorOf(t *testing.T, s store.Store, host string) monitor.Monitor {
	t.Helper()
	m, err := s.Monitor(t.Context(), host)
	if err != nil {
		t.Fatalf("Monitor(%q): %v", host, err)
	}
	return m
}

func factsOf(t *testing.T, s store.Store) []store.Facts {
	t.Helper()
	fs, err := s.Facts(t.Context())
	if err != nil {
		t.Fatalf("Facts: %v", err)
	}
	return fs
}

func putMonitor(t *testing.T, s store.Store, m monitor.Monitor) bool {
	t.Helper()
	created, err := s.PutMonitor(t.Context(), m)
	if err != nil {
		t.Fatalf("PutMonitor(%s): %v", fmtMonitor(m), err)
	}
	return created
}

// expectMonitors compares exactly (reflect.DeepEqual): nil and empty
// slices and maps, and a nil FollowRedirects, differ.
func expectMonitors(t *testing.T, what string, got, want []monitor.Monitor) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil, want a non-nil slice", what)
	}
	expectSlice(t, what, got, want, func(a, b monitor.Monitor) bool { return reflect.DeepEqual(a, b) }, fmtMonitor)
}

func expectMonitor(t *testing.T, what string, got, want monitor.Monitor) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtMonitor(got), fmtMonitor(want))
	}
}

func expectFacts(t *testing.T, what string, got, want []store.Facts) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil, want a non-nil slice", what)
	}
	expectSlice(t, what, got, want, func(a, b store.Facts) bool {
		return a.Host == b.Host && a.CertExpiry.Equal(b.CertExpiry) && a.LastPush.Equal(b.LastPush) &&
			a.LastPushUp == b.LastPushUp && a.LastPushReason == b.LastPushReason && a.Added.Equal(b.Added) &&
			isUTC(a.CertExpiry) && isUTC(a.LastPush) && isUTC(a.Added)
	}, fmtFacts)
}

// expectAdded checks that each of hosts has a Facts.Added in [before,
// now] (store.AddedNow's times), and returns them by host, for the wants
// of expectFacts.
func expectAdded(t *testing.T, s store.Store, before time.Time, hosts ...string) map[string]time.Time {
	t.Helper()
	after := store.AddedNow()
	added := map[string]time.Time{}
	for _, f := range factsOf(t, s) {
		added[f.Host] = f.Added
	}
	for _, h := range hosts {
		if a := added[h]; a.Before(before) || a.After(after) || !isUTC(a) {
			t.Errorf("Facts of %q: Added %s, want a UTC time in [%s, %s]", h, fmtTime(a), fmtTime(before), fmtTime(after))
		}
	}
	return added
}

func monitorsHostsWithoutSettingsReadAsZero(t *testing.T, open opener) {
	s := open(t)
	before := store.AddedNow()
	expectMonitors(t, "Monitors of an empty store", monitorsOf(t, s), []monitor.Monitor{})
	expectFacts(t, "Facts of an empty store", factsOf(t, s), []store.Facts{})
	addHosts(t, s, "b.test", "a.test", "B.test")
	expectMonitors(t, "Monitors", monitorsOf(t, s), []monitor.Monitor{{Host: "B.test"}, {Host: "a.test"}, {Host: "b.test"}})
	expectMonitor(t, "Monitor(a.test)", monitorOf(t, s, "a.test"), monitor.Monitor{Host: "a.test"})
	_, err := s.Monitor(t.Context(), "none.test")
	expectNotFound(t, "Monitor of an unknown host", err)
	// A host with only Added has facts.
	added := expectAdded(t, s, before, "B.test", "a.test", "b.test")
	expectFacts(t, "Facts", factsOf(t, s), []store.Facts{
		{Host: "B.test", Added: added["B.test"]}, {Host: "a.test", Added: added["a.test"]}, {Host: "b.test", Added: added["b.test"]},
	})
}

func monitorsPutCreatesAndReplaces(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "a.test")
	m := monitor.Monitor{Host: "n.test", Settings: monitor.Settings{Name: "New"}}
	if !putMonitor(t, s, m) {
		t.Errorf("PutMonitor of a new host: created = false, want true")
	}
	expectStrings(t, "Hosts after creating n.test", hostsOf(t, s), []string{"a.test", "n.test"})
	m.Group = "g"
	if putMonitor(t, s, m) {
		t.Errorf("PutMonitor of a stored host: created = true, want false")
	}
	expectMonitor(t, "Monitor after replacing", monitorOf(t, s, "n.test"), m)
	if putMonitor(t, s, monitor.Monitor{Host: "a.test", Settings: monitor.Settings{Group: "g"}}) {
		t.Errorf("PutMonitor of a host added by AddHost: created = true, want false")
	}
	// Replacing with no settings leaves a monitor without settings.
	putMonitor(t, s, monitor.Monitor{Host: "n.test"})
	expectMonitors(t, "Monitors", monitorsOf(t, s), []monitor.Monitor{
		{Host: "a.test", Settings: monitor.Settings{Group: "g"}},
		{Host: "n.test"},
	})
}

func monitorsSettingsRoundTrip(t *testing.T, open opener) {
	s := open(t)
	full := fullMonitor("https://full.test/path?q=1")
	redirects := full
	redirects.Host, redirects.FollowRedirects, redirects.PushToken, redirects.Source = "https://true.test", boolPtr(true), "", monitor.SourceAPI
	unset := redirects
	unset.Host, unset.FollowRedirects = "https://nil.test", nil
	push := monitor.Monitor{Host: "push://job", Settings: monitor.Settings{Grace: monitor.Duration(time.Hour + time.Nanosecond), PushToken: tokenB}}
	sourceOnly := monitor.Monitor{Host: "tcp://db.test:5432", Source: monitor.SourceConfig}
	want := []monitor.Monitor{full, unset, redirects, push, sourceOnly}
	for _, m := range want {
		putMonitor(t, s, m)
	}
	// Empty conditions and headers read as none.
	empty := monitor.Monitor{Host: "https://empty.test", Settings: monitor.Settings{Name: "E", Conditions: []string{}, Headers: map[string]string{}}}
	putMonitor(t, s, empty)
	expectMonitor(t, "Monitor with empty conditions and headers", monitorOf(t, s, empty.Host),
		monitor.Monitor{Host: empty.Host, Settings: monitor.Settings{Name: "E"}})
	for _, m := range want {
		t.Run(m.Host, func(t *testing.T) {
			expectMonitor(t, "Monitor", monitorOf(t, s, m.Host), m)
		})
	}
	expectMonitors(t, "Monitors", monitorsOf(t, s), []monitor.Monitor{
		{Host: empty.Host, Settings: monitor.Settings{Name: "E"}}, full, unset, redirects, push, sourceOnly,
	})
}

func monitorsCallersCannotMutateStoredSettings(t *testing.T, open opener) {
	s := open(t)
	want := fullMonitor("https://a.test")
	m := fullMonitor("https://a.test")
	putMonitor(t, s, m)
	// The caller changes what it gave.
	m.Conditions[0], m.Headers["X-Key"], *m.FollowRedirects, *m.Status = "changed", "changed", true, true
	expectMonitor(t, "Monitor after the caller changed its argument", monitorOf(t, s, want.Host), want)
	// And what it got.
	got := monitorOf(t, s, want.Host)
	got.Conditions[0], got.Headers["X-Key"], *got.FollowRedirects, *got.Status = "changed", "changed", true, true
	got.Headers["New"] = "x"
	listed := monitorsOf(t, s)
	listed[0].Conditions[1] = "changed"
	listed[0].Headers["Accept"] = "changed"
	byToken, err := s.MonitorByPushToken(t.Context(), tokenA)
	if err != nil {
		t.Fatalf("MonitorByPushToken: %v", err)
	}
	byToken.Headers["Accept"], *byToken.FollowRedirects = "changed", true
	expectMonitor(t, "Monitor after the caller changed what it read", monitorOf(t, s, want.Host), want)
	expectMonitors(t, "Monitors after the caller changed what it read", monitorsOf(t, s), []monitor.Monitor{want})
}

func monitorsPushTokenIndex(t *testing.T, open opener) {
	s := open(t)
	ctx := t.Context()
	addHosts(t, s, "plain.test")
	a := monitor.Monitor{Host: "push://a", Settings: monitor.Settings{PushToken: tokenA}}
	putMonitor(t, s, a)
	byToken := func(token string) (monitor.Monitor, error) { return s.MonitorByPushToken(ctx, token) }
	if got, err := byToken(tokenA); err != nil {
		t.Errorf("MonitorByPushToken(tokenA): %v", err)
	} else {
		expectMonitor(t, "MonitorByPushToken(tokenA)", got, a)
	}
	for _, token := range []string{"", tokenB, tokenA[:len(tokenA)-1], tokenA + "x"} {
		_, err := byToken(token)
		expectNotFound(t, "MonitorByPushToken("+token+")", err)
	}

	// Another host's token: ErrExists, nothing changed, a new host not added.
	before := dump(t, s, "push://b", "push://a")
	for _, m := range []monitor.Monitor{
		{Host: "push://b", Settings: monitor.Settings{Name: "B", PushToken: tokenA}},
		{Host: "plain.test", Settings: monitor.Settings{PushToken: tokenA}},
	} {
		_, err := s.PutMonitor(ctx, m)
		if !errors.Is(err, store.ErrExists) {
			t.Errorf("PutMonitor(%s) with another host's token = %v, want ErrExists", m.Host, err)
		}
	}
	if after := dump(t, s, "push://b", "push://a"); after != before {
		t.Errorf("a refused PutMonitor changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Putting a host's own token again is no conflict.
	a.Name = "A"
	putMonitor(t, s, a)
	expectMonitor(t, "Monitor after keeping its token", monitorOf(t, s, a.Host), a)

	// Changing the token frees the old one.
	a.PushToken = tokenB
	putMonitor(t, s, a)
	_, err := byToken(tokenA)
	expectNotFound(t, "MonitorByPushToken(the old token)", err)
	b := monitor.Monitor{Host: "push://b", Settings: monitor.Settings{PushToken: tokenA}}
	if !putMonitor(t, s, b) {
		t.Errorf("PutMonitor(push://b) with a freed token: created = false, want true")
	}
	for token, want := range map[string]monitor.Monitor{tokenA: b, tokenB: a} {
		if got, err := byToken(token); err != nil {
			t.Errorf("MonitorByPushToken(%s): %v", token, err)
		} else {
			expectMonitor(t, "MonitorByPushToken("+token+")", got, want)
		}
	}
	// Dropping a token frees it too.
	putMonitor(t, s, monitor.Monitor{Host: b.Host})
	_, err = byToken(tokenA)
	expectNotFound(t, "MonitorByPushToken(a dropped token)", err)
	_, err = byToken("")
	expectNotFound(t, "MonitorByPushToken(\"\") with hosts without tokens", err)
}

func monitorsEmptyHostRefused(t *testing.T, open opener) {
	s := open(t)
	for _, m := range []monitor.Monitor{{}, {Settings: monitor.Settings{Name: "x", PushToken: tokenA}}} {
		if _, err := s.PutMonitor(t.Context(), m); !errors.Is(err, store.ErrEmptyHost) {
			t.Errorf("PutMonitor(%s) = %v, want ErrEmptyHost", fmtMonitor(m), err)
		}
	}
	expectStrings(t, "Hosts", hostsOf(t, s), []string{})
	_, err := s.MonitorByPushToken(t.Context(), tokenA)
	expectNotFound(t, "MonitorByPushToken after a refused PutMonitor", err)
}

// expiry is a certificate's NotAfter: whole seconds, as certificates have.
func expiry(days int) time.Time {
	return time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, days)
}

func withCert(r store.Result, notAfter time.Time) store.Result {
	r.CertExpiry = notAfter
	return r
}

func monitorsDeleteHostRemovesSettingsTokenFacts(t *testing.T, open opener) {
	s := open(t)
	ctx := t.Context()
	before := store.AddedNow()
	m := fullMonitor("https://a.test")
	putMonitor(t, s, m)
	addHosts(t, s, "b.test")
	added := expectAdded(t, s, before, m.Host, "b.test")
	save(t, s, []store.Result{withCert(up(m.Host, "", slot(0), ms(1)), expiry(1)), withCert(up("b.test", "", slot(0), ms(1)), expiry(2))}, nil)
	if _, err := s.RecordPush(ctx, tokenA, slot(1), up("", "", slot(1), 0), nil); err != nil {
		t.Fatalf("RecordPush: %v", err)
	}
	if err := s.DeleteHost(ctx, m.Host); err != nil {
		t.Fatalf("DeleteHost: %v", err)
	}
	_, err := s.MonitorByPushToken(ctx, tokenA)
	expectNotFound(t, "MonitorByPushToken after DeleteHost", err)
	_, err = s.Monitor(ctx, m.Host)
	expectNotFound(t, "Monitor after DeleteHost", err)
	expectFacts(t, "Facts after DeleteHost", factsOf(t, s), []store.Facts{{Host: "b.test", CertExpiry: expiry(2), Added: added["b.test"]}})
	expectMonitors(t, "Monitors after DeleteHost", monitorsOf(t, s), []monitor.Monitor{{Host: "b.test"}})

	// Added again, the host is a clean one, added anew; its token is free.
	again := store.AddedNow()
	addHosts(t, s, m.Host)
	expectMonitor(t, "Monitor after AddHost", monitorOf(t, s, m.Host), monitor.Monitor{Host: m.Host})
	addedAgain := expectAdded(t, s, again, m.Host)
	expectFacts(t, "Facts after AddHost", factsOf(t, s), []store.Facts{
		{Host: "b.test", CertExpiry: expiry(2), Added: added["b.test"]}, {Host: m.Host, Added: addedAgain[m.Host]},
	})
	putMonitor(t, s, monitor.Monitor{Host: "push://other", Settings: monitor.Settings{PushToken: tokenA}})
}

func monitorsFactsFromCertExpiry(t *testing.T, open opener) {
	s := open(t)
	before := store.AddedNow()
	addHosts(t, s, "a.test", "b.test", "c.test")
	added := expectAdded(t, s, before, "a.test", "b.test", "c.test")
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	save(t, s, []store.Result{
		withCert(up("a.test", "", slot(0), ms(1)), expiry(10).In(paris)),
		up("b.test", "", slot(0), ms(1)),
		withCert(up("gone.test", "", slot(0), ms(1)), expiry(3)), // not stored: no facts
	}, nil)
	expectFacts(t, "Facts after round 1", factsOf(t, s), []store.Facts{
		{Host: "a.test", CertExpiry: expiry(10), Added: added["a.test"]}, {Host: "b.test", Added: added["b.test"]}, {Host: "c.test", Added: added["c.test"]},
	})
	for _, r := range allResults(t, s, "a.test") {
		if !r.CertExpiry.IsZero() {
			t.Errorf("a result read back with CertExpiry %v, want zero", r.CertExpiry)
		}
	}

	// A zero CertExpiry (a check that reached no handshake) keeps the
	// fact; a new one replaces it; two locations: the last result wins.
	save(t, s, []store.Result{
		down("a.test", "", slot(1), ms(1), "refused"),
		withCert(up("c.test", "eu", slot(1), ms(1)), expiry(5)),
		withCert(up("c.test", "us", slot(1), ms(1)), expiry(6)),
	}, nil)
	expectFacts(t, "Facts after round 2", factsOf(t, s), []store.Facts{
		{Host: "a.test", CertExpiry: expiry(10), Added: added["a.test"]}, {Host: "b.test", Added: added["b.test"]},
		{Host: "c.test", CertExpiry: expiry(6), Added: added["c.test"]},
	})
	save(t, s, []store.Result{withCert(up("a.test", "", slot(2), ms(1)), expiry(40))}, nil)
	// The same round again still records it (idempotent).
	save(t, s, []store.Result{withCert(up("a.test", "", slot(2), ms(1)), expiry(40))}, nil)
	expectFacts(t, "Facts after round 3", factsOf(t, s), []store.Facts{
		{Host: "a.test", CertExpiry: expiry(40), Added: added["a.test"]}, {Host: "b.test", Added: added["b.test"]},
		{Host: "c.test", CertExpiry: expiry(6), Added: added["c.test"]},
	})
}

func monitorsRecordPush(t *testing.T, open opener) {
	s := open(t)
	ctx := t.Context()
	m := monitor.Monitor{Host: "push://job", Settings: monitor.Settings{PushToken: tokenA}}
	before := store.AddedNow()
	putMonitor(t, s, m)
	added := expectAdded(t, s, before, m.Host)[m.Host]
	rule := store.Rule{Host: m.Host, Threshold: 1, Action: "http://127.0.0.1:9/push"}
	setRule(t, s, rule)
	rec := &recorder{}
	push := func(at time.Time, r store.Result) {
		t.Helper()
		host, err := s.RecordPush(ctx, tokenA, at, r, rec.alerting())
		if err != nil {
			t.Fatalf("RecordPush(%s): %v", fmtResult(r), err)
		}
		if host != m.Host {
			t.Errorf("RecordPush returned host %q, want %q", host, m.Host)
		}
	}
	// The result's host is the token's, whatever the caller put there.
	first := up("", "", slot(1), ms(3))
	push(slot(1).Add(20*time.Second), first)
	first.Host = m.Host
	expectResults(t, "Results after a push", allResults(t, s, m.Host), []store.Result{first})
	expectCalls(t, "advance after a push", rec.reset(), []advanceCall{{rule, store.State{Host: m.Host}, first}})
	state1 := nextState(store.State{}, first)
	expectState(t, "State after a push", stateOf(t, s, m.Host), state1)
	expectFacts(t, "Facts after a push", factsOf(t, s), []store.Facts{{Host: m.Host, LastPush: slot(1).Add(20 * time.Second), LastPushUp: true, Added: added}})

	// A second push in the same slot keeps the first result, calls no
	// advance, and moves LastPush on, with its own verdict: the newest
	// push said down.
	push(slot(1).Add(40*time.Second), down(m.Host, "", slot(1), ms(9), "failed"))
	expectResults(t, "Results after a second push in the slot", allResults(t, s, m.Host), []store.Result{first})
	expectCalls(t, "advance after a second push in the slot", rec.reset(), nil)
	expectState(t, "State after a second push in the slot", stateOf(t, s, m.Host), state1)
	expectFacts(t, "Facts after a second push", factsOf(t, s), []store.Facts{{Host: m.Host, LastPush: slot(1).Add(40 * time.Second), LastPushReason: "failed", Added: added}})

	// A push that arrives with an earlier time (a clock stepped back)
	// never moves LastPush back, nor changes its verdict; its result is
	// stored.
	second := down(m.Host, "", slot(2), ms(9), "stepped back")
	push(slot(1), second)
	expectResults(t, "Results after a third push", allResults(t, s, m.Host), []store.Result{first, second})
	expectCalls(t, "advance after a third push", rec.reset(), []advanceCall{{rule, state1, second}})
	expectDeliveries(t, "DueDeliveries after a down push", dueOf(t, s, farFuture, 10), []store.Delivery{pendingFor(rule, second)})
	expectFacts(t, "Facts after an earlier push", factsOf(t, s), []store.Facts{{Host: m.Host, LastPush: slot(1).Add(40 * time.Second), LastPushReason: "failed", Added: added}})

	// A nil advance stores the result only.
	third := up(m.Host, "", slot(3), ms(1))
	if _, err := s.RecordPush(ctx, tokenA, slot(3), third, nil); err != nil {
		t.Fatalf("RecordPush with a nil advance: %v", err)
	}
	expectState(t, "State after a push with a nil advance", stateOf(t, s, m.Host), nextState(state1, second))
	expectFacts(t, "Facts after a push with a nil advance", factsOf(t, s), []store.Facts{{Host: m.Host, LastPush: slot(3), LastPushUp: true, Added: added}})
}

func monitorsRecordPushUnknownToken(t *testing.T, open opener) {
	s := open(t)
	putMonitor(t, s, monitor.Monitor{Host: "push://job", Settings: monitor.Settings{PushToken: tokenA}})
	addHosts(t, s, "plain.test")
	factsBefore := factsOf(t, s)
	before := dump(t, s, "push://job")
	rec := &recorder{}
	for _, token := range []string{tokenB, "", tokenA + "x"} {
		host, err := s.RecordPush(t.Context(), token, slot(1), up("push://job", "", slot(1), ms(1)), rec.alerting())
		expectNotFound(t, "RecordPush("+token+")", err)
		if host != "" {
			t.Errorf("RecordPush(%q) returned host %q, want none", token, host)
		}
	}
	expectCalls(t, "advance after unknown tokens", rec.reset(), nil)
	if after := dump(t, s, "push://job"); after != before {
		t.Errorf("RecordPush of an unknown token changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	expectFacts(t, "Facts", factsOf(t, s), factsBefore)
}

// monitorsAddedOnEveryAddPath: AddHost, PutMonitor creating a host and
// Restore adding one record Facts.Added; nothing else changes it.
func monitorsAddedOnEveryAddPath(t *testing.T, open opener) {
	s := open(t)
	ctx := t.Context()
	before := store.AddedNow()
	addHosts(t, s, "added.test")
	putMonitor(t, s, monitor.Monitor{Host: "push://put", Settings: monitor.Settings{PushToken: tokenA}})
	if err := s.Restore(ctx, store.Restore{Hosts: []string{"restored.test", "added.test"}}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	added := expectAdded(t, s, before, "added.test", "push://put", "restored.test")
	want := []store.Facts{{Host: "added.test", Added: added["added.test"]}, {Host: "push://put", Added: added["push://put"]},
		{Host: "restored.test", Added: added["restored.test"]}}
	expectFacts(t, "Facts after adding", factsOf(t, s), want)

	// Replacing settings, restoring stored hosts, rounds and pushes keep it.
	putMonitor(t, s, monitor.Monitor{Host: "push://put", Settings: monitor.Settings{Name: "P", PushToken: tokenA}})
	putMonitor(t, s, monitor.Monitor{Host: "added.test", Settings: monitor.Settings{Name: "A"}})
	err := s.Restore(ctx, store.Restore{Hosts: []string{"push://put", "restored.test"}, Monitors: []monitor.Monitor{{Host: "restored.test"}}})
	if err != nil {
		t.Fatalf("Restore of stored hosts: %v", err)
	}
	save(t, s, []store.Result{withCert(up("added.test", "", slot(0), ms(1)), expiry(3))}, nil)
	if _, err := s.RecordPush(ctx, tokenA, slot(1), down("", "", slot(1), ms(1), "disk full"), nil); err != nil {
		t.Fatalf("RecordPush: %v", err)
	}
	want[0].CertExpiry = expiry(3)
	want[1].LastPush, want[1].LastPushReason = slot(1), "disk full"
	expectFacts(t, "Facts after changes", factsOf(t, s), want)
}

func monitorsRestore(t *testing.T, open opener) {
	s := open(t)
	addHosts(t, s, "stored.test", "kept.test")
	putMonitor(t, s, monitor.Monitor{Host: "kept.test", Settings: monitor.Settings{Name: "Kept"}})
	putMonitor(t, s, monitor.Monitor{Host: "stored.test", Settings: monitor.Settings{Name: "Old", PushToken: tokenB}})
	newM := fullMonitor("https://new.test")
	storedM := monitor.Monitor{Host: "stored.test", Settings: monitor.Settings{Group: "restored", PushToken: tokenB}}
	r := store.Restore{
		Hosts:    []string{"https://new.test"},
		Monitors: []monitor.Monitor{newM, storedM},
		Results:  emitAll([]store.Result{up("https://new.test", "", slot(0), ms(1))}, nil),
	}
	if err := s.Restore(t.Context(), r); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	expectMonitors(t, "Monitors after Restore", monitorsOf(t, s), []monitor.Monitor{
		newM, {Host: "kept.test", Settings: monitor.Settings{Name: "Kept"}}, storedM,
	})
	for token, host := range map[string]string{tokenA: newM.Host, tokenB: storedM.Host} {
		m, err := s.MonitorByPushToken(t.Context(), token)
		if err != nil || m.Host != host {
			t.Errorf("MonitorByPushToken(%s) = %q, %v; want %q", token, m.Host, err, host)
		}
	}
	// A monitor without settings clears the host's.
	if err := s.Restore(t.Context(), store.Restore{Monitors: []monitor.Monitor{{Host: "kept.test"}}}); err != nil {
		t.Fatalf("Restore of a monitor without settings: %v", err)
	}
	expectMonitor(t, "kept.test after restoring it without settings", monitorOf(t, s, "kept.test"), monitor.Monitor{Host: "kept.test"})
}

func monitorsRestoreRollsBack(t *testing.T, open opener) {
	for _, tc := range []struct {
		name    string
		r       store.Restore
		wantErr error
	}{
		{"UnknownHost", store.Restore{
			Hosts:    []string{"new.test"},
			Rules:    []store.Rule{{Host: "new.test", Threshold: 1, Action: "http://127.0.0.1:9/"}},
			Monitors: []monitor.Monitor{{Host: "new.test", Settings: monitor.Settings{Name: "N"}}, {Host: "unknown.test", Settings: monitor.Settings{Name: "U"}}},
		}, store.ErrNotFound},
		{"UnknownHostWithResults", store.Restore{
			Hosts:    []string{"new.test"},
			Monitors: []monitor.Monitor{{Host: "stored.test", Settings: monitor.Settings{Name: "S"}}, {Host: "unknown.test"}},
			Results:  emitAll([]store.Result{up("new.test", "", slot(0), ms(1)), up("stored.test", "", slot(5), ms(1))}, nil),
		}, store.ErrNotFound},
		{"StoredHostsToken", store.Restore{
			Hosts:    []string{"new.test"},
			Monitors: []monitor.Monitor{{Host: "new.test", Settings: monitor.Settings{Name: "N", PushToken: tokenA}}},
			Results:  emitAll([]store.Result{up("new.test", "", slot(0), ms(1))}, nil),
		}, store.ErrExists},
		{"TwoMonitorsOneToken", store.Restore{
			Hosts: []string{"new.test", "other.test"},
			Monitors: []monitor.Monitor{
				{Host: "new.test", Settings: monitor.Settings{PushToken: tokenB}},
				{Host: "other.test", Settings: monitor.Settings{PushToken: tokenB}},
			},
		}, store.ErrExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			putMonitor(t, s, monitor.Monitor{Host: "stored.test", Settings: monitor.Settings{Name: "Stored", PushToken: tokenA}})
			save(t, s, []store.Result{withCert(up("stored.test", "", slot(0), ms(1)), expiry(1))}, nil)
			before := dump(t, s, "new.test", "other.test", "unknown.test")
			if err := s.Restore(t.Context(), tc.r); !errors.Is(err, tc.wantErr) {
				t.Errorf("Restore = %v, want %v", err, tc.wantErr)
			}
			if after := dump(t, s, "new.test", "other.test", "unknown.test"); after != before {
				t.Errorf("a failed Restore changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func monitorsSnapshotSeesSettings(t *testing.T, open opener) {
	s := open(t)
	m := fullMonitor("https://a.test")
	putMonitor(t, s, m)
	addHosts(t, s, "b.test")
	want := []monitor.Monitor{{Host: "b.test"}, m}
	sn, ok := s.(store.Snapshotter)
	if !ok {
		expectMonitors(t, "Monitors", monitorsOf(t, s), want)
		return
	}
	err := sn.Snapshot(t.Context(), func(r store.Reader) error {
		// Changes after the snapshot's first read are not seen.
		expectStrings(t, "Hosts of the snapshot", hostsOf(t, r), []string{"b.test", m.Host})
		putMonitor(t, s, monitor.Monitor{Host: "b.test", Settings: monitor.Settings{Name: "later"}})
		expectMonitors(t, "Monitors of the snapshot", monitorsOf(t, r), want)
		return nil
	})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
}
