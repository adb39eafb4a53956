package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// MergeSlot merges the results of one host at one slot, from one or more
// locations, into the Check readers see (see Check). rs must not be empty
// and should be ordered by location. The merged check is in maintenance
// when any location's result was: a window covers a host at a slot
// whichever location checks it, and a location whose clock or windows
// lag must not count the slot in the uptime. This is the one place that
// rule is made; every backend merges with MergeSlot.
func MergeSlot(rs []Result) Check {
	c := Check{Time: rs[0].Slot.UTC(), RTT: rs[0].RTT, Up: rs[0].Up, Error: rs[0].Reason, Maintenance: rs[0].Maintenance}
	for _, r := range rs[1:] {
		c.Maintenance = c.Maintenance || r.Maintenance
		switch {
		case r.Up && !c.Up:
			c.RTT, c.Up, c.Error = r.RTT, true, ""
		case r.Up == c.Up && r.RTT < c.RTT:
			c.RTT = r.RTT
		}
	}
	return c
}

// MergeResults calls fn with one merged Check per slot for results that
// arrive ordered by slot (and by location within a slot), as Store.Results
// streams them: ResultReader.Checks of every backend that merges in Go
// (ChecksFromResults, or a backend's own read of its results). It returns
// a func to feed results and a func to flush the last slot.
func MergeResults(fn func(Check) error) (add func(Result) error, flush func() error) {
	var pending []Result
	emit := func() error {
		if len(pending) == 0 {
			return nil
		}
		c := MergeSlot(pending)
		pending = pending[:0]
		return fn(c)
	}
	add = func(r Result) error {
		if len(pending) > 0 && !pending[0].Slot.Equal(r.Slot) {
			if err := emit(); err != nil {
				return err
			}
		}
		pending = append(pending, r)
		return nil
	}
	return add, emit
}

// ChecksFromResults streams a host's merged checks in [start, end), oldest
// first: its raw results as r.Results streams them, merged slot by slot by
// MergeResults. It is ResultReader.Checks for a backend that reads nothing
// cheaper than its raw results; an error from fn stops the stream and is
// returned, as are r.Results's errors (ErrNotFound for an unknown host).
func ChecksFromResults(ctx context.Context, r ResultReader, host string, start, end time.Time, fn func(Check) error) error {
	add, flush := MergeResults(fn)
	if err := r.Results(ctx, host, start, end, add); err != nil {
		return err
	}
	return flush()
}

// BucketWidth is the width of each bucket when [start, end) is split into
// at most n buckets: ceil((end-start)/n), at least 1ns. It is zero when the
// range is empty or n < 1.
func BucketWidth(start, end time.Time, n int) time.Duration {
	span := end.Sub(start)
	if span <= 0 || n < 1 {
		return 0
	}
	w := span / time.Duration(n)
	if w*time.Duration(n) < span {
		w++
	}
	return w
}

// Bucketer builds Store.Buckets from merged checks fed oldest first, and
// from stored summaries (see AddSummary and SummaryPlan). Its zero value is not
// usable; make one with NewBucketer or NewBucketerAt.
type Bucketer struct {
	start, end time.Time
	// width is the buckets' width when they are NewBucketer's (Index
	// divides); zero when they are not all as wide (Index searches).
	width time.Duration
	// widest is the widest bucket's width.
	widest  time.Duration
	buckets []Bucket
	sums    []Summary
}

// NewBucketer prepares the (possibly zero) buckets of [start, end) split in
// at most n.
func NewBucketer(start, end time.Time, n int) *Bucketer {
	start, end = start.UTC(), end.UTC()
	b := &Bucketer{start: start, end: end, width: BucketWidth(start, end, n)}
	b.widest = b.width
	if b.width == 0 {
		b.buckets = []Bucket{}
		return b
	}
	for s := start; s.Before(end); s = s.Add(b.width) {
		e := s.Add(b.width)
		if e.After(end) {
			e = end
		}
		b.buckets = append(b.buckets, Bucket{Start: s, End: e})
	}
	b.sums = make([]Summary, len(b.buckets))
	return b
}

// EvenBounds returns the edges of NewBucketer(start, end, n)'s buckets:
// the bounds of a BucketQuery that asks for what Buckets(start, end, n)
// gives. It is empty when the range is.
func EvenBounds(start, end time.Time, n int) []time.Time {
	bs := NewBucketer(start, end, n).buckets
	if len(bs) == 0 {
		return nil
	}
	bounds := make([]time.Time, 0, len(bs)+1)
	for _, b := range bs {
		bounds = append(bounds, b.Start)
	}
	return append(bounds, bs[len(bs)-1].End)
}

// NewBucketerAt prepares the buckets [bounds[i], bounds[i+1]): buckets of
// any widths, for a read that needs several (the dashboard's days and
// hours). bounds must be ascending; fewer than two make no bucket.
func NewBucketerAt(bounds []time.Time) (*Bucketer, error) {
	if len(bounds) < 2 {
		return &Bucketer{buckets: []Bucket{}}, nil
	}
	b := &Bucketer{start: bounds[0].UTC(), end: bounds[len(bounds)-1].UTC(), buckets: make([]Bucket, len(bounds)-1)}
	for i := range b.buckets {
		s, e := bounds[i].UTC(), bounds[i+1].UTC()
		if !s.Before(e) {
			return nil, fmt.Errorf("bucket bounds must ascend: %s is not before %s", s.Format(time.RFC3339Nano), e.Format(time.RFC3339Nano))
		}
		b.buckets[i] = Bucket{Start: s, End: e}
		b.widest = max(b.widest, e.Sub(s))
	}
	b.sums = make([]Summary, len(b.buckets))
	return b, nil
}

