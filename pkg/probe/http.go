package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/srvmon/srvmon/pkg/probe/condition"
)

// userAgent is sent with every HTTP probe.
const userAgent = "srvmon (uptime check)"

// probeHTTP requests t.URL and follows redirects (at most ten, as
// net/http does), unless t.Settings says not to. Without conditions, up
// is a 2xx or 3xx final status; anything else is a statusError, and the
// body is not read. With conditions, the final response is returned for
// them to judge, its body read (at most MaxBodyRead bytes) only when a
// condition looks at it. The rtt runs from the request to the final
// response's headers: no body read is in it.
//
// The request is built from t.URL, as parsed, not from t.String(): what is
// checked is the target's URL, however the Target was made.
func (p *Prober) probeHTTP(ctx context.Context, t Target) outcome {
	var s Settings
	if t.Settings != nil {
		s = *t.Settings
	}
	req := newHTTPRequest(t, &s, p.opts.HTTPMethod)
	uses := t.uses()
	var tr *connTrace // nil: nothing to trace, nothing allocated
	if t.URL.Scheme == "https" || uses&condition.UsesIP != 0 {
		tr = &connTrace{}
		ctx = tr.attach(ctx, t.URL.Scheme == "https", uses&condition.UsesIP != 0)
	}
	client := p.clients[boolIndex(s.InsecureSkipVerify)][boolIndex(s.NoFollowRedirects)]
	start := time.Now()
	resp, err := client.Do(req.WithContext(ctx))
	var o outcome
	if err != nil {
		o.err = err
		o.certExpiry = certExpiry(tr.leaf(), err)
		return o
	}
	o.rtt = time.Since(start)
	o.certExpiry = certExpiry(tr.leaf(), nil)
	defer resp.Body.Close()
	if len(s.Conditions) == 0 {
		if resp.StatusCode < 200 || resp.StatusCode > 399 {
			o.err = statusError(resp.StatusCode)
		}
		return o
	}
	r := &condition.Response{
		Connected:    true,
		Status:       resp.StatusCode,
		ResponseTime: o.rtt,
		Header:       resp.Header,
		IP:           tr.remoteIP(),
		CertExpiry:   o.certExpiry,
	}
	if uses&condition.UsesBody != 0 {
		if r.Body, r.BodyTruncated, err = readBody(resp.Body, resp.ContentLength); err != nil {
			o.err = fmt.Errorf("reading the body: %w", err)
			return o
		}
	}
	r.Now = time.Now()
	o.resp = r
	return o
}

// connTrace records, through an httptrace.ClientTrace, what an HTTP probe
// learns only from its connections.
type connTrace struct {
	// first is the leaf certificate of the first TLS handshake: the
	// target's own, whatever the redirects. Set on the transport's
	// dialing goroutine, which may outlive Do when the request is
	// cancelled: hence atomic.
	first atomic.Pointer[x509.Certificate]
	// ip is the remote address of the last connection (the final
	// response's); set on Do's goroutine.
	ip string
}

// attach returns ctx tracing the certificate and, if ip, the address.
func (tr *connTrace) attach(ctx context.Context, cert, ip bool) context.Context {
	trace := &httptrace.ClientTrace{}
	if cert {
		trace.TLSHandshakeDone = func(cs tls.ConnectionState, _ error) {
			if len(cs.PeerCertificates) > 0 {
				tr.first.CompareAndSwap(nil, cs.PeerCertificates[0])
			}
		}
	}
	if ip {
		trace.GotConn = func(info httptrace.GotConnInfo) { tr.ip = addrIP(info.Conn.RemoteAddr()) }
	}
	return httptrace.WithClientTrace(ctx, trace)
}

// leaf returns the first handshake's leaf certificate, or nil.
func (tr *connTrace) leaf() *x509.Certificate {
	if tr == nil {
		return nil
	}
	return tr.first.Load()
}

// remoteIP returns the final connection's remote IP address, or "".
func (tr *connTrace) remoteIP() string {
	if tr == nil {
		return ""
	}
	return tr.ip
}

// newHTTPRequest builds t's request with s's method, headers and body;
// method is the Prober's when s has none.
func newHTTPRequest(t Target, s *Settings, method string) *http.Request {
	if s.Method != "" {
		method = s.Method
	}
	u := *t.URL // the request's own copy: t.URL is shared and read-only
	req := &http.Request{
		Method: method,
		URL:    &u,
		Host:   u.Host,
		Header: http.Header{"User-Agent": {userAgent}},
	}
	if len(s.Header) > 0 {
		req.Header = make(http.Header, len(s.Header)+1)
		for k, v := range s.Header {
			req.Header[http.CanonicalHeaderKey(k)] = v
		}
		if h := req.Header.Get("Host"); h != "" {
			req.Host = h
		}
		delete(req.Header, "Host")
		if _, ok := req.Header["User-Agent"]; !ok {
			req.Header["User-Agent"] = []string{userAgent}
		}
	}
	if s.Body != "" {
		body := s.Body
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
		req.Body, _ = req.GetBody()
	}
	return req
}

// readBody reads at most MaxBodyRead bytes of body, and says whether
// there was more. size is the body's length if known (Content-Length),
// else -1: a known length is read into one allocation.
func readBody(body io.Reader, size int64) ([]byte, bool, error) {
	var buf bytes.Buffer
	if size >= 0 && size < MaxBodyRead {
		buf.Grow(int(size) + 1) // +1: the EOF read needs room, or Buffer grows
	}
	_, err := buf.ReadFrom(io.LimitReader(body, MaxBodyRead+1))
	if err != nil {
		return nil, false, err
	}
	b := buf.Bytes()
	if len(b) > MaxBodyRead {
		return b[:MaxBodyRead], true, nil
	}
	return b, false, nil
}

// certExpiry returns the NotAfter of leaf, else of the certificate that
// err says failed verification; zero if neither is known.
func certExpiry(leaf *x509.Certificate, err error) time.Time {
	if leaf != nil {
		return leaf.NotAfter
	}
	if err == nil {
		return time.Time{}
	}
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) && len(ve.UnverifiedCertificates) > 0 {
		return ve.UnverifiedCertificates[0].NotAfter
	}
	return time.Time{}
}

// addrIP returns the IP address of a connection's remote address.
func addrIP(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// boolIndex is 1 for true, 0 for false.
func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
