package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testDNSServer is a DNS server on 127.0.0.1, UDP and TCP on one random
// port, answering from its own small zone.
type testDNSServer struct {
	addr         string // 127.0.0.1:port
	udpQ, tcpQ   atomic.Int32
	bigAnswerLen int
}

// startDNSServer starts a testDNSServer; it stops when the test ends.
func startDNSServer(t testing.TB) *testDNSServer {
	t.Helper()
	s := &testDNSServer{bigAnswerLen: 60}
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 { // the UDP port may be taken for TCP: try another
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp4", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	s.addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: s}, {Listener: ln, Handler: s}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return s
}

// ServeDNS answers from the zone: *.test names and one PTR; nx.test is
// NXDOMAIN, fail.test SERVFAIL, silent.test never answered, big.test
// too big for UDP (truncated there, whole over TCP).
func (s *testDNSServer) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	udp := w.LocalAddr().Network() == "udp"
	if udp {
		s.udpQ.Add(1)
	} else {
		s.tcpQ.Add(1)
	}
	m := new(dns.Msg)
	m.SetReply(q)
	name, qtype := q.Question[0].Name, q.Question[0].Qtype
	rr := func(text string) {
		r, err := dns.NewRR(name + " 60 IN " + text)
		if err != nil {
			panic(err)
		}
		if r.Header().Rrtype == qtype || r.Header().Rrtype == dns.TypeCNAME {
			m.Answer = append(m.Answer, r)
		}
	}
	switch name {
	case "a.test.":
		rr("A 127.0.0.1")
		rr("A 127.0.0.2")
	case "v6.test.":
		rr("AAAA ::1")
	case "alias.test.":
		rr("CNAME a.test.")
	case "mail.test.":
		rr("MX 10 mx1.test.")
		rr("MX 20 mx2.test.")
	case "txt.test.":
		rr(`TXT "v=spf1 " "-all"`)
	case "test.":
		rr("NS ns1.test.")
		rr("SOA ns1.test. admin.test. 2026120701 7200 3600 1209600 300")
	case "_sip._tcp.test.":
		rr("SRV 10 5 5060 sip.test.")
	case "1.0.0.127.in-addr.arpa.":
		rr("PTR localhost.")
	case "empty.test.":
	case "big.test.":
		if udp {
			m.Truncated = true
			break
		}
		for i := range s.bigAnswerLen {
			rr(fmt.Sprintf("A 10.0.%d.%d", i/250, 1+i%250))
		}
	case "fail.test.":
		m.Rcode = dns.RcodeServerFailure
	case "silent.test.":
		return
	case "slow.test.":
		time.Sleep(2100 * time.Millisecond) // longer than miekg/dns's default timeout of 2s
		rr("A 127.0.0.1")
	default:
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

// TestDNSAnswers: every record type's answers as the text [BODY] sees.
func TestDNSAnswers(t *testing.T) {
	s := startDNSServer(t)
	p := newTestProber(t, Options{Timeout: 300 * time.Millisecond}, nil)
	var big []string
	for i := range s.bigAnswerLen {
		big = append(big, fmt.Sprintf("10.0.%d.%d", i/250, 1+i%250))
	}
	for _, tc := range []struct {
		name, rtype string
		rcode       string
		body        string
	}{
		{"a.test", "A", "NOERROR", "127.0.0.1\n127.0.0.2"},
		{"a.test.", "A", "NOERROR", "127.0.0.1\n127.0.0.2"},
		{"v6.test", "AAAA", "NOERROR", "::1"},
		{"alias.test", "CNAME", "NOERROR", "a.test."},
		{"alias.test", "A", "NOERROR", "a.test."}, // the CNAME, as a resolver without the target's records answers
		{"mail.test", "MX", "NOERROR", "10 mx1.test.\n20 mx2.test."},
		{"txt.test", "TXT", "NOERROR", "v=spf1 -all"},
		{"test", "NS", "NOERROR", "ns1.test."},
		{"test", "SOA", "NOERROR", "ns1.test. admin.test. 2026120701 7200 3600 1209600 300"},
		{"_sip._tcp.test", "SRV", "NOERROR", "10 5 5060 sip.test."},
		{"1.0.0.127.in-addr.arpa", "PTR", "NOERROR", "localhost."},
		{"empty.test", "A", "NOERROR", ""},
		{"big.test", "A", "NOERROR", strings.Join(big, "\n")},
		{"nx.test", "A", "NXDOMAIN", ""},
		{"fail.test", "A", "SERVFAIL", ""},
	} {
		t.Run(tc.name+"/"+tc.rtype, func(t *testing.T) {
			tg := withSettings(t, "dns://"+s.addr+"/"+tc.name+"?type="+tc.rtype, Settings{}, "[DNS_RCODE] == "+tc.rcode)
			o := p.probeDNS(context.Background(), tg)
			if o.err != nil || o.resp == nil {
				t.Fatalf("probeDNS: %v, response %v", o.err, o.resp)
			}
			if !o.resp.Connected || o.resp.DNSRcode != tc.rcode || string(o.resp.Body) != tc.body || o.resp.ResponseTime <= 0 || o.rtt != o.resp.ResponseTime {
				t.Errorf("response connected=%v rcode %q rtt %v body\n%s\nwant rcode %q body\n%s", o.resp.Connected, o.resp.DNSRcode, o.resp.ResponseTime, o.resp.Body, tc.rcode, tc.body)
			}
			checkResult(t, p.Check(context.Background(), tg), true, "")
		})
	}
}

// TestDNSSlowAnswer: an answer within the Timeout counts, however slow.
func TestDNSSlowAnswer(t *testing.T) {
	s := startDNSServer(t)
	p := newTestProber(t, Options{Timeout: 5 * time.Second}, nil)
	checkResult(t, p.Check(context.Background(), mustParse(t, "dns://"+s.addr+"/slow.test")), true, "")
}

// TestDNSTargetByHand: a Target made without Parse, and without a record
// type, queries A records.
func TestDNSTargetByHand(t *testing.T) {
	s := startDNSServer(t)
	host, port, _ := net.SplitHostPort(s.addr)
	portNum, _ := strconv.Atoi(port)
	tg := Target{Kind: KindDNS, Host: host, Port: portNum, Name: "a.test"}
	if tg.String() != "dns://"+s.addr+"/a.test" {
		t.Errorf("String() = %q", tg.String())
	}
	tg.Settings = withSettings(t, "dns://"+s.addr+"/a.test", Settings{}, "[BODY] == pat(127.0.0.1*)").Settings
	checkResult(t, newTestProber(t, Options{}, nil).Check(context.Background(), tg), true, "")
}

// TestDNSCheck: up and down, with conditions and without; truncated UDP
// answers asked again over TCP; a resolver by name.
func TestDNSCheck(t *testing.T) {
	s := startDNSServer(t)
	_, port, _ := net.SplitHostPort(s.addr)
	zone := map[string][]netip.Addr{"resolver.test": {netip.MustParseAddr("127.0.0.1")}}
	p := newTestProber(t, Options{Timeout: 300 * time.Millisecond}, zone)
	for _, tc := range []struct {
		name       string
		query      string
		conds      []string
		up         bool
		reason     string
		failedCond string
	}{
		{name: "A", query: "a.test", up: true},
		{name: "A by resolver name", query: "a.test", up: true},
		{name: "empty answer", query: "empty.test", up: true},
		{name: "NXDOMAIN", query: "nx.test", reason: "DNS NXDOMAIN"},
		{name: "SERVFAIL", query: "fail.test?type=MX", reason: "DNS SERVFAIL"},
		{name: "silence", query: "silent.test", reason: "timeout after 300ms"},
		{name: "truncated, then TCP", query: "big.test", up: true},
		{name: "NXDOMAIN wanted", query: "nx.test", conds: []string{"[DNS_RCODE] == NXDOMAIN"}, up: true},
		{name: "NOERROR wanted", query: "nx.test", conds: []string{"[DNS_RCODE] == NOERROR"}, failedCond: "[DNS_RCODE] == NOERROR"},
		{name: "answer", query: "a.test", conds: []string{"[DNS_RCODE] == NOERROR", "[BODY] == pat(*127.0.0.2*)", "[RESPONSE_TIME] < 300"}, up: true},
		{name: "wrong answer", query: "v6.test?type=AAAA", conds: []string{"[BODY] == ::2"}, failedCond: "[BODY] == ::2"},
		{name: "MX answer", query: "mail.test?type=MX", conds: []string{"[BODY] == pat(*20 mx2.test.*)"}, up: true},
		{name: "TCP answer", query: "big.test", conds: []string{"[BODY] == pat(*10.0.0.60*)"}, up: true},
		{name: "silence, connected wanted", query: "silent.test", conds: []string{"[CONNECTED] == true"}, reason: "timeout after 300ms"},
		{name: "silence, not connected wanted", query: "silent.test", conds: []string{"[CONNECTED] == false"}, up: true},
		{name: "answered", query: "fail.test", conds: []string{"[CONNECTED] == true"}, up: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server := s.addr
			if strings.Contains(tc.name, "resolver name") {
				server = "resolver.test:" + port
			}
			udp, tcp := s.udpQ.Load(), s.tcpQ.Load()
			r := p.Check(context.Background(), withSettings(t, "dns://"+server+"/"+tc.query, Settings{}, tc.conds...))
			checkReason(t, r, tc.up, tc.reason, tc.failedCond)
			wantTCP := int32(0)
			if strings.HasPrefix(tc.query, "big.test") {
				wantTCP = 1
			}
			if s.udpQ.Load()-udp != 1 || s.tcpQ.Load()-tcp != wantTCP {
				t.Errorf("%d UDP and %d TCP queries, want 1 and %d", s.udpQ.Load()-udp, s.tcpQ.Load()-tcp, wantTCP)
			}
		})
	}
}
