package probe

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"time"

	"github.com/srvmon/srvmon/pkg/probe/condition"
)

// probeTLS connects to t.Host:t.Port and completes a TLS handshake,
// verifying the certificate for t.Host (also the SNI) unless t.Settings
// says not to, then closes the connection. The rtt is the connection's
// open plus the handshake. The leaf certificate's expiry is returned
// whether or not it verified, once the server sent it. With conditions,
// the completed handshake is the response: [CONNECTED], [RESPONSE_TIME],
// [IP] and [CERTIFICATE_EXPIRATION].
func (p *Prober) probeTLS(ctx context.Context, t Target) outcome {
	cfg := p.tlsConfig
	if t.Settings != nil && t.Settings.InsecureSkipVerify {
		cfg = p.insecureTLSConfig
	}
	// tls.Dialer sets ServerName to t.Host on its own copy of cfg.
	d := tls.Dialer{NetDialer: p.dialer, Config: cfg}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.Host, strconv.Itoa(t.Port)))
	if err != nil {
		return outcome{err: err, certExpiry: certExpiry(nil, err)}
	}
	o := outcome{rtt: time.Since(start)}
	defer c.Close()
	cs := c.(*tls.Conn).ConnectionState()
	if len(cs.PeerCertificates) > 0 {
		o.certExpiry = cs.PeerCertificates[0].NotAfter
	}
	if len(t.conditions()) > 0 {
		o.resp = &condition.Response{Connected: true, ResponseTime: o.rtt, IP: addrIP(c.RemoteAddr()), CertExpiry: o.certExpiry}
	}
	return o
}
