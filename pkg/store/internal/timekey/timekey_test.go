package timekey

import (
	"bytes"
	"testing"
	"time"
)

func TestOrderAndRoundTrip(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Date(2024, 2, 29, 12, 0, 0, 500, time.FixedZone("X", 3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	var prev []byte
	for i, tm := range times {
		k := Append([]byte("p"), tm)[1:]
		if len(k) != Len {
			t.Fatalf("Append(%v): %d bytes, want %d", tm, len(k), Len)
		}
		put := make([]byte, Len)
		Put(put, tm)
		if !bytes.Equal(put, k) {
			t.Errorf("Put(%v) = %x, Append = %x", tm, put, k)
		}
		if got := Decode(k); !got.Equal(tm) || got.Location() != time.UTC {
			t.Errorf("Decode(Append(%v)) = %v", tm, got)
		}
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			t.Errorf("key of %v is not after the key of %v", tm, times[i-1])
		}
		prev = k
	}
}
