package lazy

import (
	"sync"
	"sync/atomic"
	"testing"
)

var calls atomic.Int64

// built is declared as the packages that use lazy declare their values.
var built = Value[[]int]{New: func() []int {
	calls.Add(1)
	return []int{1, 2, 3}
}}

func TestValueBuiltOnceOnFirstGet(t *testing.T) {
	if n := calls.Load(); n != 0 {
		t.Fatalf("New called %d times before the first Get", n)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if v := built.Get(); len(v) != 3 || v[2] != 3 {
				t.Errorf("Get = %v", v)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("New called %d times, want 1", n)
	}
}
