package bolt

import (
	"strings"
	"sync"

	"github.com/srvmon/srvmon/pkg/store"
)

// lastChecks keeps each host's last check, as LastCheck merged it, until
// the next write: /api/checks/last is the most frequent read there is
// (dashboards poll it for every host), and without it each one is a read
// transaction that opens two buckets and walks two cursors.
//
// It is safe because only this process can open the file (bbolt locks
// it): every write goes through Store.update, which empties the cache
// once its transaction has committed, so no later LastCheck sees a value
// older than the last committed write. A reader that began its read
// transaction before a commit keeps what it read only if no write has
// emptied the cache since it looked (gen), so a stale value is never put
// back after the write that made it stale.
type lastChecks struct {
	mu     sync.RWMutex
	gen    uint64               // writes that emptied the cache
	byHost map[string]lastCheck // stored hosts only
}

// lastCheck is one host's LastCheck answer: ok is false for a stored host
// without checks.
type lastCheck struct {
	check store.Check
	ok    bool
}

// get returns host's cached answer, and the generation to hand put when
// there is none.
func (l *lastChecks) get(host string) (v lastCheck, found bool, gen uint64) {
	l.mu.RLock()
	v, found = l.byHost[host]
	gen = l.gen
	l.mu.RUnlock()
	return v, found, gen
}

// put keeps v as host's answer, read in a transaction that began after
// get returned gen, unless a write has committed since.
func (l *lastChecks) put(gen uint64, host string, v lastCheck) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen {
		return
	}
	if l.byHost == nil {
		l.byHost = make(map[string]lastCheck)
	}
	l.byHost[strings.Clone(host)] = v
}

// invalidate empties the cache: a write transaction has ended (committed
// or not).
func (l *lastChecks) invalidate() {
	l.mu.Lock()
	l.gen++
	clear(l.byHost)
	l.mu.Unlock()
}
