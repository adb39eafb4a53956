package store

import (
	"context"
	"time"
)

// SummarySpan is the span of the summaries that backends may keep of a
// host's merged checks, one per UTC hour, so that Buckets over a long
// range reads a summary per hour rather than every check: a year holds
// 8,760 hours and 525,600 one-minute checks. A bucket counts the summaries
// of the hours that lie wholly inside it and the checks of the rest (see
// Bucketer.AddSummaries); a chart whose buckets are whole hours (see
// chart.Grid) reads nothing but summaries, but for the newest hours.
const SummarySpan = time.Hour

// Summary counts merged checks: what a Bucket holds, with the sum of the
// rtts of the checks up, so that summaries add up. Its zero value counts
// nothing.
type Summary struct {
	Up, Down int64
	// MinRTT, MaxRTT and SumRTT are over the checks up; zero when Up is.
	MinRTT, MaxRTT, SumRTT time.Duration
}

// Add counts one merged check.
func (s *Summary) Add(c Check) {
	if !c.Up {
		s.Down++
		return
	}
	s.Merge(Summary{Up: 1, MinRTT: c.RTT, MaxRTT: c.RTT, SumRTT: c.RTT})
}

// Merge adds the checks that o counts.
func (s *Summary) Merge(o Summary) {
	s.Down += o.Down
	if o.Up == 0 {
		return
	}
	if s.Up == 0 || o.MinRTT < s.MinRTT {
		s.MinRTT = o.MinRTT
	}
	if s.Up == 0 || o.MaxRTT > s.MaxRTT {
		s.MaxRTT = o.MaxRTT
	}
	s.Up += o.Up
	s.SumRTT += o.SumRTT
}

// HourSummary is the summary of a host's merged checks in
// [Hour, Hour+SummarySpan). Hour is a UTC hour.
type HourSummary struct {
	Hour time.Time
	Summary
}

// Span is a part of a Buckets range, inside bucket Bucket.
type Span struct {
	Start, End time.Time
	Bucket     int
}

// Hour is the start of the summary hour that holds t, in UTC.
func Hour(t time.Time) time.Time { return t.UTC().Truncate(SummarySpan) }

// Summariser is implemented by the backends that keep hourly summaries.
// Summarise brings them up to the hours that ended before now, less a
// margin for late results, in bounded steps: more reports that there are
// hours left to summarise (a store summarising a long history for the
// first time), for a later call. Every other write keeps the summaries
// exact, so Summarise only makes Buckets faster: Buckets is the same
// whether or when it runs.
type Summariser interface {
	Summarise(ctx context.Context, now time.Time) (more bool, err error)
}

// SummaryMargin is how long after an hour ends Summarise leaves it alone:
// longer than a round takes to store its results.
const SummaryMargin = 5 * time.Minute

// TouchedHours notes, per host, the first and the last summary hour that
// a write added results to, so that a backend can summarise them again.
type TouchedHours map[string]*[2]time.Time

// Add notes that host has a new result at slot.
func (h TouchedHours) Add(host string, slot time.Time) {
	hour := Hour(slot)
	switch r := h[host]; {
	case r == nil:
		h[host] = &[2]time.Time{hour, hour}
	case hour.Before(r[0]):
		r[0] = hour
	case hour.After(r[1]):
		r[1] = hour
	}
}

// HostHours is a span of whole summary hours of one host.
type HostHours struct {
	Host       string
	Start, End time.Time
}

// Before returns, for each host noted, its hours from the first noted to
// the last, cut at until (a whole hour); a host whose first hour is not
// before until is left out.
func (h TouchedHours) Before(until time.Time) []HostHours {
	var spans []HostHours
	for host, r := range h {
		if !r[0].Before(until) {
			continue
		}
		end := r[1].Add(SummarySpan)
		if end.After(until) {
			end = until
		}
		spans = append(spans, HostHours{Host: host, Start: r[0], End: end})
	}
	return spans
}
