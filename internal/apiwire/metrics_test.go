package apiwire

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/promtext"
	"github.com/srvmon/srvmon/pkg/promtext/promtexttest"
	"github.com/srvmon/srvmon/pkg/round"
)

// gathered is every sample of reg (promtexttest.Samples), read back by
// Prometheus's parser.
func gathered(t *testing.T, reg *promtext.Registry) map[string]float64 {
	t.Helper()
	return promtexttest.Samples(t, string(reg.AppendText(nil, nil)))
}

// TestRoundMetrics: each summary is counted by outcome, its durations
// observed, its targets shown, its deliveries added; a nil RoundMetrics
// records nothing and does not panic.
func TestRoundMetrics(t *testing.T) {
	var none *RoundMetrics
	none.Observe(round.Summary{Up: 1}, nil)

	reg := new(promtext.Registry)
	m := NewRoundMetrics(reg)
	before := gathered(t, reg)
	for k, v := range map[string]float64{
		`srvmon_rounds_total{outcome="stored"}`:     0,
		`srvmon_deliveries_total{outcome="failed"}`: 0,
		`srvmon_round_duration_seconds_count{}`:     0,
	} {
		if g, ok := before[k]; !ok || g != v {
			t.Errorf("before any round: %s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := before[`srvmon_round_targets{result="up"}`]; ok {
		t.Error("before any round: srvmon_round_targets is written")
	}
	slot := time.Date(2021, 3, 2, 12, 0, 0, 0, time.UTC)
	m.Observe(round.Summary{Slot: slot, Up: 8, Down: 2, Sent: 3, Failed: 1, Duration: 1500 * time.Millisecond, Stored: slot.Add(2 * time.Second)}, nil)
	m.Observe(round.Summary{Slot: slot.Add(time.Minute), Up: 9, Down: 1, Invalid: 1, PushUp: 2, Sent: 1, Duration: 500 * time.Millisecond},
		fmt.Errorf("round: %w", &round.SaveError{Slot: slot.Add(time.Minute), Err: errors.New("disk full")}))
	m.Observe(round.Summary{Duration: time.Second}, errors.New("monitors unreadable"))
	got := gathered(t, reg)
	for k, v := range map[string]float64{
		`srvmon_rounds_total{outcome="stored"}`:          1,
		`srvmon_rounds_total{outcome="not_stored"}`:      1,
		`srvmon_rounds_total{outcome="failed"}`:          1,
		`srvmon_round_duration_seconds_count{}`:          3,
		`srvmon_round_duration_seconds_bucket{le="1"}`:   2,
		`srvmon_round_duration_seconds_bucket{le="2.5"}`: 3,
		`srvmon_round_duration_seconds_sum{}`:            3,
		`srvmon_round_stored_after_slot_seconds_count{}`: 1,
		`srvmon_round_stored_after_slot_seconds_sum{}`:   2,
		`srvmon_round_targets{result="up"}`:              0, // the last round's
		`srvmon_round_targets{result="down"}`:            0,
		`srvmon_deliveries_total{outcome="sent"}`:        4,
		`srvmon_deliveries_total{outcome="failed"}`:      1,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	m.Observe(round.Summary{Up: 7, Down: 3, PushDown: 1}, nil)
	got = gathered(t, reg)
	for k, v := range map[string]float64{`srvmon_round_targets{result="up"}`: 7, `srvmon_round_targets{result="down"}`: 3, `srvmon_round_targets{result="push_down"}`: 1} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
