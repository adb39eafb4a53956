// Package bolt is the store.Store kept in one bbolt file, the default of the
// standalone binary.
//
// The file holds these top-level buckets:
//
//	meta        "schema": the schema version (8 bytes); "newest": a time no result of
//	            a host bucket is after; its sequence numbers restores
//	hosts       host name → 1
//	results     one sub-bucket per host: time(slot)+location → flags (up, maintenance), rtt, reason
//	recent      time(slot)+host+location → flags, rtt, reason: where rounds write (see recent.go)
//	rules       host → threshold, action[, the JSON of srvmon's fields]
//	states      host → status, count, last slot, srvmon's fields (see encoding.go)
//	deliveries  ID (8 bytes) → the delivery; IDs come from the bucket's sequence
//	due         time(next attempt)+ID → nothing, for each pending delivery
//	summaries   one sub-bucket per host: time(hour) → the summary of its merged
//	            checks in that hour (see summaries.go); meta's "summarised" bounds them
//	days        one sub-bucket per host: time(UTC day) → the sum of the day's hourly
//	            summaries, for the days wholly before "summarised" (see summaries.go)
//	monitors    host → the JSON of its settings and source (see monitors.go);
//	            none for a host without settings
//	pushtokens  push token → host, the index of the settings' push tokens
//	facts       host → cert expiry, last push, when added, the last push's
//	            verdict (see monitors.go); zero times when unknown
//	maintenance ID (8 bytes) → the JSON of a maintenance window (see
//	            maintenance.go); new IDs come from the bucket's sequence
//	locations   "@" + location name → time(the newest slot it saved results for)
//	restore.N   a restore being staged (see Restore), with restore.N.summaries
//	            the summaries of its hours and restore.N.days their rollups;
//	            removed on failure and on Open
//
// A round is one write transaction, appended to the recent bucket, which is
// compacted into the host buckets now and then (see recent.go for why).
// Range reads seek a cursor in the host's bucket, merged with the host's
// few recent results; reads that call back into the caller do so outside
// any transaction, a chunk at a time, so a slow reader never holds the
// file. Times are UTC; a time is 12 bytes and holds any time.Time.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/srvmon/srvmon/pkg/store"
)

// schemaVersion is the layout this package reads and writes. Version 2
// added the summaries bucket, version 3 the monitors, pushtokens and
// facts buckets; an older file gets the buckets it lacks at Open. Version
// 4 added Added and the last push's verdict to the facts values (see
// monitors.go): it reads version 3's values as they are, and its number
// makes an older srvmon refuse the file rather than call its facts
// corrupt.
//
// Version 5, for maintenance windows, added the maintenance bucket, the
// maintenance flag of results (flagMaint) and the maintenance count of
// summaries (summaryLen): version 4's values read with neither, which is
// what they hold, and the number makes an older srvmon refuse a file
// whose results it would count as up or down. Version 5 also added, for
// alerting, the locations bucket and srvmon's fields at the end of the
// rules', states' and deliveries' values (see encoding.go; version 4's
// values read with them zero).
//
// Version 6 added the days bucket, the daily rollups of the hourly
// summaries, and the promise that every hour before "summarised" with a
// result has its summary (see summaries.go): Open builds both once in a
// file of an older version (buildDays), and the number makes an older
// srvmon, which would not keep the rollups, refuse the file.
const schemaVersion = 6

var (
	bucketMeta       = []byte("meta")
	bucketHosts      = []byte("hosts")
	bucketResults    = []byte("results")
	bucketRecent     = []byte("recent")
	bucketRules      = []byte("rules")
	bucketStates     = []byte("states")
	bucketDeliveries = []byte("deliveries")
	bucketDue        = []byte("due")
	bucketSummaries  = []byte("summaries")
	bucketMonitors   = []byte("monitors")
	bucketPushTokens = []byte("pushtokens")
	bucketFacts      = []byte("facts")
	// bucketMaintenance holds the maintenance windows (schema 5).
	bucketMaintenance = []byte("maintenance")
	bucketLocations   = []byte("locations")
	// bucketDays holds the daily rollups (schema 6).
	bucketDays    = []byte("days")
	keySchema     = []byte("schema")
	keyNewest     = []byte("newest")
	keySummarised = []byte("summarised")

	topBuckets = [][]byte{bucketMeta, bucketHosts, bucketResults, bucketRecent, bucketRules, bucketStates, bucketDeliveries, bucketDue, bucketSummaries,
		bucketMonitors, bucketPushTokens, bucketFacts, bucketMaintenance, bucketLocations, bucketDays}

	// addedBuckets are the buckets each schema version added: a file of
	// an older version gets those of the versions after its own.
	addedBuckets = map[int64][][]byte{
		2: {bucketSummaries},
		3: {bucketMonitors, bucketPushTokens, bucketFacts},
		5: {bucketMaintenance, bucketLocations},
		6: {bucketDays},
	}
)

