package store

import (
	"github.com/srvmon/srvmon/pkg/probe"

	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file holds what every backend's SaveRound does the same way for
// alerting (see ResultWriter.SaveRound and Alerting): which hosts' rules
// to read, which stored results to give Decide, which locations a save
// reports, and the checks on what Decide returns.

// AlertHosts returns the hosts whose rules a save of results reads for
// a: the results' hosts and the hosts a.Related names for each, in
// byte order, without repeats and without the empty name. Backends lock
// the rules in this order, so that saves cannot deadlock on them.
func (a *Alerting) AlertHosts(results []Result) []string {
	hosts := make([]string, 0, len(results))
	for _, r := range results {
		hosts = append(hosts, r.Host)
	}
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	if a.Related != nil {
		n := len(hosts)
		for _, h := range hosts[:n] {
			hosts = append(hosts, a.Related(h)...)
		}
		if len(hosts) > n {
			slices.Sort(hosts)
			hosts = slices.Compact(hosts)
		}
	}
	if len(hosts) > 0 && hosts[0] == "" {
		hosts = hosts[1:]
	}
	return hosts
}

// NewestSlot returns the newest slot of results, in UTC; zero when there
// are none.
func NewestSlot(results []Result) time.Time {
	var newest time.Time
	for _, r := range results {
		if r.Slot.After(newest) {
			newest = r.Slot
		}
	}
	return newest.UTC()
}

// StoredFrom returns the oldest slot that AlertInput.Stored may hold for
// a save whose newest slot is newest: newest minus a.Horizon (newest
// itself when Horizon is not above zero). A host's Stored holds its
// results in [StoredFrom, newest] whose slot is after its state's
// LastSlot.
func (a *Alerting) StoredFrom(newest time.Time) time.Time {
	return newest.Add(-max(a.Horizon, 0))
}

// InStored reports whether a result at slot belongs in a host's
// AlertInput.Stored, for a state whose LastSlot is last and a save whose
// newest slot is newest (see StoredFrom).
func (a *Alerting) InStored(slot, last, newest time.Time) bool {
	return slot.After(last) && !slot.After(newest) && !slot.Before(a.StoredFrom(newest))
}

// CompareResults orders results as AlertInput.Stored and the reads of a
// host's results do: by slot, then location.
func CompareResults(a, b Result) int {
	if c := a.Slot.Compare(b.Slot); c != 0 {
		return c
	}
	return strings.Compare(a.Location, b.Location)
}

// SavedLocations returns the locations of results, each with its newest
// slot (in UTC), by name: what a save adds to the stored Locations, each
// stored LastSlot becoming the later of the two. The results of push://
// monitors do not count: they are pushes the API received and the
// rounds' judgements of them, stored at the default location whatever
// checker location made them, and counting them would make the default
// location one that every slot of every other host waits for.
func SavedLocations(results []Result) []Location {
	var set LocationSet
	for _, r := range results {
		set.Add(r)
	}
	return set.Locations()
}

// LocationSet counts the locations of results one at a time, as
// SavedLocations does for a slice: for a restore, whose results stream.
// Its zero value is empty.
type LocationSet struct{ locs []Location }

// Add counts r's location, unless r is a push:// monitor's.
func (s *LocationSet) Add(r Result) {
	if probe.IsPush(r.Host) {
		return
	}
	slot := r.Slot.UTC()
	// The last one added is most often r's: a backup lists a host's
	// results at one location after another.
	if n := len(s.locs); n > 0 && s.locs[n-1].Name == r.Location {
		s.locs[n-1].LastSlot = laterOf(s.locs[n-1].LastSlot, slot)
		return
	}
	i, found := slices.BinarySearchFunc(s.locs, r.Location, func(l Location, name string) int { return strings.Compare(l.Name, name) })
	if !found {
		s.locs = slices.Insert(s.locs, i, Location{Name: r.Location, LastSlot: slot})
		return
	}
	s.locs[i].LastSlot = laterOf(s.locs[i].LastSlot, slot)
}

// Locations returns the locations counted, by name, each with its newest
// slot (in UTC).
func (s *LocationSet) Locations() []Location { return s.locs }

// TrackLocations returns results (a Restore's Results) counting in set
// the location of each result it emits.
func TrackLocations(results func(context.Context, func(Result) error) error, set *LocationSet) func(context.Context, func(Result) error) error {
	return func(ctx context.Context, emit func(Result) error) error {
		return results(ctx, func(r Result) error {
			set.Add(r)
			return emit(r)
		})
	}
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// MergeLocations returns stored (by name) with saved (by name) counted: a
// location's LastSlot is the later of the two; a new one is added.
func MergeLocations(stored, saved []Location) []Location {
	out := slices.Clone(stored)
	for _, l := range saved {
		i, found := slices.BinarySearchFunc(out, l.Name, func(l Location, name string) int { return strings.Compare(l.Name, name) })
		switch {
		case !found:
			out = slices.Insert(out, i, l)
		case l.LastSlot.After(out[i].LastSlot):
			out[i].LastSlot = l.LastSlot
		}
	}
	return out
}

// CheckDecision checks and normalises what Decide returned for in: every
// state and delivery must be of a host in in.Rules; times become UTC, a
// delivery's empty Status DeliveryPending, and a delivery's Status must
// be one of the three. A backend writes nothing of a decision it refuses.
func CheckDecision(in AlertInput, states []State, deliveries []Delivery) error {
	for i := range states {
		st := &states[i]
		if _, ok := in.Rules[st.Host]; !ok {
			return fmt.Errorf("alerting returned a state of host %q, which has no rule among the hosts it was given", st.Host)
		}
		st.LastSlot, st.Since = st.LastSlot.UTC(), st.Since.UTC()
		st.NextReminder, st.CertExpiry = st.NextReminder.UTC(), st.CertExpiry.UTC()
	}
	for i := range deliveries {
		d := &deliveries[i]
		if _, ok := in.Rules[d.Host]; !ok {
			return fmt.Errorf("alerting returned a delivery of host %q, which has no rule among the hosts it was given", d.Host)
		}
		if d.Status == "" {
			d.Status = DeliveryPending
		}
		switch d.Status {
		case DeliveryPending, DeliveryDelivered, DeliveryFailed:
		default:
			return fmt.Errorf("alerting returned a delivery of host %q with status %q, not %q, %q or %q",
				d.Host, d.Status, DeliveryPending, DeliveryDelivered, DeliveryFailed)
		}
		d.Created, d.NextAttempt = d.Created.UTC(), d.NextAttempt.UTC()
	}
	return nil
}

// SortDeliveriesNewestFirst sorts ds by ID, newest first, and keeps the
// first limit (none when limit is not above zero): AlertStore.Deliveries
// for the backends that gather them in Go.
func SortDeliveriesNewestFirst(ds []Delivery, limit int) []Delivery {
	slices.SortFunc(ds, func(a, b Delivery) int { return cmp.Compare(b.ID, a.ID) })
	return ds[:min(len(ds), max(limit, 0))]
}
