// Package lazy holds package-level values that are built on first use
// rather than at package init.
//
// A package-level var set by a call (sync.OnceValue(f), regexp.MustCompile,
// fmt.Sprintf, a parse) runs that call in the package's init on every
// start, in every binary that links the package, whether or not the value
// is ever used: it costs start-up time and the idle memory of the code
// and data it touches. A Value is a composite literal whose New is a
// function literal, which the compiler lays out statically: no init code.
package lazy

import "sync"

// A Value is a value of type T built by New on the first call of Get.
// Declare it as a package-level var with New set; it must not be copied
// after first use.
type Value[T any] struct {
	// New builds the value; it is called once, by the first Get.
	New func() T

	once sync.Once
	v    T
}

// Get returns the value, building it on the first call. It is safe for
// concurrent use. A New that panics panics that first Get, and every
// later Get returns T's zero value (as sync.Once leaves it).
func (l *Value[T]) Get() T {
	l.once.Do(func() { l.v = l.New() })
	return l.v
}
