package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/timekey"
)

// dayBase is a UTC midnight, long before any test's now.
var dayBase = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// openTest opens a fresh file without fsync.
func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "srvmon.db"), WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// minutesUp stores a result up of host at every minute of [from, to) and
// compacts them into the host's bucket.
func minutesUp(t *testing.T, s *Store, host string, from, to time.Time) {
	t.Helper()
	var rs []store.Result
	for m := from; m.Before(to); m = m.Add(time.Minute) {
		rs = append(rs, store.Result{Host: host, Slot: m, RTT: time.Duration(1+m.Minute()%7) * time.Millisecond, Up: true})
	}
	if err := s.SaveRound(t.Context(), rs, nil); err != nil {
		t.Fatal(err)
	}
	if err := Compact(t.Context(), s); err != nil {
		t.Fatal(err)
	}
}

// summariseAll summarises every hour that ended before now.
func summariseAll(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	for more := true; more; {
		var err error
		if more, err = s.Summarise(t.Context(), now); err != nil {
			t.Fatal(err)
		}
	}
}

// markSummariesDown replaces every hourly summary of host by one that
// counts its checks down, behind the store's back.
func markSummariesDown(t *testing.T, s *Store, host string) {
	t.Helper()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSummaries).Bucket([]byte(host))
		if b == nil {
			return errors.New("no summaries")
		}
		var ks [][]byte
		b.ForEach(func(k, _ []byte) error { ks = append(ks, bytes.Clone(k)); return nil })
		for _, k := range ks {
			h, err := decodeSummary(k, b.Get(k))
			if err != nil {
				return err
			}
			if err := b.Put(k, encodeSummary(store.Summary{Down: h.Up + h.Down})); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// upDown lists the Up and Down counts of buckets, for comparing.
func upDown(bs []store.Bucket) string {
	var b bytes.Buffer
	for _, bk := range bs {
		fmt.Fprintf(&b, "%d/%d ", bk.Up, bk.Down)
	}
	return b.String()
}

// bucketsBoth reads the host's buckets as Buckets does and as BucketsAll
// does, and fails unless they agree.
func bucketsBoth(t *testing.T, s *Store, host string, start, end time.Time, n int) []store.Bucket {
	t.Helper()
	one, err := s.Buckets(t.Context(), host, start, end, n)
	if err != nil {
		t.Fatal(err)
	}
	var all string
	err = s.BucketsAll(t.Context(), store.BucketQuery{Bounds: store.EvenBounds(start, end, n)}, func(h string, bs []store.Bucket) error {
		if h == host {
			all = upDown(bs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if all != upDown(one) {
		t.Errorf("BucketsAll %s, Buckets %s", all, upDown(one))
	}
	return one
}

// DailyRollupsAreRead: a 3-day history, summarised, whose results are
// then marked down behind the store's back and whose hourly summaries
// count them down: buckets of whole days count them up (from the
// rollups), buckets of half days down (from the hourly summaries), and
// buckets narrower than an hour down (from the results).
func TestDailyRollupsAreRead(t *testing.T) {
	s := openTest(t)
	if err := s.AddHost(t.Context(), "a.test"); err != nil {
		t.Fatal(err)
	}
	minutesUp(t, s, "a.test", dayBase, dayBase.Add(3*store.DaySpan))
	summariseAll(t, s, dayBase.Add(3*store.DaySpan+2*time.Hour))
	markHostDown(t, s, "a.test")
	markSummariesDown(t, s, "a.test")
	end := dayBase.Add(3 * store.DaySpan)
	for _, tc := range []struct {
		name     string
		n        int
		up, down int64 // each bucket's
	}{
		{"WholeDays", 3, 1440, 0},
		{"ThreeDaysInOne", 1, 3 * 1440, 0},
		{"HalfDays", 6, 0, 720},
		{"HalfHours", 3 * 48, 0, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, b := range bucketsBoth(t, s, "a.test", dayBase, end, tc.n) {
				if b.Up != tc.up || b.Down != tc.down {
					t.Errorf("bucket %d: %d up, %d down; want %d up, %d down", i, b.Up, b.Down, tc.up, tc.down)
				}
			}
		})
	}
}

// Retention that cuts an hour and a day in the middle summarises the hour
// again from the results it keeps, and rolls up the day again: buckets
// whose window starts before the cut count the kept results from the new
// summary and rollup, with the results marked down behind the store's
// back.
func TestRetentionSummarisesTheCutHour(t *testing.T) {
	s := openTest(t)
	SetBatchSizes(s, 4096, 50000, 100, 1) // several transactions
	for _, h := range []string{"a.test", "b.test"} {
		if err := s.AddHost(t.Context(), h); err != nil {
			t.Fatal(err)
		}
		minutesUp(t, s, h, dayBase, dayBase.Add(3*store.DaySpan))
	}
	summariseAll(t, s, dayBase.Add(3*store.DaySpan+2*time.Hour))
	cut := dayBase.Add(store.DaySpan + 5*time.Hour + 20*time.Minute) // day 1, 05:20
	if _, err := s.DeleteResultsBefore(t.Context(), cut); err != nil {
		t.Fatal(err)
	}
	expectCutDayFromSummaries(t, s, "a.test")
	// Nothing but the cut day and after is rolled up, nothing but the cut
	// hour and after summarised.
	err := s.db.View(func(tx *bbolt.Tx) error {
		for _, h := range []string{"a.test", "b.test"} {
			if k, _ := bucketFirst(tx.Bucket(bucketDays).Bucket([]byte(h))); !bytes.Equal(k, timeKey(store.Day(cut))) {
				t.Errorf("%s: first rollup at %x, want the cut day %x", h, k, timeKey(store.Day(cut)))
			}
			if k, _ := bucketFirst(tx.Bucket(bucketSummaries).Bucket([]byte(h))); !bytes.Equal(k, timeKey(store.Hour(cut))) {
				t.Errorf("%s: first summary at %x, want the cut hour %x", h, k, timeKey(store.Hour(cut)))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A file of schema 5 has no days bucket, and its retention left the hour
// it cut without a summary. Open upgrades it to schema 6: it summarises
// the cut hour, rolls up every day before "summarised", and reads them.
func TestOpenBuildsDays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.db")
	s, err := Open(path, WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a.test", "b.test"} {
		if err := s.AddHost(t.Context(), h); err != nil {
			t.Fatal(err)
		}
		minutesUp(t, s, h, dayBase, dayBase.Add(3*store.DaySpan))
	}
	summariseAll(t, s, dayBase.Add(3*store.DaySpan+2*time.Hour))
	cut := dayBase.Add(store.DaySpan + 5*time.Hour + 20*time.Minute)
	if _, err := s.DeleteResultsBefore(t.Context(), cut); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Back to schema 5, as schema 5's retention left it.
	UpdateFile(t, path, "take the file back to schema 5", func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keySchema, []byte{0, 0, 0, 0, 0, 0, 0, 5}); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketDays); err != nil {
			return err
		}
		for _, h := range []string{"a.test", "b.test"} {
			if err := tx.Bucket(bucketSummaries).Bucket([]byte(h)).Delete(timeKey(store.Hour(cut))); err != nil {
				return err
			}
		}
		return nil
	})

	s, err = Open(path, WithNoSync())
	if err != nil {
		t.Fatalf("Open of a schema 5 file: %v", err)
	}
	defer s.Close()
	err = s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySchema); !bytes.Equal(v, []byte{0, 0, 0, 0, 0, 0, 0, 6}) {
			t.Errorf("schema after Open: %v, want 6", v)
		}
		if tx.Bucket(bucketMeta).Get(keyBuildDays) != nil {
			t.Error("builddays still set after Open")
		}
		for _, h := range []string{"a.test", "b.test"} {
			var days []time.Time
			b := tx.Bucket(bucketDays).Bucket([]byte(h))
			if b == nil {
				t.Errorf("%s: no rollups", h)
				continue
			}
			b.ForEach(func(k, _ []byte) error {
				days = append(days, timekey.Decode(k))
				return nil
			})
			if want := []time.Time{dayBase.Add(store.DaySpan), dayBase.Add(2 * store.DaySpan)}; fmt.Sprint(days) != fmt.Sprint(want) {
				t.Errorf("%s: rollups of days %v, want %v", h, days, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	expectCutDayFromSummaries(t, s, "a.test")
}

// expectCutDayFromSummaries marks host's results down behind the store's
// back, three days of a result a minute from dayBase that retention cut
// at day 1, 05:20, and expects buckets of whole hours and days, aligned
// with midnights or not, to count the results kept up: from the
// summaries and rollups, those of the cut hour and day included.
func expectCutDayFromSummaries(t *testing.T, s *Store, host string) {
	t.Helper()
	markHostDown(t, s, host)
	const keptOfDay1 = 1440 - (5*60 + 20)
	for _, tc := range []struct {
		name       string
		start, end time.Time
		n          int
		up         []int64
	}{
		{"Days", dayBase, dayBase.Add(3 * store.DaySpan), 3, []int64{0, keptOfDay1, 1440}},
		{"HoursAroundTheCut", dayBase.Add(store.DaySpan + 4*time.Hour), dayBase.Add(store.DaySpan + 7*time.Hour), 3, []int64{0, 40, 60}},
		{"DaysNotAligned", dayBase.Add(12 * time.Hour), dayBase.Add(2*store.DaySpan + 12*time.Hour), 2, []int64{12*60 - (5*60 + 20), 1440}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, b := range bucketsBoth(t, s, host, tc.start, tc.end, tc.n) {
				if b.Up != tc.up[i] || b.Down != 0 {
					t.Errorf("bucket %d [%s, %s): %d up, %d down; want %d up (from the summaries), 0 down",
						i, b.Start.Format(time.RFC3339), b.End.Format(time.RFC3339), b.Up, b.Down, tc.up[i])
				}
			}
		})
	}
}

// An upgrade that a crash stopped midway leaves builddays set, with some
// rollups written and others not: the next Open builds them again, and
// whole days read them.
func TestOpenBuildsDaysAgainAfterACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.db")
	s, err := Open(path, WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddHost(t.Context(), "a.test"); err != nil {
		t.Fatal(err)
	}
	minutesUp(t, s, "a.test", dayBase, dayBase.Add(3*store.DaySpan))
	summariseAll(t, s, dayBase.Add(3*store.DaySpan+2*time.Hour))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	UpdateFile(t, path, "stop the upgrade midway", func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keyBuildDays, []byte{1}); err != nil {
			return err
		}
		days := tx.Bucket(bucketDays).Bucket([]byte("a.test"))
		if err := days.Delete(timeKey(dayBase)); err != nil { // not written yet
			return err
		}
		return days.Put(timeKey(dayBase.Add(store.DaySpan)), encodeSummary(store.Summary{Down: 7})) // half written
	})
	s, err = Open(path, WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	markHostDown(t, s, "a.test")
	for i, b := range bucketsBoth(t, s, "a.test", dayBase, dayBase.Add(3*store.DaySpan), 3) {
		if b.Up != 1440 || b.Down != 0 {
			t.Errorf("bucket %d: %d up, %d down; want 1440 up (from the rollups), 0 down", i, b.Up, b.Down)
		}
	}
}
