package store

import (
	"slices"
	"testing"
	"time"
)

func TestClaimPicker(t *testing.T) {
	t0 := time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	// d is a pending delivery of host created at minute created, due at
	// minute next, attempted attempts times.
	d := func(id int64, host string, created, next int, attempts int64) Delivery {
		return Delivery{ID: id, Host: host, Created: at(created), NextAttempt: at(next), Attempts: attempts}
	}
	on := func(d Delivery, channel string) Delivery { d.Channel = channel; return d }
	for _, tc := range []struct {
		name    string
		now     int
		limit   int
		pending []Delivery
		want    []int64
	}{
		{"None", 5, 10, nil, []int64{}},
		{"OldestOfEachHost", 5, 10,
			[]Delivery{d(3, "a", 2, 2, 0), d(1, "a", 1, 1, 0), d(2, "b", 1, 1, 0), d(4, "b", 3, 3, 0)}, []int64{1, 2}},
		{"SameCreatedByID", 5, 10, []Delivery{d(7, "a", 1, 1, 0), d(6, "a", 1, 1, 0)}, []int64{6}},
		{"ByNextAttemptThenID", 5, 10,
			[]Delivery{d(1, "a", 0, 4, 2), d(2, "b", 1, 1, 0), d(3, "c", 1, 1, 0)}, []int64{2, 3, 1}},
		{"Limit", 5, 1, []Delivery{d(1, "a", 1, 1, 0), d(2, "b", 1, 1, 0)}, []int64{1}},
		{"LimitZero", 5, 0, []Delivery{d(1, "a", 1, 1, 0)}, []int64{}},
		{"OldestInBackoffHoldsTheHost", 5, 10, []Delivery{d(1, "a", 1, 9, 1), d(2, "a", 2, 2, 0)}, []int64{}},
		{"OldestLeasedHoldsTheHost", 5, 10, []Delivery{d(2, "a", 2, 2, 0), d(1, "a", 1, 9, 1), d(3, "b", 1, 1, 0)}, []int64{3}},
		{"LaterLeasedHoldsTheHost", 5, 10, []Delivery{d(1, "a", 1, 1, 0), d(2, "a", 2, 9, 1)}, []int64{}},
		{"LaterNotYetDueDoesNotHold", 5, 10, []Delivery{d(1, "a", 1, 1, 0), d(2, "a", 6, 6, 0)}, []int64{1}},
		{"OldestNotYetDue", 5, 10, []Delivery{d(1, "a", 6, 6, 0)}, []int64{}},
		{"DueAtNow", 5, 10, []Delivery{d(1, "a", 1, 5, 1)}, []int64{1}},
		{"ChannelsOfAHostEachTheirOldest", 5, 10,
			[]Delivery{on(d(1, "a", 1, 1, 0), "x://"), on(d(2, "a", 1, 1, 0), "y://"), d(3, "a", 1, 1, 0), on(d(4, "a", 2, 2, 0), "x://")}, []int64{1, 2, 3}},
		{"LeasedChannelDoesNotHoldAnother", 5, 10,
			[]Delivery{on(d(1, "a", 1, 9, 1), "x://"), on(d(2, "a", 2, 2, 0), "x://"), on(d(3, "a", 1, 1, 0), "y://"), d(4, "a", 3, 3, 0)}, []int64{3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewClaimPicker(at(tc.now))
			for _, d := range tc.pending {
				p.Add(d)
			}
			if got := p.Pick(tc.limit); got == nil || !slices.Equal(got, tc.want) {
				t.Errorf("Pick(%d) = %v, want %v", tc.limit, got, tc.want)
			}
		})
	}
}
