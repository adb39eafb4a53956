package store

import "testing"

func TestReasonIfDown(t *testing.T) {
	for _, tt := range []struct {
		up           bool
		reason, want string
	}{{true, "timeout", ""}, {false, "timeout", "timeout"}, {false, "", ""}, {true, "", ""}} {
		if got := ReasonIfDown(tt.up, tt.reason); got != tt.want {
			t.Errorf("ReasonIfDown(%v, %q) = %q, want %q", tt.up, tt.reason, got, tt.want)
		}
	}
}
