// Package memory is a store.Store that keeps everything in process memory:
// for tests, and for gosrvmon's in-memory database (DB.Database "").
// Nothing survives the process.
//
// Each host's results are a slice sorted by (slot, location); ranges are
// found by binary search. One sync.RWMutex guards the store; streams copy
// a chunk of results under the read lock and call back without it, so a
// slow reader never blocks writers.
package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// chunk is how many results a stream copies under one read lock.
const chunk = 1024

// errClosed is returned by every method of a closed Store.
var errClosed = errors.New("memory store: closed")

// Store keeps hosts, results, rules, notification state and deliveries in
// memory. Its zero value is an empty store ready to use; it must not be
// copied after first use. It is safe for concurrent use.
type Store struct {
	mu         sync.RWMutex
	closed     bool
	hosts      map[string]*hostData
	deliveries map[int64]*store.Delivery
	lastID     int64             // the last delivery ID given out
	pushTokens map[string]string // push token → host
	windows    maintenanceWindows
	locations  []store.Location // by name
}

var _ store.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store { return &Store{} }

// hostData is everything kept for one host.
type hostData struct {
	results  []entry     // sorted by (slot, location), unique
	rule     *store.Rule // nil when the host has none
	state    store.State // zero when the host has none
	settings monitor.Settings
	source   string
	facts    store.Facts // Host is empty when the host has no facts
}

// entry is one stored result; the host is the map key.
type entry struct {
	sec    int64 // slot: seconds since the Unix epoch
	rtt    time.Duration
	loc    string
	reason string
	nsec   int32 // slot: nanoseconds within the second
	up     bool
	maint  bool // Result.Maintenance
}

func entryOf(r store.Result) entry {
	return entry{sec: r.Slot.Unix(), nsec: int32(r.Slot.Nanosecond()), rtt: r.RTT, loc: r.Location, reason: r.Reason, up: r.Up, maint: r.Maintenance}
}

func (e *entry) slot() time.Time { return time.Unix(e.sec, int64(e.nsec)).UTC() }

func (e *entry) result(host string) store.Result {
	return store.Result{Host: host, Location: e.loc, Slot: e.slot(), RTT: e.rtt, Up: e.up, Reason: e.reason, Maintenance: e.maint}
}

// compareSlot orders an entry against the slot (sec, nsec).
func compareSlot(e entry, sec int64, nsec int32) int {
	if c := cmp.Compare(e.sec, sec); c != 0 {
		return c
	}
	return cmp.Compare(e.nsec, nsec)
}

// compareEntries orders entries by slot, then location.
func compareEntries(a, b entry) int {
	if c := compareSlot(a, b.sec, b.nsec); c != 0 {
		return c
	}
	return strings.Compare(a.loc, b.loc)
}

// lowerBound returns the index of the first entry at or after t.
func lowerBound(es []entry, t time.Time) int {
	sec, nsec := t.Unix(), int32(t.Nanosecond())
	i, _ := slices.BinarySearchFunc(es, entry{}, func(e, _ entry) int { return compareSlot(e, sec, nsec) })
	return i
}

// after returns the index of the first entry after e.
func after(es []entry, e entry) int {
	i, found := slices.BinarySearchFunc(es, e, compareEntries)
	if found {
		i++
	}
	return i
}

// insert adds e unless an entry with its key is stored, and reports
// whether it did.
func (h *hostData) insert(e entry) bool {
	if n := len(h.results); n == 0 || compareEntries(h.results[n-1], e) < 0 {
		h.results = append(h.results, e) // the usual case: a new slot
		return true
	}
	i, found := slices.BinarySearchFunc(h.results, e, compareEntries)
	if !found {
		h.results = slices.Insert(h.results, i, e)
	}
	return !found
}

// rlock read-locks an open store for a call with ctx; on success the
// caller unlocks with s.mu.RUnlock.
func (s *Store) rlock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	return nil
}

// lock write-locks an open store for a call with ctx; on success the
// caller unlocks with s.mu.Unlock.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	if s.hosts == nil {
		s.hosts = make(map[string]*hostData)
		s.deliveries = make(map[int64]*store.Delivery)
		s.pushTokens = make(map[string]string)
	}
	return nil
}

