package ql

import (
	"context"

	"github.com/srvmon/srvmon/pkg/store"
)

// LastChecks calls fn with each host's newest check, by host (see
// store.FleetReader): one LastCheck per host.
func (s *Store) LastChecks(ctx context.Context, fn func(host string, c store.Check) error) error {
	return store.FleetByHost{R: s}.LastChecks(ctx, fn)
}

// BucketsAll calls fn with each host's buckets, by host (see
// store.FleetReader): store.FleetByHost's per-host Buckets.
func (s *Store) BucketsAll(ctx context.Context, q store.BucketQuery, fn func(host string, bs []store.Bucket) error) error {
	return store.FleetByHost{R: s}.BucketsAll(ctx, q, fn)
}
