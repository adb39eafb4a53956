package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// defaultRange is the range of a checks request without start and end.
const defaultRange = 24 * time.Hour

// rangeRequest is gosrvmon's ChecksRequest: a host and a range. End is
// inclusive, as gosrvmon's "check_time <= end" is: a check at End is in
// the range, and start == end is the check at that time.
type rangeRequest struct {
	// Host is the stored host; Name is the host as the request named it,
	// maybe masked (see resolveHost), for the links of pages.
	Host, Name string
	Start, End time.Time
}

// storeEnd is the exclusive end of the store's half-open ranges that
// holds the request's inclusive End: End plus one nanosecond, the finest
// time there is (PostgreSQL's bound rounds it up to its microseconds).
// End is at most store.MaxTime, so this cannot overflow.
func (q rangeRequest) storeEnd() time.Time { return q.End.Add(time.Nanosecond) }

// checksRequestJSON is the body of POST /api/checks: RFC 3339 times.
type checksRequestJSON struct {
	Host  string     `json:"host"`
	Start *time.Time `json:"start"`
	End   *time.Time `json:"end"`
}

// parseRange reads gosrvmon's checks request: for GET, the query's host,
// start and end (unix seconds; RFC 3339 and 2006-01-02T15:04 in the chart
// time zone also work); for POST, a JSON body {"host","start","end"} with
// RFC 3339 times. end defaults to now and start to 24 hours before end;
// end is inclusive.
func (s *server) parseRange(w http.ResponseWriter, r *http.Request) (rangeRequest, error) {
	var req rangeRequest
	var start, end *time.Time
	if r.Method == http.MethodPost {
		var body checksRequestJSON
		if err := decodeSmallJSON(w, r, &body); err != nil {
			return req, err
		}
		req.Host, start, end = body.Host, body.Start, body.End
	} else {
		q, err := queryParams(r)
		if err != nil {
			return req, err
		}
		req.Host = q.Get("host")
		for _, p := range []struct {
			name string
			dst  **time.Time
		}{{"start", &start}, {"end", &end}} {
			if v := q.Get(p.name); v != "" {
				t, err := s.parseTime(p.name, v)
				if err != nil {
					return req, err
				}
				*p.dst = &t
			}
		}
	}
	if req.Host == "" {
		return req, badRequest("missing host parameter")
	}
	req.End = s.Now().UTC()
	if end != nil {
		req.End = end.UTC()
	}
	req.Start = req.End.Add(-defaultRange)
	if start != nil {
		req.Start = start.UTC()
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"start", req.Start}, {"end", req.End}} {
		if t.t.Before(store.MinTime()) || t.t.After(store.MaxTime()) {
			return req, badRequest(fmt.Sprintf("%s %s is outside 1970-01-01..2262-01-01", t.name, t.t.Format(time.RFC3339)))
		}
	}
	if req.End.Before(req.Start) {
		return req, badRequest("end is before start")
	}
	req.Name = req.Host
	var err error
	req.Host, err = s.resolveHost(r.Context(), req.Name)
	return req, err
}

// resolveHost maps a host as a reader names it to the stored host: the
// stored host of that name, or the one whose masked form
// (probe.MaskSecrets, what readers are shown) it is, so that a name read
// from /api/hosts or a page can be asked for. A name that several stored
// hosts show as is a 400; one that matches none comes back as it is, for
// the store to answer 404. Only a name holding probe.MaskedValue can be
// another host's masked form, so only such a name costs the host list.
func (s *server) resolveHost(ctx context.Context, name string) (string, error) {
	if !strings.Contains(name, probe.MaskedValue) {
		return name, nil
	}
	hosts, err := s.Store.Hosts(ctx)
	if err != nil {
		return "", err
	}
	var found []string
	for _, h := range hosts {
		if h == name || probe.MaskSecrets(h) == name {
			found = append(found, h)
		}
	}
	switch len(found) {
	case 0:
		return name, nil
	case 1:
		return found[0], nil
	}
	return "", badRequest(fmt.Sprintf("host %q is ambiguous: %d stored hosts show as it with their secrets masked; name the host whole", name, len(found)))
}

// maskHosts is hosts as readers see them (probe.MaskSecrets), sorted.
func maskHosts(hosts []string) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = probe.MaskSecrets(h)
	}
	slices.Sort(out)
	return out
}

// The layouts of an HTML datetime-local input: browsers send seconds
// only when they are not zero.
const (
	datetimeLocal        = "2006-01-02T15:04"
	datetimeLocalSeconds = "2006-01-02T15:04:05"
)

