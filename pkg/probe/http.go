package probe

import (
	"context"
	"net/http"
	"time"
)

// userAgent is sent with every HTTP probe.
const userAgent = "srvmon (uptime check)"

// probeHTTP requests t's URL with method and follows redirects (at most
// ten, as net/http does). Up is a 2xx or 3xx final status; anything else
// is a statusError. The rtt runs from the request to the final response's
// headers; the body is not read.
func probeHTTP(ctx context.Context, c *http.Client, method string, t Target) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", userAgent)
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
