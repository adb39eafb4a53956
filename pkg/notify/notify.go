// Package notify decides when a host has changed state and delivers
// gosrvmon's webhook notifications for it.
//
// Nothing here is kept in memory between rounds. Advance computes a host's
// next notification state from the state the store kept and the round's
// result, and returns the delivery to enqueue; the store applies it in the
// same transaction as the results (store.ResultWriter.SaveRound). A Sender
// then delivers what is due from the store's outbox (store.Outbox),
// retrying with backoff on later rounds, so a checker process that is new
// on every tick continues where the last one stopped.
package notify

import (
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// Host states, as kept in store.State.Status and written for {STATE}.
const (
	StatusUp   = "up"
	StatusDown = "down"
)

// Advance applies one result to a host's notification state, with
// gosrvmon's threshold rule: after rule.Threshold consecutive checks that
// disagree with the established state (a threshold below 1 counts as 1),
// the new state is established and, if the rule has an action, a delivery
// of it, with placeholders expanded ({TIME} in tz), is returned. A shorter
// run of disagreeing checks sends nothing.
//
// Where gosrvmon is wrong, Advance is right: a host's first state is
// established by its first checks, so a host that is down from its very
// first check notifies "down" once the threshold is reached, while a first
// "up" is established quietly, being no news. A result whose slot is not
// after prev.LastSlot (a retried or overlapping round) changes nothing.
//
// LegacyAlerting applies it to the results of a save.
func Advance(rule store.Rule, prev store.State, r store.Result, tz *time.Location) (store.State, *store.Delivery) {
	if !prev.LastSlot.IsZero() && !r.Slot.After(prev.LastSlot) {
		return prev, nil
	}
	next := prev
	if next.Host == "" {
		next.Host = r.Host
	}
	next.LastSlot = r.Slot.UTC()
	observed := state(r.Up)
	switch {
	case prev.Status == observed:
		next.Count = 0
		return next, nil
	case prev.Status == "" && observed == StatusUp:
		next.Status, next.Count = StatusUp, 0
		return next, nil
	}
	next.Count = prev.Count + 1
	if next.Count < max(rule.Threshold, 1) {
		return next, nil
	}
	next.Status, next.Count = observed, 0
	if strings.TrimSpace(rule.Action) == "" {
		return next, nil
	}
	slot := r.Slot.UTC()
	return next, &store.Delivery{
		Host:        next.Host,
		URL:         ExpandAction(rule.Action, r, tz),
		Created:     slot,
		NextAttempt: slot,
		Status:      store.DeliveryPending,
	}
}
