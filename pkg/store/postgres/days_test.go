package postgres_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// daysStart is the first day of the tests of the daily rollups.
var daysStart = time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)

// dayResult is host's result at minute m after daysStart: down one
// minute in 7 (a.test) or 5, with rtts that vary from minute to minute.
func dayResult(host, location string, m int) store.Result {
	r := store.Result{Host: host, Location: location, Slot: daysStart.Add(time.Duration(m) * time.Minute),
		RTT: time.Duration(1+m%97) * time.Millisecond, Up: true}
	if host == "a.test" && m%7 == 0 || host != "a.test" && m%5 == 0 {
		r.Up, r.Reason = false, "timeout"
	}
	return r
}

// saveDays saves a result a minute of each host in the minutes [from, to)
// after daysStart, as rounds of a day at a time.
func saveDays(t *testing.T, s *postgres.Store, hosts []string, from, to int) []store.Result {
	t.Helper()
	var all []store.Result
	for d := from; d < to; d += 24 * 60 {
		var rs []store.Result
		for m := d; m < min(d+24*60, to); m++ {
			for _, h := range hosts {
				rs = append(rs, dayResult(h, "", m))
			}
		}
		if err := s.SaveRound(t.Context(), rs, nil); err != nil {
			t.Fatalf("SaveRound: %v", err)
		}
		all = append(all, rs...)
	}
	return all
}

// summariseUntil runs Summarise at now until nothing is left.
func summariseUntil(t *testing.T, s *postgres.Store, now time.Time) {
	t.Helper()
	for more := true; more; {
		var err error
		if more, err = s.Summarise(t.Context(), now); err != nil {
			t.Fatalf("Summarise: %v", err)
		}
	}
}

// rollupRow is a row of check_summaries_daily.
type rollupRow struct {
	Host string
	Day  time.Time
	store.Summary
}

func (r rollupRow) String() string {
	return fmt.Sprintf("%s %s up %d down %d maint %d rtt %v..%v sum %v", r.Host, r.Day.Format(time.DateOnly),
		r.Up, r.Down, r.Maintenance, r.MinRTT, r.MaxRTT, r.SumRTT)
}

// scanSummaryRow scans a row of host, time and the counters, as
// check_summaries and check_summaries_daily hold them.
func scanSummaryRow(row pgx.CollectableRow) (rollupRow, error) {
	var r rollupRow
	var minRTT, maxRTT, sumRTT int64
	err := row.Scan(&r.Host, &r.Day, &r.Up, &r.Down, &r.Maintenance, &minRTT, &maxRTT, &sumRTT)
	r.Day = r.Day.UTC()
	r.MinRTT, r.MaxRTT, r.SumRTT = time.Duration(minRTT), time.Duration(maxRTT), time.Duration(sumRTT)
	return r, err
}

// rollups returns check_summaries_daily, by host and day.
func rollups(t *testing.T, u string) []rollupRow {
	t.Helper()
	return queryRows(t, u, `SELECT host, day, up, down, maintenance, min_rtt, max_rtt, sum_rtt FROM check_summaries_daily ORDER BY host, day`,
		scanSummaryRow)
}

// wantRollups returns what check_summaries_daily must hold by its
// invariant (see summaries.go): for each host and day wholly before
// summarised_until with an hourly summary, the day's hourly summaries
// merged by store.Summary.Merge, computed here in Go.
func wantRollups(t *testing.T, u string) []rollupRow {
	t.Helper()
	var until time.Time // zero: nothing summarised
	if v := queryRows(t, u, `SELECT summarised_until FROM summary_progress`, pgx.RowTo[*time.Time]); v[0] != nil {
		until = v[0].UTC()
	}
	byKey := map[string]*rollupRow{}
	for _, h := range queryRows(t, u, `SELECT host, hour, up, down, maintenance, min_rtt, max_rtt, sum_rtt FROM check_summaries`, scanSummaryRow) {
		day := store.Day(h.Day)
		if day.Add(store.DaySpan).After(until) {
			continue
		}
		k := h.Host + " " + day.String()
		if byKey[k] == nil {
			byKey[k] = &rollupRow{Host: h.Host, Day: day}
		}
		byKey[k].Merge(h.Summary)
	}
	var rs []rollupRow
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		rs = append(rs, *byKey[k])
	}
	return rs
}

