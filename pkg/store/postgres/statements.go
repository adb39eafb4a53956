package postgres

import (
	"fmt"

	"github.com/srvmon/srvmon/internal/lazy"
)

// sqlTexts are the statements composed from the templates (fmt.Sprintf of
// lastResultsSQL, bucketsSQL, deleteBeforeSQL, summariseSQL and rollupSQL).
type sqlTexts struct {
	// lastChecksAll and lastCheckOne read the last results of every host
	// and of the host $1.
	lastChecksAll, lastCheckOne string
	// bucketsAll, bucketsOne and bucketsSome read the buckets of every
	// host, of the host $1 and of the hosts $1.
	bucketsAll, bucketsOne, bucketsSome string
	// deleteChecks, deleteSummaries and deleteRollups delete from checks,
	// check_summaries and check_summaries_daily.
	deleteChecks, deleteSummaries, deleteRollups string
	// summariseAll summarises every host in [$1, $2); summariseSpans the
	// hosts $1 in [$2, $3).
	summariseAll, summariseSpans string
	// rollupAll rolls up the days [$1, $2) of every host; rollupSpans the
	// days [$2, $3) of the hosts $1.
	rollupAll, rollupSpans string
}

// composed are the statements, built on first use (lazy.Value) rather
// than at package init: a process that links this package but never
// opens a PostgreSQL store (the standalone binary on bbolt or ql) then
// neither formats them nor touches the pages of this code at start.
var composed = lazy.Value[*sqlTexts]{New: func() *sqlTexts {
	buckets := fmt.Sprintf(bucketsSQL, "%[1]s", "%[2]s")
	spans := fmt.Sprintf(spansSQL, "h.host", "$7", "$8")
	return &sqlTexts{
		lastChecksAll:   fmt.Sprintf(lastResultsSQL, "true"),
		lastCheckOne:    fmt.Sprintf(lastResultsSQL, "l.host = $1"),
		bucketsAll:      fmt.Sprintf(buckets, "$1::text IS NULL", spans),
		bucketsOne:      fmt.Sprintf(buckets, "h.host = $1", spans),
		bucketsSome:     fmt.Sprintf(buckets, "h.host = ANY($1::text[])", spans),
		deleteChecks:    fmt.Sprintf(deleteBeforeSQL, "checks", "check_time"),
		deleteSummaries: fmt.Sprintf(deleteBeforeSQL, "check_summaries", "hour"),
		deleteRollups:   fmt.Sprintf(deleteBeforeSQL, "check_summaries_daily", "day"),
		summariseAll:    fmt.Sprintf(summariseSQL, allHostsSource),
		summariseSpans:  fmt.Sprintf(summariseSQL, spansSource),
		rollupAll:       fmt.Sprintf(rollupSQL, allHostsSource),
		rollupSpans:     fmt.Sprintf(rollupSQL, spansSource),
	}
}}

// statements returns the composed statements.
func statements() *sqlTexts { return composed.Get() }
