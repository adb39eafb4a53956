//go:build !unix

package probe

import "log/slog"

// fitOpenFileLimit keeps the bounds where there is no RLIMIT_NOFILE.
func fitOpenFileLimit(_ *slog.Logger, conc, icmpConc int) (int, int) { return conc, icmpConc }
