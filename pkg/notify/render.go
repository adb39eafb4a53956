package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// Vars are the values a channel message is rendered from (Render): what
// happened to which host. The decision code fills them in for each
// delivery it enqueues.
type Vars struct {
	// Host is the monitored target as stored. It may hold secrets (a
	// password in a URL): Render writes it masked (probe.MaskSecrets),
	// since the text goes to third-party services.
	Host string
	// Name is the monitor's display name; the masked host when empty.
	Name  string
	Group string
	// Event is what the message says: store.EventDown, EventUp,
	// EventReminder, EventCertificate or EventTest.
	Event string
	// State is the host's state: StatusUp or StatusDown; empty means
	// the one Up says.
	State string
	// Slot is the slot of the verdict that made the change; TimeZone is
	// where {TIME} is written (UTC when nil).
	Slot     time.Time
	TimeZone *time.Location
	RTT      time.Duration
	Up       bool
	// Reason is why the host is down; empty when up.
	Reason string
	// Locations are the checker locations that saw it down ("" is the
	// default location, written "default").
	Locations []string
	// Duration is how long it was (or, for a reminder, has been) down;
	// zero when unknown.
	Duration time.Duration
	// ChildrenDown names the monitors that depend on this one (their
	// monitor names it as parent) and are down too: their own alerts are
	// held back, so the parent's alert names them. Each is the monitor's
	// name, or its host (written masked).
	ChildrenDown []string
	// CertExpiry is the certificate's expiry, for EventCertificate;
	// CertRenewed says the alert is about a renewed certificate.
	CertExpiry  time.Time
	CertRenewed bool
}

// Placeholders lists every placeholder Render replaces; CheckRule refuses
// a message with another {NAME}-like word in braces.
var Placeholders = []string{
	"HOST", "NAME", "GROUP", "STATE", "TIME", "TIMESTAMP", "RTT", "RTTSTR",
	"UP", "DOWN", "REASON", "LOCATIONS", "DURATION", "CHILDREN", "CERTEXPIRY",
}

// Render writes a channel message from template with v's values. It
// replaces gosrvmon's placeholders and srvmon's, as plain text (not
// URL-escaped, unlike ExpandAction: the text is a message, not a URL):
//
//	{HOST}        the host, secrets masked (probe.MaskSecrets)
//	{NAME}        the monitor's name; the masked host when it has none
//	{GROUP}       the monitor's group
//	{STATE}       up or down
//	{TIME}        the slot in v.TimeZone as TimeLayout
//	{TIMESTAMP}   the slot in unix seconds
//	{RTT}         the rtt in nanoseconds
//	{RTTSTR}      the rtt as a Go duration ("1.5ms")
//	{UP} {DOWN}   true or false
//	{REASON}      why it is down; empty when up
//	{LOCATIONS}   the locations that saw it down, comma separated
//	{DURATION}    how long it was down, to the second ("12m0s"); empty when unknown
//	{CHILDREN}    the dependent monitors that are down too, by name, comma separated
//	{CERTEXPIRY}  the certificate's expiry date (2006-01-02); empty when unknown
//
// Anything else, braces included, is kept as written. An empty template
// renders DefaultMessage.
func Render(template string, v Vars) string {
	if template == "" {
		return DefaultMessage(v)
	}
	return expandPlaceholders(template, v.placeholder)
}

// placeholder is the value of {name}; known is false for a name that is
// not a placeholder.
func (v Vars) placeholder(name string) (val string, known bool) {
	switch name {
	case "HOST":
		return probe.MaskSecrets(v.Host), true
	case "NAME":
		return v.name(), true
	case "GROUP":
		return v.Group, true
	case "STATE":
		return v.state(), true
	case "TIME":
		return v.Slot.In(cmpTZ(v.TimeZone)).Format(TimeLayout), true
	case "TIMESTAMP":
		return strconv.FormatInt(v.Slot.Unix(), 10), true
	case "RTT":
		return strconv.FormatInt(int64(v.RTT), 10), true
	case "RTTSTR":
		return v.RTT.String(), true
	case "UP":
		return strconv.FormatBool(v.Up), true
	case "DOWN":
		return strconv.FormatBool(!v.Up), true
	case "REASON":
		return v.Reason, true
	case "LOCATIONS":
		return locationList(v.Locations), true
	case "DURATION":
		if v.Duration <= 0 {
			return "", true
		}
		return v.Duration.Round(time.Second).String(), true
	case "CHILDREN":
		return hostList(v.ChildrenDown), true
	case "CERTEXPIRY":
		if v.CertExpiry.IsZero() {
			return "", true
		}
		return v.CertExpiry.In(cmpTZ(v.TimeZone)).Format(time.DateOnly), true
	}
	return "", false
}

