package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// Restore decodes the backup in body and applies it to st with one
// store.Restore, all or nothing: the hosts are validated as targets, the
// rules, monitors and checks field by field, and anything malformed, over a limit or
// not valid refuses the whole backup with an *Error that says what and
// where, st left as it was; opts.SkipInvalid skips what does not validate
// instead (see Options). An error of body's reader (the backup did not
// arrive whole) is returned wrapped, with its chain intact, so the caller
// can tell it from a bad backup; an error of st is returned as it is.
//
// Restored monitors are API-made (Source ""), whatever the backup says: a
// backup never makes a monitor file-managed. Maintenance windows are
// restored with their IDs: each replaces the stored window with its ID,
// or is added (see store.Restore). Push tokens are restored as
// they are; one that a stored host other than its own holds refuses the
// restore (store.ErrExists, from st).
//
// Checks stream straight from body into the store's transaction when
// "hosts" and "notifications" come before "checks", as gosrvmon writes
// them ("monitors" and "maintenance" must then come before "checks" too,
// as Encode writes them). A hand-written file with "checks" first (or without one of the
// others) is handled too: its checks are decoded and validated into a
// temporary file (a compact binary record per check), which is replayed
// into the transaction once the rest of the document is known. Memory
// stays bounded either way.
func Restore(ctx context.Context, st Store, body io.Reader, opts Options) (Counts, error) {
	var skips *skipList
	if opts.SkipInvalid {
		skips = &skipList{entries: []Skipped{}}
	}
	ir := &itemReader{r: body}
	doc := &backupDoc{rd: &backupReader{dec: json.NewDecoder(ir), in: ir}, full: opts.Full, skips: skips}
	defer doc.close()
	if err := doc.rd.delim('{', "a backup must be a JSON object"); err != nil {
		return Counts{}, err
	}
	direct, err := doc.fields()
	if err != nil {
		return Counts{}, err
	}
	// Validate rules against the hosts before anything is written.
	known, err := knownHosts(ctx, st, doc.hosts)
	if err != nil {
		return Counts{}, err
	}
	rules, err := rulesOfKnownHosts(doc.rules, known, skips)
	if err != nil {
		return Counts{}, err
	}
	monitors, err := monitorsOfKnownHosts(doc.monitors, known, skips)
	if err != nil {
		return Counts{}, err
	}
	hosts := doc.hosts
	if hosts == nil {
		hosts = []string{}
	}
	res := store.Restore{Hosts: hosts, Rules: rules, Monitors: monitors, Maintenance: doc.windows}
	var emitted int64
	count := func(emit func(store.Result) error) func(store.Result) error {
		return func(r store.Result) error { emitted++; return emit(r) }
	}
	checkHost := known.checkHost(skips)
	switch {
	case direct:
		res.Results = func(ctx context.Context, emit func(store.Result) error) error {
			return doc.streamChecks(checkHost, count(emit))
		}
	case doc.spool != nil:
		if err := doc.spool.dropHosts(checkHost); err != nil {
			return Counts{}, err
		}
		res.Results = func(ctx context.Context, emit func(store.Result) error) error {
			return doc.spool.replay(count(emit))
		}
	}
	if err := st.Restore(ctx, res); err != nil {
		return Counts{}, err
	}
	n := Counts{Hosts: len(hosts), Notifications: len(rules), Monitors: len(monitors), Maintenance: len(doc.windows), Checks: emitted}
	if skips != nil {
		n.Skipped, n.SkippedTotal = skips.entries, skips.total
	}
	return n, nil
}

// hostSet is the hosts whose rules and checks a restore applies: those of
// the backup and those stored.
type hostSet map[string]bool

// knownHosts returns the hosts stored and those of the backup.
func knownHosts(ctx context.Context, st Store, hosts []string) (hostSet, error) {
	stored, err := st.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	known := make(hostSet, len(stored)+len(hosts))
	for _, h := range stored {
		known[h] = true
	}
	for _, h := range hosts {
		known[h] = true
	}
	return known, nil
}

// checkHost returns the func that reports whether the checks of a host
// are restored: they are when it is known; otherwise they are skipped, or
// refuse the backup.
func (known hostSet) checkHost(skips *skipList) func(h string) (bool, error) {
	return func(h string) (bool, error) {
		if known[h] {
			return true, nil
		}
		return false, skips.skip("checks of host "+quoteShort(h), errors.New("the host is neither in the backup's hosts nor stored"))
	}
}

