// Package backup reads and writes srvmon's backups: gosrvmon's format,
// {"hosts":[...],"notifications":[...]} and, for a full backup,
// "checks":{"<host>":[check...]}, with srvmon's optional "location",
// "error" and "maintenance" in a check, srvmon's "monitors":[...], the
// settings of the hosts that have any, and "maintenance":[...], the
// maintenance windows, before "checks" (gosrvmon ignores them all). Encode streams a backup out
// of a store as it reads it; Restore decodes one as a stream, validates
// it and applies it to a store in one transaction, all or nothing. Memory
// stays bounded by the limits below, never by the size of the backup.
//
// Nothing here knows about HTTP, so a command can back up or restore
// without a server: the API maps an *Error to a 400 and any error of the
// body's reader, which Restore keeps in its chain (%w), to its own answer.
package backup

import (
	"context"
	"fmt"
	"strconv"

	"github.com/srvmon/srvmon/pkg/store"
)

// Limits of a restore (README: "Backup and restore"). The decoder holds
// one value at a time, plus the hosts and rules, which are applied in one
// transaction with the checks.
const (
	// MaxDepth bounds the nesting of arrays and objects anywhere in a
	// backup (gosrvmon's has 3): a deep one would grow the decoder's
	// stack with the body.
	MaxDepth = 64
	// MaxItem bounds the bytes of each value the decoder reads in one
	// piece: a host, a rule, a check, a key, a token of an unknown field
	// (and the white space before it).
	MaxItem = 64 << 10
	// MaxEntries bounds the entries of "hosts", and of "notifications";
	// MaxRuleBytes the bytes of the rules kept.
	MaxEntries   = 100_000
	MaxRuleBytes = 64 << 20
	// MaxMonitorItem bounds the bytes of each entry of "monitors" (a
	// monitor at pkg/monitor's limits is about 300 KiB, more when its
	// body is escaped); MaxMonitorBytes the bytes of the monitors kept.
	MaxMonitorItem  = 1 << 20
	MaxMonitorBytes = 64 << 20
	// MaxMaintenanceItem bounds the bytes of each entry of "maintenance"
	// (a window at pkg/monitor's limits, 10,000 hosts of 256 bytes, is
	// about 2.6 MiB); MaxMaintenanceBytes the bytes of the windows kept.
	MaxMaintenanceItem  = 4 << 20
	MaxMaintenanceBytes = 64 << 20
	// MaxSkipped bounds the list of what a lenient restore skipped; the
	// total is counted beyond it.
	MaxSkipped = 1000
)

// Error is a backup that Restore refuses: malformed, over a limit, or
// holding what does not validate. Its text is a one-line reason that says
// what and where (the API answers it as a 400).
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

// errorf returns an *Error.
func errorf(format string, args ...any) error {
	return &Error{fmt.Sprintf(format, args...)}
}

// Store is what Restore needs of a store.
type Store interface {
	Hosts(ctx context.Context) ([]string, error)
	Restore(ctx context.Context, r store.Restore) error
}

// Options say how Restore reads a backup.
type Options struct {
	// Full restores the checks too; without it "checks" is read (within
	// the limits) and skipped, as gosrvmon's /api/backup does.
	Full bool
	// SkipInvalid makes a lenient restore: hosts, rules, monitors and
	// maintenance windows that do not validate, and rules, monitors and checks of hosts that are
	// neither in the backup nor stored, are skipped and listed in Counts instead of
	// refusing the whole backup. Malformed JSON and the limits still
	// refuse it.
	SkipInvalid bool
}

// Counts is what a restore applied and, when lenient, what it skipped.
type Counts struct {
	Hosts         int
	Notifications int
	Monitors      int // entries of "monitors" restored
	Maintenance   int // entries of "maintenance" restored
	Checks        int64
	// Skipped holds the first MaxSkipped entries skipped (not nil in a
	// lenient restore); SkippedTotal counts them all.
	Skipped      []Skipped
	SkippedTotal int
}

// Skipped is an entry a lenient restore skipped: what it is ("hosts[3]",
// "checks of host \"x\"") and why.
type Skipped struct {
	What, Reason string
}

// skipList collects what a lenient restore skips; nil in a strict one.
type skipList struct {
	entries []Skipped
	total   int
}

// skip records what was skipped and why, or, in a strict restore (sl is
// nil), returns the *Error that refuses the whole backup.
func (sl *skipList) skip(what string, reason error) error {
	if sl == nil {
		return errorf("%s: %v", what, reason)
	}
	sl.total++
	if len(sl.entries) < MaxSkipped {
		sl.entries = append(sl.entries, Skipped{what, reason.Error()})
	}
	return nil
}

// quoteShort quotes s for a message, cut to 100 bytes.
func quoteShort(s string) string {
	if len(s) > 100 {
		return strconv.Quote(s[:100]) + "…"
	}
	return strconv.Quote(s)
}