// notFound is the error for a host that is not stored.
func notFound(host string) error { return fmt.Errorf("memory: host %q: %w", host, store.ErrNotFound) }

// Hosts lists the hosts in lexical order; never nil.
func (s *Store) Hosts(ctx context.Context) ([]string, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	hosts := make([]string, 0, len(s.hosts))
	for h := range s.hosts {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	return hosts, nil
}

// AddHost adds a host; ErrExists if it is stored.
func (s *Store) AddHost(ctx context.Context, host string) error {
	if err := store.CheckHostName(host); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.hosts[host] != nil {
		return fmt.Errorf("memory: host %q: %w", host, store.ErrExists)
	}
	s.hosts[host] = newHostData(host)
	return nil
}

// newHostData is the data of a host added now: its facts hold Added.
func newHostData(host string) *hostData {
	return &hostData{facts: store.Facts{Host: host, Added: store.AddedNow()}}
}

// DeleteHost deletes the host with its results, rule, state and
// deliveries; ErrNotFound if it is not stored.
func (s *Store) DeleteHost(ctx context.Context, host string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.hosts[host] == nil {
		return notFound(host)
	}
	delete(s.pushTokens, s.hosts[host].settings.PushToken)
	delete(s.hosts, host)
	maps.DeleteFunc(s.deliveries, func(_ int64, d *store.Delivery) bool { return d.Host == host })
	return nil
}

// HostExists reports whether the host is stored.
func (s *Store) HostExists(ctx context.Context, host string) (bool, error) {
	if err := s.rlock(ctx); err != nil {
		return false, err
	}
	defer s.mu.RUnlock()
	return s.hosts[host] != nil, nil
}

// SaveRound stores a round's results, advances notification state and
// enqueues deliveries, all under one write lock. alerting's funcs are
// called with the lock held and must not call the store.
func (s *Store) SaveRound(ctx context.Context, results []store.Result, alerting *store.Alerting) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.save(results, alerting)
}

// save is SaveRound with the write lock held. A decision that
// CheckDecision refuses undoes the save, as a rolled back transaction
// would.
func (s *Store) save(results []store.Result, alerting *store.Alerting) error {
	type undo struct {
		h        *hostData
		e        entry
		inserted bool
		facts    store.Facts
	}
	var undos []undo
	for _, r := range results {
		h := s.hosts[r.Host]
		if h == nil {
			continue // deleted during the round
		}
		r.Slot = r.Slot.UTC()
		u := undo{h: h, e: entryOf(r), facts: h.facts}
		u.inserted = h.insert(u.e)
		if !r.CertExpiry.IsZero() {
			h.facts.Host = r.Host
			h.facts.CertExpiry = r.CertExpiry.UTC()
		}
		if alerting != nil {
			undos = append(undos, u)
		}
	}
	locations := s.locations
	s.locations = store.MergeLocations(s.locations, store.SavedLocations(results))
	if alerting == nil || len(results) == 0 {
		return nil
	}
	err := s.alert(results, alerting)
	if err != nil {
		s.locations = locations
		for _, u := range slices.Backward(undos) {
			u.h.facts = u.facts
			if i, found := slices.BinarySearchFunc(u.h.results, u.e, compareEntries); u.inserted && found {
				u.h.results = slices.Delete(u.h.results, i, i+1)
			}
		}
	}
	return err
}

// alert is SaveRound's alerting (see store.Alerting), with the write
// lock held.
func (s *Store) alert(results []store.Result, alerting *store.Alerting) error {
	in := store.AlertInput{
		Results:   results,
		Rules:     map[string]store.Rule{},
		States:    map[string]store.State{},
		Stored:    map[string][]store.Result{},
		Locations: slices.Clone(s.locations),
	}
	newest := store.NewestSlot(results)
	from := alerting.StoredFrom(newest)
	for _, host := range alerting.AlertHosts(results) {
		h := s.hosts[host]
		if h == nil || h.rule == nil {
			continue
		}
		in.Rules[host] = *cloneRule(*h.rule)
		st := h.state
		st.Host = host
		in.States[host] = st
		var stored []store.Result
		for i := lowerBound(h.results, from); i < len(h.results); i++ {
			r := h.results[i].result(host)
			if r.Slot.After(newest) {
				break
			}
			if r.Slot.After(st.LastSlot) {
				stored = append(stored, r)
			}
		}
		in.Stored[host] = stored
	}
	if len(in.Rules) == 0 {
		return nil
	}
	states, deliveries := alerting.Decide(in)
	if err := store.CheckDecision(in, states, deliveries); err != nil {
		return fmt.Errorf("memory: save round: %w", err)
	}
	for _, st := range states {
		st.Locations = slices.Clone(st.Locations)
		s.hosts[st.Host].state = st
	}
	for _, d := range deliveries {
		s.enqueue(d.Host, d)
	}
	return nil
}

