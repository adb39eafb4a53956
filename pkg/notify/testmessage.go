package notify

import (
	"context"
	"sync"

	"github.com/srvmon/srvmon/pkg/store"
)

// TestResult is the outcome of a test message to one of a rule's
// channels, or to its action.
type TestResult struct {
	// Channel is the channel as RedactChannel shows it, or the action as
	// RedactURL does.
	Channel string `json:"channel"`
	OK      bool   `json:"ok"`
	// Error says why it failed, redacted as a delivery's LastError; empty
	// when OK.
	Error string `json:"error"`
}

// SendTest sends a test message for rule's host through each of its
// channels (event store.EventTest, with DefaultTitle and DefaultMessage
// of v, or rule.Message rendered) and GETs its action if it has one
// (expanded for an up result at v.Slot), now, bypassing the outbox:
// nothing is stored and nothing is retried. They run at once (at most
// Parallel), each bounded by Timeout; the results are in the rule's
// order, the action last. The caller validates rule first (CheckRule).
func (s *Sender) SendTest(ctx context.Context, rule store.Rule, v Vars) []TestResult {
	v.Host, v.Event = rule.Host, store.EventTest
	title, message := DefaultTitle(v), Render(rule.Message, v)
	if rule.Message != "" {
		// A test says it is one, whatever the rule's template says.
		message = DefaultMessage(v) + "\n" + message
	}
	var ds []store.Delivery
	for _, c := range rule.Channels {
		ds = append(ds, store.Delivery{Host: rule.Host, Channel: c, Event: store.EventTest, Title: title, Message: message})
	}
	if rule.Action != "" {
		r := store.Result{Host: rule.Host, Slot: v.Slot, Up: true}
		ds = append(ds, store.Delivery{Host: rule.Host, URL: ExpandAction(rule.Action, r, v.TimeZone), Event: store.EventTest})
	}
	results := make([]TestResult, len(ds))
	client := s.client()
	sem := make(chan struct{}, cmpOr(s.Parallel, DefaultParallel))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var err error
			secret := d.Channel
			if d.Channel != "" {
				results[i].Channel = RedactChannel(d.Channel)
				err = s.sendChannel(ctx, client, d)
			} else {
				results[i].Channel, secret = RedactURL(d.URL), d.URL
				if err = checkActionURL(d.URL); err == nil {
					_, err = s.get(ctx, client, d.URL)
				}
			}
			if err != nil {
				results[i].Error = redactError(err, secret, s.timeout())
			} else {
				results[i].OK = true
			}
		})
	}
	wg.Wait()
	return results
}
