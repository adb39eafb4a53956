package batch

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

func results(n int) []store.Result {
	rs := make([]store.Result, n)
	for i := range rs {
		rs[i] = store.Result{Host: "a.test", Slot: time.Unix(int64(i), 0).UTC()}
	}
	return rs
}

// stream returns a Results func that emits rs, ignoring emit's errors
// when ignore is set.
func stream(rs []store.Result, ignore bool) func(context.Context, func(store.Result) error) error {
	return func(_ context.Context, emit func(store.Result) error) error {
		for _, r := range rs {
			if err := emit(r); err != nil && !ignore {
				return err
			}
		}
		return nil
	}
}

func TestBatch(t *testing.T) {
	errAdd, errFlush := errors.New("add failed"), errors.New("flush failed")
	for _, tc := range []struct {
		name             string
		n, size          int
		failAdd, failAt  int // the result add fails on (-1: none), the flush that fails (0: none)
		ignore, cancel   bool
		wantFlushes      []int // the sizes flush gets
		wantPending, ate int   // results left in Pending; results add saw
		wantErr          error
	}{
		{name: "none", n: 0, size: 3, failAdd: -1, wantFlushes: nil, wantPending: 0},
		{name: "partial", n: 2, size: 3, failAdd: -1, wantPending: 2, ate: 2},
		{name: "full batches", n: 7, size: 3, failAdd: -1, wantFlushes: []int{3, 3}, wantPending: 1, ate: 7},
		{name: "exact", n: 6, size: 3, failAdd: -1, wantFlushes: []int{3, 3}, wantPending: 0, ate: 6},
		{name: "add fails", n: 7, size: 3, failAdd: 4, wantFlushes: []int{3}, wantPending: 1, ate: 5, wantErr: errAdd},
		{name: "add fails, ignored", n: 7, size: 3, failAdd: 4, ignore: true, wantFlushes: []int{3}, wantPending: 1, ate: 5, wantErr: errAdd},
		{name: "flush fails, ignored", n: 9, size: 3, failAdd: -1, failAt: 1, ignore: true, wantFlushes: []int{3}, wantPending: 3, ate: 3, wantErr: errFlush},
		{name: "cancelled", n: 4, size: 3, failAdd: -1, cancel: true, ignore: true, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			var flushes []int
			ate := 0
			add := func(r store.Result) (int64, error) {
				if ate == tc.failAdd {
					ate++
					return 0, errAdd
				}
				ate++
				return r.Slot.Unix(), nil
			}
			flush := func(items []int64) error {
				flushes = append(flushes, len(items))
				if len(flushes) == tc.failAt {
					return errFlush
				}
				return nil
			}
			b := New(ctx, tc.size, add, flush)
			err := b.Run(stream(results(tc.n), tc.ignore))
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("Run: %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(flushes, tc.wantFlushes) {
				t.Errorf("flushes of %v results, want %v", flushes, tc.wantFlushes)
			}
			if len(b.Pending()) != tc.wantPending {
				t.Errorf("%d pending, want %d", len(b.Pending()), tc.wantPending)
			}
			if ate != tc.ate {
				t.Errorf("add saw %d results, want %d", ate, tc.ate)
			}
		})
	}
}

func TestUnknownHost(t *testing.T) {
	err := UnknownHost(store.Result{Host: "x.test", Slot: time.Unix(60, 0).UTC()})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UnknownHost: %v, not ErrNotFound", err)
	}
}
