package monitor

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/srvmon/srvmon/pkg/probe"
)

// ReconcileStore is what Reconcile needs of a store (store.Store has it):
// the stored monitors, and putting and deleting one.
type ReconcileStore interface {
	// Monitors lists every stored monitor.
	Monitors(ctx context.Context) ([]Monitor, error)
	// PutMonitor adds m's host if needed and replaces its settings and
	// source.
	PutMonitor(ctx context.Context, m Monitor) (created bool, err error)
	// DeleteHost deletes the host with its settings and results.
	DeleteHost(ctx context.Context, host string) error
}

// Changes are what a reconciliation did (or, from Plan, is to do), each
// a list of hosts in the order of the declaration (Deleted in the
// store's order).
type Changes struct {
	Created []string // declared, not stored: added
	Updated []string // stored with other settings, or made in the API: replaced, now the config's
	Deleted []string // made by the config, no longer declared: deleted with their results
}

// Empty reports whether there is no change.
func (c Changes) Empty() bool {
	return len(c.Created) == 0 && len(c.Updated) == 0 && len(c.Deleted) == 0
}

// Plan is what Reconcile writes: the monitors to put (each with Source
// SourceConfig and its push token) and the hosts to delete.
type Plan struct {
	Put     []Monitor
	Created []bool // Created[i]: Put[i]'s host is not stored
	Delete  []string
}

// Changes are the plan's changes, by kind.
func (p Plan) Changes() Changes {
	var c Changes
	for i, m := range p.Put {
		if p.Created[i] {
			c.Created = append(c.Created, m.Host)
		} else {
			c.Updated = append(c.Updated, m.Host)
		}
	}
	c.Deleted = append(c.Deleted, p.Delete...)
	return c
}

// PlanReconcile decides, without I/O, how to make stored match declared,
// the config file's monitors (validated, no two with one host):
//
//   - a declared monitor is put, with Source SourceConfig, when its host is
//     not stored, when it was made in the API (the config takes it over),
//     or when its settings differ from the stored ones;
//   - a declared push:// monitor without a push token keeps the stored
//     one, or gets newToken's when there is none, so that its push URL
//     does not change on every start;
//   - a stored monitor with Source SourceConfig that is not declared is
//     deleted; a monitor made in the API is never deleted.
//
// Planning again after the plan is applied gives an empty plan.
func PlanReconcile(stored, declared []Monitor, newToken func() string) Plan {
	byHost := make(map[string]Monitor, len(stored))
	for _, m := range stored {
		byHost[m.Host] = m
	}
	var p Plan
	want := make(map[string]bool, len(declared))
	for _, d := range declared {
		want[d.Host] = true
		d.Source = SourceConfig
		s, isStored := byHost[d.Host]
		if d.PushToken == "" && IsPush(d.Host) {
			switch {
			case isStored && s.PushToken != "":
				d.PushToken = s.PushToken
			default:
				d.PushToken = newToken()
			}
		}
		if isStored && sameMonitor(s, d) {
			continue
		}
		p.Put = append(p.Put, d)
		p.Created = append(p.Created, !isStored)
	}
	for _, s := range stored {
		if s.Source == SourceConfig && !want[s.Host] {
			p.Delete = append(p.Delete, s.Host)
		}
	}
	return p
}

// IsPush reports whether host is a push:// monitor's, which checks do
// not probe: pushes to its token's URL keep it up.
func IsPush(host string) bool {
	scheme, _, ok := strings.Cut(host, "://")
	return ok && strings.EqualFold(scheme, "push")
}

// sameMonitor reports whether a stored monitor already is the declared
// one: same source and settings, where an empty list or map is the same
// as none (stores may give either back).
func sameMonitor(stored, declared Monitor) bool {
	return stored.Source == declared.Source && reflect.DeepEqual(normalized(stored.Settings), normalized(declared.Settings))
}

func normalized(s Settings) Settings {
	if len(s.Conditions) == 0 {
		s.Conditions = nil
	}
	if len(s.Headers) == 0 {
		s.Headers = nil
	}
	return s
}

// Reconcile makes the store's monitors match declared, the config
// file's Monitors (see PlanReconcile): it reads the stored monitors,
// puts what differs and deletes the config's monitors no longer
// declared, and returns what it changed. A second call with the same
// list changes nothing and writes nothing. A write that fails does not
// stop the others (a push token another monitor holds must not keep
// every other change out); the error names the first failure and Changes
// lists only what was done. Monitors made in the API are never deleted.
func Reconcile(ctx context.Context, st ReconcileStore, declared []Monitor) (Changes, error) {
	stored, err := st.Monitors(ctx)
	if err != nil {
		return Changes{}, fmt.Errorf("reconcile monitors: %w", err)
	}
	p := PlanReconcile(stored, declared, NewPushToken)
	var done Changes
	var errs []error
	for _, m := range p.Put {
		created, err := st.PutMonitor(ctx, m)
		if err != nil {
			errs = append(errs, fmt.Errorf("put host %q: %w", probe.MaskSecrets(m.Host), err))
			continue
		}
		if created {
			done.Created = append(done.Created, m.Host)
		} else {
			done.Updated = append(done.Updated, m.Host)
		}
	}
	for _, host := range p.Delete {
		if err := st.DeleteHost(ctx, host); err != nil {
			errs = append(errs, fmt.Errorf("delete host %q: %w", probe.MaskSecrets(host), err))
			continue
		}
		done.Deleted = append(done.Deleted, host)
	}
	switch len(errs) {
	case 0:
		return done, nil
	case 1:
		return done, fmt.Errorf("reconcile monitors: %w", errs[0])
	}
	return done, fmt.Errorf("reconcile monitors: %w (and %d more failures)", errs[0], len(errs)-1)
}
