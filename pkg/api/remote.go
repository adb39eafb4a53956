package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// mergedChecks streams the host's checks from req.Start to req.End, both
// included, oldest first, with
// the remote instances' checks merged in as gosrvmon merges them: up if any
// instance saw the host up, the lowest rtt among those. Without remotes it
// is the store's stream.
//
// Every remote is asked at once; their answers (JSON arrays sorted by
// time, as /api/checks writes them) are then decoded check by check while
// the local stream is read, and merged with it by time, so memory does not
// grow with the range. A remote that fails is logged and skipped: before
// its answer starts, it adds nothing; if it fails part way (a bad or
// unsorted check, a stall, an answer over MaxRemoteBytes) it adds what it
// sent before.
func (s *server) mergedChecks(ctx context.Context, req rangeRequest, fn func(store.Check) error) error {
	if len(s.RemoteChecksURLs) == 0 {
		return storeErr(s.Store.Checks(ctx, req.Host, req.Start, req.storeEnd(), fn), req.Host)
	}
	// An unknown host is 404 before any remote is asked.
	ok, err := s.Store.HostExists(ctx, req.Host)
	if err != nil {
		return err
	}
	if !ok {
		return unknownHost(req.Host)
	}
	remotes := s.openRemotes(ctx, req)
	defer func() {
		for _, r := range remotes {
			r.close()
		}
	}()
	sources := make([]store.CheckSource, len(remotes))
	for i, r := range remotes {
		sources[i] = r
	}
	local := func(add func(store.Check) error) error {
		return s.Store.Checks(ctx, req.Host, req.Start, req.storeEnd(), add)
	}
	return storeErr(store.MergeStreams(sources, local, fn), req.Host)
}

// openRemotes asks every remote for the host's checks in the range, all at
// once, and returns those whose answers have begun. The others are logged
// and skipped.
func (s *server) openRemotes(ctx context.Context, req rangeRequest) []*remoteStream {
	streams := make([]*remoteStream, len(s.RemoteChecksURLs))
	var wg sync.WaitGroup
	for i, u := range s.RemoteChecksURLs {
		wg.Go(func() {
			rs, err := s.openRemote(ctx, u, req)
			if err != nil {
				s.skipRemote(ctx, u, req.Host, 0, err)
				return
			}
			streams[i] = rs
		})
	}
	wg.Wait()
	return slices.DeleteFunc(streams, func(r *remoteStream) bool { return r == nil })
}

// skipRemote logs a remote that failed, its URL and the host masked
// (probe.MaskSecrets); merged
// is how many of its checks were merged before. When the request itself
// has ended (the client went away) it is not the remote's fault.
func (s *server) skipRemote(ctx context.Context, rawURL, host string, merged int, err error) {
	level := slog.LevelWarn
	if ctx.Err() != nil {
		level = slog.LevelDebug
	}
	s.Logger.Log(ctx, level, "remote checks skipped", "remote", probe.MaskSecrets(rawURL), "host", probe.MaskSecrets(host), "merged", merged, "error", err)
}

// remoteCheck is a check as a remote (gosrvmon or srvmon) writes it.
type remoteCheck struct {
	Time  time.Time `json:"time"`
	RTT   int64     `json:"rtt"`
	Up    bool      `json:"up"`
	Error string    `json:"error"`
}

// openRemote GETs one remote's /api/checks for the range (unix seconds,
// which gosrvmon and srvmon both serve, end included by both) and reads
// the start of its answer. A check at the range's end comes from the local
// store and from remotes alike: the merge makes one check of each time.
// The status and headers must come within RemoteTimeout, and so must every
// read of the answer after them. With auth enabled the request carries
// this instance's credentials, as gosrvmon's does.
func (s *server) openRemote(ctx context.Context, rawURL string, req rangeRequest) (*remoteStream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bad remote URL: %w", err)
	}
	end := req.End.Unix()
	if req.End.Nanosecond() != 0 {
		end++ // whole seconds that still cover the end
	}
	q := u.Query()
	q.Set("host", req.Host)
	q.Set("start", strconv.FormatInt(req.Start.Unix(), 10))
	q.Set("end", strconv.FormatInt(end, 10))
	u.RawQuery = q.Encode()

	rctx, cancel := context.WithCancelCause(ctx)
	stalled := fmt.Errorf("%w: nothing within %v", errRemoteStalled, s.RemoteTimeout)
	timer := time.AfterFunc(s.RemoteTimeout, func() { cancel(stalled) })
	rs := &remoteStream{
		ctx: ctx, rawURL: rawURL, req: req, interval: s.Interval, s: s,
		stop: func() { timer.Stop(); cancel(nil) },
	}
	hreq, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		rs.stop()
		return nil, fmt.Errorf("remote request: %w", err)
	}
	hreq.Header.Set("Accept", "application/json")
	if s.Auth.Enable {
		hreq.SetBasicAuth(s.Auth.User, s.Auth.Password)
	}
	resp, err := s.RemoteClient.Do(hreq)
	if err != nil {
		rs.stop()
		if cause := context.Cause(rctx); errors.Is(cause, errRemoteStalled) {
			err = cause
		}
		return nil, err
	}
	timer.Stop() // from here on, each read arms it
	rs.body = resp.Body
	rs.dec = json.NewDecoder(&remoteBody{ctx: rctx, body: resp.Body, timer: timer, timeout: s.RemoteTimeout, left: s.MaxRemoteBytes, limit: s.MaxRemoteBytes})
	if resp.StatusCode/100 != 2 {
		rs.close()
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	tok, err := rs.dec.Token()
	switch {
	case err != nil:
		err = fmt.Errorf("answer is not a JSON array: %w", err)
	case tok == nil: // null: gosrvmon's answer when there are no checks
		rs.close()
	case tok != json.Delim('['):
		err = fmt.Errorf("answer is not a JSON array: it starts with %v", tok)
	}
	if err != nil {
		rs.close()
		return nil, err
	}
	return rs, nil
}

