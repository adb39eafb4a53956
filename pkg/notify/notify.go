// Package notify decides when a host has changed state and tells the
// world: gosrvmon's webhook GET, and messages to the channels of srvmon's
// rules (Slack, ntfy, e-mail, PagerDuty and others, through shoutrrr).
//
// Nothing here is kept in memory between rounds. NewAlerting decides,
// inside the transaction that stores a round's results, each host's next
// notification state from what the store holds (the state it kept, the
// results of every location, the rule) and returns the deliveries to
// enqueue (store.ResultWriter.SaveRound). A Sender then delivers what is
// due from the store's outbox (store.Outbox), retrying with backoff on
// later rounds, so a checker process that is new on every tick continues
// where the last one stopped.
package notify

// Host states, as kept in store.State.Status and written for {STATE}.
const (
	StatusUp   = "up"
	StatusDown = "down"
)
