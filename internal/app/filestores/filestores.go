// Package filestores opens srvmon's embedded stores, bolt and ql files,
// for cmd/standalone, the one binary that links them (see app.Stores).
package filestores

import (
	"context"
	"fmt"
	"maps"

	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/ql"
)

// With returns stores with bolt and ql added.
func With(stores app.Stores) app.Stores {
	all := maps.Clone(stores)
	all[config.StoreBolt] = openBolt
	all[config.StoreQL] = openQL
	return all
}

func openBolt(_ context.Context, spec config.StoreSpec) (store.Store, error) {
	s, err := bolt.Open(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("open bolt store %s: %w", spec.Path, err)
	}
	return s, nil
}

func openQL(ctx context.Context, spec config.StoreSpec) (store.Store, error) {
	s, err := ql.Open(ctx, spec.Path)
	if err != nil {
		return nil, fmt.Errorf("open ql store %s: %w", spec.Path, err)
	}
	return s, nil
}
