package notify

import (
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// LegacyAlerting returns the store.Alerting of gosrvmon's threshold rule:
// its Decide applies Advance (with {TIME} in tz) to each result of the
// save, in their order, whose host has a rule and whose slot is after the
// host's state's LastSlot, and returns the states it changed and the
// deliveries it made, in order. It reads no stored results (Horizon 0)
// and no related hosts: a result decides alone, as gosrvmon decides.
func LegacyAlerting(tz *time.Location) *store.Alerting {
	return &store.Alerting{
		Decide: func(in store.AlertInput) ([]store.State, []store.Delivery) {
			var changed []string
			states := make(map[string]store.State, len(in.States))
			var ds []store.Delivery
			for _, r := range in.Results {
				rule, ok := in.Rules[r.Host]
				if !ok {
					continue
				}
				prev, seen := states[r.Host]
				if !seen {
					prev = in.States[r.Host]
					prev.Host = r.Host
				}
				if !r.Slot.After(prev.LastSlot) {
					continue
				}
				next, d := Advance(rule, prev, r, tz)
				next.Host = r.Host
				if !seen {
					changed = append(changed, r.Host)
				}
				states[r.Host] = next
				if d != nil {
					if d.Host == "" {
						d.Host = r.Host
					}
					ds = append(ds, *d)
				}
			}
			out := make([]store.State, len(changed))
			for i, h := range changed {
				out[i] = states[h]
			}
			return out, ds
		},
	}
}