// expectExactRollups fails t unless check_summaries_daily holds what its
// invariant says.
func expectExactRollups(t *testing.T, u string) {
	t.Helper()
	got, want := rollups(t, u), wantRollups(t, u)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rollups:\n%s\nwant, from the hourly summaries:\n%s", fmtRollups(got), fmtRollups(want))
	}
}

func fmtRollups(rs []rollupRow) string {
	s := ""
	for _, r := range rs {
		s += "\t" + r.String() + "\n"
	}
	return s
}

// expectBuckets fails t unless BucketsAll over [daysStart, end) in n
// buckets, and each host's Buckets, equal the buckets counted from kept,
// the results the store holds, merged slot by slot.
func expectBuckets(t *testing.T, s *postgres.Store, kept []store.Result, end time.Time, n int) {
	t.Helper()
	hosts, err := s.Hosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slots := map[string]map[time.Time][]store.Result{}
	for _, r := range kept {
		if slots[r.Host] == nil {
			slots[r.Host] = map[time.Time][]store.Result{}
		}
		slots[r.Host][r.Slot] = append(slots[r.Host][r.Slot], r)
	}
	want := map[string][]store.Bucket{}
	for _, h := range hosts {
		bk := store.NewBucketer(daysStart, end, n)
		for _, rs := range slots[h] {
			slices.SortFunc(rs, func(a, b store.Result) int { return strings.Compare(a.Location, b.Location) })
			bk.Add(store.MergeSlot(rs))
		}
		want[h] = slices.Clone(bk.Buckets())
	}
	got := bucketsAll(t, s, store.BucketQuery{Bounds: store.EvenBounds(daysStart, end, n)})
	for _, h := range hosts {
		if !reflect.DeepEqual(got[h], want[h]) {
			t.Errorf("BucketsAll of %s over %v in %d:\n%v\nwant, from the results:\n%v", h, end.Sub(daysStart), n, got[h], want[h])
		}
		one, err := s.Buckets(t.Context(), h, daysStart, end, n)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(one, want[h]) {
			t.Errorf("Buckets of %s over %v in %d:\n%v\nwant, from the results:\n%v", h, end.Sub(daysStart), n, one, want[h])
		}
	}
}