// parseTime reads a time parameter: unix seconds (gosrvmon's), RFC 3339,
// or a datetime-local value in the chart time zone.
func (s *server) parseTime(name, v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < store.MinUnix || n > store.MaxUnix {
			return time.Time{}, badRequest(fmt.Sprintf("%s %d is outside 1970-01-01..2262-01-01", name, n))
		}
		return time.Unix(n, 0).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range [...]string{datetimeLocal, datetimeLocalSeconds} {
		if t, err := time.ParseInLocation(layout, v, s.Chart.TimeZone); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, badRequest(fmt.Sprintf("%s %q is not a time: use unix seconds, RFC 3339 or 2006-01-02T15:04", name, v))
}

// maxParams is the most parameters a query string or a form body may
// hold: net/url's own limit, past which it parses nothing at all.
const maxParams = 10000

// queryParams parses the request's query string: every handler reads its
// parameters through it, so that a query that does not parse is a 400
// saying why rather than a parameter that seems to be missing.
func queryParams(r *http.Request) (url.Values, error) {
	return parseParams("query", r.URL.RawQuery)
}

// parseParams parses a query string or form body (what names it): a 400
// with a one-line reason if it has more than maxParams parameters, a bad
// escape or a semicolon separator.
func parseParams(what, raw string) (url.Values, error) {
	if strings.Count(raw, "&") >= maxParams {
		return nil, badRequest(fmt.Sprintf("bad %s: too many parameters (limit %d)", what, maxParams))
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest(fmt.Sprintf("bad %s: %v", what, err))
	}
	return v, nil
}

// queryParam is queryParams(r).Get(name), the first value of the query's
// parameter name, with the same 400s; a query without escapes ('%', '+')
// and semicolons is read where it lies, without building url.Values (two
// allocations and most of the cost of /api/checks/last, which dashboards
// poll for every host).
func queryParam(r *http.Request, name string) (string, error) {
	raw := r.URL.RawQuery
	if !plainQuery(raw) {
		q, err := queryParams(r)
		if err != nil {
			return "", err
		}
		return q.Get(name), nil
	}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if k, v, _ := strings.Cut(pair, "="); k == name {
			return v, nil
		}
	}
	return "", nil
}

// plainQuery reports whether a query has no escapes ('%', '+'), no
// semicolons and fewer than maxParams separators, in one pass: such a
// query's values are its bytes as they are.
func plainQuery(raw string) bool {
	seps := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '%', '+', ';':
			return false
		case '&':
			seps++
		}
	}
	return seps < maxParams
}

// hostParam reads the host of /api/checks/last and /api/check: the query's
// host for GET, the whole body for POST (gosrvmon's forms).
func hostParam(w http.ResponseWriter, r *http.Request) (string, error) {
	if r.Method == http.MethodPost {
		return readSmallBody(w, r)
	}
	host, err := queryParam(r, "host")
	if err != nil {
		return "", err
	}
	if host == "" {
		return "", badRequest("missing host parameter")
	}
	return host, nil
}

// readSmallBody reads a body holding one value, such as a target, trimmed
// of surrounding white space.
func readSmallBody(w http.ResponseWriter, r *http.Request) (string, error) {
	b, err := io.ReadAll(requestBody(w, r, smallBodyBytes, nil))
	if err != nil {
		return "", bodyError(err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", badRequest("empty body: send the host as the request body")
	}
	return v, nil
}

// decodeSmallJSON decodes a small JSON body into v. Unknown fields are
// ignored, as gosrvmon ignores them; nesting deeper than maxJSONDepth and
// text that is not UTF-8 (which the decoder would silently replace with
// U+FFFD) are a 400.
func decodeSmallJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(requestBody(w, r, smallBodyBytes, nil))
	if err != nil {
		return bodyError(fmt.Errorf("bad JSON body: %w", err))
	}
	if !utf8.Valid(b) {
		return badRequest("bad JSON body: not valid UTF-8")
	}
	if err := checkJSONDepth(b, maxJSONDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return bodyError(fmt.Errorf("bad JSON body: %w", err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("bad JSON body: more than one value")
	}
	return nil
}

// bodyError turns an error reading a request body into a 400, keeping a
// body that was not received whole (receiveError) for its own answer.
func bodyError(err error) error {
	if re := receiveError(err); re != nil {
		return re
	}
	return badRequest(err.Error())
}

// receiveError is the part of err that says a request body was not
// received whole: a *http.MaxBytesError (413) or a *bodyReadError (408 or
// 400). It is nil when err is about the body's content.
func receiveError(err error) error {
	var mbe *http.MaxBytesError
	var bre *bodyReadError
	switch {
	case errors.As(err, &mbe):
		return mbe
	case errors.As(err, &bre):
		return bre
	}
	return nil
}

// parseTarget parses a target with gosrvmon's syntax; a 400 if it is bad.
func parseTarget(host string) (probe.Target, error) {
	t, err := probe.Parse(host)
	if err != nil {
		return t, badRequest(fmt.Sprintf("host %q is not acceptable: %v", host, err))
	}
	return t, nil
}

// validTarget checks a target with gosrvmon's syntax.
func validTarget(host string) error {
	_, err := parseTarget(host)
	return err
}

// unknownHost is the error for a host the store does not have: 400 if it
// is not even a valid target, 404 otherwise, naming the host masked. Reads
// call it only on store.ErrNotFound, so the common path does not parse
// the target.
func unknownHost(host string) error {
	if err := validTarget(host); err != nil {
		return err
	}
	return &httpError{http.StatusNotFound, fmt.Sprintf("unknown host %q", probe.MaskSecrets(host))}
}

// storeErr maps a store error about host to the answer.
func storeErr(err error, host string) error {
	if errors.Is(err, store.ErrNotFound) {
		return unknownHost(host)
	}
	return err
}

// sizeParams reads the chart's width and height parameters.
func sizeParams(r *http.Request) (width, height int, err error) {
	q, err := queryParams(r)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"width", &width}, {"height", &height}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, 0, badRequest(fmt.Sprintf("%s %q is not a number", p.name, v))
		}
		*p.dst = n
	}
	return width, height, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
