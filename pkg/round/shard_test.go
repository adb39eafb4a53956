package round_test

import (
	"testing"

	"github.com/srvmon/srvmon/pkg/round"
)

func TestShardSelects(t *testing.T) {
	var all round.Shard
	s := round.Shard{Index: 1, Count: 3}
	counts := make([]int, 3)
	for h := range uint64(300) {
		if !all.Selects(h) {
			t.Fatalf("zero shard does not select %d", h)
		}
		if s.Selects(h) {
			counts[1]++
		}
		counts[h%3]++
	}
	if counts[1] != 200 || !(round.Shard{Index: 0, Count: 1}).Selects(7) {
		t.Errorf("counts %v", counts)
	}
	for _, tc := range []struct {
		s    round.Shard
		want string
	}{{all, ""}, {s, "1/3"}} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.s, got, tc.want)
		}
	}
}
