package probe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// IsPush reports whether target names a push:// monitor, by its scheme
// alone (what Parse reads first): the monitored thing reports in, and no
// checker location probes it.
func IsPush(target string) bool {
	scheme, _, ok := strings.Cut(target, "://")
	return ok && strings.EqualFold(scheme, "push")
}

// MaxTargetLen is the longest target Parse accepts, in bytes.
const MaxTargetLen = 256

// ErrInvalidTarget is wrapped by every error Parse returns.
var ErrInvalidTarget = errors.New("invalid target")

// Kind is how a target is checked.
type Kind int

// The kinds of check. The zero Kind is invalid: only Parse makes targets.
const (
	KindICMP Kind = iota + 1 // a bare hostname, IPv4 or IPv6 address: ping
	KindTCP                  // host:port or [v6]:port: connect
	KindHTTP                 // http:// or https:// URL: request
	KindTLS                  // tls://host[:port]: TLS handshake
	KindDNS                  // dns://resolver[:port]/name?type=A: DNS query
	KindPush                 // push://name: the monitored thing reports in; never probed
)

// String returns "icmp", "tcp", "http", "tls", "dns" or "push".
func (k Kind) String() string {
	switch k {
	case KindICMP:
		return "icmp"
	case KindTCP:
		return "tcp"
	case KindHTTP:
		return "http"
	case KindTLS:
		return "tls"
	case KindDNS:
		return "dns"
	case KindPush:
		return "push"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Target is one thing to check, as a user added it (gosrvmon's syntax):
// "http://…" and "https://…" are HTTP checks, "host:port" and "[v6]:port"
// TCP checks, and a bare hostname, IPv4 or IPv6 address an ICMP check.
// srvmon adds "tls://host[:port]" (a TLS handshake),
// "dns://resolver[:port]/name?type=A" (a DNS query) and "push://name" (a
// monitor that reports in itself, never probed).
type Target struct {
	Kind Kind
	// Host is the hostname or IP address, IPv6 without brackets: for DNS
	// the resolver's; empty for push.
	Host string
	// Port is the TCP port (TLS: default 443; DNS: the resolver's, default
	// 53); for HTTP the URL's explicit port or 0; 0 for ICMP and push.
	Port int
	// URL is the parsed URL of an HTTP target, nil otherwise. Do not modify it.
	URL *url.URL
	// Name is the name a DNS target queries (as written, trailing dot or
	// not), or a push target's name; empty otherwise.
	Name string
	// RecordType is the record type a DNS target queries: "A", "AAAA",
	// "CNAME", "MX", "TXT", "NS", "SOA", "SRV" or "PTR" (Parse's default,
	// and the probe's for a Target made by hand, is "A"); empty otherwise.
	RecordType string
	// Settings are the monitor's check settings; nil means gosrvmon's
	// check. Parse leaves it nil.
	Settings *Settings

	raw string
}

// String returns the target exactly as it was given to Parse.
func (t Target) String() string {
	if t.raw != "" {
		return t.raw
	}
	switch t.Kind {
	case KindTCP:
		return net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	case KindHTTP:
		if t.URL != nil {
			return t.URL.String()
		}
	case KindTLS:
		return "tls://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	case KindDNS:
		s := "dns://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) + "/" + t.Name
		if t.RecordType != "" {
			s += "?type=" + t.RecordType
		}
		return s
	case KindPush:
		return "push://" + t.Name
	}
	return t.Host
}

// Parse reads a target in gosrvmon's syntax, more strictly than gosrvmon:
// it rejects what gosrvmon accepts by accident ("foo bar", "bad_host!",
// port 65536, a bare "http://"). Errors wrap ErrInvalidTarget and say what
// is wrong, without repeating the target.
func Parse(s string) (Target, error) {
	t, err := parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("%w: %w", ErrInvalidTarget, err)
	}
	t.raw = s
	return t, nil
}

func parse(s string) (Target, error) {
	if s == "" {
		return Target{}, errors.New("empty")
	}
	if len(s) > MaxTargetLen {
		return Target{}, fmt.Errorf("%d bytes long, the limit is %d", len(s), MaxTargetLen)
	}
	if !utf8.ValidString(s) {
		return Target{}, errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsSpace(r) {
			return Target{}, fmt.Errorf("contains white space (%U)", r)
		}
		if unicode.IsControl(r) {
			return Target{}, fmt.Errorf("contains a control character (%U)", r)
		}
		if r == utf8.RuneError {
			// What bytes that are not UTF-8 become when decoded (a JSON
			// body): a target holding it would be another target.
			return Target{}, errors.New("contains U+FFFD, the replacement character")
		}
		if !unicode.IsGraphic(r) {
			// Format characters such as the zero-width space: invisible,
			// so the target would not read as what it is.
			return Target{}, fmt.Errorf("contains an invisible character (%U)", r)
		}
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		switch strings.ToLower(scheme) {
		case "tls":
			return parseTLS(rest)
		case "dns":
			return parseDNS(rest)
		case "push":
			return parsePush(rest)
		}
		return parseURL(s)
	}
	if strings.HasPrefix(s, "[") {
		return parseBracketed(s)
	}
	switch strings.Count(s, ":") {
	case 0:
		if err := checkHost(s); err != nil {
			return Target{}, err
		}
		return Target{Kind: KindICMP, Host: s}, nil
	case 1:
		host, port, _ := strings.Cut(s, ":")
		if err := checkHost(host); err != nil {
			return Target{}, err
		}
		p, err := parsePort(port)
		if err != nil {
			return Target{}, err
		}
		return Target{Kind: KindTCP, Host: host, Port: p}, nil
	}
	if err := checkIPv6(s); err != nil {
		return Target{}, errors.New(`neither an IPv6 address nor host:port (write an IPv6 address with a port as "[v6]:port")`)
	}
	return Target{Kind: KindICMP, Host: s}, nil
}

// parseURL parses an HTTP(S) target.
func parseURL(s string) (Target, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Target{}, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Target{}, fmt.Errorf("URL scheme %q is not http, https, tls, dns or push", u.Scheme)
	}
	if u.Host == "" {
		return Target{}, errors.New("URL has no host")
	}
	if strings.HasSuffix(u.Host, ":") {
		return Target{}, errors.New("URL has an empty port")
	}
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		if err := checkIPv6(host); err != nil {
			return Target{}, err
		}
	} else if err := checkHost(host); err != nil {
		return Target{}, err
	}
	t := Target{Kind: KindHTTP, Host: host, URL: u}
	if p := u.Port(); p != "" {
		if t.Port, err = parsePort(p); err != nil {
			return Target{}, err
		}
	}
	return t, nil
}