// Start and End are the range the buckets cover, [Start, End).
func (b *Bucketer) Start() time.Time { return b.start }
func (b *Bucketer) End() time.Time   { return b.end }

// Widest is the widest bucket's width; zero without buckets. A store reads
// hourly summaries only when it is an hour or more: no narrower bucket
// holds a whole hour.
func (b *Bucketer) Widest() time.Duration { return b.widest }

// Index returns the bucket that holds t, or -1 when t is outside [start, end).
func (b *Bucketer) Index(t time.Time) int {
	if len(b.buckets) == 0 || t.Before(b.start) || !t.Before(b.end) {
		return -1
	}
	if b.width > 0 {
		return int(t.Sub(b.start) / b.width)
	}
	// The first bucket that ends after t.
	i, _ := slices.BinarySearchFunc(b.buckets, t, func(bk Bucket, t time.Time) int {
		if bk.End.After(t) {
			return 1
		}
		return -1
	})
	return i
}

// Add counts one merged check; checks outside the range are ignored.
func (b *Bucketer) Add(c Check) {
	if i := b.Index(c.Time); i >= 0 {
		b.sums[i].Add(c)
	}
}

// AddSummary counts the summary of checks that all fall in bucket i.
func (b *Bucketer) AddSummary(i int, s Summary) { b.sums[i].Merge(s) }

// Reset forgets what was counted, for the next host of a fleet read
// (FleetReader.BucketsAll): the buckets Buckets returned are reused, and
// its next call writes their counts again.
func (b *Bucketer) Reset() { clear(b.sums) }

// SummaryPlan is how a read of buckets splits the range of a Bucketer,
// the same for every host, given the hour before which summaries exist
// (until; zero when none do): in each bucket, the whole hours inside it
// and before until, [Hours[i][0], Hours[i][1]), to read from the
// summaries (an empty range when none; SummaryRuns says which of them
// from the daily rollups), and the spans left, oldest first, each inside
// one bucket, to count from the checks: the bucket's part before its
// hours and after them, or all of it when it holds none (a bucket
// narrower than an hour holds none). It holds for a backend that keeps,
// before until, a summary of every hour with a check (both PostgreSQL's
// and bolt's retention summarise the hour they cut again).
func (b *Bucketer) SummaryPlan(until time.Time) (hours [][2]time.Time, spans []Span) {
	hours = make([][2]time.Time, len(b.buckets))
	last := Hour(until.Add(SummarySpan - 1)) // the hours before until end by it
	for i, bk := range b.buckets {
		lo, hi := Hour(bk.Start.Add(SummarySpan-1)), Hour(bk.End)
		if hi.After(last) {
			hi = last
		}
		if !lo.Before(hi) {
			hours[i] = [2]time.Time{bk.Start, bk.Start}
			spans = append(spans, Span{Start: bk.Start, End: bk.End, Bucket: i})
			continue
		}
		hours[i] = [2]time.Time{lo, hi}
		if bk.Start.Before(lo) {
			spans = append(spans, Span{Start: bk.Start, End: lo, Bucket: i})
		}
		if hi.Before(bk.End) {
			spans = append(spans, Span{Start: hi, End: bk.End, Bucket: i})
		}
	}
	return hours, spans
}

// SummaryRun is a run of summarised time that a fleet read reads from one
// kind of summary: whole UTC days from the daily rollups (Daily), or
// whole hours from the hourly summaries.
type SummaryRun struct {
	Start, End time.Time
	Daily      bool
}

// SummaryRuns splits the summarised hours of each bucket (SummaryPlan's
// hours) into the runs to read: in each bucket, the whole UTC days it
// holds from the daily rollups (see DaySpan) and the hours before and
// after them from the hourly summaries. Adjacent runs of one kind are
// joined, so that a read walks each once: the dashboard's year reads 365
// days and the hours at its window edges rather than 8,760 hours.
// Every run lies inside the hours it came from, and a daily run's days
// are each wholly inside one bucket.
func SummaryRuns(hours [][2]time.Time) []SummaryRun {
	var runs []SummaryRun
	add := func(start, end time.Time, daily bool) {
		if !start.Before(end) {
			return
		}
		if n := len(runs); n > 0 && runs[n-1].Daily == daily && runs[n-1].End.Equal(start) {
			runs[n-1].End = end
			return
		}
		runs = append(runs, SummaryRun{Start: start, End: end, Daily: daily})
	}
	for _, h := range hours {
		lo, hi := h[0], h[1]
		dayLo, dayHi := Day(lo.Add(DaySpan-1)), Day(hi)
		if !dayLo.Before(dayHi) {
			add(lo, hi, false)
			continue
		}
		add(lo, dayLo, false)
		add(dayLo, dayHi, true)
		add(dayHi, hi, false)
	}
	return runs
}

// Buckets returns the buckets counted so far.
func (b *Bucketer) Buckets() []Bucket {
	for i, s := range b.sums {
		bk := &b.buckets[i]
		bk.Up, bk.Down, bk.Maintenance = s.Up, s.Down, s.Maintenance
		bk.MinRTT, bk.MaxRTT, bk.MeanRTT = s.MinRTT, s.MaxRTT, 0
		if s.Up > 0 {
			bk.MeanRTT = s.SumRTT / time.Duration(s.Up)
		}
	}
	return b.buckets
}
