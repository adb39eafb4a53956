package api

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// withFrameDenial forbids every response to be shown in a frame
// (X-Frame-Options for browsers without CSP frame-ancestors; the pages'
// and the chart's policies say frame-ancestors 'none' too), so another
// site cannot overlay srvmon's buttons and forms.
func withFrameDenial(h http.Handler) http.Handler {
	deny := sharedValue("DENY")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Frame-Options"] = deny
		h.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether a request that changes data (or reads
// secrets, or runs a probe) may go on with its Host header, against DNS
// rebinding: a page on an attacker's name whose address is then
// switched to srvmon's is same-origin with srvmon in the browser, so
// Origin and Sec-Fetch-Site vouch for it; only its Host names the
// attacker's domain. Rebinding needs a DNS name the attacker controls,
// so an IP literal is always accepted, and so are localhost, an empty
// Host (HTTP/1.0), the names in Options.AllowedHosts and anything when
// that lists "*". With Auth.Enable every name is accepted: the browser
// keeps the credentials it has for srvmon's own name and sends none to
// the attacker's, so the password guards these requests, and gosrvmon's
// users who reach an authenticated srvmon by a DNS name need no setting.
func (s *server) hostAllowed(r *http.Request) bool {
	if s.Auth.Enable {
		return true
	}
	host := normalHost(r.Host)
	if host == "" || host == "localhost" || net.ParseIP(host) != nil {
		return true
	}
	_, ok := s.allowedHosts[host]
	_, any := s.allowedHosts["*"]
	return ok || any
}

// normalHost is a Host header (or AllowedHosts entry) without its port
// and IPv6 brackets, lower case and without a trailing dot.
func normalHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if i := strings.IndexByte(host, '%'); i >= 0 && net.ParseIP(host[:i]) != nil {
		host = host[:i] // an IPv6 zone
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// refuseHost answers a request whose Host is not allowed, naming the
// setting that allows it.
func refuseHost(w http.ResponseWriter, r *http.Request, does string) {
	http.Error(w, "refused: Host "+quoteOneLine(normalHost(r.Host))+" may not "+does+
		": add it to Listen.AllowedHosts (SRVMON_LISTEN_ALLOWEDHOSTS)", http.StatusForbidden)
}

// quoteOneLine quotes a header value for a one-line reason.
func quoteOneLine(v string) string {
	const max = 100
	if len(v) > max {
		v = v[:max]
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, v) + `"`
}

// crossSiteGET reports whether a GET that changes data or runs a probe
// (gosrvmon's /api/hosts?action=, a single check) may come from another
// site's page, which a browser loads with its cached basic auth
// credentials, e.g. as an <img>. The rule, in order:
//
//   - Sec-Fetch-Site (modern browsers; a page cannot remove it):
//     "same-origin" and "none" (typed in, a bookmark) pass, anything else
//     is refused.
//   - Origin or Referer, when sent, must name this server (the request's
//     Host): older browsers send a Referer from a page unless its
//     referrer policy strips it.
//   - With none of the three, a request that looks like a browser's
//     (a User-Agent starting "Mozilla/", or an Accept naming text/html or
//     image/, as an <img> or a link sends) is refused: that is an older
//     browser whose Referer was stripped. Use the page's form (POST)
//     instead.
//
// So curl, wget and scripts, which send none of these, keep working with
// gosrvmon's GET; a script that looks like a browser can send a Referer
// naming the server, or POST.
func crossSiteGET(r *http.Request) bool {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "same-origin", "none":
		return false
	case "":
	default:
		return true
	}
	origin, referer := r.Header.Get("Origin"), r.Header.Get("Referer")
	if origin != "" || referer != "" {
		return (origin != "" && !sameHost(origin, r.Host)) || (referer != "" && !sameHost(referer, r.Host))
	}
	return looksLikeBrowser(r)
}

// sameHost reports whether the URL u (an Origin or Referer) names host
// (a Host header, with its port if any). "null" and unparsable values do
// not.
func sameHost(u, host string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Host != "" && strings.EqualFold(p.Host, host)
}

// looksLikeBrowser reports whether a request carries what browsers send
// and scripts do not.
func looksLikeBrowser(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("User-Agent"), "Mozilla/") {
		return true
	}
	accept := strings.ToLower(strings.Join(r.Header.Values("Accept"), ","))
	return strings.Contains(accept, "text/html") || strings.Contains(accept, "image/")
}
