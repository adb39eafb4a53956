package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// mergedChecks streams the host's checks in the range, oldest first, with
// the remote instances' checks merged in as gosrvmon merges them: up if any
// instance saw the host up, the lowest rtt among those. Without remotes it
// is the store's stream.
func (s *server) mergedChecks(ctx context.Context, req rangeRequest, fn func(store.Check) error) error {
	if len(s.RemoteChecksURLs) == 0 {
		return storeErr(s.Store.Checks(ctx, req.Host, req.Start, req.End, fn), req.Host)
	}
	// An unknown host is 404 before any remote is asked.
	ok, err := s.Store.HostExists(ctx, req.Host)
	if err != nil {
		return err
	}
	if !ok {
		return unknownHost(req.Host)
	}
	remote := s.remoteChecks(ctx, req)
	add, rest := mergeSorted(remote, fn)
	if err := s.Store.Checks(ctx, req.Host, req.Start, req.End, add); err != nil {
		return storeErr(err, req.Host)
	}
	return rest()
}

// mergeSorted merges a stream of checks, fed to add oldest first, with
// remote (sorted, one check per time): fn gets one merged check per time,
// oldest first; rest sends the remote checks after the last fed one.
func mergeSorted(remote []store.Check, fn func(store.Check) error) (add func(store.Check) error, rest func() error) {
	i := 0
	add = func(c store.Check) error {
		for ; i < len(remote) && remote[i].Time.Before(c.Time); i++ {
			if err := fn(remote[i]); err != nil {
				return err
			}
		}
		if i < len(remote) && remote[i].Time.Equal(c.Time) {
			c = mergeChecks(c, remote[i])
			i++
		}
		return fn(c)
	}
	rest = func() error {
		for ; i < len(remote); i++ {
			if err := fn(remote[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return add, rest
}

// mergeChecks merges checks of one time from several instances with the
// store's rule for several locations (store.MergeSlot).
func mergeChecks(cs ...store.Check) store.Check {
	rs := make([]store.Result, len(cs))
	for i, c := range cs {
		rs[i] = store.Result{Slot: c.Time, RTT: c.RTT, Up: c.Up, Reason: c.Error}
	}
	return store.MergeSlot(rs)
}

// remoteChecks asks every remote for the host's checks in the range, all
// at once, each within RemoteTimeout. A remote that fails is logged and
// skipped. The answers are merged per time, oldest first.
func (s *server) remoteChecks(ctx context.Context, req rangeRequest) []store.Check {
	lists := make([][]store.Check, len(s.RemoteChecksURLs))
	var wg sync.WaitGroup
	for i, u := range s.RemoteChecksURLs {
		wg.Go(func() {
			cs, err := s.fetchRemote(ctx, u, req)
			if err != nil {
				s.Logger.Warn("remote checks skipped", "remote", redactURL(u), "host", req.Host, "err", err)
				return
			}
			lists[i] = cs
		})
	}
	wg.Wait()
	all := slices.Concat(lists...)
	slices.SortStableFunc(all, func(a, b store.Check) int { return a.Time.Compare(b.Time) })
	merged := all[:0]
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].Time.Equal(all[i].Time) {
			j++
		}
		merged = append(merged, mergeChecks(all[i:j]...))
		i = j
	}
	return merged
}

// remoteCheck is a check as a remote (gosrvmon or srvmon) writes it.
type remoteCheck struct {
	Time  time.Time `json:"time"`
	RTT   int64     `json:"rtt"`
	Up    bool      `json:"up"`
	Error string    `json:"error"`
}

// fetchRemote GETs one remote's /api/checks for the range (unix seconds,
// which gosrvmon and srvmon both serve) and decodes its answer as a
// stream. Times are truncated to the interval, as gosrvmon's chart does.
// With auth enabled the request carries this instance's credentials, as
// gosrvmon's does.
func (s *server) fetchRemote(ctx context.Context, rawURL string, req rangeRequest) ([]store.Check, error) {
	ctx, cancel := context.WithTimeout(ctx, s.RemoteTimeout)
	defer cancel()
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
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", "application/json")
	if s.Auth.Enable {
		hreq.SetBasicAuth(s.Auth.User, s.Auth.Password)
	}
	resp, err := s.RemoteClient.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, s.MaxBodyBytes))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("answer is not a JSON array (%v)", err)
	}
	var cs []store.Check
	for dec.More() {
		var rc remoteCheck
		if err := dec.Decode(&rc); err != nil {
			return nil, fmt.Errorf("bad check in answer: %w", err)
		}
		t := rc.Time.UTC().Truncate(s.Interval)
		if t.Before(req.Start) || !t.Before(req.End) {
			continue
		}
		cs = append(cs, store.Check{Time: t, RTT: time.Duration(rc.RTT), Up: rc.Up, Error: errorIfDown(rc.Up, rc.Error)})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("answer is cut short: %w", err)
	}
	return cs, nil
}

// redactURL hides a password in a URL for the log.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
