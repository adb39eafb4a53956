package store

import (
	"context"
	"slices"
	"sort"
	"time"
)

// SummarySpan is the span of the summaries that backends may keep of a
// host's merged checks, one per UTC hour, so that Buckets over a long
// range reads a summary per hour rather than every check: a year holds
// 8,760 hours and 525,600 one-minute checks. A bucket counts the summaries
// of the hours that lie wholly inside it and the checks of the rest (see
// Bucketer.SummaryPlan); a chart whose buckets are whole hours (see
// chart.Grid) reads nothing but summaries, but for the newest hours.
const SummarySpan = time.Hour

// DaySpan is the span of the daily rollups that backends with hourly
// summaries keep too: per host and UTC day, the sum of the day's hourly
// summaries, for each day wholly before the hour up to which they
// summarise. A read of a long range then reads a row per day for its
// whole days (see SummaryRuns): a year is 365 rows rather than 8,760.
const DaySpan = 24 * time.Hour

// Day returns the UTC day that holds t.
func Day(t time.Time) time.Time { return t.UTC().Truncate(DaySpan) }

// RolledUpDays returns the UTC days [start, end) that hold an hour of
// [from, to) (whole hours) and lie wholly before until: the daily rollups
// that a change of those hours' summaries changes. start is not before
// end when there are none.
func RolledUpDays(from, to, until time.Time) (start, end time.Time) {
	start, end = Day(from), Day(to.Add(DaySpan-1))
	if last := Day(until); last.Before(end) {
		end = last
	}
	return start, end
}

// Summary counts merged checks: what a Bucket holds, with the sum of the
// rtts of the checks up, so that summaries add up. Its zero value counts
// nothing. Up and Down count the checks not in maintenance, Maintenance
// those in maintenance whatever their state (see Bucket).
type Summary struct {
	Up, Down, Maintenance int64
	// MinRTT, MaxRTT and SumRTT are over the checks up; zero when Up is.
	MinRTT, MaxRTT, SumRTT time.Duration
}

// Add counts one merged check: in Maintenance when it was in
// maintenance (its rtt is left out), else in Up or Down.
func (s *Summary) Add(c Check) {
	if c.Maintenance {
		s.Maintenance++
		return
	}
	if !c.Up {
		s.Down++
		return
	}
	s.Merge(Summary{Up: 1, MinRTT: c.RTT, MaxRTT: c.RTT, SumRTT: c.RTT})
}

// Merge adds the checks that o counts.
func (s *Summary) Merge(o Summary) {
	s.Down += o.Down
	s.Maintenance += o.Maintenance
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

// TouchedHours notes, per host, the summary hours that a write added
// results to, as sorted spans of consecutive hours, so that a backend can
// summarise them again: hours the write brought nothing to are left alone,
// however far apart its results are.
type TouchedHours map[string][][2]time.Time

// Add notes that host has a new result at slot.
func (h TouchedHours) Add(host string, slot time.Time) {
	hour := Hour(slot)
	spans := h[host]
	// The usual case: results in order, in the last span or just after it.
	if n := len(spans); n > 0 {
		last := &spans[n-1]
		switch {
		case !hour.Before(last[0]) && !hour.After(last[1]):
			return
		case hour.Equal(last[1].Add(SummarySpan)):
			last[1] = hour
			return
		}
	}
	// i: the first span that ends at or after the hour before this one.
	i := sort.Search(len(spans), func(i int) bool { return !spans[i][1].Before(hour.Add(-SummarySpan)) })
	if i == len(spans) || spans[i][0].After(hour.Add(SummarySpan)) {
		h[host] = slices.Insert(spans, i, [2]time.Time{hour, hour})
		return
	}
	sp := &spans[i] // it holds the hour or touches it
	if hour.Before(sp[0]) {
		sp[0] = hour
	}
	if hour.After(sp[1]) {
		sp[1] = hour
		if i+1 < len(spans) && !spans[i+1][0].After(hour.Add(SummarySpan)) {
			sp[1] = spans[i+1][1]
			spans = slices.Delete(spans, i+1, i+2)
		}
	}
	h[host] = spans
}

// HostHours is a span of whole summary hours of one host.
type HostHours struct {
	Host       string
	Start, End time.Time
}

// Before returns, for each host noted, its spans of hours, cut at until (a
// whole hour); spans that do not begin before until are left out.
func (h TouchedHours) Before(until time.Time) []HostHours {
	var spans []HostHours
	for host, hs := range h {
		for _, r := range hs {
			if !r[0].Before(until) {
				break
			}
			end := r[1].Add(SummarySpan)
			if end.After(until) {
				end = until
			}
			spans = append(spans, HostHours{Host: host, Start: r[0], End: end})
		}
	}
	return spans
}
