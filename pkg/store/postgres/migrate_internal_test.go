package postgres

import (
	"slices"
	"strings"
	"testing"
)

// TestMissingMigrations: migrate applies every migration that
// schema_migrations does not record, in version order, a version skipped
// by a database too (one migrated by a build without it), and refuses a
// database that records a migration it does not have.
func TestMissingMigrations(t *testing.T) {
	ms := []migration{{version: 1}, {version: 2}, {version: 3}, {version: 5}}
	for _, tc := range []struct {
		name    string
		applied []int
		want    []int
		err     string
	}{
		{name: "New", applied: nil, want: []int{1, 2, 3, 5}},
		{name: "UpToDate", applied: []int{5, 3, 2, 1}},
		{name: "Behind", applied: []int{1, 2}, want: []int{3, 5}},
		{name: "SkippedOne", applied: []int{1, 2, 5}, want: []int{3}},
		{name: "Newer", applied: []int{1, 2, 3, 5, 6}, err: "newer"},
		{name: "AnotherBuilds", applied: []int{1, 2, 3, 4}, err: "migration 4, which this srvmon does not have"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			todo, err := missing(ms, tc.applied)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("missing(%v) = %v, %v; want an error with %q", tc.applied, todo, err, tc.err)
				}
				return
			}
			var got []int
			for _, m := range todo {
				got = append(got, m.version)
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("missing(%v) = %v, %v; want %v", tc.applied, got, err, tc.want)
			}
		})
	}
}
