package store

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTruncateReason(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // bytes kept
	}{
		{"timeout after 10s", 17},
		{strings.Repeat("x", MaxReasonLen), MaxReasonLen},
		{strings.Repeat("x", MaxReasonLen+1), MaxReasonLen},
		// "€" is 3 bytes: the cut falls inside the one at byte 511.
		{strings.Repeat("x", MaxReasonLen-1) + "€€", MaxReasonLen - 1},
		{strings.Repeat("x", MaxReasonLen-3) + "€€", MaxReasonLen},
	} {
		got := TruncateReason(tc.in)
		if len(got) != tc.want || !utf8.ValidString(got) || !strings.HasPrefix(tc.in, got) {
			t.Errorf("TruncateReason of %d bytes = %d bytes (valid %v), want %d", len(tc.in), len(got), utf8.ValidString(got), tc.want)
		}
	}
}

func TestGosrvmonRTT(t *testing.T) {
	for _, tc := range []struct {
		ns   int64
		up   bool
		want time.Duration
		ok   bool
	}{
		{-1, false, 0, true}, // gosrvmon's failed ping
		{-5, false, 0, true},
		{-1, true, 0, false},
		{0, false, 0, true},
		{15321000, true, 15321000, true},
		{10_000_000_000, false, 10 * time.Second, true},
	} {
		if got, ok := GosrvmonRTT(tc.ns, tc.up); got != tc.want || ok != tc.ok {
			t.Errorf("GosrvmonRTT(%d, %v) = %v, %v; want %v, %v", tc.ns, tc.up, got, ok, tc.want, tc.ok)
		}
	}
}
