// Package loadtest keeps a benchmark's process busy the way an API under
// load does, so that a round can be measured while the process serves
// requests (as it does under perfbench's polling of /api/checks/last).
package loadtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
)

// ServeAPI starts a loopback HTTP server in this process and clients
// goroutines that loop over keep-alive GETs to it, each answered with a
// small JSON body, until stop is called.
func ServeAPI(clients int) (stop func()) {
	body := []byte(`{"time":"2026-12-07T01:00:00Z","rtt":412345,"up":true}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	cl := &http.Client{Transport: tr}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				resp, err := cl.Get(srv.URL + "/api/checks/last?host=x")
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
		tr.CloseIdleConnections()
		srv.Close()
	}
}