// parseBracketed parses "[v6]:port", a TCP target.
func parseBracketed(s string) (Target, error) {
	host, rest, ok := strings.Cut(s[1:], "]")
	if !ok {
		return Target{}, errors.New(`"[" without "]"`)
	}
	if err := checkIPv6(host); err != nil {
		return Target{}, err
	}
	if i := strings.IndexAny(rest, "[]"); i >= 0 {
		return Target{}, fmt.Errorf(`unexpected %q after the bracketed IPv6 address: write "[v6]:port"`, rest[i:i+1])
	}
	port, ok := strings.CutPrefix(rest, ":")
	if !ok {
		return Target{}, errors.New(`a bracketed IPv6 address needs a port: "[v6]:port" is a TCP check, a bare "v6" address a ping`)
	}
	p, err := parsePort(port)
	if err != nil {
		return Target{}, err
	}
	return Target{Kind: KindTCP, Host: host, Port: p}, nil
}

// checkIPv6 accepts an IPv6 address, with an optional zone that names an
// interface (letters, digits, ".", "_" and "-") or is its index.
func checkIPv6(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return fmt.Errorf("%q is not an IPv6 address", s)
	}
	for _, c := range a.Zone() {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("IPv6 zone %q is not an interface name", a.Zone())
		}
	}
	return nil
}

// parsePort parses a decimal TCP port, 1 to 65535.
func parsePort(s string) (int, error) {
	if s == "" {
		return 0, errors.New("empty port")
	}
	if len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	p, _ := strconv.Atoi(s)
	if p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %d is out of range 1-65535", p)
	}
	return p, nil
}

// checkHost accepts an IPv4 address or a hostname as Go's resolver does
// (ASCII letters, digits, hyphens and underscores, as in "my_host.lan";
// labels of 1 to 63 characters that neither start nor end with a hyphen;
// at most 253 characters and one trailing dot). A name of digits and
// dots only is refused, as Go's resolver refuses it: resolvers read
// "127.1" or "0127.0.0.1" as addresses, netip does not.
func checkHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if a, err := netip.ParseAddr(h); err == nil && a.Is4() {
		return nil
	}
	name := strings.TrimSuffix(h, ".")
	if name == "" {
		return fmt.Errorf("host %q is not a hostname", h)
	}
	if len(name) > 253 {
		return fmt.Errorf("hostname is %d characters long, the limit is 253", len(name))
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return err
		}
	}
	if strings.Trim(name, "0123456789.") == "" {
		return fmt.Errorf("%q is not a valid IPv4 address, nor a hostname (it is all digits)", h)
	}
	return nil
}

