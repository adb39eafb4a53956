package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// sliceSource is a CheckSource over a slice.
type sliceSource []Check

func (s *sliceSource) Next() (Check, bool) {
	if len(*s) == 0 {
		return Check{}, false
	}
	c := (*s)[0]
	*s = (*s)[1:]
	return c, true
}

func TestMergeStreams(t *testing.T) {
	base := time.Date(2021, 3, 2, 11, 50, 0, 0, time.UTC)
	at := func(i int, rtt time.Duration, up bool) Check {
		return Check{Time: base.Add(time.Duration(i) * time.Minute), RTT: rtt, Up: up}
	}
	maint := func(c Check) Check {
		c.Maintenance = true
		return c
	}
	tests := []struct {
		name    string
		local   []Check
		sources [][]Check
		want    []Check
	}{
		{
			name:    "one source",
			local:   []Check{at(1, 4, true), at(2, 7, true), at(3, 2, false), at(4, 8, false)},
			sources: [][]Check{{at(0, 5, true), at(2, 3, true), at(3, 9, false), at(6, 1, true)}},
			want:    []Check{at(0, 5, true), at(1, 4, true), at(2, 3, true), at(3, 2, false), at(4, 8, false), at(6, 1, true)},
		},
		{
			name:  "up if any, the lowest rtt among those up",
			local: []Check{at(1, 1, false), at(2, 9, true)},
			sources: [][]Check{
				{at(1, 6, true), at(2, 8, false)},
				{at(1, 5, true), at(2, 7, true)},
			},
			want: []Check{at(1, 5, true), at(2, 7, true)},
		},
		{
			name:  "several sources, times only some have, several checks of one time in a source",
			local: []Check{at(5, 50, true)},
			sources: [][]Check{
				{at(1, 10, true), at(1, 11, true), at(3, 30, true), at(9, 90, true)},
				{at(2, 20, true), at(3, 31, false), at(5, 49, true), at(5, 48, false)},
				{},
				{at(0, 1, false)},
			},
			want: []Check{at(0, 1, false), at(1, 10, true), at(2, 20, true), at(3, 30, true), at(5, 49, true), at(9, 90, true)},
		},
		{
			name:  "no sources",
			local: []Check{at(1, 1, true), at(2, 2, false)},
			want:  []Check{at(1, 1, true), at(2, 2, false)},
		},
		{
			name:    "in maintenance if any instance's check was",
			local:   []Check{at(1, 1, true), maint(at(2, 2, false)), at(3, 3, true)},
			sources: [][]Check{{maint(at(1, 5, true)), at(2, 1, true), at(3, 3, false)}, {maint(at(4, 4, true))}},
			want:    []Check{maint(at(1, 1, true)), maint(at(2, 1, true)), at(3, 3, true), maint(at(4, 4, true))},
		},
		{
			name:    "nothing local",
			sources: [][]Check{{at(2, 2, true)}, {at(1, 1, true)}},
			want:    []Check{at(1, 1, true), at(2, 2, true)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srcs []CheckSource
			for _, s := range tt.sources {
				src := sliceSource(slices.Clone(s))
				srcs = append(srcs, &src)
			}
			local := func(add func(Check) error) error {
				for _, c := range tt.local {
					if err := add(c); err != nil {
						return err
					}
				}
				return nil
			}
			var got []Check
			if err := MergeStreams(srcs, local, func(c Check) error { got = append(got, c); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tt.want, func(a, b Check) bool {
				return a.Time.Equal(b.Time) && a.RTT == b.RTT && a.Up == b.Up && a.Maintenance == b.Maintenance
			}) {
				t.Errorf("merged %v\nwant %v", got, tt.want)
			}

			// An error of fn stops the merge and comes back.
			if len(tt.want) == 0 {
				return
			}
			for i := range srcs {
				src := sliceSource(slices.Clone(tt.sources[i]))
				srcs[i] = &src
			}
			stop := errors.New("stop")
			n := 0
			err := MergeStreams(srcs, local, func(c Check) error { n++; return stop })
			if err != stop || n != 1 {
				t.Errorf("fn failing: %v after %d checks, want %v after 1", err, n, stop)
			}
		})
	}
}