func cmpTZ(tz *time.Location) *time.Location {
	if tz == nil {
		return time.UTC
	}
	return tz
}

// name is {NAME}: the monitor's name, or its masked host.
func (v Vars) name() string {
	if v.Name != "" {
		return v.Name
	}
	return probe.MaskSecrets(v.Host)
}

// state is {STATE}.
func (v Vars) state() string {
	if v.State != "" {
		return v.State
	}
	return state(v.Up)
}

// locationList writes locations comma separated, the default location
// ("") as "default".
func locationList(locs []string) string {
	names := make([]string, len(locs))
	for i, l := range locs {
		names[i] = cmpStr(l, "default")
	}
	return strings.Join(names, ", ")
}

// hostList writes hosts comma separated, masked.
func hostList(hosts []string) string {
	masked := make([]string, len(hosts))
	for i, h := range hosts {
		masked[i] = probe.MaskSecrets(h)
	}
	return strings.Join(masked, ", ")
}

func cmpStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// DefaultMessage is the text of a channel message whose rule has no
// Message: one sentence saying what happened, then what is known of it
// (reason, locations, how long, dependent hosts down too), each only
// when set (the default location alone is not named). For example:
//
//	web-1 is down: connection refused. Seen down from: eu, us. Also down (depends on it): db-1.
//	web-1 is up again after 12m0s.
func DefaultMessage(v Vars) string {
	var b strings.Builder
	name := v.name()
	switch v.Event {
	case store.EventTest:
		fmt.Fprintf(&b, "This is a test message from srvmon for %s: the channel works.", name)
		return b.String()
	case store.EventCertificate:
		if v.CertRenewed {
			fmt.Fprintf(&b, "The certificate of %s was renewed", name)
			if !v.CertExpiry.IsZero() {
				b.WriteString(": it expires on " + v.placeholderValue("CERTEXPIRY"))
			}
			b.WriteString(".")
			return b.String()
		}
		if v.CertExpiry.IsZero() {
			fmt.Fprintf(&b, "The certificate of %s is about to expire.", name)
		} else {
			fmt.Fprintf(&b, "The certificate of %s expires on %s", name, v.placeholderValue("CERTEXPIRY"))
			switch days := int(v.CertExpiry.Sub(v.Slot).Hours() / 24); {
			case v.Slot.IsZero() || days < 0:
			case days == 1:
				b.WriteString(" (in 1 day)")
			default:
				fmt.Fprintf(&b, " (in %d days)", days)
			}
			b.WriteString(".")
		}
		return b.String()
	case store.EventReminder:
		fmt.Fprintf(&b, "%s is still down", name)
		if v.Duration > 0 {
			b.WriteString(", for " + v.placeholderValue("DURATION"))
		}
	default:
		if v.state() == StatusUp {
			fmt.Fprintf(&b, "%s is up again", name)
			if v.Duration > 0 {
				b.WriteString(" after " + v.placeholderValue("DURATION"))
			}
			b.WriteString(".")
			return b.String()
		}
		fmt.Fprintf(&b, "%s is down", name)
	}
	if v.Reason != "" {
		b.WriteString(": " + v.Reason)
	}
	b.WriteString(".")
	if len(v.Locations) > 1 || len(v.Locations) == 1 && v.Locations[0] != "" {
		// The default location alone is a checker without locations:
		// naming it says nothing.
		b.WriteString(" Seen down from: " + locationList(v.Locations) + ".")
	}
	if len(v.ChildrenDown) > 0 {
		b.WriteString(" Also down (depends on it): " + hostList(v.ChildrenDown) + ".")
	}
	return b.String()
}

// DefaultTitle is the title of a channel message (for the services that
// show one: e-mail's subject, ntfy's, Gotify's, …), e.g. "srvmon: web-1 is
// down".
func DefaultTitle(v Vars) string {
	name := v.name()
	switch v.Event {
	case store.EventTest:
		return "srvmon: test message for " + name
	case store.EventCertificate:
		if v.CertRenewed {
			return "srvmon: certificate of " + name + " renewed"
		}
		return "srvmon: certificate of " + name + " expires soon"
	case store.EventReminder:
		return "srvmon: " + name + " is still down"
	}
	return "srvmon: " + name + " is " + v.state()
}

func (v Vars) placeholderValue(name string) string {
	s, _ := v.placeholder(name)
	return s
}