// rulesOfKnownHosts returns the rules whose host is known; any other is
// skipped, or refuses the backup.
func rulesOfKnownHosts(rs []indexedRule, known hostSet, skips *skipList) ([]store.Rule, error) {
	rules := make([]store.Rule, 0, len(rs))
	for _, r := range rs {
		if !known[r.rule.Host] {
			err := fmt.Errorf("host %s is neither in the backup's hosts nor stored", quoteShort(r.rule.Host))
			if err := skips.skip(fmt.Sprintf("notifications[%d]", r.index), err); err != nil {
				return nil, err
			}
			continue
		}
		rules = append(rules, r.rule)
	}
	return rules, nil
}

// monitorsOfKnownHosts returns the monitors whose host is known; any
// other is skipped, or refuses the backup.
func monitorsOfKnownHosts(ms []indexedMonitor, known hostSet, skips *skipList) ([]monitor.Monitor, error) {
	monitors := make([]monitor.Monitor, 0, len(ms))
	for _, m := range ms {
		if !known[m.monitor.Host] {
			err := fmt.Errorf("host %s is neither in the backup's hosts nor stored", quoteShort(m.monitor.Host))
			if err := skips.skip(fmt.Sprintf("monitors[%d]", m.index), err); err != nil {
				return nil, err
			}
			continue
		}
		monitors = append(monitors, m.monitor)
	}
	return monitors, nil
}

// validTarget checks a host with gosrvmon's target syntax (probe.Parse),
// in the words the API uses for a host it refuses.
func validTarget(host string) error {
	if _, err := probe.Parse(host); err != nil {
		return fmt.Errorf("host %q is not acceptable: %v", host, err)
	}
	return nil
}

// backupDoc is a backup's top level as restore reads it.
type backupDoc struct {
	rd    *backupReader
	full  bool      // restoring checks (Options.Full)
	skips *skipList // nil: all or nothing
	hosts []string  // the valid ones
	rules []indexedRule
	// ruleBytes counts the bytes of the rules kept.
	ruleBytes int
	monitors  []indexedMonitor
	// monitorBytes counts the bytes of the monitors kept; tokens maps
	// their push tokens to their index.
	monitorBytes int
	tokens       map[string]int
	// windows are the valid maintenance windows; windowBytes counts
	// their bytes; windowIDs maps their IDs to their index.
	windows     []monitor.Maintenance
	windowBytes int
	windowIDs   map[int64]int
	// streaming: the checks have streamed into the store already.
	streaming bool
	// spool holds checks read before "hosts" and "notifications".
	spool                                          *spool
	seenHosts, seenRules, seenMonitors, seenChecks bool
	seenMaintenance                                bool
}

// indexedRule is a valid rule with its position in "notifications".
type indexedRule struct {
	index int
	rule  store.Rule
}

// indexedMonitor is a valid monitor with its position in "monitors".
type indexedMonitor struct {
	index   int
	monitor monitor.Monitor
}

// fields reads the object's fields up to its end, or up to the value of
// "checks" when they can stream straight into the store (they come after
// "hosts" and "notifications", as gosrvmon writes them): direct says so.
// "checks" before either of the others are spooled; without Options.Full
// they are skipped; any field twice refuses the backup; unknown fields are
// skipped, as gosrvmon ignores them.
func (d *backupDoc) fields() (direct bool, err error) {
	rd := d.rd
	for rd.more() {
		key, err := rd.key()
		if err != nil {
			return false, err
		}
		var seen *bool
		switch key {
		case "hosts":
			seen = &d.seenHosts
		case "notifications":
			seen = &d.seenRules
		case "monitors":
			seen = &d.seenMonitors
		case "maintenance":
			seen = &d.seenMaintenance
		case "checks":
			seen = &d.seenChecks
		}
		if seen != nil {
			if *seen {
				return false, errorf("backup has %q twice", key)
			}
			*seen = true
		}
		switch key {
		case "hosts":
			err = rd.array(`"hosts"`, d.host)
		case "notifications":
			err = rd.array(`"notifications"`, d.rule)
		case "monitors":
			if d.streaming {
				// The store has its monitors already.
				return false, errorf(`backup has "monitors" after "checks": write it before`)
			}
			err = rd.arrayWithin(`"monitors"`, MaxMonitorItem, d.monitor)
		case "maintenance":
			if d.streaming {
				// The store has its windows already.
				return false, errorf(`backup has "maintenance" after "checks": write it before`)
			}
			err = rd.arrayWithin(`"maintenance"`, MaxMaintenanceItem, d.window)
		case "checks":
			switch {
			case !d.full:
				// Hosts and rules only, as gosrvmon's /api/backup.
				err = rd.skip(1)
			case d.seenHosts && d.seenRules:
				return true, nil // stream the checks inside the transaction
			default:
				if d.spool, err = newSpool(); err == nil {
					err = rd.checks(d.spool.write)
				}
			}
		default:
			err = rd.skip(1)
		}
		if err != nil {
			return false, err
		}
	}
	return false, rd.end()
}

