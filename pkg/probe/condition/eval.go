package condition

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Response is what one check learnt; conditions are evaluated against it.
type Response struct {
	Connected     bool          // a connection was made (TCP/TLS/HTTP) or the DNS server answered
	Status        int           // HTTP status; 0 if none
	ResponseTime  time.Duration // how long the check took
	Header        http.Header   // HTTP response headers; nil if none
	Body          []byte        // HTTP: the body's first bytes (the probe reads at most a capped prefix); DNS: the answers as text, one per line
	BodyTruncated bool          // the body was longer than what was read
	IP            string        // the address connected to, no port
	CertExpiry    time.Time     // the leaf certificate's NotAfter; zero when no TLS
	DNSRcode      string        // "NOERROR", "NXDOMAIN", ... ; "" when not a DNS check
	Now           time.Time     // the time of the check: [CERTIFICATE_EXPIRATION] = CertExpiry - Now
}

// reasonValueMax is how many bytes of a value a failure reason shows.
const reasonValueMax = 100

type valueKind uint8

const (
	valNumber valueKind = iota + 1
	valDuration
	valBool
	valText
	valFail // the operand could not be resolved; fail says why
)

// value is an operand resolved against a Response, or a literal read at
// Parse. It lives on the stack: resolving and comparing allocate nothing
// on the common paths.
type value struct {
	kind    valueKind
	num     float64       // valNumber, and valText when numeric
	numeric bool          // valText: text is a decimal number
	dur     time.Duration // valDuration
	b       bool          // valBool
	text    string        // valText
	plain   bool          // valText: shown unquoted in reasons (JSON numbers, true, false, null)
	ip      netip.Addr    // literals compared with [IP]
	fail    string        // valFail
}

// asText returns v as the text pat() and re() match.
func (v value) asText() string {
	switch v.kind {
	case valText:
		return v.text
	case valNumber:
		return strconv.FormatFloat(v.num, 'f', -1, 64)
	case valBool:
		return strconv.FormatBool(v.b)
	case valDuration:
		return v.dur.String()
	}
	return ""
}

// show returns v as a failure reason shows it.
func (v value) show() string {
	switch v.kind {
	case valFail:
		return v.fail
	case valText:
		if v.plain {
			return cut(v.text, reasonValueMax)
		}
		return quoteCut(v.text, reasonValueMax)
	}
	return v.asText()
}

// cut returns s cut to at most max bytes on a character boundary, with
// "…" when cut.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func textValue(s string) value {
	v := value{kind: valText, text: s}
	v.num, v.numeric = parseNumber(s)
	return v
}

// literalValue is the value a literal stands for, given the kind of the
// left side.
func literalValue(lit literal, k kind) value {
	switch k {
	case kindNumber:
		return value{kind: valNumber, num: lit.num}
	case kindDuration:
		return value{kind: valDuration, dur: lit.dur}
	case kindBool:
		return value{kind: valBool, b: lit.b}
	}
	v := textValue(lit.text)
	v.ip = lit.ip
	return v
}

// Eval reports whether the condition holds for r. When it does not, reason
// is one line: the condition as written and the value its left side
// resolved to (or why it could not be resolved), such as
// `condition [STATUS] == 200 failed: 503`.
func (c *Condition) Eval(r *Response) (ok bool, reason string) {
	if r == nil {
		r = &Response{}
	}
	left := resolve(&c.left, r)
	if left.kind == valFail {
		return false, c.failed(left)
	}
	switch c.right {
	case rightLiteral:
		ok = compare(c.op, left, c.lits[0])
	case rightAny:
		found := false
		for i := range c.lits {
			if equal(left, c.lits[i]) {
				found = true
				break
			}
		}
		ok = found == (c.op == opEQ)
	case rightPat:
		ok = matchPattern(c.pattern, left.asText()) == (c.op == opEQ)
	case rightRe:
		ok = c.re.MatchString(left.asText()) == (c.op == opEQ)
	case rightOperand:
		right := resolve(&c.other, r)
		if right.kind == valFail {
			return false, c.failed(right)
		}
		ok = compare(c.op, left, right)
	}
	if ok {
		return true, ""
	}
	return false, c.failed(left)
}

func (c *Condition) failed(v value) string {
	return "condition " + c.text + " failed: " + v.show()
}

// EvalAll reports whether all conditions hold for r; reason is the first
// failing condition's.
func EvalAll(cs []*Condition, r *Response) (ok bool, reason string) {
	for _, c := range cs {
		if ok, reason := c.Eval(r); !ok {
			return false, reason
		}
	}
	return true, ""
}

