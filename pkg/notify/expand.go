package notify

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// TimeLayout is how {TIME} is written: Go's time.Time.String without the
// monotonic clock, e.g. "2021-03-02 12:00:00 +0000 UTC", as in gosrvmon.
const TimeLayout = "2006-01-02 15:04:05.999999999 -0700 MST"

// ExpandAction replaces gosrvmon's placeholders in a rule's action with
// the result's values, escaped as gosrvmon escapes them:
//
//	{HOST}       the host, query-escaped
//	{STATE}      up or down
//	{TIME}       the slot in tz (UTC when nil) as TimeLayout, query-escaped
//	{TIMESTAMP}  the slot in unix seconds
//	{RTT}        the rtt in nanoseconds
//	{RTTSTR}     the rtt as a Go duration ("1.5ms"), query-escaped
//	{UP}         true or false
//	{DOWN}       false or true
//	{REASON}     why the check that made the change was down (a failed
//	             condition, "connection refused"), query-escaped; empty
//	             when up (srvmon's: gosrvmon had none)
//
// Query escaping writes a space as "+", which gosrvmon's users rely on in
// query strings such as Telegram's text=.
func ExpandAction(action string, r store.Result, tz *time.Location) string {
	if tz == nil {
		tz = time.UTC
	}
	// Escaped: braces become %7B %7D, so a host holding "{TIME}" stays
	// literal.
	return expandPlaceholders(action, func(name string) (string, bool) {
		switch name {
		case "HOST":
			return url.QueryEscape(r.Host), true
		case "STATE":
			return state(r.Up), true
		case "TIME":
			return url.QueryEscape(r.Slot.In(tz).Format(TimeLayout)), true
		case "TIMESTAMP":
			return strconv.FormatInt(r.Slot.Unix(), 10), true
		case "RTT":
			return strconv.FormatInt(int64(r.RTT), 10), true
		case "RTTSTR":
			return url.QueryEscape(r.RTT.String()), true
		case "UP":
			return strconv.FormatBool(r.Up), true
		case "DOWN":
			return strconv.FormatBool(!r.Up), true
		case "REASON":
			return url.QueryEscape(r.Reason), true
		}
		return "", false
	})
}

// expandPlaceholders replaces each {NAME} of s that value knows with its
// value (ExpandAction's and Render's placeholders), in one pass: a
// replacement is never scanned again. A brace that starts no known
// placeholder is kept, and the scan goes on after it.
func expandPlaceholders(s string, value func(name string) (string, bool)) string {
	if !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 64)
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		name, _, ok := strings.Cut(s[1:], "}")
		if !ok {
			b.WriteString(s)
			return b.String()
		}
		v, known := value(name)
		if !known {
			b.WriteByte('{')
			s = s[1:]
			continue
		}
		b.WriteString(v)
		s = s[len(name)+2:]
	}
}

// state names a result's state as {STATE} writes it.
func state(up bool) string {
	if up {
		return StatusUp
	}
	return StatusDown
}
