package round

import (
	"context"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// Store is what a round uses of a store.Store: it lists the monitors and
// the maintenance windows, reads the push times of push:// monitors
// (Facts, only when the round's shard has any), saves the round's
// results, reads and leases the outbox for its Sender, and deletes old
// results. A Store that is also a
// store.Summariser has its hourly summaries kept up to date by Maintain.
type Store interface {
	Monitors(ctx context.Context) ([]monitor.Monitor, error)
	Maintenances(ctx context.Context) ([]monitor.Maintenance, error)
	Facts(ctx context.Context) ([]store.Facts, error)
	store.ResultWriter
	store.Outbox
}

// Every store.Store is a round's Store.
var _ Store = store.Store(nil)