// compare applies op to two resolved values. Values that cannot be
// compared (a text that is not a number with <) make it false.
func compare(op operator, l, r value) bool {
	switch op {
	case opEQ:
		return equal(l, r)
	case opNE:
		return !equal(l, r)
	}
	var d int
	switch {
	case l.kind == valDuration && r.kind == valDuration:
		d = cmpOrdered(l.dur, r.dur)
	case isNumber(l) && isNumber(r):
		d = cmpOrdered(l.num, r.num)
	default:
		return false
	}
	switch op {
	case opLT:
		return d < 0
	case opLE:
		return d <= 0
	case opGT:
		return d > 0
	}
	return d >= 0
}

func cmpOrdered[T int64 | float64 | time.Duration](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isNumber(v value) bool {
	return v.kind == valNumber || v.kind == valText && v.numeric
}

func equal(l, r value) bool {
	switch {
	case isNumber(l) && isNumber(r):
		return l.num == r.num
	case l.kind == valDuration && r.kind == valDuration:
		return l.dur == r.dur
	case l.kind == valBool && r.kind == valBool:
		return l.b == r.b
	case l.kind == valText && r.kind == valText:
		if l.text == r.text {
			return true
		}
		a, b := l.ip, r.ip
		if !a.IsValid() && !b.IsValid() {
			return false
		}
		if !a.IsValid() {
			a, _ = netip.ParseAddr(l.text)
		}
		if !b.IsValid() {
			b, _ = netip.ParseAddr(r.text)
		}
		return a.IsValid() && a.Unmap() == b.Unmap()
	}
	return l.asText() == r.asText()
}

// matchPattern reports whether s matches the pat() pattern split at its
// *s: the first part is a prefix, the last a suffix, and the others
// appear in order between them.
func matchPattern(parts []string, s string) bool {
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return true
}

// bodyText views the body as a string without copying it (a body may be
// a megabyte). The view is read-only and does not outlive Eval: reasons
// quote, and so copy, what they show.
func bodyText(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// resolve reads the operand o from r.
func resolve(o *operand, r *Response) value {
	switch o.ph {
	case phStatus:
		return value{kind: valNumber, num: float64(r.Status)}
	case phResponseTime:
		return value{kind: valDuration, dur: r.ResponseTime}
	case phCertExpiration:
		if r.CertExpiry.IsZero() {
			return value{kind: valFail, fail: "no certificate"}
		}
		return value{kind: valDuration, dur: r.CertExpiry.Sub(r.Now)}
	case phConnected:
		return value{kind: valBool, b: r.Connected}
	case phIP:
		return value{kind: valText, text: r.IP}
	case phDNSRcode:
		return value{kind: valText, text: r.DNSRcode}
	case phHeader:
		values := r.Header[o.header]
		if o.fn == fnHas {
			return value{kind: valBool, b: len(values) > 0}
		}
		switch len(values) {
		case 0:
			return value{kind: valFail, fail: o.text + " not found"}
		case 1:
			return textValue(values[0])
		}
		return textValue(strings.Join(values, ", "))
	}
	body := bodyText(r.Body)
	if o.path == "" {
		if o.fn == fnLen {
			return value{kind: valNumber, num: float64(len(body))}
		}
		return textValue(strings.TrimFunc(body, unicode.IsSpace))
	}
	res := gjson.Get(body, o.path)
	if !res.Exists() {
		if fail := notFound(o, r, body); fail != "" {
			return value{kind: valFail, fail: fail}
		}
		return value{kind: valBool, b: false} // has() of a missing path
	}
	switch o.fn {
	case fnHas:
		return value{kind: valBool, b: true}
	case fnLen:
		n := 0
		switch {
		case res.IsArray(), res.IsObject():
			res.ForEach(func(_, _ gjson.Result) bool { n++; return true })
		case res.Type == gjson.String:
			n = utf8.RuneCountInString(res.Str)
		default:
			n = len(res.Raw)
		}
		return value{kind: valNumber, num: float64(n)}
	}
	switch res.Type {
	case gjson.String:
		return textValue(res.Str)
	case gjson.Number:
		return value{kind: valText, text: res.Raw, num: res.Num, numeric: true, plain: true}
	case gjson.True, gjson.False, gjson.Null:
		return value{kind: valText, text: res.Raw, plain: true}
	}
	return value{kind: valText, text: res.Raw} // an object or an array
}

// notFound says why the JSON path of o is not in the body, or returns ""
// when has() may answer false: the body is JSON without that path.
func notFound(o *operand, r *Response, body string) string {
	if gjson.Valid(body) {
		if o.fn == fnHas {
			return ""
		}
		return o.text + " not found"
	}
	if trimmed := strings.TrimLeftFunc(body, unicode.IsSpace); r.BodyTruncated && (strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")) {
		return o.text + " not found in the first " + strconv.Itoa(len(body)) + " bytes of the body (the rest was not read)"
	}
	return "body is not JSON"
}
