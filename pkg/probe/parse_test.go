package probe

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// parseValid are targets Parse accepts, with what they mean.
var parseValid = []struct {
	in   string
	kind Kind
	host string
	port int
}{
	{"host.test", KindICMP, "host.test", 0},
	{"localhost", KindICMP, "localhost", 0},
	{"localhost.", KindICMP, "localhost.", 0},
	{"a", KindICMP, "a", 0},
	{"1host.test", KindICMP, "1host.test", 0},
	{"xn--bcher-kva.test", KindICMP, "xn--bcher-kva.test", 0},
	{"HOST.Test", KindICMP, "HOST.Test", 0},
	// Underscores, as Go's resolver accepts them (gosrvmon did too).
	{"my_host.lan", KindICMP, "my_host.lan", 0},
	{"_sip._tcp.host.test", KindICMP, "_sip._tcp.host.test", 0},
	{"host.123", KindICMP, "host.123", 0}, // Go's resolver accepts a numeric last label
	{"my_host.lan:22", KindTCP, "my_host.lan", 22},
	{"http://my_host.lan/", KindHTTP, "my_host.lan", 0},
	{"127.0.0.1", KindICMP, "127.0.0.1", 0},
	{"::1", KindICMP, "::1", 0},
	{"0:0:0:0:0:0:0:1", KindICMP, "0:0:0:0:0:0:0:1", 0},
	{"fe80::1%lo", KindICMP, "fe80::1%lo", 0},
	{"::ffff:127.0.0.1", KindICMP, "::ffff:127.0.0.1", 0},
	{"[fe80::1%eth0]:22", KindTCP, "fe80::1%eth0", 22},
	{"http://[fe80::1%25eth0]:8080/", KindHTTP, "fe80::1%eth0", 8080},
	{strings.Repeat("a", 63) + ".test", KindICMP, strings.Repeat("a", 63) + ".test", 0},
	{"host.test:80", KindTCP, "host.test", 80},
	{"127.0.0.1:1", KindTCP, "127.0.0.1", 1},
	{"127.0.0.1:65535", KindTCP, "127.0.0.1", 65535},
	{"localhost:08080", KindTCP, "localhost", 8080},
	{"[::1]:8080", KindTCP, "::1", 8080},
	{"[0:0:0:0:0:0:0:1]:80", KindTCP, "0:0:0:0:0:0:0:1", 80},
	{"http://host.test/", KindHTTP, "host.test", 0},
	{"http://host.test/bücher/€", KindHTTP, "host.test", 0},
	{"http://host.test", KindHTTP, "host.test", 0},
	{"https://host.test:8443/path?q=1#top", KindHTTP, "host.test", 8443},
	{"http://127.0.0.1:8080/health", KindHTTP, "127.0.0.1", 8080},
	{"http://[::1]:8080/", KindHTTP, "::1", 8080},
	{"http://[0:0:0:0:0:0:0:1]", KindHTTP, "0:0:0:0:0:0:0:1", 0},
	{"https://user:pass@127.0.0.1/", KindHTTP, "127.0.0.1", 0},
	{"HTTP://EXAMPLE.ORG/", KindHTTP, "EXAMPLE.ORG", 0},
	{"http://host.test/" + strings.Repeat("p", MaxTargetLen-len("http://host.test/")), KindHTTP, "host.test", 0},
}

// parseValidKinds are tls://, dns:// and push:// targets Parse accepts,
// with what they mean.
var parseValidKinds = []struct {
	in         string
	kind       Kind
	host       string
	port       int
	name, rtyp string
}{
	{"tls://host.test", KindTLS, "host.test", 443, "", ""},
	{"tls://host.test:8443", KindTLS, "host.test", 8443, "", ""},
	{"TLS://127.0.0.1:443", KindTLS, "127.0.0.1", 443, "", ""},
	{"tls://[::1]", KindTLS, "::1", 443, "", ""},
	{"tls://[::1]:853", KindTLS, "::1", 853, "", ""},
	{"dns://127.0.0.1/host.test", KindDNS, "127.0.0.1", 53, "host.test", "A"},
	{"dns://127.0.0.1:5353/host.test.?type=aaaa", KindDNS, "127.0.0.1", 5353, "host.test.", "AAAA"},
	{"dns://[::1]/host.test?type=MX", KindDNS, "::1", 53, "host.test", "MX"},
	{"dns://resolver.test:53/_sip._tcp.host.test?type=SRV", KindDNS, "resolver.test", 53, "_sip._tcp.host.test", "SRV"},
	{"dns://127.0.0.1/1.0.0.127.in-addr.arpa?type=PTR", KindDNS, "127.0.0.1", 53, "1.0.0.127.in-addr.arpa", "PTR"},
	{"dns://127.0.0.1/host.test?type=CNAME", KindDNS, "127.0.0.1", 53, "host.test", "CNAME"},
	{"dns://127.0.0.1/host.test?type=TXT", KindDNS, "127.0.0.1", 53, "host.test", "TXT"},
	{"dns://127.0.0.1/test?type=NS", KindDNS, "127.0.0.1", 53, "test", "NS"},
	{"dns://127.0.0.1/test?type=SOA", KindDNS, "127.0.0.1", 53, "test", "SOA"},
	{"dns://127.0.0.1/1.2.3.4", KindDNS, "127.0.0.1", 53, "1.2.3.4", "A"},
	{"push://backup-job", KindPush, "", 0, "backup-job", ""},
	{"push://a", KindPush, "", 0, "a", ""},
	{"push://Nightly_Backup.db-1", KindPush, "", 0, "Nightly_Backup.db-1", ""},
	{"push://" + strings.Repeat("p", 64), KindPush, "", 0, strings.Repeat("p", 64), ""},
	{"push://123", KindPush, "", 0, "123", ""},
}