// TestDailyRollupsStayExact writes hourly summaries by every path that
// does (Summarise, a late round from another location, a restore into
// summarised hours, retention mid-day, on an hour and at midnight,
// DeleteHost), one after the other on one store, and checks after each
// that check_summaries_daily holds exactly the sum of each complete day's
// hourly summaries, and that buckets of days, of hours and of parts of
// hours are those counted from the results kept.
func TestDailyRollupsStayExact(t *testing.T) {
	u := pgtest.NewDatabase(t)
	s := openURL(t, u)
	ctx := t.Context()
	hosts := []string{"a.test", "b.test"}
	addHosts(t, s, hosts...)
	const day = 24 * 60 // minutes
	at := func(m int) time.Time { return daysStart.Add(time.Duration(m) * time.Minute) }
	var kept []store.Result
	retain := func(cut time.Time) func(t *testing.T) {
		return func(t *testing.T) {
			if _, err := s.DeleteResultsBefore(ctx, cut); err != nil {
				t.Fatal(err)
			}
			kept = slices.DeleteFunc(kept, func(r store.Result) bool { return r.Slot.Before(cut) })
		}
	}
	for _, step := range []struct {
		name string
		do   func(t *testing.T)
	}{{
		name: "summarised",
		do: func(t *testing.T) {
			kept = saveDays(t, s, hosts, 0, 4*day+5*60)
			summariseUntil(t, s, at(4*day+7*60)) // days 0 to 3 complete
			if n := len(rollups(t, u)); n != 2*4 {
				t.Errorf("%d rollups, want 8 (2 hosts × 4 days)", n)
			}
		},
	}, {
		name: "late result from another location",
		do: func(t *testing.T) {
			late := dayResult("a.test", "y", day+10*60+4) // a.test is down there
			late.Up, late.Reason = true, ""
			if err := s.SaveRound(ctx, []store.Result{late}, nil); err != nil {
				t.Fatal(err)
			}
			kept = append(kept, late)
		},
	}, {
		name: "restore into summarised hours",
		do: func(t *testing.T) {
			var rs []store.Result
			for m := 2*day + 3*60; m < 2*day+4*60+30; m++ {
				rs = append(rs, store.Result{Host: "b.test", Location: "z", Slot: at(m), RTT: 500 * time.Millisecond, Up: true})
			}
			err := s.Restore(ctx, store.Restore{Results: func(ctx context.Context, emit func(store.Result) error) error {
				for _, r := range rs {
					if err := emit(r); err != nil {
						return err
					}
				}
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			kept = append(kept, rs...)
		},
	}, {
		name: "retention mid-day",
		do:   retain(at(day + 13*60 + 30)),
	}, {
		name: "retention on an hour",
		do:   retain(at(day + 16*60)),
	}, {
		name: "retention at midnight",
		do:   retain(at(2 * day)),
	}, {
		name: "delete host",
		do: func(t *testing.T) {
			if err := s.DeleteHost(ctx, "b.test"); err != nil {
				t.Fatal(err)
			}
			kept = slices.DeleteFunc(kept, func(r store.Result) bool { return r.Host == "b.test" })
		},
	}, {
		name: "summarised further",
		do: func(t *testing.T) {
			kept = append(kept, saveDays(t, s, hosts[:1], 4*day+5*60, 5*day+23*60)...)
			summariseUntil(t, s, at(6*day)) // days 4 and 5 complete
		},
	}} {
		t.Run(step.name, func(t *testing.T) {
			step.do(t)
			expectExactRollups(t, u)
			end := at(6 * day)
			expectBuckets(t, s, kept, end, 6)       // days: the rollups
			expectBuckets(t, s, kept, end, 6*24)    // hours
			expectBuckets(t, s, kept, end, 6*24*2)  // half hours: the results
			expectBuckets(t, s, kept, at(5*day), 4) // 30 hours each: days and hours
		})
	}
}

// TestDailyRollupsAreRead shows that buckets of whole days read the
// daily rollups: it marks a host's rollups down behind the store's back,
// and expects buckets of days to count them down, buckets of hours to
// count the hourly summaries (up), and a bucket of two days and a half both.
func TestDailyRollupsAreRead(t *testing.T) {
	u := pgtest.NewDatabase(t)
	s := openURL(t, u)
	ctx := t.Context()
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	const day = 24 * 60
	var rs []store.Result
	for m := range 3 * day {
		rs = append(rs, store.Result{Host: "a.test", Slot: daysStart.Add(time.Duration(m) * time.Minute), RTT: time.Millisecond, Up: true})
	}
	if err := s.SaveRound(ctx, rs, nil); err != nil {
		t.Fatal(err)
	}
	summariseUntil(t, s, daysStart.Add(3*24*time.Hour+time.Hour))
	pgtest.Exec(t, u, `UPDATE check_summaries_daily SET down = up, up = 0, min_rtt = 0, max_rtt = 0, sum_rtt = 0 WHERE host = 'a.test'`)
	end := daysStart.Add(3 * 24 * time.Hour)
	for _, tc := range []struct {
		name     string
		start    time.Time
		n        int
		up, down int64 // of each bucket
	}{
		{"days", daysStart, 3, 0, day},
		{"hours", daysStart, 3 * 24, 60, 0},
		{"two days and a half", daysStart.Add(12 * time.Hour), 1, day / 2, 2 * day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := bucketsAll(t, s, store.BucketQuery{Bounds: store.EvenBounds(tc.start, end, tc.n)})["a.test"]
			one, err := s.Buckets(ctx, "a.test", tc.start, end, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			for name, bs := range map[string][]store.Bucket{"BucketsAll": all, "Buckets": one} {
				if len(bs) != tc.n {
					t.Fatalf("%s: %d buckets, want %d", name, len(bs), tc.n)
				}
				for i, b := range bs {
					if b.Up != tc.up || b.Down != tc.down {
						t.Errorf("%s: bucket %d: up %d down %d, want up %d down %d", name, i, b.Up, b.Down, tc.up, tc.down)
					}
				}
			}
		})
	}
}