// enqueue stores d as a new delivery for host. The caller holds the write lock.
func (s *Store) enqueue(host string, d store.Delivery) {
	s.lastID++
	d.ID = s.lastID
	if d.Host == "" {
		d.Host = host
	}
	if d.Status == "" {
		d.Status = store.DeliveryPending
	}
	d.Created = d.Created.UTC()
	d.NextAttempt = d.NextAttempt.UTC()
	s.deliveries[d.ID] = &d
}

// Results streams a host's results in [start, end), oldest first and by
// location within a slot. It holds no lock while fn runs; results saved
// meanwhile may or may not be seen. If the host is deleted meanwhile, the
// stream ends.
func (s *Store) Results(ctx context.Context, host string, start, end time.Time, fn func(store.Result) error) error {
	var buf []entry
	var last entry // the last entry streamed, once resumed
	for resumed := false; ; resumed = true {
		var more bool
		var err error
		buf, more, err = s.readChunk(ctx, host, start, end, last, resumed, buf)
		if err != nil || buf == nil {
			return err // an error, or the host was deleted meanwhile
		}
		for i := range buf {
			if err := fn(buf[i].result(host)); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		last = buf[len(buf)-1]
	}
}

// readChunk copies into buf up to chunk of host's results in [start, end),
// after last when resumed, and reports whether more follow. It returns a
// nil buf when the host is not stored: an error at first, the end of the
// stream when resumed (the host was deleted meanwhile).
func (s *Store) readChunk(ctx context.Context, host string, start, end time.Time, last entry, resumed bool, buf []entry) ([]entry, bool, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, false, err
	}
	defer s.mu.RUnlock()
	h := s.hosts[host]
	if h == nil {
		if !resumed {
			return nil, false, notFound(host)
		}
		return nil, false, nil
	}
	lo := lowerBound(h.results, start)
	if resumed {
		lo = after(h.results, last)
	}
	hi := max(lo, lowerBound(h.results, end))
	if buf == nil {
		buf = make([]entry, 0, min(hi-lo, chunk))
	}
	buf = append(buf[:0], h.results[lo:min(hi, lo+chunk)]...)
	return buf, hi-lo > chunk, nil
}

// Checks streams a host's merged checks in [start, end), oldest first.
func (s *Store) Checks(ctx context.Context, host string, start, end time.Time, fn func(store.Check) error) error {
	return store.ChecksFromResults(ctx, s, host, start, end, fn)
}

// LastCheck returns the host's newest merged check.
func (s *Store) LastCheck(ctx context.Context, host string) (store.Check, bool, error) {
	if err := s.rlock(ctx); err != nil {
		return store.Check{}, false, err
	}
	defer s.mu.RUnlock()
	h := s.hosts[host]
	if h == nil {
		return store.Check{}, false, notFound(host)
	}
	n := len(h.results)
	if n == 0 {
		return store.Check{}, false, nil
	}
	newest := h.results[n-1]
	i := n - 1
	for i > 0 && compareSlot(h.results[i-1], newest.sec, newest.nsec) == 0 {
		i--
	}
	rs := make([]store.Result, 0, n-i)
	for j := i; j < n; j++ {
		rs = append(rs, h.results[j].result(host))
	}
	return store.MergeSlot(rs), true, nil
}