// Store is a store.Store in one bbolt file. It is safe for concurrent use.
type Store struct {
	db *bbolt.DB
	// maint is held by whatever rewrites host buckets: compaction,
	// restore, retention and DeleteHost. Rounds do not wait for it.
	maint sync.Mutex
	// recentMaxResults and recentMaxSlots trigger a compaction.
	recentMaxResults, recentMaxSlots int
	// sizes holds the batch sizes; tests make them small.
	sizes batchSizes
	// last caches LastCheck's answers; every write empties it.
	last lastChecks
}

// batchSizes bounds the work of one transaction.
type batchSizes struct {
	chunk   int // results a stream reads per read transaction
	restore int // results a restore writes per write transaction
	delete  int // results a retention run deletes per write transaction
	compact int // hosts a compaction writes per write transaction
}

var defaultSizes = batchSizes{chunk: 4096, restore: 50000, delete: 10000, compact: 250}

var _ store.Store = (*Store)(nil)

// An Option changes how Open opens the file.
type Option func(*options)

type options struct {
	lockTimeout time.Duration
	noSync      bool
}

// DefaultLockTimeout is how long Open waits for the file lock when another
// process holds the file.
const DefaultLockTimeout = 2 * time.Second

// WithLockTimeout sets how long Open waits for another process to release
// the file (DefaultLockTimeout when not given; at least 1ms).
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = max(d, time.Millisecond) }
}

// WithNoSync skips fsync at each commit: faster, but a machine crash may
// lose the last transactions or corrupt the file. For tests and throwaway
// data only.
func WithNoSync() Option {
	return func(o *options) { o.noSync = true }
}

// initialMmapSize is how much of the file bbolt maps from the start. A
// write that outgrows the mapping must remap, and a remap waits for every
// read transaction to end: with bbolt's small default mapping, a full
// export (one read transaction for the whole download, see Snapshot) to a
// slow client would hold the next rounds back. Mapping far more than the
// file holds costs address space only, which 64-bit systems have plenty
// of; on Windows bbolt grows the file itself to the mapping, so there, and
// on 32-bit systems, bbolt's default stays.
func initialMmapSize() int {
	if strconv.IntSize < 64 || runtime.GOOS == "windows" {
		return 0
	}
	return 8 << 30
}

// Open opens the bbolt file at path, creating and initialising it when it
// is missing. It fails, rather than waits forever, when another process
// holds the file, and it refuses a file that is not an srvmon store or
// whose schema is newer than this package.
func Open(path string, opts ...Option) (*Store, error) {
	o := options{lockTimeout: DefaultLockTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: o.lockTimeout, NoSync: o.noSync, InitialMmapSize: initialMmapSize()})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: the file is locked by another process (waited %v): %w", path, o.lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if err := db.Update(initialise); err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	s := &Store{
		db:               db,
		recentMaxResults: defaultRecentMaxResults,
		recentMaxSlots:   defaultRecentMaxSlots,
		sizes:            defaultSizes,
	}
	if err := s.buildDays(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return s, nil
}

