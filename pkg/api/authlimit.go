package api

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Slowing of failed basic auth attempts, per client address.
const (
	// freeFailures are the failures an address may make before its
	// answers are delayed (typos).
	freeFailures = 3
	// firstFailureDelay is the delay of the first slowed failure; it
	// doubles with each failure after it, up to maxFailureDelay.
	firstFailureDelay = 250 * time.Millisecond
	maxFailureDelay   = 10 * time.Second
	// failureMemory is how long an address's failures are remembered
	// after its last one.
	failureMemory = 15 * time.Minute
	// maxTrackedAddrs bounds the memory of failures: past it, the
	// oldest address is forgotten.
	maxTrackedAddrs = 10000
	// maxLoggedUser bounds the user name a failure logs (the client
	// chooses it).
	maxLoggedUser = 100
)

// authFailures counts failed basic auth attempts per client address, so
// that repeated failures get slower answers. It lives in one handler and
// its memory is bounded (maxTrackedAddrs addresses, each forgotten
// failureMemory after its last failure).
type authFailures struct {
	mu    sync.Mutex
	addrs map[string]*addrFailures
}

type addrFailures struct {
	count int
	last  time.Time
}

// fail records a failure from addr at now and returns how many failures
// addr has made (this one included) and how long to delay its answer.
func (f *authFailures) fail(addr string, now time.Time) (count int, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addrs == nil {
		f.addrs = make(map[string]*addrFailures)
	}
	a := f.addrs[addr]
	if a != nil && now.Sub(a.last) > failureMemory {
		a = nil
	}
	if a == nil {
		f.makeRoom(now)
		a = &addrFailures{}
		f.addrs[addr] = a
	}
	a.count++
	a.last = now
	return a.count, failureDelay(a.count)
}

// makeRoom forgets expired addresses and, if there are still
// maxTrackedAddrs, the one whose last failure is the oldest.
func (f *authFailures) makeRoom(now time.Time) {
	if len(f.addrs) < maxTrackedAddrs {
		return
	}
	var oldest string
	for addr, a := range f.addrs {
		if now.Sub(a.last) > failureMemory {
			delete(f.addrs, addr)
		} else if oldest == "" || a.last.Before(f.addrs[oldest].last) {
			oldest = addr
		}
	}
	if len(f.addrs) >= maxTrackedAddrs {
		delete(f.addrs, oldest)
	}
}

// succeed forgets addr's failures.
func (f *authFailures) succeed(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.addrs, addr)
}

// tracked is the number of addresses remembered (tests).
func (f *authFailures) tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.addrs)
}

// failureDelay is the delay of an address's n-th failure: none for the
// first freeFailures, then firstFailureDelay doubling up to
// maxFailureDelay.
func failureDelay(n int) time.Duration {
	if n <= freeFailures {
		return 0
	}
	d := firstFailureDelay
	for i := freeFailures + 1; i < n && d < maxFailureDelay; i++ {
		d *= 2
	}
	return min(d, maxFailureDelay)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// clientAddr is the address a request came from, without its port:
// r.RemoteAddr, which behind a reverse proxy is the proxy's.
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// checkAuth lets a request with the configured basic auth credentials
// through. Otherwise it answers 401; when credentials were sent (wrong
// ones), it logs the attempt with the user and client address (never the
// password) and, after freeFailures from that address, delays the answer
// by a time that doubles with each failure. A correct login is never
// delayed, and clears its address's failures.
func (s *server) checkAuth(w http.ResponseWriter, r *http.Request) bool {
	if s.authorized(r) {
		s.failures.succeed(clientAddr(r))
		return true
	}
	if user, _, sent := r.BasicAuth(); sent {
		if len(user) > maxLoggedUser {
			user = user[:maxLoggedUser] + "…"
		}
		addr := clientAddr(r)
		n, delay := s.failures.fail(addr, s.Now())
		s.Logger.Warn("basic auth failed", "user", user, "addr", addr, "method", r.Method, "path", logPath(r),
			"failures", n, "delay", delay)
		if delay > 0 {
			s.Sleep(r.Context(), delay)
		}
	}
	unauthorized(w)
	return false
}
