package store

import (
	"context"
	"errors"
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
	// BucketsAll calls fn with each stored host and its buckets of
	// [start, end), as Buckets gives them (n buckets of equal width, empty
	// ones included), by host. An error from fn stops it and is returned.
	// bs is valid only during the call.
	BucketsAll(ctx context.Context, start, end time.Time, n int, fn func(host string, bs []Bucket) error) error
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

// BucketsAll implements FleetReader.BucketsAll.
func (f FleetByHost) BucketsAll(ctx context.Context, start, end time.Time, n int, fn func(host string, bs []Bucket) error) error {
	hosts, err := f.R.Hosts(ctx)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if err := ctx.Err(); err != nil {
			return err
		}
		bs, err := f.R.Buckets(ctx, h, start, end, n)
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
