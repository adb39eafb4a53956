package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// serverTimeout is the read and write timeout of the real servers below:
// short, so that a test's transfer outlasts it.
const serverTimeout = 100 * time.Millisecond

// serveReal serves h on loopback from a real http.Server with the given
// read and write timeouts (zero: none), as internal/app configures it.
func serveReal(t *testing.T, h http.Handler, read, write time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = read, write
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// trickle writes body to w in pieces, the first at once and the last no
// sooner than lasting from now: a client slower than the server's
// timeouts, which never pauses for long.
func trickle(w *io.PipeWriter, body string, pieces int, lasting time.Duration) {
	start := time.Now()
	step := len(body)/pieces + 1
	for i := 0; i < len(body); i += step {
		switch {
		case i+step >= len(body):
			time.Sleep(time.Until(start.Add(lasting)))
		case i > 0:
			time.Sleep(lasting / time.Duration(pieces))
		}
		if _, err := io.WriteString(w, body[i:min(i+step, len(body))]); err != nil {
			w.CloseWithError(err)
			return
		}
	}
	w.Close()
}

// TestRestoreOutlastsServerTimeouts: a restore whose body arrives slowly
// but steadily, for longer than the server's ReadTimeout and WriteTimeout,
// is applied and answered (the timeouts would cut it at the first read
// after ReadTimeout, as a 400 "bad backup ... i/o timeout").
func TestRestoreOutlastsServerTimeouts(t *testing.T) {
	body := fullBackup(150)
	forEachBackend(t, func(t *testing.T, st store.Store) {
		e := newEnv(t, st, Options{})
		srv := serveReal(t, e.h, serverTimeout, serverTimeout)
		pr, pw := io.Pipe()
		go trickle(pw, body, 20, 5*serverTimeout)
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/backup_full", pr)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(answer) != `{"hosts":2,"notifications":0,"checks":300}`+"\n" {
			t.Fatalf("restore: %d %q %v", resp.StatusCode, answer, err)
		}
		if n := len(takeSnapshot(t, st).Results); n != 300 {
			t.Errorf("%d results stored, want 300", n)
		}
	})
}

// slowResults is a store whose Results, at their end, wait until the time
// until returns (or the request ends): an export that takes long.
type slowResults struct {
	store.Store
	until func() time.Time
}

func (s slowResults) Results(ctx context.Context, host string, start, end time.Time, fn func(store.Result) error) error {
	if err := s.Store.Results(ctx, host, start, end, fn); err != nil {
		return err
	}
	select {
	case <-time.After(time.Until(s.until())):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestExportOutlastsServerTimeouts: a full export that takes longer than
// the server's ReadTimeout and WriteTimeout arrives whole (the write
// timeout would cut its last writes, and the read timeout would cancel
// its request while it runs).
func TestExportOutlastsServerTimeouts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seedBackup(t, st)
		want := newEnv(t, st, Options{}).get("/api/backup_full").Body.String()
		var until time.Time
		e := newEnv(t, slowResults{Store: st, until: func() time.Time { return until }}, Options{})
		srv := serveReal(t, e.h, serverTimeout, serverTimeout)
		until = time.Now().Add(5 * serverTimeout)
		resp, err := srv.Client().Get(srv.URL + "/api/backup_full")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(got) != want {
			t.Fatalf("export: %d %v\n got %s\nwant %s\nlog: %s", resp.StatusCode, err, got, want, e.log)
		}
	})
}

// TestRestoreClientStops: a client that stops sending part way is a 408
// that says so, after TransferIdleTimeout, not a 400 about a bad backup;
// nothing is restored.
func TestRestoreClientStops(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seedBackup(t, st)
		before := takeSnapshot(t, st)
		e := newEnv(t, st, Options{TransferIdleTimeout: 2 * serverTimeout})
		srv := serveReal(t, e.h, 0, 0) // the server's own timeouts do not cut it
		pr, pw := io.Pipe()
		defer pw.Close()
		go io.WriteString(pw, `{"hosts":["new.example"],"notifications":[],"checks":{"new.example":[{"time":"2021-03-02T12:00:00Z","rtt":5,"up":true},`)
		// Without the idle timeout the server would wait for ever: fail
		// rather than hang.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/backup_full", pr)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(answer), "backup cut off at byte") || !strings.Contains(string(answer), "the client stopped sending the request body") {
			t.Errorf("stalled restore: %d %q, want 408 saying the client stopped sending", resp.StatusCode, answer)
		}
		if !strings.Contains(e.log.String(), "request body not received") {
			t.Errorf("not logged: %s", e.log)
		}
		if after := takeSnapshot(t, st); !equalSnapshots(after, before) {
			t.Errorf("the store changed:\n%+v\nwas\n%+v", after, before)
		}
	})
}

// TestBodyReadErrors: a request body that cannot be read is answered as
// such, 408 for a timeout and 400 for a broken connection, whatever the
// endpoint, and never as malformed content.
func TestBodyReadErrors(t *testing.T) {
	reset := errors.New("read tcp 127.0.0.1:80->127.0.0.1:5000: connection reset by peer")
	e := newEnv(t, backends()[0].open(t), Options{})
	for _, tt := range []struct {
		method, target string
		err            error
		code           int
		want           string
	}{
		{"POST", "/api/backup_full", os.ErrDeadlineExceeded, 408, "backup cut off at byte 0: the client stopped sending the request body"},
		{"POST", "/api/backup", reset, 400, "backup cut off at byte 0: the request body broke off: read tcp"},
		{"POST", "/api/hosts", os.ErrDeadlineExceeded, 408, "the client stopped sending the request body"},
		{"POST", "/api/checks", reset, 400, "the request body broke off"},
		{"POST", "/web/hosts", os.ErrDeadlineExceeded, 408, "the client stopped sending"},
	} {
		req := httptest.NewRequest(tt.method, "http://127.0.0.1:8000"+tt.target, iotest.ErrReader(tt.err))
		if tt.target == "/web/hosts" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := &strictWriter{ResponseRecorder: httptest.NewRecorder(), t: t}
		e.h.ServeHTTP(w, req)
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) || strings.Contains(w.Body.String(), "bad backup") {
			t.Errorf("%s %s with %v: %d %q, want %d %q", tt.method, tt.target, tt.err, w.Code, w.Body.String(), tt.code, tt.want)
		}
	}
}
