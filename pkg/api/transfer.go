package api

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// requestBody returns r's body, limited to limit bytes (a larger one
// fails with *http.MaxBytesError). Errors reading it from the client (a
// timeout, a dropped connection) come back as *bodyReadError, so that
// they are not taken for malformed content. With deadlines, every read
// moves the connection's read deadline on (see transferDeadlines).
func requestBody(w http.ResponseWriter, r *http.Request, limit int64, deadlines *transferDeadlines) io.ReadCloser {
	return http.MaxBytesReader(w, &clientBody{body: r.Body, deadlines: deadlines}, limit)
}

// clientBody tells errors reading a request body apart from its content.
type clientBody struct {
	body      io.ReadCloser
	deadlines *transferDeadlines // nil: the server's ReadTimeout applies
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.deadlines.beforeRead()
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		// The whole body is in. Lift the read deadline: net/http now
		// watches the connection for the client going away, and a
		// deadline passing while the store commits would cancel the
		// request.
		b.deadlines.clearRead()
	case err != nil:
		err = &bodyReadError{err}
	}
	return n, err
}

func (b *clientBody) Close() error { return b.body.Close() }

// bodyReadError is a failure to receive a request body: the client
// stopped sending (a read timeout) or the connection broke off. It is not
// a malformed body, and fail answers it as such: 408 for a timeout, else
// 400.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string {
	if e.timeout() {
		return "the client stopped sending the request body"
	}
	return "the request body broke off: " + e.err.Error()
}

func (e *bodyReadError) Unwrap() error { return e.err }

func (e *bodyReadError) timeout() bool {
	var ne net.Error
	return errors.Is(e.err, os.ErrDeadlineExceeded) || (errors.As(e.err, &ne) && ne.Timeout())
}

// transferDeadlines move a connection's read and write deadlines along
// with a long transfer (a backup restore or export), in place of the
// server's ReadTimeout and WriteTimeout, which count from the start of the
// request and would cut any transfer longer than them (a restore reads its
// body while it writes to the store). Each read or write may wait up to
// idle, so a client that keeps sending or reading can take as long as it
// needs, while one that stalls is cut off after idle rather than holding
// the store's transaction open for ever.
//
// Where the connection has no deadlines to set (AWS Lambda's adapter, a
// test's recorder: http.ErrNotSupported) it does nothing. A nil
// *transferDeadlines does nothing either.
type transferDeadlines struct {
	rc          *http.ResponseController
	idle        time.Duration
	read, write time.Time // the deadlines last set; zero for none
	unsupported bool
}

func newTransferDeadlines(w http.ResponseWriter, idle time.Duration) *transferDeadlines {
	return &transferDeadlines{rc: http.NewResponseController(w), idle: idle}
}

// beforeRead makes sure the next read may wait idle.
func (d *transferDeadlines) beforeRead() {
	if d != nil {
		d.extend(&d.read, d.rc.SetReadDeadline)
	}
}

// beforeWrite makes sure the next write may wait idle.
func (d *transferDeadlines) beforeWrite() {
	if d != nil {
		d.extend(&d.write, d.rc.SetWriteDeadline)
	}
}

// clearRead lifts the read deadline: nothing more is read from the client
// (it has sent its body, or a download sends none), and net/http's read
// watching for the client going away must not time out.
func (d *transferDeadlines) clearRead() {
	if d != nil && !d.unsupported {
		d.set(&d.read, d.rc.SetReadDeadline, time.Time{})
	}
}

// extend moves a deadline to idle from now, unless it was moved in the
// last quarter of idle (deadlines are cheap to check, not free to set).
func (d *transferDeadlines) extend(cur *time.Time, set func(time.Time) error) {
	if d.unsupported {
		return
	}
	now := time.Now()
	if !cur.IsZero() && cur.Sub(now) > d.idle*3/4 {
		return
	}
	d.set(cur, set, now.Add(d.idle))
}

func (d *transferDeadlines) set(cur *time.Time, set func(time.Time) error, t time.Time) {
	if err := set(t); err != nil {
		// ErrNotSupported: nothing to move. Any other error is a
		// connection that is gone; the next read or write says so.
		d.unsupported = errors.Is(err, http.ErrNotSupported)
		return
	}
	*cur = t
}
