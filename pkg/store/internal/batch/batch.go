// Package batch is the part of a backend's Restore that takes the results
// a backup streams: it converts each, stops at the first error, and hands
// them on a batch at a time, so that a restore holds one batch in memory
// whatever the backup's size.
package batch

import (
	"context"
	"fmt"

	"github.com/srvmon/srvmon/pkg/store"
)

// Batch gathers a restore's results, each converted to a T.
type Batch[T any] struct {
	ctx   context.Context
	size  int
	add   func(store.Result) (T, error)
	flush func([]T) error
	items []T
	err   error
}

// New returns a Batch that converts each result with add and calls flush
// with every size of them. An error of add or flush ends the restore;
// flush must not keep the slice it is given, which the Batch reuses.
func New[T any](ctx context.Context, size int, add func(store.Result) (T, error), flush func([]T) error) *Batch[T] {
	// A small restore does not allocate a whole batch.
	return &Batch[T]{ctx: ctx, size: size, add: add, flush: flush, items: make([]T, 0, min(size, 4096))}
}

// Run calls results with the Batch's emit func. It returns results'
// error, or else the first error emit returned: that error sticks (emit
// returns it again), since results may ignore it. emit also stops at once
// when the context is done, not at the next batch. The results of the
// last, partial batch are left in Pending.
func (b *Batch[T]) Run(results func(context.Context, func(store.Result) error) error) error {
	if err := results(b.ctx, b.emit); err != nil {
		return err
	}
	return b.err
}

// emit converts r and adds it to the batch, flushing a full batch.
func (b *Batch[T]) emit(r store.Result) error {
	if b.err != nil {
		return b.err
	}
	if b.err = b.ctx.Err(); b.err != nil {
		return b.err
	}
	item, err := b.add(r)
	if err != nil {
		b.err = err
		return err
	}
	b.items = append(b.items, item)
	if len(b.items) == b.size {
		if b.err = b.flush(b.items); b.err != nil {
			return b.err
		}
		b.items = b.items[:0]
	}
	return nil
}

// Pending returns the results that were not flushed yet.
func (b *Batch[T]) Pending() []T { return b.items }

// UnknownHost is the error for a result of a host that is neither in the
// backup's hosts nor stored.
func UnknownHost(r store.Result) error {
	return fmt.Errorf("result of %q at %v: %w: the host is neither in the backup's hosts nor stored", r.Host, r.Slot, store.ErrNotFound)
}