// parseInvalid are targets Parse rejects, with a word of the reason.
var parseInvalid = []struct {
	in   string
	want string
}{
	{"", "empty"},
	{"foo bar", "white space"},
	{" host.test", "white space"},
	{"host.test\t", "white space"},
	{"host.test\n", "white space"},
	{"host\u200b.test", "invisible character (U+200B)"},
	{"http://host.test/\u2060", "invisible character (U+2060)"},
	{"\ufeffhost.test", "invisible character (U+FEFF)"},
	{"host\u00a0test", "white space"},
	{"ho\x00st.test", "control character"},
	{"ho\x7fst.test", "control character"},
	{"http://host.test/\x1b", "control character"},
	{"\xff", "UTF-8"},
	{strings.Repeat("a", MaxTargetLen+1), "257 bytes"},
	{"http://host.test/" + strings.Repeat("p", MaxTargetLen), "the limit is 256"},
	{"bad_host!", `"!"`},
	{"http://host.test/\ufffd", "U+FFFD"},
	{"host!", `"!"`},
	{"bücher.test", "punycode"},
	{"-host.test", "hyphen"},
	{"host-.test", "hyphen"},
	{"host..name.test", "empty label"},
	{".host.test", "empty label"},
	{".", "not a hostname"},
	{strings.Repeat("a", 64) + ".test", "longer than 63"},
	{strings.Repeat(strings.Repeat("a", 63)+".", 4), "the limit is 253"},
	{"256.0.0.1", "not a valid IPv4"},
	{"127.1", "not a valid IPv4"},
	{"0127.0.0.1", "not a valid IPv4"},
	{"127.0.0.1.5", "not a valid IPv4"},
	{"host.test:0", "out of range"},
	{"host.test:65536", "out of range"},
	{"host.test:99999", "out of range"},
	{"host.test:123456", "not a number"},
	{"host.test:", "empty port"},
	{":80", "empty host"},
	{"host.test:http", "not a number"},
	{"host.test:-1", "not a number"},
	{"host.test:+80", "not a number"},
	{"bad host:80", "white space"},
	{"a:b:c", "neither an IPv6 address nor host:port"},
	{"::1::", "neither an IPv6 address nor host:port"},
	{"host.test:80:90", "neither an IPv6 address nor host:port"},
	{"[::1]", "needs a port"},
	{"[::1]80", "needs a port"},
	{"[::1]]:80", `unexpected "]" after the bracketed IPv6 address`},
	{"[::1][::2]:80", `unexpected "[" after the bracketed IPv6 address`},
	{"[::1]:80]", `unexpected "]" after the bracketed IPv6 address`},
	{"[::1]:", "empty port"},
	{"[::1]:0", "out of range"},
	{"[::1]:65536", "out of range"},
	{"[::1:80", `without "]"`},
	{"[127.0.0.1]:80", "not an IPv6 address"},
	{"[host.test]:80", "not an IPv6 address"},
	{"::%]", "neither an IPv6 address nor host:port"},
	{"[fe80::1%eth0/]:80", "zone"},
	{"http://[fe80::1%25a!b]/", "zone"},
	{"http://", "no host"},
	{"https://", "no host"},
	{"http:///path", "no host"},
	{"http://:80/", "empty host"},
	{"ftp://host.test/", "not http, https, tls, dns or push"},
	{"://host.test", "not a URL"},
	{"http://host.test:0/", "out of range"},
	{"http://host.test:65536/", "out of range"},
	{"http://host.test:/", "empty port"},
	{"http://host.test:x/", "not a URL"},
	{"http://[::1/", "not a URL"},
	{"http://[127.0.0.1]/", "invalid IP-literal"},
	{"http://256.0.0.1/", "not a valid IPv4"},
	{"tls://", "no host"},
	{"tls://host.test/", `unexpected "/"`},
	{"tls://host.test?x", `unexpected "?"`},
	{"tls://user@host.test", `unexpected "@"`},
	{"tls://host.test:0", "out of range"},
	{"tls://host.test:", "empty port"},
	{"tls://::1", "empty host"},
	{"tls://[::1", `without "]"`},
	{"tls://[::1]x", `unexpected "x"`},
	{"tls://[127.0.0.1]", "not an IPv6 address"},
	{"tls://bad!host", `"!"`},
	{"tls://127.1", "not a valid IPv4"},
	{"dns://127.0.0.1", "no name to query"},
	{"dns://127.0.0.1/", "empty name to query"},
	{"dns:///host.test", "no host"},
	{"dns://127.0.0.1/.", "empty name to query"},
	{"dns://127.0.0.1/a..b", "empty label"},
	{"dns://127.0.0.1/a/b", `"/"`},
	{"dns://127.0.0.1/host.test?type=ANY", `record type "ANY" is not one of A, AAAA`},
	{"dns://127.0.0.1/host.test?type=", `record type "" is not one of`},
	{"dns://127.0.0.1/host.test?", "is not type=TYPE"},
	{"dns://127.0.0.1/host.test?class=IN", `query "class=IN" is not type=TYPE`},
	{"dns://127.0.0.1/host.test?type=A&type=MX", "is not one of"},
	{"dns://127.0.0.1/host.test#x", `"#"`},
	{"dns://127.0.0.1:99999/host.test", "out of range"},
	{"dns://u@127.0.0.1/host.test", `unexpected "@" in the resolver`},
	{"dns://127.0.0.1/" + strings.Repeat("a", 64), "longer than 63"},
	{"push://", "push target has no name"},
	{"push://" + strings.Repeat("p", 65), "65 bytes long, the limit is 64"},
	{"push://a/b", `"/"`},
	{"push://a:b", `":"`},
	{"push://a%20b", `"%"`},
	{"ssh://host.test", "not http, https, tls, dns or push"},
}

