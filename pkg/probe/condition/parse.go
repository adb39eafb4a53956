package condition

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// ErrSyntax is wrapped by every error Parse and Compile return.
var ErrSyntax = errors.New("condition syntax error")

// SyntaxError is a condition refused by Parse. Its message is one line:
// "position N: what was expected, and what was found".
type SyntaxError struct {
	Position int    // 1-based byte column in the condition as given
	Msg      string // what was expected there
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("position %d: %s", e.Position, e.Msg) }

// Unwrap returns ErrSyntax.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Uses is a set of the parts of a Response that conditions read, so that a
// probe fetches only what is needed (reads no body when no condition looks
// at it, for example).
type Uses uint8

// The parts of a Response a condition can read.
const (
	UsesBody         Uses = 1 << iota // Body, BodyTruncated
	UsesHeader                        // Header
	UsesCertificate                   // CertExpiry, Now
	UsesConnected                     // Connected
	UsesDNS                           // DNSRcode
	UsesIP                            // IP
	UsesStatus                        // Status
	UsesResponseTime                  // ResponseTime
)

// placeholder is what a left- or right-hand side operand reads.
type placeholder uint8

const (
	phStatus placeholder = iota + 1
	phResponseTime
	phCertExpiration
	phConnected
	phIP
	phDNSRcode
	phBody
	phHeader
)

var placeholderNames = []struct {
	name string
	ph   placeholder
}{
	{"[STATUS]", phStatus},
	{"[RESPONSE_TIME]", phResponseTime},
	{"[CERTIFICATE_EXPIRATION]", phCertExpiration},
	{"[CONNECTED]", phConnected},
	{"[IP]", phIP},
	{"[DNS_RCODE]", phDNSRcode},
	{"[BODY]", phBody},
	{"[HEADER]", phHeader},
}

// unsupported are Gatus placeholders srvmon knows but refuses, and why
// (a slice, as placeholderNames: a map literal is built at package init).
var unsupported = []struct{ name, why string }{
	{"[DOMAIN_EXPIRATION]", "it needs a WHOIS lookup"},
	{"[CONTEXT]", "it belongs to Gatus suites"},
}

const placeholderList = "[STATUS], [RESPONSE_TIME], [CERTIFICATE_EXPIRATION], [CONNECTED], [IP], [DNS_RCODE], [BODY] or [HEADER].Name"

// rcodes are the DNS response codes [DNS_RCODE] can be compared with.
var rcodes = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

// kind is the type of value an operand yields, which decides the literals
// and operators it accepts.
type kind uint8

const (
	kindNumber   kind = iota + 1 // [STATUS], len()
	kindDuration                 // [RESPONSE_TIME], [CERTIFICATE_EXPIRATION]
	kindBool                     // [CONNECTED], has()
	kindIP                       // [IP]
	kindRcode                    // [DNS_RCODE]
	kindDynamic                  // [BODY], JSON paths, headers: known only at Eval
)

type function uint8

const (
	fnNone function = iota
	fnLen
	fnHas
)

// operand is one side of a condition that reads the Response.
type operand struct {
	ph     placeholder
	fn     function // len() or has() around it; left side only
	path   string   // gjson path after [BODY]; "" for the whole body
	header string   // canonical header name for [HEADER]
	text   string   // as written, without len()/has(), for reasons
}

func (o operand) kind() kind {
	switch o.fn {
	case fnLen:
		return kindNumber
	case fnHas:
		return kindBool
	}
	switch o.ph {
	case phStatus:
		return kindNumber
	case phResponseTime, phCertExpiration:
		return kindDuration
	case phConnected:
		return kindBool
	case phIP:
		return kindIP
	case phDNSRcode:
		return kindRcode
	}
	return kindDynamic
}

func (o operand) uses() Uses {
	switch o.ph {
	case phStatus:
		return UsesStatus
	case phResponseTime:
		return UsesResponseTime
	case phCertExpiration:
		return UsesCertificate
	case phConnected:
		return UsesConnected
	case phIP:
		return UsesIP
	case phDNSRcode:
		return UsesDNS
	case phBody:
		return UsesBody
	case phHeader:
		return UsesHeader
	}
	return 0
}

type operator uint8

const (
	opEQ operator = iota + 1
	opNE
	opLT
	opLE
	opGT
	opGE
)