// Buckets summarises the host's merged checks in [start, end) split into
// at most n buckets.
func (s *Store) Buckets(ctx context.Context, host string, start, end time.Time, n int) ([]store.Bucket, error) {
	b := store.NewBucketer(start, end, n)
	err := s.Checks(ctx, host, start, end, func(c store.Check) error {
		b.Add(c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.Buckets(), nil
}

// DeleteResultsBefore deletes results before t, one host per lock, and
// finished deliveries created before t.
func (s *Store) DeleteResultsBefore(ctx context.Context, t time.Time) (int64, error) {
	hosts, err := s.Hosts(ctx)
	if err != nil {
		return 0, err
	}
	var deleted int64
	for _, host := range hosts {
		n, err := s.deleteBefore(ctx, host, t)
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	if err := s.lock(ctx); err != nil {
		return deleted, err
	}
	defer s.mu.Unlock()
	maps.DeleteFunc(s.deliveries, func(_ int64, d *store.Delivery) bool {
		return d.Status != store.DeliveryPending && d.Created.Before(t)
	})
	return deleted, nil
}

// deleteBefore deletes host's results before t under one write lock.
func (s *Store) deleteBefore(ctx context.Context, host string, t time.Time) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	h := s.hosts[host]
	if h == nil {
		return 0, nil // deleted meanwhile
	}
	i := lowerBound(h.results, t)
	clear(h.results[:i]) // drop the strings they hold
	rest := h.results[i:]
	if i > len(rest) {
		rest = slices.Clone(rest) // free the deleted front
	}
	h.results = rest
	return int64(i), nil
}

// Rules lists every rule by host; never nil.
func (s *Store) Rules(ctx context.Context) ([]store.Rule, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	rules := []store.Rule{}
	for _, h := range s.hosts {
		if h.rule != nil {
			rules = append(rules, *cloneRule(*h.rule))
		}
	}
	slices.SortFunc(rules, func(a, b store.Rule) int { return strings.Compare(a.Host, b.Host) })
	return rules, nil
}

// Rule returns the host's rule; ErrNotFound if it has none.
func (s *Store) Rule(ctx context.Context, host string) (store.Rule, error) {
	if err := s.rlock(ctx); err != nil {
		return store.Rule{}, err
	}
	defer s.mu.RUnlock()
	h := s.hosts[host]
	if h == nil {
		return store.Rule{}, notFound(host)
	}
	if h.rule == nil {
		return store.Rule{}, fmt.Errorf("memory: rule of host %q: %w", host, store.ErrNotFound)
	}
	return *cloneRule(*h.rule), nil
}

// SetRule adds or replaces the rule of a stored host.
func (s *Store) SetRule(ctx context.Context, r store.Rule) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	h := s.hosts[r.Host]
	if h == nil {
		return notFound(r.Host)
	}
	h.rule = cloneRule(r)
	return nil
}

// cloneRule returns a copy of r that shares no slice with it; an empty
// Channels becomes nil, as the other backends read it.
func cloneRule(r store.Rule) *store.Rule {
	r.Channels = slices.Clone(r.Channels)
	if len(r.Channels) == 0 {
		r.Channels = nil
	}
	return &r
}

// DeleteRule deletes the host's rule and state.
func (s *Store) DeleteRule(ctx context.Context, host string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	h := s.hosts[host]
	if h == nil {
		return notFound(host)
	}
	if h.rule == nil {
		return fmt.Errorf("memory: rule of host %q: %w", host, store.ErrNotFound)
	}
	h.rule = nil
	h.state = store.State{}
	return nil
}

// State returns the host's notification state, the zero State with Host
// set when it has none.
func (s *Store) State(ctx context.Context, host string) (store.State, error) {
	if err := s.rlock(ctx); err != nil {
		return store.State{}, err
	}
	defer s.mu.RUnlock()
	st := store.State{Host: host}
	if h := s.hosts[host]; h != nil && h.rule != nil {
		st = h.state
		st.Host = host
		st.Locations = slices.Clone(st.Locations)
	}
	return st, nil
}

// States lists every stored notification state, by host; never nil.
func (s *Store) States(ctx context.Context) ([]store.State, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	states := []store.State{}
	for host, h := range s.hosts {
		if h.rule != nil && h.state.Host != "" { // a state is stored
			st := h.state
			st.Host = host
			st.Locations = slices.Clone(st.Locations)
			states = append(states, st)
		}
	}
	slices.SortFunc(states, func(a, b store.State) int { return strings.Compare(a.Host, b.Host) })
	return states, nil
}

// Deliveries lists up to limit deliveries, every host's or host's, newest
// first; never nil.
func (s *Store) Deliveries(ctx context.Context, host string, limit int) ([]store.Delivery, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	ds := []store.Delivery{}
	for _, d := range s.deliveries {
		if host == "" || d.Host == host {
			ds = append(ds, *d)
		}
	}
	return store.SortDeliveriesNewestFirst(ds, limit), nil
}

// Locations lists every location that has saved results, by name; never
// nil.
func (s *Store) Locations(ctx context.Context) ([]store.Location, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	return append([]store.Location{}, s.locations...), nil
}

// DueDeliveries lists up to limit pending deliveries whose NextAttempt is
// not after now, by NextAttempt and then by ID; never nil.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	due := s.due(now, limit)
	out := make([]store.Delivery, len(due))
	for i, d := range due {
		out[i] = *d
	}
	return out, nil
}

// ClaimDeliveries claims, under the write lock, up to limit deliveries due
// at now, each its host's next one (see store.Store): one more attempt
// each, leased until until.
func (s *Store) ClaimDeliveries(ctx context.Context, now, until time.Time, limit int) ([]store.Delivery, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if limit <= 0 {
		return []store.Delivery{}, nil
	}
	p := store.NewClaimPicker(now)
	for _, d := range s.deliveries {
		if d.Status == store.DeliveryPending {
			p.Add(*d)
		}
	}
	ids := p.Pick(limit)
	out := make([]store.Delivery, len(ids))
	for i, id := range ids {
		d := s.deliveries[id]
		d.Attempts++
		d.NextAttempt = until.UTC()
		out[i] = *d
	}
	return out, nil
}

// due returns up to limit pending deliveries whose NextAttempt is not
// after now, by NextAttempt and then ID. The caller holds a lock.
func (s *Store) due(now time.Time, limit int) []*store.Delivery {
	due := []*store.Delivery{}
	for _, d := range s.deliveries {
		if d.Status == store.DeliveryPending && !d.NextAttempt.After(now) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(a, b *store.Delivery) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return due[:min(len(due), max(limit, 0))]
}

// UpdateDelivery records an attempt's outcome: Attempts, NextAttempt,
// LastError and Status of the delivery with d.ID, unless it is stale (see
// store.Store).
func (s *Store) UpdateDelivery(ctx context.Context, d store.Delivery) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	stored := s.deliveries[d.ID]
	if stored == nil {
		return fmt.Errorf("memory: delivery %d: %w", d.ID, store.ErrNotFound)
	}
	if stored.Status != store.DeliveryPending || stored.Attempts > d.Attempts {
		return fmt.Errorf("memory: delivery %d (%s, attempts %d; update with attempts %d): %w",
			d.ID, stored.Status, stored.Attempts, d.Attempts, store.ErrStale)
	}
	stored.Attempts = d.Attempts
	stored.NextAttempt = d.NextAttempt.UTC()
	stored.LastError = d.LastError
	stored.Status = d.Status
	return nil
}

// Restore applies a backup all-or-nothing. The results are gathered
// without holding the lock (the Results func may read a slow request
// body) and applied under one write lock once they all arrived.
func (s *Store) Restore(ctx context.Context, r store.Restore) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	inBackup := make(map[string]bool, len(r.Hosts))
	for _, h := range r.Hosts {
		if err := store.CheckHostName(h); err != nil {
			return fmt.Errorf("memory: restore: %w", err)
		}
		inBackup[h] = true
	}
	staged := make(map[string][]entry)
	var locs store.LocationSet
	if r.Results != nil {
		var err error
		if staged, err = s.gather(ctx, store.TrackLocations(r.Results, &locs), inBackup); err != nil {
			return err
		}
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	// Hosts stored when their results arrived may have been deleted since.
	if err := s.checkRestoredMonitors(r.Monitors, inBackup); err != nil {
		return err
	}
	if err := store.CheckRestoredMaintenance(r.Maintenance); err != nil {
		return fmt.Errorf("memory: restore: %w", err)
	}
	for _, rule := range r.Rules {
		if !inBackup[rule.Host] && s.hosts[rule.Host] == nil {
			return fmt.Errorf("memory: restore: a rule for host %q, which is neither in the backup's hosts nor stored: %w",
				rule.Host, store.ErrNotFound)
		}
	}
	for h := range staged {
		if !inBackup[h] && s.hosts[h] == nil {
			return fmt.Errorf("memory: restore: host %q was deleted during the restore: %w", h, store.ErrNotFound)
		}
	}
	for _, h := range r.Hosts {
		if s.hosts[h] == nil {
			s.hosts[h] = newHostData(h)
		}
	}
	for _, rule := range r.Rules {
		s.hosts[rule.Host].rule = cloneRule(rule)
	}
	for _, m := range r.Monitors {
		s.setMonitor(s.hosts[m.Host], m)
	}
	s.windows.restore(r.Maintenance)
	for h, es := range staged {
		hd := s.hosts[h]
		hd.results = merge(hd.results, es)
	}
	s.locations = store.MergeLocations(s.locations, locs.Locations())
	return nil
}

// gather collects the results that results streams, by host, each host's
// sorted and without repeated keys (the first one wins). A result's host
// must be in inBackup or stored.
func (s *Store) gather(ctx context.Context, results func(context.Context, func(store.Result) error) error,
	inBackup map[string]bool,
) (map[string][]entry, error) {
	staged := make(map[string][]entry)
	allowed := make(map[string]bool) // hosts seen so far: in the backup or stored
	var emitErr error
	emitted := 0
	emit := func(res store.Result) error {
		if emitErr != nil {
			return emitErr
		}
		if emitted++; emitted%chunk == 0 {
			if emitErr = ctx.Err(); emitErr != nil {
				return emitErr
			}
		}
		ok, seen := allowed[res.Host]
		if !seen {
			if ok = inBackup[res.Host]; !ok {
				if ok, emitErr = s.HostExists(ctx, res.Host); emitErr != nil {
					return emitErr
				}
			}
			allowed[res.Host] = ok
		}
		if !ok {
			emitErr = fmt.Errorf("a result for host %q, which is neither in the backup's hosts nor stored: %w",
				res.Host, store.ErrNotFound)
			return emitErr
		}
		staged[res.Host] = append(staged[res.Host], entryOf(res))
		return nil
	}
	if err := results(ctx, emit); err != nil {
		return nil, fmt.Errorf("memory: restore: %w", err)
	}
	if emitErr != nil {
		return nil, fmt.Errorf("memory: restore: %w", emitErr)
	}
	for h, es := range staged {
		if !slices.IsSortedFunc(es, compareEntries) {
			slices.SortStableFunc(es, compareEntries)
		}
		staged[h] = slices.CompactFunc(es, func(a, b entry) bool { return compareEntries(a, b) == 0 })
	}
	return staged, nil
}

// merge merges two sorted, unique entry slices; on equal keys the stored
// entry wins. Only the stored entries from the first restored key on are
// moved: restoring after what is stored costs what it brings.
func merge(stored, restored []entry) []entry {
	switch {
	case len(restored) == 0:
		return stored
	case len(stored) == 0:
		return restored
	}
	lo, _ := slices.BinarySearchFunc(stored, restored[0], compareEntries)
	if lo == len(stored) {
		return append(stored, restored...)
	}
	return append(stored[:lo], mergeAll(stored[lo:], restored)...)
}

// mergeAll merges two sorted, unique entry slices into a new one; on
// equal keys the stored entry wins.
func mergeAll(stored, restored []entry) []entry {
	out := make([]entry, 0, len(stored)+len(restored))
	i, j := 0, 0
	for i < len(stored) && j < len(restored) {
		switch c := compareEntries(stored[i], restored[j]); {
		case c < 0:
			out = append(out, stored[i])
			i++
		case c > 0:
			out = append(out, restored[j])
			j++
		default:
			out = append(out, stored[i])
			i, j = i+1, j+1
		}
	}
	out = append(out, stored[i:]...)
	return append(out, restored[j:]...)
}

// Close releases everything the store holds; later calls return an error.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.hosts = nil
	s.deliveries = nil
	s.windows = maintenanceWindows{}
	return nil
}
