package memory_test

import (
	"testing"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
}

// TestConformanceZeroValue runs the suite against the zero Store, which
// must work as well as New's.
func TestConformanceZeroValue(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return new(memory.Store) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return memory.New() })
}
