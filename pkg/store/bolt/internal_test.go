package bolt

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// During a compaction a result is both in its host's bucket and in the
// recent bucket: every reader must see it once.
func TestResultInBothPlacesReadOnce(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "srvmon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	t0 := time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	rs := []store.Result{
		{Host: "a.test", Slot: t0, RTT: time.Millisecond, Up: true},
		{Host: "a.test", Location: "eu", Slot: t0, RTT: 2 * time.Millisecond, Up: true},
		{Host: "a.test", Slot: t0.Add(time.Minute), RTT: 3 * time.Millisecond, Up: true},
		{Host: "a.test", Slot: t0.Add(2 * time.Minute), RTT: 4 * time.Millisecond, Reason: "timeout"},
	}
	// All four in the host bucket, the last three in the recent bucket too.
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(bucketResults).CreateBucket([]byte("a.test"))
		if err != nil {
			return err
		}
		for i, e := range encodeAll(rs, true) {
			if err := b.Put(e.key, e.value); err != nil {
				return err
			}
			if i > 0 {
				if err := tx.Bucket(bucketRecent).Put(e.recent, e.value); err != nil {
					return err
				}
			}
		}
		return raiseNewest(tx, timeKey(t0.Add(2*time.Minute)))
	})
	if err != nil {
		t.Fatal(err)
	}
	far := t0.Add(time.Hour)
	var got []store.Result
	if err := s.Results(ctx, "a.test", t0, far, func(r store.Result) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rs) {
		t.Errorf("Results read %d results, want %d: %+v", len(got), len(rs), got)
	}
	checks := 0
	if err := s.Checks(ctx, "a.test", t0, far, func(store.Check) error { checks++; return nil }); err != nil {
		t.Fatal(err)
	}
	if checks != 3 {
		t.Errorf("Checks read %d checks, want 3", checks)
	}
	bs, err := s.Buckets(ctx, "a.test", t0, far, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].Up != 2 || bs[0].Down != 1 {
		t.Errorf("Buckets = %+v, want 2 up and 1 down", bs)
	}
	c, ok, err := s.LastCheck(ctx, "a.test")
	if err != nil || !ok || c.Error != "timeout" || !c.Time.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("LastCheck = %+v, %v, %v", c, ok, err)
	}
	// A re-saved round stores nothing new.
	if err := s.SaveRound(ctx, rs, nil); err != nil {
		t.Fatal(err)
	}
	s.maint.Lock()
	err = s.compact(ctx)
	s.maint.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	if err := s.Results(ctx, "a.test", t0, far, func(r store.Result) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rs) {
		t.Errorf("Results after compaction read %d results, want %d", len(got), len(rs))
	}
	s.db.View(func(tx *bbolt.Tx) error {
		if n := tx.Bucket(bucketRecent).Stats().KeyN; n != 0 {
			t.Errorf("%d results left in the recent bucket after compaction", n)
		}
		return nil
	})
}

// FuzzDecode feeds stored bytes to every decoder: corrupt data is an
// error, never a panic, and what the encoders write decodes as it was.
func FuzzDecode(f *testing.F) {
	t0 := time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)
	d := store.Delivery{Host: "a.test", URL: "http://127.0.0.1:9/?x=1", Created: t0, NextAttempt: t0.Add(time.Minute), Attempts: 2, LastError: "HTTP 500", Status: store.DeliveryPending}
	r := store.Result{Host: "a.test", Location: "eu", Slot: t0, RTT: time.Millisecond, Reason: "timeout"}
	f.Add(idKey(7), encodeDelivery(&d))
	f.Add(encodeRule(store.Rule{Threshold: 3, Action: "http://127.0.0.1:9/"}), encodeState(store.State{Status: "up", Count: 4, LastSlot: t0}))
	f.Add(appendResultKey(nil, &r), appendResultValue(nil, &r))
	f.Add(appendRecentKey(nil, hostPrefix("a.test"), appendResultKey(nil, &r)), []byte{})
	f.Add([]byte{}, []byte{0xff, 0xff, 0xff})
	sum := store.Summary{Up: 50, Down: 3, Maintenance: 7, MinRTT: 1, MaxRTT: 9, SumRTT: 200}
	f.Add(timeKey(t0), encodeSummary(sum))
	f.Add(timeKey(t0), encodeSummary(sum)[:summaryLen4]) // schema 4's
	f.Add(idKey(3), []byte(`{"id":3,"hosts":["a.test"],"cron":"@daily","duration":"1h"}`))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if h, err := decodeSummary(k, v); err == nil {
			if got, err := decodeSummary(k, encodeSummary(h.Summary)); err != nil || got != h {
				t.Errorf("summary %+v re-decodes as %+v, %v", h, got, err)
			}
		}
		decodeMaintenance(k, v)
		if d, err := decodeDelivery(k, v); err == nil {
			if got, err := decodeDelivery(k, encodeDelivery(&d)); err != nil || got != d {
				t.Errorf("delivery %+v re-decodes as %+v, %v", d, got, err)
			}
		}
		if rl, err := decodeRule("h", v); err == nil {
			if got, err := decodeRule("h", encodeRule(rl)); err != nil || !reflect.DeepEqual(got, rl) {
				t.Errorf("rule %+v re-decodes as %+v, %v", rl, got, err)
			}
		}
		if st, err := decodeState("h", v); err == nil {
			if got, err := decodeState("h", encodeState(st)); err != nil || !reflect.DeepEqual(got, st) {
				t.Errorf("state %+v re-decodes as %+v, %v", st, got, err)
			}
		}
		if res, err := decodeResult("h", k, v, nil); err == nil {
			if got, err := decodeResult("h", appendResultKey(nil, &res), appendResultValue(nil, &res), &lastStrings{}); err != nil || got != res {
				t.Errorf("result %+v re-decodes as %+v, %v", res, got, err)
			}
		}
		decodeCheck(k, v, nil)
		if host, rk, err := splitRecentKey(k); err == nil {
			if got := appendRecentKey(nil, hostPrefix(host), rk); !bytes.Equal(got, k) {
				t.Errorf("recent key %x re-encodes as %x", k, got)
			}
		}
		if len(k) >= timeLen {
			if n := nextTime(k); n != nil && bytes.Compare(n, k[:timeLen]) <= 0 {
				t.Errorf("nextTime(%x) = %x, not after", k[:timeLen], n)
			}
		}
	})
}

