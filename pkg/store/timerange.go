package store

import "time"

// The times a store keeps: 1970-01-01 to 2262-01-01 in unix seconds. Every
// backend keys a slot by its nanoseconds in an int64, which reach a little
// past 2262; the API accepts no time outside this range and a restore
// refuses a check outside it, so no backend is ever given one it cannot
// key.
const (
	MinUnix = 0
	MaxUnix = 9214646400
)

// MinTime and MaxTime are MinUnix and MaxUnix as UTC times: the bounds of
// a read of all of a host's results.
func MinTime() time.Time { return time.Unix(MinUnix, 0).UTC() }
func MaxTime() time.Time { return time.Unix(MaxUnix, 0).UTC() }
