//go:build unix

package probe

import (
	"log/slog"
	"syscall"
)

// reservedFiles are open files left for everything but probes: the
// store's connections, the API's listener, logs.
const reservedFiles = 256

// fitOpenFileLimit lowers the concurrency bounds so that probes in flight,
// one socket each, cannot run the process out of file descriptors (AWS
// Lambda allows 1,024): a probe refused a socket would be a false down.
func fitOpenFileLimit(log *slog.Logger, conc, icmpConc int) (int, int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return conc, icmpConc
	}
	avail := max(int(lim.Cur)-reservedFiles, 2)
	if conc+icmpConc <= avail {
		return conc, icmpConc
	}
	newICMP := max(min(icmpConc, avail/4), 1)
	newConc := max(min(conc, avail-newICMP), 1)
	log.Warn("probe concurrency lowered to fit the open-file limit (raise it with ulimit -n or LimitNOFILE=)",
		"open_file_limit", lim.Cur, "concurrency", newConc, "was", conc,
		"icmp_concurrency", newICMP, "icmp_was", icmpConc)
	return newConc, newICMP
}
