package promtext

import (
	"fmt"
	"slices"
	"sync"
)

// A Collector writes metric families of its own in the text format.
// Its methods are safe for concurrent use.
type Collector interface {
	// Names are the names of the families it may write; they never
	// change.
	Names() []string
	// AppendText appends its families that keep accepts (all when keep
	// is nil), each HELP and TYPE line before its samples; a family
	// without samples is left out.
	AppendText(b []byte, keep func(name string) bool) []byte
}

// A Registry is a set of collectors whose families have different
// names, written in the order they were registered. The zero value is
// empty and ready to use; a Registry is a Collector itself.
type Registry struct {
	mu         sync.Mutex
	collectors []Collector
}

// Register adds cs, or none of them with an error when a family name is
// taken, by another collector or by two of cs.
func (r *Registry) Register(cs ...Collector) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	taken := make(map[string]bool)
	for _, c := range slices.Concat(r.collectors, cs) {
		for _, name := range c.Names() {
			if taken[name] {
				return fmt.Errorf("promtext: family %s registered twice", name)
			}
			taken[name] = true
		}
	}
	r.collectors = append(r.collectors, cs...)
	return nil
}

// MustRegister is Register, which panics on an error: for collectors made
// with fixed names at start-up, where a clash is a programming error.
func (r *Registry) MustRegister(cs ...Collector) {
	if err := r.Register(cs...); err != nil {
		panic(err)
	}
}

// Names are the names of every registered collector's families.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, c := range r.collectors {
		names = append(names, c.Names()...)
	}
	return names
}

// AppendText appends every registered collector's families that keep
// accepts (all when keep is nil), in the order of registration.
func (r *Registry) AppendText(b []byte, keep func(name string) bool) []byte {
	r.mu.Lock()
	cs := slices.Clip(r.collectors)
	r.mu.Unlock()
	for _, c := range cs {
		b = c.AppendText(b, keep)
	}
	return b
}

// NewProcessRegistry is a registry of the Go runtime's families (go_*)
// and the process's (process_*), as client_golang's Go and process
// collectors wrote them: what every /metrics serves.
func NewProcessRegistry() *Registry {
	r := new(Registry)
	r.MustRegister(NewGoCollector(), NewProcessCollector())
	return r
}