var operators = []struct {
	text string
	op   operator
}{
	// Two-byte operators first, so that "<=" is not read as "<".
	{"==", opEQ}, {"!=", opNE}, {"<=", opLE}, {">=", opGE}, {"<", opLT}, {">", opGT},
}

func (op operator) String() string {
	for _, o := range operators {
		if o.op == op {
			return o.text
		}
	}
	return "?"
}

func (op operator) ordering() bool { return op >= opLT }

// rightKind is what the right-hand side is.
type rightKind uint8

const (
	rightLiteral rightKind = iota + 1
	rightAny
	rightPat
	rightRe
	rightOperand
)

// literal is a right-hand value, read at Parse as what the left side
// yields.
type literal struct {
	text  string
	num   float64 // isNum
	isNum bool
	dur   time.Duration // kindDuration
	b     bool          // kindBool
	ip    netip.Addr    // kindIP
}

// Condition is a parsed condition. Make one with Parse or Compile; it is
// safe for concurrent use.
type Condition struct {
	text    string
	left    operand
	op      operator
	right   rightKind
	lits    []value        // rightLiteral: one; rightAny: several
	pattern []string       // rightPat: the text between the *s
	re      *regexp.Regexp // rightRe
	other   operand        // rightOperand
}

// String returns the condition as given, without surrounding white space.
func (c *Condition) String() string { return c.text }

// Uses returns the parts of a Response the condition reads.
func (c *Condition) Uses() Uses {
	u := c.left.uses()
	if c.right == rightOperand {
		u |= c.other.uses()
	}
	return u
}

// Compile parses every condition of a monitor. An error names the index
// of the first one refused: "conditions[2]: position 5: ...".
func Compile(conds []string) ([]*Condition, error) {
	if len(conds) == 0 {
		return nil, nil
	}
	cs := make([]*Condition, len(conds))
	for i, s := range conds {
		c, err := Parse(s)
		if err != nil {
			return nil, fmt.Errorf("conditions[%d]: %w", i, err)
		}
		cs[i] = c
	}
	return cs, nil
}

// parser reads one condition. pos is a byte offset in s; base is the
// offset of s in the condition as given (its leading white space).
type parser struct {
	s    string
	pos  int
	base int
}

func (p *parser) errorf(at int, format string, args ...any) error {
	return &SyntaxError{Position: p.base + at + 1, Msg: fmt.Sprintf(format, args...)}
}

// got describes what was found at position at, for error messages: the
// rest of the condition, quoted and shortened.
func (p *parser) got(at int) string {
	if at >= len(p.s) {
		return "end of condition"
	}
	return quoteCut(p.s[at:], 40)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.pos:])
		if !unicode.IsSpace(r) {
			return
		}
		p.pos += n
	}
}

// Parse parses one condition. It is strict: an error is one line that
// names the position and what was expected there, and wraps ErrSyntax
// (as a *SyntaxError).
func Parse(s string) (*Condition, error) {
	trimmed := strings.TrimLeftFunc(s, unicode.IsSpace)
	p := &parser{s: strings.TrimRightFunc(trimmed, unicode.IsSpace), base: len(s) - len(trimmed)}
	if p.s == "" {
		p.base = 0
		return nil, p.errorf(0, "expected a condition such as \"[STATUS] == 200\", got an empty one")
	}
	c := &Condition{text: p.s}
	left, err := p.leftSide()
	if err != nil {
		return nil, err
	}
	c.left = left
	p.skipSpace()
	opAt := p.pos
	for _, o := range operators {
		if strings.HasPrefix(p.s[p.pos:], o.text) {
			c.op = o.op
			p.pos += len(o.text)
			break
		}
	}
	if c.op == 0 {
		return nil, p.errorf(opAt, "expected an operator (==, !=, <, <=, >, >=) after %s, got %s", left.written(), p.got(opAt))
	}
	lk := left.kind()
	if c.op.ordering() && (lk == kindBool || lk == kindIP || lk == kindRcode) {
		return nil, p.errorf(opAt, "expected == or != after %s (it is not a number), got %q", left.written(), c.op.String())
	}
	p.skipSpace()
	if p.pos == len(p.s) {
		return nil, p.errorf(p.pos, "expected a value after %q, got end of condition", c.op.String())
	}
	if err := p.rightSide(c); err != nil {
		return nil, err
	}
	return c, nil
}

// written is the operand as written, len()/has() included.
func (o operand) written() string {
	switch o.fn {
	case fnLen:
		return "len(" + o.text + ")"
	case fnHas:
		return "has(" + o.text + ")"
	}
	return o.text
}

