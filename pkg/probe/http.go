package probe

import (
	"context"
	"net/http"
	"time"
)

// userAgent is sent with every HTTP probe.
const userAgent = "srvmon (uptime check)"

// probeHTTP requests t.URL with method and follows redirects (at most ten,
// as net/http does). Up is a 2xx or 3xx final status; anything else is a
// statusError. The rtt runs from the request to the final response's
// headers; the body is not read.
//
// The request is built from t.URL, as parsed, not from t.String(): what is
// checked is the target's URL, however the Target was made.
func probeHTTP(ctx context.Context, c *http.Client, method string, t Target) (time.Duration, error) {
	u := *t.URL // the request's own copy: t.URL is shared and read-only
	req := (&http.Request{
		Method: method,
		URL:    &u,
		Host:   u.Host,
		Header: http.Header{"User-Agent": {userAgent}},
	}).WithContext(ctx)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	rtt := time.Since(start)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return rtt, statusError(resp.StatusCode)
	}
	return rtt, nil
}
