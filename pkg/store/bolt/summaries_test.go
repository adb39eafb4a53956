package bolt

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// markHostDown marks every result in the host's bucket down, behind the
// store's back.
func markHostDown(t *testing.T, s *Store, host string) {
	t.Helper()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketResults).Bucket([]byte(host))
		if b == nil {
			return errors.New("no host bucket: the results are not compacted into it")
		}
		var keys [][]byte
		b.ForEach(func(k, _ []byte) error { keys = append(keys, bytes.Clone(k)); return nil })
		for _, k := range keys {
			v := bytes.Clone(b.Get(k))
			v[0] &^= flagUp
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A restore into a new file, direct (in one transaction) or staged (tiny
// batches), leaves the hours it brings summarised.
func TestRestoredSummariesAreRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restore int // s.sizes.restore
	}{
		{"Direct", defaultSizes.restore},
		{"Staged", 50},
		{"StagedOneResultABatch", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "srvmon.db"), WithNoSync())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.sizes.restore = tc.restore
			storetest.RestoredSummariesAreRead(t, s, func(t *testing.T) { markHostDown(t, s, "a.test") })
		})
	}
}
