package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// cutOffWait bounds how long Serve waits, once the shutdown timeout has
// run out and the connections are closed, for the handlers cut off to
// return: a handler notices within a read or write.
const cutOffWait = 10 * time.Second

// inFlight counts the requests being served, and the restores among them.
type inFlight struct {
	wg                 sync.WaitGroup
	requests, restores atomic.Int64
}

// track wraps h to count its requests.
func (f *inFlight) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.wg.Add(1)
		f.requests.Add(1)
		restore := isRestore(r)
		if restore {
			f.restores.Add(1)
		}
		defer func() {
			if restore {
				f.restores.Add(-1)
			}
			f.requests.Add(-1)
			f.wg.Done()
		}()
		h.ServeHTTP(w, r)
	})
}

// isRestore reports whether r restores a backup (POST or PUT of
// /api/backup or /api/backup_full).
func isRestore(r *http.Request) bool {
	return (r.Method == http.MethodPost || r.Method == http.MethodPut) &&
		(r.URL.Path == "/api/backup" || r.URL.Path == "/api/backup_full")
}

// done is closed once every tracked request has returned.
func (f *inFlight) done() <-chan struct{} {
	c := make(chan struct{})
	go func() { f.wg.Wait(); close(c) }()
	return c
}

// shutdown stops srv: it closes the listener at once (new connections
// are refused), waits up to grace for the requests in flight, then closes
// the connections of those still running and waits for their handlers.
func shutdown(ctx context.Context, srv *http.Server, f *inFlight, grace time.Duration, log *slog.Logger) error {
	n := f.requests.Load()
	if n > 0 {
		log.Info("shutting down: waiting for the requests in flight",
			"requests", n, "restores", f.restores.Load(), "timeout", grace.String())
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err == nil {
		if n > 0 {
			log.Info("shutting down: the requests in flight finished", "took", time.Since(start).Round(time.Millisecond).String())
		}
	} else {
		log.Warn("shutting down: timeout ran out, cutting the requests in flight off",
			"requests", f.requests.Load(), "restores", f.restores.Load(), "timeout", grace.String())
		srv.Close()
	}
	// Shutdown and Close wait for connections, not handlers: a handler
	// cut off returns at its next read or write.
	select {
	case <-f.done():
		return nil
	case <-time.After(cutOffWait):
		return fmt.Errorf("shut the server down: %d requests still running %v after they were cut off", f.requests.Load(), cutOffWait)
	}
}
