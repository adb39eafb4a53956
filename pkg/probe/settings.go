package probe

import (
	"net/http"
	"time"

	"github.com/srvmon/srvmon/pkg/probe/condition"
)

// MaxBodyRead is the most of an HTTP response body a probe reads, in
// bytes, and only when a condition looks at the body: enough for any
// health document, while a huge or endless body costs a bounded read.
const MaxBodyRead = 1 << 20

// ReasonPushNotProbed is the reason of the result a Prober gives a push
// target: nothing is probed; the round judges push monitors itself.
const ReasonPushNotProbed = "push monitors are not probed"

// Settings are a monitor's optional check settings (compiled by
// pkg/monitor from its JSON); the zero value and nil mean gosrvmon's
// check. They are read, never modified, by the probes: share them freely.
type Settings struct {
	// Method is the HTTP method, any valid token (GET, HEAD, POST, PUT,
	// ...); "" means the Prober's Options.HTTPMethod.
	Method string
	// Header holds extra request headers; a Host header sets the
	// request's host, a User-Agent header replaces srvmon's.
	Header http.Header
	// Body is the request body.
	Body string
	// Timeout bounds this monitor's check; 0 means the Prober's Timeout,
	// and a longer one is cut to it (a round must end in one Timeout).
	Timeout time.Duration
	// NoFollowRedirects makes a redirect the final response
	// (follow_redirects: false in the monitor's JSON).
	NoFollowRedirects bool
	// InsecureSkipVerify checks an https:// or tls:// target without
	// verifying its certificate; its expiry is still read.
	InsecureSkipVerify bool
	// Conditions must all hold for the target to be up. With any, they
	// replace the protocol's own rule (HTTP 2xx/3xx, DNS NOERROR): the
	// target is up when the probe got a response and every condition
	// holds; without a response, only when the conditions use
	// [CONNECTED] and hold with Connected false.
	Conditions []*condition.Condition
	// Grace is how long a push keeps a push:// monitor up. The round
	// uses it; the Prober never probes push targets.
	Grace time.Duration
}

// conditions returns t's conditions, or nil.
func (t Target) conditions() []*condition.Condition {
	if t.Settings == nil {
		return nil
	}
	return t.Settings.Conditions
}

// uses returns what t's conditions look at.
func (t Target) uses() condition.Uses { return usesOf(t.conditions()) }

// usesOf returns what conds look at, together.
func usesOf(conds []*condition.Condition) condition.Uses {
	var u condition.Uses
	for _, c := range conds {
		u |= c.Uses()
	}
	return u
}

// timeout is how long a check of t may take: its own Timeout, at most
// the Prober's.
func (p *Prober) timeout(t Target) time.Duration {
	if t.Settings != nil && t.Settings.Timeout > 0 && t.Settings.Timeout < p.opts.Timeout {
		return t.Settings.Timeout
	}
	return p.opts.Timeout
}