func TestParseValid(t *testing.T) {
	for _, tc := range parseValid {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got.Kind != tc.kind || got.Host != tc.host || got.Port != tc.port {
				t.Errorf("Parse(%q) = kind %v host %q port %d, want %v %q %d", tc.in, got.Kind, got.Host, got.Port, tc.kind, tc.host, tc.port)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
			if (got.URL != nil) != (tc.kind == KindHTTP) {
				t.Errorf("URL = %v for kind %v", got.URL, got.Kind)
			}
		})
	}
}

// IsPush agrees with Parse's kind, reading the scheme alone.
func TestIsPush(t *testing.T) {
	for _, target := range []string{"push://job", "PUSH://job", "Push://nightly-backup", "push://", "http://push/",
		"pushy://x", "127.0.0.1:22", "localhost", "tls://127.0.0.1", "push:job"} {
		tg, err := Parse(target)
		parsed := err == nil && tg.Kind == KindPush
		if got := IsPush(target); got != parsed && err == nil {
			t.Errorf("IsPush(%q) = %v, Parse says kind %v", target, got, tg.Kind)
		}
	}
	if !IsPush("push://job") || IsPush("http://127.0.0.1/push://") {
		t.Error("IsPush reads more than the scheme")
	}
}

func TestParseValidKinds(t *testing.T) {
	for _, tc := range parseValidKinds {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got.Kind != tc.kind || got.Host != tc.host || got.Port != tc.port || got.Name != tc.name || got.RecordType != tc.rtyp {
				t.Errorf("Parse(%q) = kind %v host %q port %d name %q type %q, want %v %q %d %q %q",
					tc.in, got.Kind, got.Host, got.Port, got.Name, got.RecordType, tc.kind, tc.host, tc.port, tc.name, tc.rtyp)
			}
			if got.String() != tc.in || got.URL != nil || got.Settings != nil {
				t.Errorf("String() = %q URL %v Settings %v, want %q, nil, nil", got.String(), got.URL, got.Settings, tc.in)
			}
			// A Target made by hand has a String that Parse reads back
			// as the same target.
			got.raw = ""
			back, err := Parse(got.String())
			if err != nil || back.Kind != got.Kind || back.Host != got.Host || back.Port != got.Port || back.Name != got.Name || back.RecordType != got.RecordType {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", got.String(), back, err, got)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range parseInvalid {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tc.in, got)
			}
			if !errors.Is(err, ErrInvalidTarget) {
				t.Errorf("error %v does not wrap ErrInvalidTarget", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) error %q does not say %q", tc.in, err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if got != (Target{}) {
				t.Errorf("Parse returned %+v with its error", got)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindICMP: "icmp", KindTCP: "tcp", KindHTTP: "http", KindTLS: "tls", KindDNS: "dns", KindPush: "push", 0: "Kind(0)", 7: "Kind(7)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

// TestTargetStringZeroRaw: a Target built by hand, not by Parse, still has
// a String that Parse reads back as the same target.
func TestTargetStringZeroRaw(t *testing.T) {
	for _, tc := range []Target{
		{Kind: KindICMP, Host: "::1"},
		{Kind: KindTCP, Host: "::1", Port: 80},
		{Kind: KindTCP, Host: "host.test", Port: 443},
	} {
		back, err := Parse(tc.String())
		if err != nil || back.Kind != tc.Kind || back.Host != tc.Host || back.Port != tc.Port {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.String(), back, err, tc)
		}
	}
}

// FuzzParse checks that Parse never panics and that what it accepts is a
// target every probe can use, given back exactly by String. The seeds (the
// tables above) run as part of go test.
func FuzzParse(f *testing.F) {
	for _, tc := range parseValid {
		f.Add(tc.in)
	}
	for _, tc := range parseInvalid {
		f.Add(tc.in)
	}
	for _, tc := range parseValidKinds {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTarget) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Parse(%q): bad error %q", s, err)
			}
			return
		}
		if got.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, got.String())
		}
		if len(s) > MaxTargetLen || !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || !unicode.IsGraphic(r)
		}) >= 0 {
			t.Fatalf("Parse accepted %q", s)
		}
		if got.Settings != nil {
			t.Fatalf("Parse(%q): settings %+v", s, got.Settings)
		}
		if got.Kind == KindPush {
			if got.Host != "" || got.Port != 0 || got.URL != nil || got.RecordType != "" || !strings.EqualFold(s, "push://"+got.Name) {
				t.Fatalf("Parse(%q): push %+v", s, got)
			}
			if got.Name == "" || len(got.Name) > MaxPushNameLen || strings.Trim(got.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
				t.Fatalf("Parse(%q): push name %q", s, got.Name)
			}
			return
		}
		if got.Host == "" || strings.ContainsAny(got.Host, "[]/ ") {
			t.Fatalf("Parse(%q): host %q", s, got.Host)
		}
		if (got.Name != "" || got.RecordType != "") != (got.Kind == KindDNS) {
			t.Fatalf("Parse(%q): kind %v with name %q type %q", s, got.Kind, got.Name, got.RecordType)
		}
		if _, err := netip.ParseAddr(got.Host); err != nil {
			if err := checkHost(got.Host); err != nil {
				t.Fatalf("Parse(%q): host %q is neither an address nor a hostname: %v", s, got.Host, err)
			}
		}
		switch got.Kind {
		case KindICMP:
			if got.Port != 0 || got.URL != nil {
				t.Fatalf("Parse(%q): ICMP with port %d URL %v", s, got.Port, got.URL)
			}
		case KindTCP:
			if got.Port < 1 || got.Port > 65535 || got.URL != nil {
				t.Fatalf("Parse(%q): TCP with port %d URL %v", s, got.Port, got.URL)
			}
		case KindHTTP:
			if got.URL == nil || got.URL.Scheme != "http" && got.URL.Scheme != "https" || got.URL.Hostname() != got.Host {
				t.Fatalf("Parse(%q): HTTP with URL %v", s, got.URL)
			}
			if got.Port < 0 || got.Port > 65535 {
				t.Fatalf("Parse(%q): HTTP with port %d", s, got.Port)
			}
		case KindTLS:
			if got.Port < 1 || got.Port > 65535 || got.URL != nil {
				t.Fatalf("Parse(%q): TLS with port %d URL %v", s, got.Port, got.URL)
			}
		case KindDNS:
			if got.Port < 1 || got.Port > 65535 || got.URL != nil || !slices.Contains(dnsRecordTypes[:], got.RecordType) {
				t.Fatalf("Parse(%q): DNS with port %d URL %v type %q", s, got.Port, got.URL, got.RecordType)
			}
			if err := checkDNSName(got.Name); err != nil {
				t.Fatalf("Parse(%q): DNS name %q: %v", s, got.Name, err)
			}
		default:
			t.Fatalf("Parse(%q): kind %v", s, got.Kind)
		}
		again, err := Parse(got.String())
		if err != nil || again.Kind != got.Kind || again.Host != got.Host || again.Port != got.Port || again.Name != got.Name || again.RecordType != got.RecordType {
			t.Fatalf("Parse(String()) of %q = %+v, %v; want %+v", s, again, err, got)
		}
	})
}
