package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/srvmon/srvmon/pkg/backup"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// checks serves GET and POST /api/checks: a host's checks from start to
// end, both included (gosrvmon's "check_time >= start AND check_time <=
// end"), as
// a JSON array streamed while the store reads them. Only local data:
// remote instances are merged into charts and pages, never here, so two
// instances that list each other as remotes do not loop.
func (s *server) checks(w http.ResponseWriter, r *http.Request) {
	req, err := s.parseRange(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sw := newStreamWriter(w, r, "application/json")
	sw.buf = append(sw.buf, '[')
	first := true
	err = s.Store.Checks(r.Context(), req.Host, req.Start, req.storeEnd(), func(c store.Check) error {
		if !first {
			sw.buf = append(sw.buf, ',')
		}
		first = false
		sw.buf = appendCheck(sw.buf, c)
		return sw.maybeFlush()
	})
	if err != nil {
		sw.fail(s, r, storeErr(err, req.Host))
		return
	}
	sw.buf = append(sw.buf, "]\n"...)
	sw.finish(s, r)
}

// checksLast serves GET (?host=) and POST (host as the body)
// /api/checks/last: the host's newest check; the host may be named masked,
// as /api/hosts shows it (resolveHost). 404 for an unknown host and
// for a host without checks yet.
func (s *server) checksLast(w http.ResponseWriter, r *http.Request) {
	host, err := hostParam(w, r)
	if err == nil {
		host, err = s.resolveHost(r.Context(), host)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, ok, err := s.Store.LastCheck(r.Context(), host)
	switch {
	case err != nil:
		s.fail(w, r, storeErr(err, host))
		return
	case !ok:
		http.Error(w, "host "+strconv.Quote(probe.MaskSecrets(host))+" has no checks yet", http.StatusNotFound)
		return
	}
	buf, _ := s.checkBufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	*buf = append(appendCheck((*buf)[:0], c), '\n')
	w.Header()["Content-Type"] = s.jsonType
	w.WriteHeader(http.StatusOK)
	w.Write(*buf)
	s.checkBufs.Put(buf)
}

// check serves GET (?host=) and POST (host as the body) /api/check,
// gosrvmon's single check: the target is checked now and the result is not
// stored. A down target is 200 with "up":false and the reason in "error".
// HEAD and requests from other sites' pages do not run a probe.
func (s *server) check(w http.ResponseWriter, r *http.Request) {
	if !s.mayAct(w, r, "GET, POST", "run a check") {
		return
	}
	host, err := hostParam(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.singleCheck(r, host)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b := appendCheck(nil, c)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}

// singleCheck validates the target and checks it now.
func (s *server) singleCheck(r *http.Request, host string) (store.Check, error) {
	t, err := parseTarget(host)
	if err != nil {
		return store.Check{}, err
	}
	start := s.Now().UTC()
	res := s.Checker.Check(r.Context(), t)
	return store.Check{Time: start, RTT: res.RTT, Up: res.Up, Error: store.ReasonIfDown(res.Up, res.Reason)}, nil
}

// appendCheck appends c as gosrvmon's check JSON, {"time","rtt","up"},
// with "error" when there is one: what json.Marshal(c) writes, without
// reflection (backup.AppendCheck, which a backup's checks are written
// with too).
func appendCheck(b []byte, c store.Check) []byte {
	return backup.AppendCheck(b, c.Time, c.RTT, c.Up, "", c.Error, c.Maintenance)
}

// nonNil makes sure a list is written as [], never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// writeJSON answers v as JSON with the given status.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal server error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// streamWriter buffers a streamed response and sends it in chunks. The
// status (200) is sent with the first chunk, so an error before it (an
// unknown host, a store failure early on) still gets its own status.
//
// For HEAD it stops the stream as soon as the status and headers are out:
// the producer's next write fails with errHeadersOnly, so a HEAD does not
// read a whole range or backup only for net/http to discard the body.
type streamWriter struct {
	w           http.ResponseWriter
	contentType string
	head        bool
	buf         []byte
	started     bool
	err         error // the first write error: the client is gone
	// deadlines, when set, move the write deadline on before each write
	// (a long export).
	deadlines *transferDeadlines
}

// streamChunk is the size at which a streamed response is sent on.
const streamChunk = 32 << 10

// errHeadersOnly stops the stream of a HEAD response.
var errHeadersOnly = errors.New("HEAD: headers only")

func newStreamWriter(w http.ResponseWriter, r *http.Request, contentType string) *streamWriter {
	return &streamWriter{w: w, contentType: contentType, head: r.Method == http.MethodHead, buf: make([]byte, 0, streamChunk+512)}
}

// Write appends p to the buffer (for templates and encoders).
func (sw *streamWriter) Write(p []byte) (int, error) {
	if sw.err != nil {
		return 0, sw.err
	}
	sw.buf = append(sw.buf, p...)
	return len(p), sw.maybeFlush()
}

// maybeFlush sends the buffer once it holds a chunk (for HEAD, at once).
func (sw *streamWriter) maybeFlush() error {
	if len(sw.buf) < streamChunk && !sw.head {
		return sw.err
	}
	return sw.flush()
}

func (sw *streamWriter) flush() error {
	if sw.err != nil {
		return sw.err
	}
	if !sw.started {
		sw.started = true
		sw.w.Header().Set("Content-Type", sw.contentType)
		sw.w.WriteHeader(http.StatusOK)
	}
	if sw.head {
		sw.buf, sw.err = sw.buf[:0], errHeadersOnly
		return sw.err
	}
	if len(sw.buf) > 0 {
		sw.deadlines.beforeWrite()
		_, sw.err = sw.w.Write(sw.buf)
		sw.buf = sw.buf[:0]
	}
	return sw.err
}

// flushNow sends what is buffered to the client at once (the first bytes
// of a long export).
func (sw *streamWriter) flushNow() error {
	if err := sw.flush(); err != nil {
		return err
	}
	if err := http.NewResponseController(sw.w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		sw.err = err
	}
	return sw.err
}

// finish sends the rest of the response.
func (sw *streamWriter) finish(s *server, r *http.Request) {
	if err := sw.flush(); err != nil && err != errHeadersOnly {
		s.Logger.Debug("client went away", "path", logPath(r), "error", err)
	}
}

// fail answers err if nothing was sent yet. Once the 200 is out the
// response cannot say so any more: the error is logged and the handler
// aborts, so the client sees a broken response rather than a short one.
func (sw *streamWriter) fail(s *server, r *http.Request, err error) {
	if !sw.started {
		s.fail(sw.w, r, err)
		return
	}
	if sw.err != nil { // the client is gone; nothing to tell
		return
	}
	s.Logger.Error("streamed response failed", "method", r.Method, "path", logPath(r), "error", err)
	panic(http.ErrAbortHandler)
}