func (p *parser) leftSide() (operand, error) {
	start := p.pos
	fn := fnNone
	switch {
	case strings.HasPrefix(p.s, "len("):
		fn = fnLen
	case strings.HasPrefix(p.s, "has("):
		fn = fnHas
	case strings.HasPrefix(p.s, "pat("), strings.HasPrefix(p.s, "any("), strings.HasPrefix(p.s, "re("):
		name := p.s[:strings.IndexByte(p.s, '(')]
		return operand{}, p.errorf(0, "expected a placeholder on the left, got %s() (it goes on the right: [IP] == %s(...))", name, name)
	}
	if fn != fnNone {
		p.pos += len("len(")
		p.skipSpace()
	}
	inner := p.pos
	o, err := p.operand()
	if err != nil {
		return o, err
	}
	if fn == fnNone {
		return o, nil
	}
	name := p.s[start : start+3]
	if o.ph != phBody && !(fn == fnHas && o.ph == phHeader) {
		what := "a [BODY] path"
		if fn == fnHas {
			what = "a [BODY] path or a [HEADER].Name"
		}
		return o, p.errorf(inner, "expected %s inside %s(), got %q", what, name, o.text)
	}
	if fn == fnHas && o.ph == phBody && o.path == "" {
		return o, p.errorf(inner, "expected a [BODY] path inside has(), such as [BODY].errors, got %q", o.text)
	}
	p.skipSpace()
	if p.pos >= len(p.s) || p.s[p.pos] != ')' {
		return o, p.errorf(p.pos, "expected \")\" to close %s(, got %s", name, p.got(p.pos))
	}
	p.pos++
	o.fn = fn
	return o, nil
}

// operand reads a placeholder, with its path for [BODY] and name for
// [HEADER].
func (p *parser) operand() (operand, error) {
	start := p.pos
	rest := p.s[p.pos:]
	if !strings.HasPrefix(rest, "[") {
		return operand{}, p.errorf(start, "expected a placeholder (%s), got %s", placeholderList, p.got(start))
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return operand{}, p.errorf(start, "expected a placeholder (%s), got %s", placeholderList, p.got(start))
	}
	name := rest[:end+1]
	var o operand
	for _, pn := range placeholderNames {
		if pn.name == name {
			o.ph = pn.ph
		}
	}
	if o.ph == 0 {
		for _, u := range unsupported {
			if u.name == name {
				return o, p.errorf(start, "%s is not supported by srvmon (%s)", name, u.why)
			}
		}
		hint := ""
		for _, pn := range placeholderNames {
			if pn.name == strings.ToUpper(name) {
				hint = " (placeholders are upper case)"
			}
		}
		return o, p.errorf(start, "expected a placeholder (%s), got unknown %q%s", placeholderList, name, hint)
	}
	p.pos += len(name)
	switch o.ph {
	case phBody:
		if err := p.jsonPath(&o); err != nil {
			return o, err
		}
	case phHeader:
		if err := p.headerName(&o); err != nil {
			return o, err
		}
	}
	o.text = p.s[start:p.pos]
	return o, nil
}

// isKeyByte reports whether c can be in a JSON path key.
func isKeyByte(c byte) bool {
	switch c {
	case '.', '[', ']', '(', ')', '=', '!', '<', '>':
		return false
	}
	return c > ' ' && c != 0x7f
}

// jsonPath reads the steps after [BODY] and translates them into a gjson
// path: [n] becomes .n and each key is escaped.
func (p *parser) jsonPath(o *operand) error {
	var path strings.Builder
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case '.':
			p.pos++
			keyStart := p.pos
			for p.pos < len(p.s) {
				r, n := utf8.DecodeRuneInString(p.s[p.pos:])
				if r < utf8.RuneSelf && !isKeyByte(byte(r)) || unicode.IsSpace(r) {
					break
				}
				p.pos += n
			}
			if p.pos == keyStart {
				return p.errorf(keyStart, "expected a JSON key after \".\", got %s", p.got(keyStart))
			}
			if path.Len() > 0 {
				path.WriteByte('.')
			}
			path.WriteString(gjson.Escape(p.s[keyStart:p.pos]))
		case '[':
			p.pos++
			numStart := p.pos
			for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
				p.pos++
			}
			if p.pos == numStart {
				return p.errorf(numStart, "expected an array index such as [0], got %s", p.got(numStart))
			}
			if p.pos >= len(p.s) || p.s[p.pos] != ']' {
				return p.errorf(p.pos, "expected \"]\" after [%s, got %s", p.s[numStart:p.pos], p.got(p.pos))
			}
			if path.Len() > 0 {
				path.WriteByte('.')
			}
			path.WriteString(p.s[numStart:p.pos])
			p.pos++
		default:
			o.path = path.String()
			return nil
		}
	}
	o.path = path.String()
	return nil
}

func isHeaderByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func (p *parser) headerName(o *operand) error {
	if p.pos >= len(p.s) || p.s[p.pos] != '.' {
		return p.errorf(p.pos, "expected \".\" and a header name after [HEADER], such as [HEADER].Content-Type, got %s", p.got(p.pos))
	}
	p.pos++
	start := p.pos
	for p.pos < len(p.s) && isHeaderByte(p.s[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return p.errorf(start, "expected a header name (letters, digits, '-', '_') after [HEADER]., got %s", p.got(start))
	}
	o.header = http.CanonicalHeaderKey(p.s[start:p.pos])
	return nil
}

// startsWithPlaceholder reports whether s begins like a placeholder:
// upper-case letters and '_' in brackets.
func startsWithPlaceholder(s string) bool {
	if len(s) < 3 || s[0] != '[' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ']':
			return i > 1
		case c >= 'A' && c <= 'Z' || c == '_':
		default:
			return false
		}
	}
	return false
}

func (p *parser) rightSide(c *Condition) error {
	at := p.pos
	rest := p.s[p.pos:]
	fn := ""
	for _, name := range []string{"pat", "any", "re", "len", "has"} {
		if strings.HasPrefix(rest, name+"(") {
			fn = name
		}
	}
	switch fn {
	case "len", "has":
		return p.errorf(at, "expected a value after %q, got %s() (it goes on the left: %s([BODY].items) ...)", c.op.String(), fn, fn)
	case "":
		if startsWithPlaceholder(rest) {
			return p.rightOperand(c)
		}
		lit, err := p.literal(c, at, rest)
		if err != nil {
			return err
		}
		c.right = rightLiteral
		c.lits = []value{literalValue(lit, c.left.kind())}
		return nil
	}
	if c.op.ordering() {
		return p.errorf(at, "expected a number after %q (%s() needs == or !=), got %s", c.op.String(), fn, p.got(at))
	}
	if !strings.HasSuffix(rest, ")") {
		return p.errorf(len(p.s), "expected \")\" to close %s(, got end of condition", fn)
	}
	argAt := at + len(fn) + 1
	arg := rest[len(fn)+1 : len(rest)-1]
	lk := c.left.kind()
	if fn != "any" && (lk == kindBool || lk == kindDuration) {
		return p.errorf(at, "expected a value after %q, got %s() (%s is not text)", c.op.String(), fn, c.left.written())
	}
	switch fn {
	case "pat":
		if arg == "" {
			return p.errorf(argAt, "expected a pattern inside pat(), such as pat(*ok*), got an empty one")
		}
		c.right = rightPat
		c.pattern = strings.Split(arg, "*")
	case "re":
		if arg == "" {
			return p.errorf(argAt, "expected a regular expression inside re(), got an empty one")
		}
		re, err := regexp.Compile(arg)
		if err != nil {
			// regexp's message repeats the expression; keep its first line.
			msg, _, _ := strings.Cut(err.Error(), "\n")
			return p.errorf(argAt, "expected a Go regular expression inside re(): %s", msg)
		}
		c.right = rightRe
		c.re = re
	case "any":
		c.right = rightAny
		off := 0
		for item := range strings.SplitSeq(arg, ",") {
			itemAt := argAt + off
			off += len(item) + 1
			lead := len(item) - len(strings.TrimLeftFunc(item, unicode.IsSpace))
			item = strings.TrimSpace(item)
			if item == "" {
				return p.errorf(itemAt+lead, "expected a value in any(), got an empty one")
			}
			lit, err := p.literal(c, itemAt+lead, item)
			if err != nil {
				return err
			}
			c.lits = append(c.lits, literalValue(lit, c.left.kind()))
		}
	}
	return nil
}

