package probe

import (
	"context"
	"net"
	"strconv"
	"time"
)

// probeTCP connects to t.Host:t.Port and closes the connection. The rtt is
// the time the connection took to open (DNS lookup included).
func probeTCP(ctx context.Context, d *net.Dialer, t Target) (time.Duration, error) {
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.Host, strconv.Itoa(t.Port)))
	if err != nil {
		return 0, err
	}
	rtt := time.Since(start)
	c.Close()
	return rtt, nil
}
