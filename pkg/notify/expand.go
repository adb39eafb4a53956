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
	if !strings.Contains(action, "{") {
		return action
	}
	if tz == nil {
		tz = time.UTC
	}
	var b strings.Builder
	b.Grow(len(action) + 64)
	// One pass: a replacement is never scanned again, so a host holding
	// "{TIME}" stays literal (it is escaped anyway: braces become %7B %7D).
	for {
		i := strings.IndexByte(action, '{')
		if i < 0 {
			b.WriteString(action)
			return b.String()
		}
		b.WriteString(action[:i])
		action = action[i:]
		name, _, ok := strings.Cut(action[1:], "}")
		if !ok {
			b.WriteString(action)
			return b.String()
		}
		switch name {
		case "HOST":
			b.WriteString(url.QueryEscape(r.Host))
		case "STATE":
			b.WriteString(state(r.Up))
		case "TIME":
			b.WriteString(url.QueryEscape(r.Slot.In(tz).Format(TimeLayout)))
		case "TIMESTAMP":
			b.WriteString(strconv.FormatInt(r.Slot.Unix(), 10))
		case "RTT":
			b.WriteString(strconv.FormatInt(int64(r.RTT), 10))
		case "RTTSTR":
			b.WriteString(url.QueryEscape(r.RTT.String()))
		case "UP":
			b.WriteString(strconv.FormatBool(r.Up))
		case "DOWN":
			b.WriteString(strconv.FormatBool(!r.Up))
		case "REASON":
			b.WriteString(url.QueryEscape(r.Reason))
		default:
			// Not a placeholder: keep the brace and scan on after it.
			b.WriteByte('{')
			action = action[1:]
			continue
		}
		action = action[len(name)+2:]
	}
}

// state names a result's state as {STATE} writes it.
func state(up bool) string {
	if up {
		return StatusUp
	}
	return StatusDown
}
