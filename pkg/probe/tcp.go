package probe

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/srvmon/srvmon/pkg/probe/condition"
)

// probeTCP connects to t.Host:t.Port and closes the connection. The rtt is
// the time the connection took to open (DNS lookup included). With
// conditions, the open connection is the response: [CONNECTED],
// [RESPONSE_TIME] and [IP].
func probeTCP(ctx context.Context, d *net.Dialer, t Target) outcome {
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.Host, strconv.Itoa(t.Port)))
	if err != nil {
		return outcome{err: err}
	}
	o := outcome{rtt: time.Since(start)}
	if len(t.conditions()) > 0 {
		o.resp = &condition.Response{Connected: true, ResponseTime: o.rtt, IP: addrIP(c.RemoteAddr())}
	}
	c.Close()
	return o
}
