package round

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// The batching of a round's saves.
const (
	// batchDelay is how long the first result of a batch waits for others
	// before the batch is saved: it bounds how much later than its probe
	// a result is stored (a save in progress aside), and batches the
	// results of a few milliseconds of probes into one transaction (one
	// fsync).
	batchDelay = 20 * time.Millisecond
	// batchSize saves a batch at once when it has this many results.
	batchSize = 2000
)

// batches stores a round's results in batches as they come, one
// Store.SaveRound at a time, each with the notification state it
// advances: the first results are stored while the slowest probes still
// run, and the last batch holds only what came after the one before.
//
// Saving in batches keeps a round's guarantees. Each result is in one
// batch, and SaveRound is idempotent on (host, location, slot), so a
// retried or overlapping round stores nothing twice, as with one batch.
// Notification state is per host and advances only for slots after the
// host's last one applied, and a round has one result per host, so it
// advances exactly as with one batch.
//
// A monitor's result is never saved before its parent's (when its parent
// is checked in the round): it waits for it and goes in the same batch or
// a later one, so that the alerting of its batch sees whether its parent
// is down in this very slot (notify.NewAlerting).
//
// A batch that fails is kept: its results are saved with the last batch,
// and no other batch is saved before that one (the store is unwell: one
// more try at the end, which the round's caller retries if it fails too).
type batches struct {
	r   *Runner
	ctx context.Context
	// parents maps a host to its parent, for the hosts whose parent is
	// checked in this round too; nil when none is.
	parents map[string]string
	// inMaintenance holds the hosts a maintenance window covers at the
	// round's slot: their results are marked (store.Result.Maintenance).
	inMaintenance map[string]bool
	// alerting decides the notifications of each batch (one for the
	// round: it knows the round's monitors).
	alerting *store.Alerting
	wake     chan struct{} // a result was added to an empty batch
	full     chan struct{} // the batch reached batchSize
	end      chan struct{} // closed by finish: no more results
	done     chan struct{} // closed when run has returned

	mu      sync.Mutex
	pending []store.Result
	added   map[string]bool           // hosts whose result was added; only with parents
	waiting map[string][]store.Result // parent → its children's results added before it

	// Set by run, read by finish after done.
	stored   time.Time // when the last batch committed
	failed   bool      // a batch failed: save the rest at the end
	firstErr error     // the failed batch's error
	err      error     // the last batch's error
}

// startBatches starts storing results in batches with ctx; add the
// results, then call finish. parents maps a host to its parent, for the
// hosts whose parent is checked in the round too; inMaintenance holds the
// hosts whose results are marked in maintenance.
func (r *Runner) startBatches(ctx context.Context, alerting *store.Alerting, parents map[string]string, inMaintenance map[string]bool) *batches {
	b := &batches{
		alerting:      alerting,
		r:             r,
		ctx:           ctx,
		parents:       parents,
		inMaintenance: inMaintenance,
		wake:          make(chan struct{}, 1),
		full:          make(chan struct{}, 1),
		end:           make(chan struct{}),
		done:          make(chan struct{}),
	}
	go b.run()
	return b
}

// add queues results for the next batch. It is safe for concurrent use,
// and must not be called after finish.
func (b *batches) add(results ...store.Result) {
	if len(results) == 0 {
		return
	}
	if b.inMaintenance != nil {
		for i := range results {
			results[i].Maintenance = b.inMaintenance[results[i].Host]
		}
	}
	b.mu.Lock()
	first := len(b.pending) == 0
	if b.parents == nil {
		b.pending = append(b.pending, results...)
	} else {
		b.addAfterParents(results)
	}
	full := len(b.pending) >= batchSize
	b.mu.Unlock()
	if first {
		signal(b.wake)
	}
	if full {
		signal(b.full)
	}
}

// addAfterParents queues results, each after its parent's result: a
// result whose parent's has not come yet waits for it. b.mu is held.
func (b *batches) addAfterParents(results []store.Result) {
	if b.added == nil {
		b.added, b.waiting = map[string]bool{}, map[string][]store.Result{}
	}
	for _, res := range results {
		if p, ok := b.parents[res.Host]; ok && !b.added[p] {
			b.waiting[p] = append(b.waiting[p], res)
			continue
		}
		b.release(res)
	}
}

// release queues res and the results that waited for it. b.mu is held.
func (b *batches) release(res store.Result) {
	b.pending = append(b.pending, res)
	b.added[res.Host] = true
	kids := b.waiting[res.Host]
	delete(b.waiting, res.Host)
	for _, k := range kids {
		b.release(k)
	}
}

// signal wakes whoever waits on c, a channel of capacity one, unless it
// is already due to wake.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// finish saves the results not saved yet and returns when the last batch
// was committed (now, if there was nothing to save), or the error of the
// last batch: then some results may not be stored.
func (b *batches) finish() (stored time.Time, err error) {
	b.mu.Lock()
	for _, kids := range b.waiting { // their parent's result never came
		b.pending = append(b.pending, kids...)
	}
	b.waiting = nil
	b.mu.Unlock()
	close(b.end)
	<-b.done
	if b.err == nil && b.failed {
		// Returned, it would be logged; stored after all, it is not.
		b.r.logger().Warn("round: a batch of results was stored only with the last batch", "error", b.firstErr)
	}
	return b.stored, b.err
}

// run saves batches until finish, then the rest.
func (b *batches) run() {
	defer close(b.done)
	b.stored = time.Now() // when nothing needs to be stored
	gather := time.NewTimer(batchDelay)
	gather.Stop()
	for {
		select {
		case <-b.wake:
		case <-b.end:
			b.err = b.save(true)
			return
		}
		// Let the batch gather a little.
		gather.Reset(batchDelay)
		select {
		case <-gather.C:
		case <-b.full:
		case <-b.end:
		}
		gather.Stop()
		if b.failed {
			continue
		}
		if err := b.save(false); err != nil {
			b.failed, b.firstErr = true, err
		}
	}
}

// save stores the pending results, if any. A batch that fails stays
// pending, before the results added since. last is the round's last
// batch.
func (b *batches) save(last bool) error {
	b.mu.Lock()
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := b.r.Store.SaveRound(b.ctx, batch, b.alerting)
	if err != nil {
		if !last {
			b.mu.Lock()
			b.pending = slices.Concat(batch, b.pending)
			b.mu.Unlock()
		}
		return err
	}
	b.stored = time.Now()
	return nil
}
