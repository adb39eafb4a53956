package store

import "time"

// MergeSlot merges the results of one host at one slot, from one or more
// locations, into the Check readers see (see Check). rs must not be empty
// and should be ordered by location.
func MergeSlot(rs []Result) Check {
	c := Check{Time: rs[0].Slot.UTC(), RTT: rs[0].RTT, Up: rs[0].Up, Error: rs[0].Reason}
	for _, r := range rs[1:] {
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
// streams them. Backends that keep raw results use it to implement Checks.
// It returns a func to feed results and a func to flush the last slot.
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

// Bucketer builds Store.Buckets from merged checks fed oldest first. Its
// zero value is not usable; make one with NewBucketer.
type Bucketer struct {
	start, end time.Time
	width      time.Duration
	buckets    []Bucket
	sums       []time.Duration
}

// NewBucketer prepares the (possibly zero) buckets of [start, end) split in
// at most n.
func NewBucketer(start, end time.Time, n int) *Bucketer {
	start, end = start.UTC(), end.UTC()
	b := &Bucketer{start: start, end: end, width: BucketWidth(start, end, n)}
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
	b.sums = make([]time.Duration, len(b.buckets))
	return b
}

// Index returns the bucket that holds t, or -1 when t is outside [start, end).
func (b *Bucketer) Index(t time.Time) int {
	if b.width == 0 || t.Before(b.start) || !t.Before(b.end) {
		return -1
	}
	return int(t.Sub(b.start) / b.width)
}

// Add counts one merged check; checks outside the range are ignored.
func (b *Bucketer) Add(c Check) {
	i := b.Index(c.Time)
	if i < 0 {
		return
	}
	bk := &b.buckets[i]
	if !c.Up {
		bk.Down++
		return
	}
	if bk.Up == 0 || c.RTT < bk.MinRTT {
		bk.MinRTT = c.RTT
	}
	if c.RTT > bk.MaxRTT {
		bk.MaxRTT = c.RTT
	}
	bk.Up++
	b.sums[i] += c.RTT
}

// Buckets returns the buckets with their means computed.
func (b *Bucketer) Buckets() []Bucket {
	for i := range b.buckets {
		if b.buckets[i].Up > 0 {
			b.buckets[i].MeanRTT = b.sums[i] / time.Duration(b.buckets[i].Up)
		}
	}
	return b.buckets
}
