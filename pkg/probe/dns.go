package probe

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/srvmon/srvmon/pkg/probe/condition"
)

// rcodeError is a DNS answer's rcode other than NOERROR.
type rcodeError int

func (e rcodeError) Error() string { return "DNS " + rcodeName(int(e)) }

// rcodeName names a DNS rcode as miekg/dns does ("NXDOMAIN"), or gives
// its number.
func rcodeName(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rcode)
}

// probeDNS asks the resolver t.Host:t.Port for t.Name's t.RecordType
// records, over UDP, and over TCP again when the UDP answer is truncated.
// The rtt is the whole exchange. Without conditions, up is rcode
// NOERROR; anything else is an rcodeError. With conditions, the answer is
// the response: [DNS_RCODE], [BODY] (the answers' data, one per line),
// [CONNECTED] and [RESPONSE_TIME].
func (p *Prober) probeDNS(ctx context.Context, t Target) outcome {
	rtype, ok := dns.StringToType[t.RecordType]
	if !ok {
		rtype = dns.TypeA // a Target made by hand, without a type
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(t.Name), rtype)
	server := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	start := time.Now()
	answer, _, err := p.dnsUDP.ExchangeContext(ctx, q, server)
	if err == nil && answer.Truncated {
		answer, _, err = p.dnsTCP.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return outcome{err: err}
	}
	o := outcome{rtt: time.Since(start)}
	if len(t.conditions()) == 0 {
		if answer.Rcode != dns.RcodeSuccess {
			o.err = rcodeError(answer.Rcode)
		}
		return o
	}
	o.resp = &condition.Response{
		Connected:    true,
		ResponseTime: o.rtt,
		DNSRcode:     rcodeName(answer.Rcode),
		Body:         []byte(answerText(answer.Answer)),
	}
	return o
}

// answerText is the data of answers as text, one per line: an A or AAAA
// record's address; a CNAME, NS or PTR record's target name; an MX
// record's "preference exchange" ("10 mail.example."); a TXT record's
// strings joined; any other record's data as miekg/dns prints it, without
// the header (SOA: "ns. admin. 1 7200 3600 1209600 300").
func answerText(answers []dns.RR) string {
	var b strings.Builder
	for i, rr := range answers {
		if i > 0 {
			b.WriteByte('\n')
		}
		switch rr := rr.(type) {
		case *dns.A:
			b.WriteString(rr.A.String())
		case *dns.AAAA:
			b.WriteString(rr.AAAA.String())
		case *dns.CNAME:
			b.WriteString(rr.Target)
		case *dns.NS:
			b.WriteString(rr.Ns)
		case *dns.PTR:
			b.WriteString(rr.Ptr)
		case *dns.MX:
			b.WriteString(strconv.Itoa(int(rr.Preference)) + " " + rr.Mx)
		case *dns.TXT:
			b.WriteString(strings.Join(rr.Txt, ""))
		default:
			b.WriteString(strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
	}
	return b.String()
}