func TestSummariesAreRead(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "srvmon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.SummariesAreRead(t, s, func(t *testing.T) { markHostDown(t, s, "a.test") })
}

// A restore writes what it brings, not what is stored: a few results
// restored into hosts with a long history, before it, in the middle and
// after it, into summarised hours, write a few pages, however much the
// hosts hold; and so does a restore large enough to be staged (tiny
// batches here) that brings few results to each of those hosts.
func TestRestoreWritesWhatItBrings(t *testing.T) {
	const stored = 60000
	t0 := time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)
	result := func(host string, i int) store.Result {
		return store.Result{Host: host, Slot: t0.Add(time.Duration(i) * time.Minute), RTT: time.Millisecond, Up: true}
	}
	for _, tc := range []struct {
		name    string
		restore int // s.sizes.restore during the small restore
	}{
		{"Direct", defaultSizes.restore},
		{"Staged", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "srvmon.db"), WithNoSync())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := t.Context()
			hosts := []string{"a.test", "b.test"}
			err = s.Restore(ctx, store.Restore{Hosts: hosts, Results: func(ctx context.Context, emit func(store.Result) error) error {
				for _, h := range hosts {
					for i := range stored {
						if err := emit(result(h, i+1000)); err != nil {
							return err
						}
					}
				}
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Summarise(ctx, t0.AddDate(1, 0, 0)); err != nil {
				t.Fatal(err)
			}
			s.sizes.restore = tc.restore
			pageCount := func() int64 { st := s.db.Stats(); return st.TxStats.GetPageCount() }
			before := pageCount()
			err = s.Restore(ctx, store.Restore{Results: func(ctx context.Context, emit func(store.Result) error) error {
				for _, h := range hosts {
					for _, i := range []int{0, 1, 30000, stored + 2000, stored + 2001} {
						if err := emit(result(h, i)); err != nil {
							return err
						}
					}
				}
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			// Each stored result takes some 30 bytes: copying them would
			// write hundreds of pages.
			if pages := pageCount() - before; pages > 60 {
				t.Errorf("restoring 10 results into 2 hosts of %d wrote %d pages, want at most 60", stored, pages)
			}
			for _, h := range hosts {
				n := 0
				if err := s.Results(ctx, h, t0, t0.AddDate(1, 0, 0), func(store.Result) error { n++; return nil }); err != nil {
					t.Fatal(err)
				}
				if n != stored+4 {
					t.Errorf("%s holds %d results, want %d", h, n, stored+4)
				}
			}
		})
	}
}

// A staged restore that copies the stored results of one host and moves
// the staged bucket of another, which has results only in the recent
// bucket, keeps those recent results.
func TestStagedRestoreKeepsRecentResults(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "srvmon.db"), WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	t0 := time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)
	result := func(host string, i int) store.Result {
		return store.Result{Host: host, Slot: t0.Add(time.Duration(i) * time.Minute), RTT: time.Millisecond, Up: true}
	}
	emitN := func(host string, from, to int) func(context.Context, func(store.Result) error) error {
		return func(ctx context.Context, emit func(store.Result) error) error {
			for i := from; i < to; i++ {
				if err := emit(result(host, i)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	s.recentMaxResults, s.recentMaxSlots = 1<<30, 1<<30 // rounds stay in the recent bucket
	if err := s.Restore(ctx, store.Restore{Hosts: []string{"a.test", "e.test"}, Results: emitN("a.test", 0, 100)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRound(ctx, []store.Result{result("e.test", 500)}, nil); err != nil {
		t.Fatal(err)
	}
	s.sizes.restore = 10 // a.test gets more than the switch merges: its results are copied
	err = s.Restore(ctx, store.Restore{Results: func(ctx context.Context, emit func(store.Result) error) error {
		if err := emitN("a.test", 100, 200)(ctx, emit); err != nil {
			return err
		}
		return emitN("e.test", 0, 20)(ctx, emit)
	}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{"a.test": 200, "e.test": 21} {
		n := 0
		if err := s.Results(ctx, host, t0, t0.AddDate(1, 0, 0), func(store.Result) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s holds %d results, want %d", host, n, want)
		}
	}
}

// A facts value of schema version 3 (cert expiry and last push only)
// reads with Added and the last push's verdict zero; version 4's
// round-trip; other lengths and flags are corrupt.
func TestFactsEncoding(t *testing.T) {
	expiry := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	push := time.Date(2026, 12, 1, 10, 0, 30, 123, time.UTC)
	v3 := append(timeKey(expiry), timeKey(push)...)
	f, err := decodeFacts([]byte("h"), v3)
	if err != nil || f != (store.Facts{Host: "h", CertExpiry: expiry, LastPush: push}) {
		t.Errorf("schema 3 value: %+v, %v", f, err)
	}
	for _, want := range []store.Facts{
		{Host: "h"},
		{Host: "h", Added: push},
		{Host: "h", CertExpiry: expiry, LastPush: push, LastPushUp: true, Added: push.Add(-time.Hour)},
		{Host: "h", LastPush: push, LastPushReason: "disk full – é", Added: push},
	} {
		got, err := decodeFacts([]byte("h"), encodeFacts(want))
		if err != nil || got != want {
			t.Errorf("round trip of %+v: %+v, %v", want, got, err)
		}
	}
	good := encodeFacts(store.Facts{LastPushUp: true})
	flags := bytes.Clone(good)
	flags[3*timeLen] = 2
	for _, v := range [][]byte{nil, v3[:timeLen], append(bytes.Clone(v3), 0), good[:factsLen-1], flags} {
		if _, err := decodeFacts([]byte("h"), v); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeFacts(%d bytes) = %v, want errCorrupt", len(v), err)
		}
	}
}

// Values of schema version 4 (before alerting's fields) decode with
// srvmon's fields zero; version 5's round-trip every field.
func TestAlertingValuesOfSchema4(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v4State := record(nil).str("down").int(2).time(at)
	st, err := decodeState("a.test", v4State)
	if want := (store.State{Host: "a.test", Status: "down", Count: 2, LastSlot: at}); err != nil || !reflect.DeepEqual(st, want) {
		t.Errorf("state of version 4: %+v, %v; want %+v", st, err, want)
	}
	v4Rule := record(nil).int(3).str("http://127.0.0.1:9/")
	rl, err := decodeRule("a.test", v4Rule)
	if want := (store.Rule{Host: "a.test", Threshold: 3, Action: "http://127.0.0.1:9/"}); err != nil || !reflect.DeepEqual(rl, want) {
		t.Errorf("rule of version 4: %+v, %v; want %+v", rl, err, want)
	}
	if !bytes.Equal(encodeRule(rl), v4Rule) {
		t.Errorf("a gosrvmon rule's value changed: %x, want %x", encodeRule(rl), v4Rule)
	}
	v4Delivery := record(nil).str("a.test").str("http://127.0.0.1:9/").time(at).time(at.Add(time.Minute)).int(1).str("HTTP 503").str(store.DeliveryPending)
	want := store.Delivery{ID: 7, Host: "a.test", URL: "http://127.0.0.1:9/", Created: at, NextAttempt: at.Add(time.Minute), Attempts: 1,
		LastError: "HTTP 503", Status: store.DeliveryPending}
	if d, err := decodeDelivery(idKey(7), v4Delivery); err != nil || !reflect.DeepEqual(d, want) {
		t.Errorf("delivery of version 4: %+v, %v; want %+v", d, err, want)
	}
	if d, err := decodeDeliveryHead(idKey(7), v4Delivery); err != nil || d.Host != "a.test" || d.Channel != "" || d.Attempts != 1 {
		t.Errorf("head of a delivery of version 4: %+v, %v", d, err)
	}
	full := store.State{Host: "a.test", Status: "down", Count: 1, LastSlot: at, Since: at, Recent: 5, RecentLen: 3, Notified: "up",
		Reason: "timeout", Locations: []string{"eu", ""}, NextReminder: at.Add(time.Hour), CertExpiry: at.AddDate(0, 1, 0), CertDays: 3}
	if st, err := decodeState("a.test", encodeState(full)); err != nil || !reflect.DeepEqual(st, full) {
		t.Errorf("state round trip: %+v, %v; want %+v", st, err, full)
	}
	want.Channel, want.Event, want.Title, want.Message = "ntfy://127.0.0.1:9/t", store.EventDown, "title", "message"
	if d, err := decodeDeliveryHead(idKey(7), encodeDelivery(&want)); err != nil || d.Channel != want.Channel {
		t.Errorf("head of a delivery of version 5: %+v, %v", d, err)
	}
	if _, err := decodeState("a.test", append(record(nil).str("down").int(2).time(at).time(at).int(0).int(0).str("").str(""), 0xff)); err == nil {
		t.Error("a truncated state decoded")
	}
}
