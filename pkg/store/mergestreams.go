package store

import "time"

// CheckSource is a stream of one host's checks, oldest first (several of
// one time allowed, from several locations); ok is false at its end.
type CheckSource interface {
	Next() (c Check, ok bool)
}

// MergeStreams calls fn with one check per time, oldest first: the checks
// that local feeds to add (oldest first, one per time, as Store.Checks
// streams them) merged with those of srcs, by MergeSlot's rule for several
// locations. It holds one check of each source at a time, so memory does
// not grow with the range (the sources are other instances' answers,
// decoded as they arrive). An error of local or fn stops the merge and is
// returned.
func MergeStreams(srcs []CheckSource, local func(add func(Check) error) error, fn func(Check) error) error {
	return newStreamMerger(srcs).merge(local, fn)
}

// streamMerger is the state of MergeStreams: each source's next check and
// the checks of the slot being merged.
type streamMerger struct {
	heads []sourceHead
	slot  []Result
}

// sourceHead is a source and its next check (ok is false at its end).
type sourceHead struct {
	src CheckSource
	c   Check
	ok  bool
}

func newStreamMerger(srcs []CheckSource) *streamMerger {
	m := &streamMerger{heads: make([]sourceHead, len(srcs))}
	for i, src := range srcs {
		c, ok := src.Next()
		m.heads[i] = sourceHead{src: src, c: c, ok: ok}
	}
	return m
}

func (m *streamMerger) merge(local func(add func(Check) error) error, fn func(Check) error) error {
	err := local(func(c Check) error {
		if err := m.emitBefore(c.Time, fn); err != nil {
			return err
		}
		return fn(m.take(c.Time, c))
	})
	if err != nil {
		return err
	}
	return m.emitRest(fn)
}

// earliest is the earliest time of the sources' next checks.
func (m *streamMerger) earliest() (t time.Time, ok bool) {
	for _, h := range m.heads {
		if h.ok && (!ok || h.c.Time.Before(t)) {
			t, ok = h.c.Time, true
		}
	}
	return t, ok
}

// take merges local (none or the local check of time t) with every
// source's checks of time t, and moves the sources past them.
func (m *streamMerger) take(t time.Time, local ...Check) Check {
	m.slot = m.slot[:0]
	add := func(c Check) {
		m.slot = append(m.slot, Result{Slot: c.Time, RTT: c.RTT, Up: c.Up, Reason: c.Error, Maintenance: c.Maintenance})
	}
	for _, c := range local {
		add(c)
	}
	for i := range m.heads {
		h := &m.heads[i]
		for h.ok && h.c.Time.Equal(t) {
			add(h.c)
			h.c, h.ok = h.src.Next()
		}
	}
	return MergeSlot(m.slot)
}

// emitBefore sends fn the merged checks of the sources' times before t.
func (m *streamMerger) emitBefore(t time.Time, fn func(Check) error) error {
	for {
		next, ok := m.earliest()
		if !ok || !next.Before(t) {
			return nil
		}
		if err := fn(m.take(next)); err != nil {
			return err
		}
	}
}

// emitRest sends fn the merged checks of all the sources' times left.
func (m *streamMerger) emitRest(fn func(Check) error) error {
	for next, ok := m.earliest(); ok; next, ok = m.earliest() {
		if err := fn(m.take(next)); err != nil {
			return err
		}
	}
	return nil
}