func (p *parser) rightOperand(c *Condition) error {
	at := p.pos
	o, err := p.operand()
	if err != nil {
		return err
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return p.errorf(p.pos, "expected end of condition after %s, got %s", o.text, p.got(p.pos))
	}
	lk, rk := c.left.kind(), o.kind()
	ok := lk == rk ||
		lk == kindDynamic && rk != kindDuration && rk != kindBool ||
		rk == kindDynamic && lk != kindDuration && lk != kindBool
	if ok && c.op.ordering() {
		ok = rk == kindNumber || rk == kindDuration || rk == kindDynamic
	}
	if !ok {
		return p.errorf(at, "expected a value %s %s can be compared with, got %s", c.left.written(), c.op.String(), o.text)
	}
	c.right = rightOperand
	c.other = o
	return nil
}

// literal reads text (found at offset at) as a value the left side can
// yield.
func (p *parser) literal(c *Condition, at int, text string) (literal, error) {
	lit := literal{text: text}
	lit.num, lit.isNum = parseNumber(text)
	after := fmt.Sprintf("after %q", c.op.String())
	if c.right == rightAny {
		after = "in any()"
	}
	switch c.left.kind() {
	case kindNumber:
		if c.left.ph == phStatus && c.left.fn == fnNone {
			if !lit.isNum {
				return lit, p.errorf(at, "expected a number %s, got %s", after, quoteCut(text, 40))
			}
			if lit.num != math.Trunc(lit.num) || lit.num < 0 {
				return lit, p.errorf(at, "expected a status code (a whole number) %s, got %s", after, quoteCut(text, 40))
			}
		} else if !lit.isNum {
			return lit, p.errorf(at, "expected a number %s, got %s", after, quoteCut(text, 40))
		}
	case kindDuration:
		d, ok := parseDuration(text)
		if !ok {
			return lit, p.errorf(at, "expected a duration (300 meaning ms, 300ms, 1.5s, 48h, 7d) %s, got %s", after, quoteCut(text, 40))
		}
		lit.dur = d
	case kindBool:
		switch text {
		case "true":
			lit.b = true
		case "false":
		default:
			return lit, p.errorf(at, "expected true or false %s, got %s", after, quoteCut(text, 40))
		}
	case kindIP:
		ip, err := netip.ParseAddr(text)
		if err != nil {
			return lit, p.errorf(at, "expected an IP address %s (or pat() for several), got %s", after, quoteCut(text, 40))
		}
		lit.ip = ip
	case kindRcode:
		found := false
		for _, rc := range rcodes {
			found = found || rc == text
		}
		if !found {
			return lit, p.errorf(at, "expected a DNS rcode (%s) %s, got %s", strings.Join(rcodes, ", "), after, quoteCut(text, 40))
		}
	case kindDynamic:
		if c.op.ordering() && !lit.isNum {
			return lit, p.errorf(at, "expected a number %s, got %s", after, quoteCut(text, 40))
		}
	}
	return lit, nil
}

// parseNumber parses a decimal number: an optional '-', digits with an
// optional fraction, an optional exponent. Unlike strconv.ParseFloat
// alone, it refuses hexadecimal, '_', "Inf" and "NaN".
func parseNumber(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		exp := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == exp {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

var durationUnits = []struct {
	name string
	d    time.Duration
}{
	// Longest names first, so that "ms" is not read as "m".
	{"ns", time.Nanosecond}, {"us", time.Microsecond}, {"µs", time.Microsecond},
	{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute},
	{"h", time.Hour}, {"d", 24 * time.Hour},
}

// parseDuration parses a duration literal: a plain number of milliseconds
// (Gatus's meaning) or one or more numbers with units, d being 24h.
func parseDuration(s string) (time.Duration, bool) {
	if ms, ok := parseNumber(s); ok {
		return floatDuration(ms * float64(time.Millisecond))
	}
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var total float64
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		n, ok := parseNumber(s[:i])
		if !ok {
			return 0, false
		}
		s = s[i:]
		unit := time.Duration(0)
		for _, u := range durationUnits {
			if strings.HasPrefix(s, u.name) {
				unit = u.d
				s = s[len(u.name):]
				break
			}
		}
		if unit == 0 {
			return 0, false
		}
		total += n * float64(unit)
	}
	if neg {
		total = -total
	}
	return floatDuration(total)
}

func floatDuration(f float64) (time.Duration, bool) {
	if f > math.MaxInt64 || f < math.MinInt64 {
		return 0, false
	}
	return time.Duration(f), true
}

// quoteCut quotes s as Go does (%q), cut to at most max bytes on a
// character boundary, with "…" when cut.
func quoteCut(s string, max int) string {
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut] + "…")
}
