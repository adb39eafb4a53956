package store

import (
	"context"
	"errors"
	"slices"
	"time"
)

// FleetReader reads every host at once, for what shows the whole fleet
// (the dashboard, the status page, badges, reports, /metrics): a read
// whose cost does not grow with a host count of reads. Both stream, by
// host in lexical order, so that what they hold is one host's at a time.
type FleetReader interface {
	// LastChecks calls fn with each stored host's newest merged check (as
	// LastCheck), by host; hosts without a check are left out. An error
	// from fn stops it and is returned.
	LastChecks(ctx context.Context, fn func(host string, c Check) error) error
	// BucketsAll calls fn with each stored host that q asks for and its
	// buckets (q.Bounds), by host, empty ones included: as Buckets counts
	// them, whatever their widths (a bucket counts the summaries of the
	// hours wholly inside it and the checks of the rest). An error from fn
	// stops it and is returned; bounds that do not ascend are an error.
	// bs is valid only during the call.
	BucketsAll(ctx context.Context, q BucketQuery, fn func(host string, bs []Bucket) error) error
}

// BucketQuery is what a fleet read of buckets (FleetReader.BucketsAll)
// asks for: several windows in one pass (the dashboard's 24 h to 365 d
// end where its hourly sparkline does), of every host or of a page's.
type BucketQuery struct {
	// Hosts are the hosts to read, in any order; nil reads every stored
	// host, and an empty slice none. Hosts not stored are left out.
	Hosts []string
	// Bounds are the buckets' edges, ascending: bucket i is
	// [Bounds[i], Bounds[i+1]). EvenBounds gives Buckets's.
	Bounds []time.Time
}

// SortedHosts returns q.Hosts sorted and without repeats, in a new slice
// (nil when q.Hosts is: every host).
func (q BucketQuery) SortedHosts() []string {
	if q.Hosts == nil {
		return nil
	}
	hosts := slices.Clone(q.Hosts)
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// hostReader is what FleetByHost reads: one host at a time.
type hostReader interface {
	Hosts(ctx context.Context) ([]string, error)
	LastCheck(ctx context.Context, host string) (Check, bool, error)
	Buckets(ctx context.Context, host string, start, end time.Time, n int) ([]Bucket, error)
}

// FleetByHost is a FleetReader over a store's per-host reads: one read
// per host. It is for the backends whose per-host reads cost little
// (memory) and as the reference the others' FleetReader must equal
// (storetest). A host deleted between Hosts and its read is left out.
type FleetByHost struct{ R hostReader }

// LastChecks implements FleetReader.LastChecks.
func (f FleetByHost) LastChecks(ctx context.Context, fn func(host string, c Check) error) error {
	hosts, err := f.R.Hosts(ctx)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, ok, err := f.R.LastCheck(ctx, h)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return err
		case !ok:
			continue
		}
		if err := fn(h, c); err != nil {
			return err
		}
	}
	return nil
}

// BucketsAll implements FleetReader.BucketsAll: one Buckets a host when
// q.Bounds are EvenBounds's, else one a bucket.
func (f FleetByHost) BucketsAll(ctx context.Context, q BucketQuery, fn func(host string, bs []Bucket) error) error {
	bk, err := NewBucketerAt(q.Bounds)
	if err != nil {
		return err
	}
	hosts := q.SortedHosts()
	if hosts == nil {
		if hosts, err = f.R.Hosts(ctx); err != nil {
			return err
		}
	}
	all := bk.Buckets()
	n := len(all)
	even := n > 0 && slices.EqualFunc(q.Bounds, EvenBounds(bk.Start(), bk.End(), n), time.Time.Equal)
	for _, h := range hosts {
		if err := ctx.Err(); err != nil {
			return err
		}
		bs, err := all, error(nil)
		switch {
		case n == 0:
			_, err = f.R.Buckets(ctx, h, bk.Start(), bk.Start(), 1) // is h stored?
		case even:
			bs, err = f.R.Buckets(ctx, h, bk.Start(), bk.End(), n)
		default:
			for i := 0; i < n && err == nil; i++ {
				var one []Bucket
				if one, err = f.R.Buckets(ctx, h, all[i].Start, all[i].End, 1); err == nil {
					all[i] = one[0]
				}
			}
		}
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return err
		}
		if err := fn(h, bs); err != nil {
			return err
		}
	}
	return nil
}