// checkLabel checks one hostname label: RFC 1123's, with underscores.
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("hostname has an empty label")
	case len(l) > 63:
		return fmt.Errorf("hostname label %q is longer than 63 characters", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("hostname label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			continue
		}
		if c >= utf8.RuneSelf {
			return fmt.Errorf("hostname label %q is not ASCII: write an international name in its xn-- (punycode) form", l)
		}
		return fmt.Errorf("hostname label %q has %q: only letters, digits, hyphens and underscores are allowed", l, string(c))
	}
	return nil
}

// Default ports of the targets that have one.
const (
	DefaultTLSPort = 443
	DefaultDNSPort = 53
)

// MaxPushNameLen is the longest name of a push target, in bytes.
const MaxPushNameLen = 64

// dnsRecordTypes are the record types a dns:// target may query; read only.
var dnsRecordTypes = [...]string{"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV", "PTR"}

// parseTLS parses the rest of "tls://host[:port]".
func parseTLS(rest string) (Target, error) {
	if i := strings.IndexAny(rest, "/?#@"); i >= 0 {
		return Target{}, fmt.Errorf("unexpected %q: write tls://host[:port]", rest[i:i+1])
	}
	host, port, err := parseAuthority(rest, DefaultTLSPort)
	if err != nil {
		return Target{}, err
	}
	return Target{Kind: KindTLS, Host: host, Port: port}, nil
}

// parseDNS parses the rest of "dns://resolver[:port]/name?type=A".
func parseDNS(rest string) (Target, error) {
	authority, query, ok := strings.Cut(rest, "/")
	if !ok {
		return Target{}, errors.New("no name to query: write dns://resolver[:port]/name?type=A")
	}
	if i := strings.IndexAny(authority, "?#@"); i >= 0 {
		return Target{}, fmt.Errorf("unexpected %q in the resolver: write dns://resolver[:port]/name?type=A", authority[i:i+1])
	}
	host, port, err := parseAuthority(authority, DefaultDNSPort)
	if err != nil {
		return Target{}, err
	}
	name, params, hasParams := strings.Cut(query, "?")
	if err := checkDNSName(name); err != nil {
		return Target{}, err
	}
	rtype := "A"
	if hasParams {
		v, ok := strings.CutPrefix(params, "type=")
		if !ok {
			return Target{}, fmt.Errorf("query %q is not type=TYPE", params)
		}
		rtype = strings.ToUpper(v)
		if !slices.Contains(dnsRecordTypes[:], rtype) {
			return Target{}, fmt.Errorf("record type %q is not one of %s", v, strings.Join(dnsRecordTypes[:], ", "))
		}
	}
	return Target{Kind: KindDNS, Host: host, Port: port, Name: name, RecordType: rtype}, nil
}

// parsePush parses the rest of "push://name".
func parsePush(name string) (Target, error) {
	if name == "" {
		return Target{}, errors.New("push target has no name")
	}
	if len(name) > MaxPushNameLen {
		return Target{}, fmt.Errorf("push name is %d bytes long, the limit is %d", len(name), MaxPushNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return Target{}, fmt.Errorf("push name has %q: only letters, digits, '-', '_' and '.' are allowed", name[i:i+1])
		}
	}
	return Target{Kind: KindPush, Name: name}, nil
}

// parseAuthority parses "host", "host:port", "[v6]" or "[v6]:port", the
// resolver or server of a dns:// or tls:// target; the port defaults to
// def.
func parseAuthority(s string, def int) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("no host")
	}
	host, port, hasPort := s, "", false
	if strings.HasPrefix(s, "[") {
		h, rest, ok := strings.Cut(s[1:], "]")
		if !ok {
			return "", 0, errors.New(`"[" without "]"`)
		}
		if err := checkIPv6(h); err != nil {
			return "", 0, err
		}
		host = h
		if rest != "" {
			if port, hasPort = strings.CutPrefix(rest, ":"); !hasPort {
				return "", 0, fmt.Errorf("unexpected %q after the bracketed IPv6 address", rest[:1])
			}
		}
	} else {
		host, port, hasPort = strings.Cut(s, ":")
		if err := checkHost(host); err != nil {
			return "", 0, err
		}
	}
	if !hasPort {
		return host, def, nil
	}
	p, err := parsePort(port)
	if err != nil {
		return "", 0, err
	}
	return host, p, nil
}

// checkDNSName accepts a name to query: labels of letters, digits,
// hyphens and underscores (checkLabel's), at most 253 characters and one
// trailing dot. Unlike a hostname it may be all digits and dots.
func checkDNSName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return errors.New("empty name to query")
	}
	if len(n) > 253 {
		return fmt.Errorf("name to query is %d characters long, the limit is 253", len(n))
	}
	for l := range strings.SplitSeq(n, ".") {
		if err := checkLabel(l); err != nil {
			return fmt.Errorf("name to query: %w", err)
		}
	}
	return nil
}