// errRemoteStalled is a remote that sent nothing within RemoteTimeout.
var errRemoteStalled = errors.New("remote stalled")

// remoteStream is one remote's answer, decoded check by check: its checks
// in the range, times truncated to the interval as gosrvmon's chart does.
// It ends at the end of the answer or at its first fault, which it logs.
type remoteStream struct {
	s        *server
	ctx      context.Context // the request's
	rawURL   string
	req      rangeRequest
	interval time.Duration
	body     io.Closer
	dec      *json.Decoder
	stop     func()
	last     time.Time // the time of the last check in the range
	merged   int
	done     bool
}

// Next is the stream's next check (store.CheckSource).
func (r *remoteStream) Next() (store.Check, bool) {
	for !r.done && r.dec.More() {
		var rc remoteCheck
		if err := r.dec.Decode(&rc); err != nil {
			if err == io.EOF {
				r.fail(fmt.Errorf("answer is cut short: %w", io.ErrUnexpectedEOF))
			} else {
				r.fail(fmt.Errorf("bad check in answer: %w", err))
			}
			break
		}
		t := rc.Time.UTC().Truncate(r.interval)
		if t.Before(r.req.Start) || t.After(r.req.End) {
			continue // never merged, so its place does not matter
		}
		// The merge needs the checks in order; one back in time would
		// land out of place, so the remote is cut off there.
		if t.Before(r.last) {
			r.fail(fmt.Errorf("answer is not sorted by time: %s after %s", t.Format(time.RFC3339), r.last.Format(time.RFC3339)))
			break
		}
		r.last = t
		r.merged++
		return store.Check{Time: t, RTT: time.Duration(rc.RTT), Up: rc.Up, Error: store.ReasonIfDown(rc.Up, rc.Error)}, true
	}
	if !r.done {
		if _, err := r.dec.Token(); err != nil {
			r.fail(fmt.Errorf("answer is cut short: %w", err))
		}
		r.close()
	}
	return store.Check{}, false
}

// fail logs the remote's fault and ends its stream.
func (r *remoteStream) fail(err error) {
	r.s.skipRemote(r.ctx, r.rawURL, r.req.Host, r.merged, err)
	r.close()
}

func (r *remoteStream) close() {
	if r.done {
		return
	}
	r.done = true
	r.body.Close()
	r.stop()
}

// remoteBody reads a remote's answer: each read must return within
// timeout (the timer cancels the request otherwise), and the whole answer
// may hold at most limit bytes.
type remoteBody struct {
	ctx         context.Context // the remote request's
	body        io.Reader
	timer       *time.Timer
	timeout     time.Duration
	left, limit int64
	tooLarge    bool
}

func (b *remoteBody) Read(p []byte) (int, error) {
	if b.tooLarge {
		return 0, b.errTooLarge()
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more tells a full answer from a larger one
	}
	b.timer.Reset(b.timeout)
	n, err := b.body.Read(p)
	b.timer.Stop()
	if int64(n) > b.left {
		n, b.left, b.tooLarge = int(b.left), 0, true
		return n, b.errTooLarge()
	}
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); errors.Is(cause, errRemoteStalled) {
			err = cause
		}
	}
	return n, err
}

func (b *remoteBody) errTooLarge() error {
	return fmt.Errorf("answer is larger than the limit of %s", formatBytes(b.limit))
}
