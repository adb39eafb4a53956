package promtext

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
)

// vec is a counter or gauge family with one label whose values are fixed
// when it is made: one series per value.
type vec struct {
	name, help, typ string
	values          []string // the label's values
	labels          []string // label="value" of each, escaped once

	mu  sync.Mutex
	v   []float64
	set []bool // whether the series of values[i] is written yet
}

// init makes v the family name of type typ, with a series for each of
// label's values, written from the start when set.
func (v *vec) init(name, help, typ, label string, values []string, set bool) {
	v.name, v.help, v.typ, v.values = name, help, typ, slices.Clone(values)
	v.labels, v.v, v.set = make([]string, len(values)), make([]float64, len(values)), make([]bool, len(values))
	for i, value := range values {
		v.labels[i] = string(AppendLabel(nil, label, value))
		v.set[i] = set
	}
}

// index is the index of value among the label's values; an unknown value
// is a programming error, and panics.
func (v *vec) index(value string) int {
	i := slices.Index(v.values, value)
	if i < 0 {
		panic(fmt.Sprintf("promtext: %s has no series %q", v.name, value))
	}
	return i
}

func (v *vec) Names() []string { return []string{v.name} }

func (v *vec) AppendText(b []byte, keep func(string) bool) []byte {
	if keep != nil && !keep(v.name) {
		return b
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !slices.Contains(v.set, true) {
		return b
	}
	b = AppendHeader(b, v.name, v.typ, v.help)
	for i, x := range v.v {
		if v.set[i] {
			b = AppendSample(b, v.name, v.labels[i], x)
		}
	}
	return b
}

// A CounterVec is a counter family with one label whose values are fixed
// when it is made, each series written from the start (at 0, as
// client_golang wrote a series made in advance). It is safe for
// concurrent use.
type CounterVec struct{ vec }

// NewCounterVec makes the counter family name with a series for each of
// label's values, in that order.
func NewCounterVec(name, help, label string, values ...string) *CounterVec {
	c := new(CounterVec)
	c.init(name, help, TypeCounter, label, values, true)
	return c
}

// Add adds d, which must not be negative, to the series of value.
func (c *CounterVec) Add(value string, d float64) {
	if d < 0 {
		panic(fmt.Sprintf("promtext: counter %s decreased by %v", c.name, d))
	}
	i := c.index(value)
	c.mu.Lock()
	c.v[i] += d
	c.mu.Unlock()
}

// Inc adds 1 to the series of value.
func (c *CounterVec) Inc(value string) { c.Add(value, 1) }

// A GaugeVec is a gauge family with one label whose values are fixed when
// it is made; a series is written once it is set (so that a scrape
// before the first Set does not read as zeros). It is safe for
// concurrent use.
type GaugeVec struct{ vec }

// NewGaugeVec makes the gauge family name with label's values, in that
// order.
func NewGaugeVec(name, help, label string, values ...string) *GaugeVec {
	g := new(GaugeVec)
	g.init(name, help, TypeGauge, label, values, false)
	return g
}

// Set sets the series of value to x.
func (g *GaugeVec) Set(value string, x float64) {
	i := g.index(value)
	g.mu.Lock()
	g.v[i], g.set[i] = x, true
	g.mu.Unlock()
}

// A Histogram is a histogram family without labels whose buckets are
// fixed when it is made: it counts the observations at most each upper
// bound, and all of them (+Inf), and sums them. It is safe for
// concurrent use.
type Histogram struct {
	name, help string
	upper      []float64 // the buckets' upper bounds, ascending, without +Inf
	les        []string  // le="bound" of each, +Inf's last

	mu     sync.Mutex
	counts []uint64 // observations in each bucket alone, +Inf's last
	sum    float64
}

// NewHistogram makes the histogram family name with the buckets whose
// upper bounds are upper (+Inf added). upper must ascend.
func NewHistogram(name, help string, upper []float64) *Histogram {
	if !slices.IsSorted(upper) || slices.Contains(upper, math.Inf(1)) {
		panic(fmt.Sprintf("promtext: histogram %s: buckets %v do not ascend below +Inf", name, upper))
	}
	h := &Histogram{name: name, help: help, upper: slices.Clone(upper), counts: make([]uint64, len(upper)+1)}
	for _, u := range slices.Concat(h.upper, []float64{math.Inf(1)}) {
		h.les = append(h.les, `le="`+string(AppendFloat(nil, u))+`"`)
	}
	return h
}

// Observe counts x in the first bucket whose upper bound is x or more.
func (h *Histogram) Observe(x float64) {
	i := sort.SearchFloat64s(h.upper, x)
	h.mu.Lock()
	h.counts[i]++
	h.sum += x
	h.mu.Unlock()
}

func (h *Histogram) Names() []string { return []string{h.name} }

// AppendText appends the family: the cumulative count of each bucket
// (name_bucket{le="…"}), name_sum and name_count.
func (h *Histogram) AppendText(b []byte, keep func(string) bool) []byte {
	if keep != nil && !keep(h.name) {
		return b
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b = AppendHeader(b, h.name, TypeHistogram, h.help)
	var total uint64
	for i, n := range h.counts {
		total += n
		b = appendCount(b, h.name+"_bucket", h.les[i], total)
	}
	b = AppendSample(b, h.name+"_sum", "", h.sum)
	return appendCount(b, h.name+"_count", "", total)
}
