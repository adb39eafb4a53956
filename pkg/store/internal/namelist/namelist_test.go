package namelist

import (
	"slices"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, names := range [][]string{nil, {""}, {"eu"}, {"", "eu"}, {"eu", "us", "ap"}, {"eu", ""}} {
		got := Split(Join(names))
		if !slices.Equal(got, names) || (names == nil) != (got == nil) {
			t.Errorf("Split(Join(%q)) = %q", names, got)
		}
	}
}