// host reads hosts[i]: a target, kept when it validates.
func (d *backupDoc) host(i int, raw []byte) error {
	var h string
	if err := json.Unmarshal(raw, &h); err != nil {
		return errorf("bad backup at byte %d: hosts[%d] is not a string", d.rd.dec.InputOffset(), i)
	}
	err := checkJSONText(raw, 2)
	if err == nil {
		err = validTarget(h)
	}
	if err != nil {
		return d.skips.skip(fmt.Sprintf("hosts[%d]", i), err)
	}
	d.hosts = append(d.hosts, h)
	return nil
}

// rule reads notifications[i]: gosrvmon's {"host","threshold","action"}
// and srvmon's fields, channels whole, kept when it validates
// (notify.CheckRule; its host is checked once every host is known).
func (d *backupDoc) rule(i int, raw []byte) error {
	var r store.Rule
	if err := json.Unmarshal(raw, &r); err != nil {
		return errorf("bad backup at byte %d: notifications[%d]: %v", d.rd.dec.InputOffset(), i, err)
	}
	err := checkJSONText(raw, 2)
	if err == nil {
		err = notify.CheckRule(r)
	}
	if err != nil {
		return d.skips.skip(fmt.Sprintf("notifications[%d]", i), err)
	}
	if d.ruleBytes += len(raw); d.ruleBytes > MaxRuleBytes {
		return errorf(`"notifications" is larger than the limit of %d MiB`, MaxRuleBytes>>20)
	}
	d.rules = append(d.rules, indexedRule{i, r})
	return nil
}

// monitor reads monitors[i]: a host with its settings (pkg/monitor's
// JSON), kept, as an API-made monitor, when it validates (its host is
// checked once every host is known).
func (d *backupDoc) monitor(i int, raw []byte) error {
	what := fmt.Sprintf("monitors[%d]", i)
	var m monitor.Monitor
	err := json.Unmarshal(raw, &m)
	if err == nil {
		err = checkJSON(raw, 2, true)
	}
	if err == nil {
		m.Source = monitor.SourceAPI
		err = monitor.Validate(m, monitor.Limits{})
	}
	if err == nil && m.PushToken != "" {
		if j, ok := d.tokens[m.PushToken]; ok {
			err = fmt.Errorf("push_token: the same as monitors[%d]'s", j)
		}
	}
	if err != nil {
		return d.skips.skip(what, err)
	}
	if d.monitorBytes += len(raw); d.monitorBytes > MaxMonitorBytes {
		return errorf(`"monitors" is larger than the limit of %d MiB`, MaxMonitorBytes>>20)
	}
	if m.PushToken != "" {
		if d.tokens == nil {
			d.tokens = map[string]int{}
		}
		d.tokens[m.PushToken] = i
	}
	d.monitors = append(d.monitors, indexedMonitor{i, m})
	return nil
}

// window reads maintenance[i]: a maintenance window (pkg/monitor's JSON,
// its ID included), kept when it validates (monitor.ValidateMaintenance)
// and no earlier window has its ID. A window without an ID is added with
// a new one.
func (d *backupDoc) window(i int, raw []byte) error {
	var w monitor.Maintenance
	err := json.Unmarshal(raw, &w)
	if err == nil {
		err = checkJSONText(raw, 2)
	}
	if err == nil {
		err = monitor.ValidateMaintenance(w)
	}
	if err == nil && w.ID != 0 {
		if j, ok := d.windowIDs[w.ID]; ok {
			err = fmt.Errorf("id: %d, the same as maintenance[%d]'s", w.ID, j)
		}
	}
	if err != nil {
		return d.skips.skip(fmt.Sprintf("maintenance[%d]", i), err)
	}
	if d.windowBytes += len(raw); d.windowBytes > MaxMaintenanceBytes {
		return errorf(`"maintenance" is larger than the limit of %d MiB`, MaxMaintenanceBytes>>20)
	}
	if w.ID != 0 {
		if d.windowIDs == nil {
			d.windowIDs = map[int64]int{}
		}
		d.windowIDs[w.ID] = i
	}
	d.windows = append(d.windows, w)
	return nil
}

// streamChecks reads the value of "checks" straight into emit, then the
// rest of the document: all three fields are seen by then, so fields
// stops at the end and nothing streams again.
func (d *backupDoc) streamChecks(checkHost func(string) (bool, error), emit func(store.Result) error) error {
	d.streaming = true
	if err := d.rd.checksOf(checkHost, emit); err != nil {
		return err
	}
	_, err := d.fields()
	return err
}

func (d *backupDoc) close() {
	if d.spool != nil {
		d.spool.close()
	}
}
