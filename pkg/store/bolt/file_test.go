package bolt_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

var t0 = time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)

func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

func upAt(host, loc string, i int, rtt time.Duration) store.Result {
	return store.Result{Host: host, Location: loc, Slot: at(i), RTT: rtt, Up: true}
}

func results(t *testing.T, s store.Store, host string) []store.Result {
	t.Helper()
	rs := []store.Result{}
	err := s.Results(t.Context(), host, at(-1000), at(100000), func(r store.Result) error {
		rs = append(rs, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Results(%q): %v", host, err)
	}
	return rs
}

func expectResults(t *testing.T, what string, got, want []store.Result) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b store.Result) bool {
		return a.Host == b.Host && a.Location == b.Location && a.Slot.Equal(b.Slot) && a.RTT == b.RTT && a.Up == b.Up && a.Reason == b.Reason
	}) {
		t.Errorf("%s:\ngot  %v\nwant %v", what, got, want)
	}
}

// rawBuckets lists the top-level buckets of a closed file.
func rawBuckets(t *testing.T, path string) []string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	defer db.Close()
	var names []string
	db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
	})
	return names
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.db")
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	rule := store.Rule{Host: "a.test", Threshold: 2, Action: "http://127.0.0.1:9/"}
	round := []store.Result{upAt("a.test", "", 0, time.Millisecond), upAt("a.test", "eu", 0, 2*time.Millisecond)}
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRule(ctx, rule); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRound(ctx, round, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = bolt.Open(path); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	expectResults(t, "Results after reopening", results(t, s, "a.test"), round)
	if got, err := s.Rule(ctx, "a.test"); err != nil || !reflect.DeepEqual(got, rule) {
		t.Errorf("Rule after reopening = %+v, %v; want %+v", got, err, rule)
	}
}

func TestOpenLockedFileFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.db")
	s := openAt(t, path)
	defer s.Close()
	start := time.Now()
	_, err := bolt.Open(path, bolt.WithLockTimeout(100*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open = %v, want an error saying the file is locked", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("second Open took %v with a 100ms lock timeout", d)
	}
}