// initialise creates the buckets of a new file, checks the schema of an
// existing one and drops restores that a crash left staged.
func initialise(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		var other []string
		tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			other = append(other, string(name))
			return nil
		})
		if len(other) > 0 {
			return fmt.Errorf("not an srvmon store (it holds buckets %q; a gosrvmon file is moved over with a backup and a restore)", other)
		}
		for _, name := range topBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, record(nil).int(schemaVersion))
	}
	r := reader{b: meta.Get(keySchema)}
	switch v := r.int(); {
	case r.err != nil:
		return fmt.Errorf("unreadable schema version: %w", r.err)
	case v > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this srvmon's (%d): upgrade srvmon", v, schemaVersion)
	case v < 1:
		return fmt.Errorf("invalid schema version %d", v)
	case v < schemaVersion:
		for next := v + 1; next <= schemaVersion; next++ {
			for _, name := range addedBuckets[next] {
				if _, err := tx.CreateBucket(name); err != nil {
					return fmt.Errorf("upgrade schema version %d to %d: bucket %q: %w", v, next, name, err)
				}
			}
		}
		if err := meta.Put(keySchema, record(nil).int(schemaVersion)); err != nil {
			return err
		}
		if v < 6 {
			// Open builds the rollups next (see buildDays).
			if err := meta.Put(keyBuildDays, []byte{1}); err != nil {
				return err
			}
		}
	}
	for _, name := range topBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("missing bucket %q", name)
		}
	}
	return dropStaging(tx)
}

// Close closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// view runs fn in a read transaction once ctx allows.
func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// update runs fn in a write transaction once ctx allows. Every write goes
// through update, which empties the LastCheck cache once the transaction
// has ended (see lastChecks).
func (s *Store) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.last.invalidate()
	return s.db.Update(func(tx *bbolt.Tx) error {
		// The write lock may have taken a while.
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(tx)
	})
}

func hostStored(tx *bbolt.Tx, host string) bool {
	return host != "" && tx.Bucket(bucketHosts).Get([]byte(host)) != nil
}

// checkHostName rejects a name that cannot be a key.
func checkHostName(host string) error {
	switch {
	case host == "":
		return fmt.Errorf("bolt: %w", store.CheckHostName(host))
	case len(host) > bbolt.MaxKeySize:
		return fmt.Errorf("bolt: host name of %d bytes is longer than %d", len(host), bbolt.MaxKeySize)
	}
	return nil
}

// Hosts lists the stored hosts in byte order.
func (s *Store) Hosts(ctx context.Context) ([]string, error) {
	var hosts []string
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		hosts, err = hostsIn(tx)
		return err
	})
	return hosts, err
}

// hostsIn lists the hosts tx sees, in byte order; never nil.
func hostsIn(tx *bbolt.Tx) ([]string, error) {
	hosts := []string{}
	err := tx.Bucket(bucketHosts).ForEach(func(k, _ []byte) error {
		hosts = append(hosts, string(k))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: hosts: %w", err)
	}
	return hosts, nil
}

// AddHost stores a host; store.ErrExists if it is stored already.
func (s *Store) AddHost(ctx context.Context, host string) error {
	if err := checkHostName(host); err != nil {
		return err
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if hostStored(tx, host) {
			return store.ErrExists
		}
		return addHost(tx, host, store.AddedNow())
	})
	if err != nil {
		return fmt.Errorf("bolt: add host %q: %w", host, err)
	}
	return nil
}

// HostExists reports whether host is stored.
func (s *Store) HostExists(ctx context.Context, host string) (bool, error) {
	var ok bool
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		ok = hostStored(tx, host)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("bolt: host exists %q: %w", host, err)
	}
	return ok, nil
}

// DeleteHost deletes host with its settings, push token, facts, results,
// summaries, rollups, rule, state and deliveries. It
// waits for a compaction or a restore under way.
func (s *Store) DeleteHost(ctx context.Context, host string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: delete host %q: %w", host, err)
	}
	s.maint.Lock()
	defer s.maint.Unlock()
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if !hostStored(tx, host) {
			return store.ErrNotFound
		}
		key := []byte(host)
		if err := tx.Bucket(bucketHosts).Delete(key); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketResults, bucketSummaries, bucketDays} {
			if err := tx.Bucket(b).DeleteBucket(key); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
		}
		recent := tx.Bucket(bucketRecent)
		for _, k := range recentKeysOf(tx, host) {
			if err := recent.Delete(k); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketRules).Delete(key); err != nil {
			return err
		}
		if err := tx.Bucket(bucketStates).Delete(key); err != nil {
			return err
		}
		if err := deleteMonitor(tx, key); err != nil {
			return err
		}
		if err := tx.Bucket(bucketFacts).Delete(key); err != nil {
			return err
		}
		return deleteDeliveries(tx, func(d *store.Delivery) bool { return d.Host == host })
	})
	if err != nil {
		return fmt.Errorf("bolt: delete host %q: %w", host, err)
	}
	return nil
}
