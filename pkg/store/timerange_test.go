package store

import (
	"testing"
	"time"
)

// TestTimeRangeFitsNanoseconds: every time in [MinTime, MaxTime] has unix
// nanoseconds in an int64, which is how backends key a slot.
func TestTimeRangeFitsNanoseconds(t *testing.T) {
	for _, tm := range []time.Time{MinTime(), MaxTime(), MaxTime().Add(-time.Nanosecond)} {
		if back := time.Unix(0, tm.UnixNano()).UTC(); !back.Equal(tm) {
			t.Errorf("%v comes back from its nanoseconds as %v", tm, back)
		}
	}
	if !MinTime().Equal(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)) || !MaxTime().Equal(time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("range %v..%v, want 1970-01-01..2262-01-01", MinTime(), MaxTime())
	}
}
