package filestores

import (
	"context"
	"strings"
	"testing"

	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/pkg/config"
)

// TestStoresOpen opens each kind of store through the stores a binary
// has: the embedded files only where they are linked.
func TestStoresOpen(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		stores app.Stores
		spec   config.StoreSpec
		ok     bool
	}{
		{"Memory", app.SharedStores(), config.StoreSpec{Kind: config.StoreMemory}, true},
		{"BoltInStandalone", With(app.SharedStores()), config.StoreSpec{Kind: config.StoreBolt, Path: dir + "/s.db"}, true},
		{"QLInStandalone", With(app.SharedStores()), config.StoreSpec{Kind: config.StoreQL, Path: dir + "/s.ql"}, true},
		{"BoltElsewhere", app.SharedStores(), config.StoreSpec{Kind: config.StoreBolt, Path: dir + "/t.db"}, false},
		{"Unknown", With(app.SharedStores()), config.StoreSpec{Kind: "mongo"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := tc.stores.Open(context.Background(), tc.spec)
			if !tc.ok {
				if err == nil {
					st.Close()
					t.Fatalf("%s opens", tc.spec.Kind)
				}
				if !strings.Contains(err.Error(), "not available") {
					t.Errorf("error %q does not say the store type is not available", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.spec.Kind, err)
			}
			defer st.Close()
			if err := st.AddHost(context.Background(), "127.0.0.1"); err != nil {
				t.Errorf("%s: %v", tc.spec.Kind, err)
			}
		})
	}
}