func openAt(t *testing.T, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestOpenRefusesOtherFiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(tx *bbolt.Tx) error
		want    string
	}{
		{"ForeignBuckets", func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucket([]byte("checks"))
			return err
		}, "not an srvmon store"},
		{"NewerSchema", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte{0, 0, 0, 0, 0, 0, 0, 99})
		}, "schema version 99 is newer"},
		{"MissingBucket", func(tx *bbolt.Tx) error {
			return tx.DeleteBucket([]byte("due"))
		}, `missing bucket "due"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "srvmon.db")
			if tc.name != "ForeignBuckets" {
				openAt(t, path).Close()
			}
			bolt.UpdateFile(t, path, "prepare the file", tc.prepare)
			s, err := bolt.Open(path)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestStagingRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.db")
	s := openAt(t, path)
	ctx := t.Context()
	boom := errors.New("boom")
	err := s.Restore(ctx, store.Restore{Hosts: []string{"a.test"}, Results: func(ctx context.Context, emit func(store.Result) error) error {
		for i := range 100 {
			if err := emit(upAt("a.test", "", i, time.Millisecond)); err != nil {
				return err
			}
		}
		return boom
	}})
	if !errors.Is(err, boom) {
		t.Fatalf("Restore = %v, want boom", err)
	}
	s.Close()
	for _, name := range rawBuckets(t, path) {
		if strings.HasPrefix(name, "restore.") {
			t.Errorf("bucket %q left after a failed restore", name)
		}
	}

	// A crash during a restore leaves a staging bucket: Open drops it.
	bolt.UpdateFile(t, path, "leave a staging bucket", func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("restore.7"))
		if err != nil {
			return err
		}
		_, err = b.CreateBucket([]byte("a.test"))
		return err
	})
	openAt(t, path).Close()
	if names := rawBuckets(t, path); slices.Contains(names, "restore.7") {
		t.Errorf("Open kept the staging bucket of an interrupted restore: %q", names)
	}
}

// A round whose first result of a host is new but whose second one is
// already in the host's bucket must not store the second again.
func TestResaveAfterCompaction(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := t.Context()
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	old := upAt("a.test", "", 0, time.Millisecond)
	if err := s.SaveRound(ctx, []store.Result{old}, nil); err != nil {
		t.Fatal(err)
	}
	if err := bolt.Compact(ctx, s); err != nil {
		t.Fatal(err)
	}
	changed := old
	changed.RTT, changed.Up, changed.Reason = time.Second, false, "changed"
	newer := upAt("a.test", "", 5, 3*time.Millisecond)
	if err := s.SaveRound(ctx, []store.Result{newer, changed}, nil); err != nil {
		t.Fatal(err)
	}
	expectResults(t, "Results", results(t, s, "a.test"), []store.Result{old, newer})
	c, ok, err := s.LastCheck(ctx, "a.test")
	if err != nil || !ok || !c.Time.Equal(newer.Slot) {
		t.Errorf("LastCheck = %+v, %v, %v; want the check at %v", c, ok, err, newer.Slot)
	}
}

// Rounds go on during a restore: what they store wins over the backup and
// is in the host's bucket once the restore is done.
func TestRoundDuringRestore(t *testing.T) {
	s := open(t)
	defer s.Close()
	bolt.SetBatchSizes(s, 4096, 10, 10000, 1000)
	ctx := t.Context()
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	stored := upAt("a.test", "", 1, time.Millisecond)
	if err := s.SaveRound(ctx, []store.Result{stored}, nil); err != nil {
		t.Fatal(err)
	}
	duringRound := []store.Result{upAt("a.test", "", 30, 7*time.Millisecond), upAt("a.test", "eu", 5, 8*time.Millisecond)}
	var backup []store.Result
	for i := range 50 {
		backup = append(backup, store.Result{Host: "a.test", Slot: at(i), RTT: time.Second, Reason: "from the backup"})
	}
	backup = append(backup, store.Result{Host: "a.test", Location: "eu", Slot: at(5), RTT: time.Second, Reason: "from the backup"})
	err := s.Restore(ctx, store.Restore{Hosts: []string{"a.test"}, Results: func(ctx context.Context, emit func(store.Result) error) error {
		for i, r := range backup {
			if i == 25 {
				// Past a few staging transactions.
				if err := s.SaveRound(ctx, duringRound, nil); err != nil {
					return err
				}
			}
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	var want []store.Result
	for _, r := range backup[:50] {
		switch {
		case r.Slot.Equal(stored.Slot):
			want = append(want, stored)
		case r.Slot.Equal(at(5)):
			want = append(want, r, duringRound[1])
		case r.Slot.Equal(at(30)):
			want = append(want, duringRound[0])
		default:
			want = append(want, r)
		}
	}
	expectResults(t, "Results after the restore", results(t, s, "a.test"), want)
	if err := bolt.Compact(ctx, s); err != nil {
		t.Fatal(err)
	}
	expectResults(t, "Results after a compaction", results(t, s, "a.test"), want)
}

// TestRoundsGoOnDuringASnapshot holds a snapshot (a full export to a slow
// client) open while rounds grow the file many times over: the rounds are
// stored meanwhile, not after the snapshot ends.
func TestRoundsGoOnDuringASnapshot(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "srvmon.db"))
	defer s.Close()
	ctx := t.Context()
	const host = "127.0.0.1:1"
	if err := s.AddHost(ctx, host); err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	snapshotDone := make(chan error, 1)
	go func() {
		snapshotDone <- s.Snapshot(ctx, func(store.Reader) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	saved := make(chan error, 1)
	go func() {
		// About 16 MB of results: the file outgrows bbolt's default
		// mapping several times.
		for i := range 40 {
			round := make([]store.Result, 0, 2000)
			for j := range 2000 {
				r := upAt(host, "", i*2000+j, time.Millisecond)
				r.Up, r.Reason = false, strings.Repeat("x", 150)
				round = append(round, r)
			}
			if err := s.SaveRound(ctx, round, nil); err != nil {
				saved <- err
				return
			}
		}
		saved <- nil
	}()
	var err error
	select {
	case err = <-saved:
	case <-time.After(time.Minute):
		t.Error("rounds were held back by the snapshot for a minute")
		close(release)
		err = <-saved
	}
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-release:
	default:
		close(release)
	}
	if err := <-snapshotDone; err != nil {
		t.Fatal(err)
	}
}

// TestOpenUpgradesSchema2 opens a file of schema version 2, written by
// srvmon before monitor settings (testdata/schema2.bolt.gz: hosts, a
// rule, results; see storetest.ExpectUpgradedFromBeforeMonitors): it
// gains the monitors, pushtokens, facts, maintenance and locations buckets and schema version 5,
// keeps what it held, and opens again.
func TestOpenUpgradesSchema2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.db")
	storetest.Gunzip(t, filepath.Join("testdata", "schema2.bolt.gz"), path)
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatalf("Open of a schema 2 file: %v", err)
	}
	storetest.ExpectUpgradedFromBeforeMonitors(t, s)
	factsBefore, err := s.Facts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema")); !slices.Equal(v, []byte{0, 0, 0, 0, 0, 0, 0, 6}) {
			t.Errorf("schema version after Open: %v, want 6", v)
		}
		for _, b := range []string{"monitors", "pushtokens", "facts", "maintenance", "locations", "days"} {
			if tx.Bucket([]byte(b)) == nil {
				t.Errorf("no bucket %q after Open", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = bolt.Open(path)
	if err != nil {
		t.Fatalf("Open of the upgraded file: %v", err)
	}
	defer s.Close()
	if ms, err := s.Monitors(t.Context()); err != nil || len(ms) != 3 || ms[2].PushToken == "" {
		t.Errorf("Monitors after reopening: %+v, %v", ms, err)
	}
	// The facts survive: Added of the host added after the upgrade, the
	// push's verdict.
	if fs, err := s.Facts(t.Context()); err != nil || !reflect.DeepEqual(fs, factsBefore) {
		t.Errorf("Facts after reopening: %+v, %v; want %+v", fs, err, factsBefore)
	}
}

// TestOpenUpgradesBeforeMaintenance opens a file of schema version 4, the layout
// before maintenance windows: no maintenance bucket, summaries of five
// 8-byte counts (no maintenance count), result flags without the
// maintenance bit. The file is made by this package and then taken back
// to version 4's layout (what version 5 changed is only those three). It
// gains the bucket and schema version 5, reads its results, old
// summaries and all, as they were, and keeps maintenance from then on
// (see storetest.ExpectUpgradedFromBeforeMaintenance).
func TestOpenUpgradesBeforeMaintenance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srvmon.db")
	s, err := bolt.Open(path, bolt.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddHost(t.Context(), "a.test"); err != nil {
		t.Fatal(err)
	}
	rs := storetest.ResultsBeforeMaintenance()
	if err := s.SaveRound(t.Context(), rs, nil); err != nil {
		t.Fatal(err)
	}
	for more := true; more; {
		if more, err = s.Summarise(t.Context(), rs[len(rs)-1].Slot.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	summaries := 0
	bolt.UpdateFile(t, path, "take the file back to schema 4", func(tx *bbolt.Tx) error {
		if err := tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte{0, 0, 0, 0, 0, 0, 0, 4}); err != nil {
			return err
		}
		for _, name := range []string{"maintenance", "locations", "days"} { // schema 5's and 6's buckets
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		b := tx.Bucket([]byte("summaries")).Bucket([]byte("a.test"))
		if b == nil {
			return errors.New("no summaries of a.test")
		}
		var ks, vs [][]byte
		b.ForEach(func(k, v []byte) error {
			if len(v) != 6*8 || !slices.Equal(v[5*8:], make([]byte, 8)) {
				return errors.New("a summary is not 6 counts, the last 0")
			}
			ks, vs = append(ks, slices.Clone(k)), append(vs, slices.Clone(v[:5*8]))
			return nil
		})
		summaries = len(ks)
		for i := range ks {
			if err := b.Put(ks[i], vs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if summaries != 3 {
		t.Fatalf("%d summaries of a.test, want 3 (Summarise did not summarise the hours)", summaries)
	}

	s, err = bolt.Open(path, bolt.WithNoSync())
	if err != nil {
		t.Fatalf("Open of a schema 4 file: %v", err)
	}
	defer s.Close()
	storetest.ExpectUpgradedFromBeforeMaintenance(t, s)
}
