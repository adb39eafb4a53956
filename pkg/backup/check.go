package backup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/srvmon/srvmon/pkg/store"
)

// checkJSONText checks the raw JSON of a value, whose outermost array or
// object is at depth, for what encoding/json would silently change or a
// store would refuse: bytes that are not UTF-8 and \u escapes of unpaired
// surrogates (both decode as U+FFFD, so a host would become another),
// NUL (\u0000, which PostgreSQL's text cannot hold), and nesting deeper
// than MaxDepth.
func checkJSONText(raw []byte, depth int) error { return checkJSON(raw, depth, false) }

// checkJSON is checkJSONText that accepts NUL when allowNUL: a monitor's
// settings are stored as JSON, which escapes it, and an HTTP body may
// hold it.
func checkJSON(raw []byte, depth int, allowNUL bool) error {
	if !utf8.Valid(raw) {
		return errors.New("not valid UTF-8")
	}
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !inString {
			switch c {
			case '"':
				inString = true
			case '[', '{':
				if depth++; depth > MaxDepth {
					return fmt.Errorf("nested deeper than %d levels", MaxDepth)
				}
			case ']', '}':
				depth--
			}
			continue
		}
		switch {
		case c == '"':
			inString = false
		case c == '\\' && raw[i+1] != 'u':
			i++
		case c == '\\':
			r := hex4(raw[i+2 : i+6])
			i += 5
			switch {
			case r == 0 && !allowNUL:
				return errors.New(`holds NUL (\u0000)`)
			case r >= 0xdc00 && r < 0xe000:
				return errors.New("holds an unpaired UTF-16 surrogate")
			case r >= 0xd800 && r < 0xdc00:
				if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
					return errors.New("holds an unpaired UTF-16 surrogate")
				}
				if lo := hex4(raw[i+3 : i+7]); lo < 0xdc00 || lo >= 0xe000 {
					return errors.New("holds an unpaired UTF-16 surrogate")
				}
				i += 6
			}
		}
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape of valid JSON.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// backupCheck is one check in a backup: gosrvmon's {"time","rtt","up"},
// with srvmon's optional "location", "error" and "maintenance".
type backupCheck struct {
	Time        time.Time       `json:"time"`
	RTT         int64           `json:"rtt"`
	Up          jsonBool        `json:"up"`
	Location    string          `json:"location"`
	Error       string          `json:"error"`
	Maintenance maintenanceFlag `json:"maintenance"`
}

// maintenanceFlag is a check's "maintenance": true or false.
type maintenanceFlag bool

func (m *maintenanceFlag) UnmarshalJSON(p []byte) error {
	switch string(p) {
	case "true", "false":
		*m = string(p) == "true"
		return nil
	}
	return fmt.Errorf("maintenance must be true or false, not %s", p)
}

// parseCheck decodes one check. Checks are most of a backup, so the
// usual shape (the fields above, plain strings and integers, in any
// order) is read directly; anything else goes through encoding/json, which
// decides what it means and words any error.
func parseCheck(raw []byte) (backupCheck, error) {
	if c, ok := parseCheckFast(raw); ok {
		return c, nil // plain ASCII without escapes: nothing to check
	}
	var c backupCheck
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, err
	}
	return c, checkJSONText(raw, 3)
}

// parseCheckFast reads a check made of the known fields with plain
// values: strings without escapes or bytes outside printable ASCII,
// integers without a fraction, exponent or leading zero, true and false.
// ok is false for anything else, which parseCheck leaves to encoding/json,
// so this path never decides what an unusual check means.
func parseCheckFast(b []byte) (c backupCheck, ok bool) {
	sc := checkScanner{b: b}
	sc.space()
	if !sc.skipByte('{') {
		return c, false
	}
	sc.space()
	if sc.skipByte('}') {
		return c, sc.atEnd()
	}
	for {
		sc.space()
		if !sc.field(&c) {
			return c, false
		}
		sc.space()
		switch {
		case sc.skipByte(','):
		case sc.skipByte('}'):
			return c, sc.atEnd()
		default:
			return c, false
		}
	}
}

// checkScanner reads the raw JSON of a check for parseCheckFast: b from
// i on. Each method reports whether it read what it reads.
type checkScanner struct {
	b []byte
	i int
}

// space skips white space.
func (sc *checkScanner) space() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// skipByte reads c.
func (sc *checkScanner) skipByte(c byte) bool {
	if sc.i < len(sc.b) && sc.b[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// atEnd skips white space and reports whether nothing follows.
func (sc *checkScanner) atEnd() bool {
	sc.space()
	return sc.i == len(sc.b)
}

// str reads a string without escapes and returns it with its quotes.
func (sc *checkScanner) str() ([]byte, bool) {
	if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
		return nil, false
	}
	for j := sc.i + 1; j < len(sc.b); j++ {
		switch ch := sc.b[j]; {
		case ch == '"':
			s := sc.b[sc.i : j+1]
			sc.i = j + 1
			return s, true
		case ch == '\\' || ch < 0x20 || ch >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// text reads a string without escapes into dst, without its quotes.
func (sc *checkScanner) text(dst *string) bool {
	v, ok := sc.str()
	if ok {
		*dst = string(v[1 : len(v)-1])
	}
	return ok
}

// field reads one "key": value of a check into c.
func (sc *checkScanner) field(c *backupCheck) bool {
	key, ok := sc.str()
	if !ok {
		return false
	}
	sc.space()
	if !sc.skipByte(':') {
		return false
	}
	sc.space()
	switch string(key) {
	case `"time"`:
		v, ok := sc.str()
		return ok && c.Time.UnmarshalJSON(v) == nil
	case `"location"`:
		return sc.text(&c.Location)
	case `"error"`:
		return sc.text(&c.Error)
	case `"rtt"`:
		c.RTT, ok = sc.integer()
		return ok
	case `"up"`:
		c.Up, ok = sc.boolean()
		return ok
	case `"maintenance"`:
		var b jsonBool
		b, ok = sc.boolean()
		c.Maintenance = maintenanceFlag(b.v)
		return ok
	}
	return false
}

// integer reads a plain integer: no leading zero, fraction or exponent.
func (sc *checkScanner) integer() (int64, bool) {
	b, i, j := sc.b, sc.i, sc.i
	if j < len(b) && b[j] == '-' {
		j++
	}
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j == i || (b[i] == '0' && j-i > 1) || (b[i] == '-' && (j == i+1 || (b[i+1] == '0' && j-i > 2))) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b[i:j]), 10, 64)
	if err != nil {
		return 0, false
	}
	sc.i = j
	return n, true
}

// boolean reads true or false.
func (sc *checkScanner) boolean() (jsonBool, bool) {
	rest := sc.b[sc.i:]
	switch {
	case bytes.HasPrefix(rest, []byte("true")):
		sc.i += 4
		return jsonBool{true, true}, true
	case bytes.HasPrefix(rest, []byte("false")):
		sc.i += 5
		return jsonBool{false, true}, true
	}
	return jsonBool{}, false
}

// jsonBool is a bool that knows whether it was present.
type jsonBool struct{ v, set bool }

func (b *jsonBool) UnmarshalJSON(p []byte) error {
	switch string(p) {
	case "true":
		*b = jsonBool{true, true}
	case "false":
		*b = jsonBool{false, true}
	default:
		return fmt.Errorf("up must be true or false, not %s", p)
	}
	return nil
}

// result validates the check and returns it as a result of host. A
// negative rtt of a down check is gosrvmon's failed ping: see
// store.GosrvmonRTT. (The raw JSON is checked for NUL and bytes that are
// not UTF-8 before: see checkJSONText.)
func (c backupCheck) result(host string) (store.Result, error) {
	switch {
	case c.Time.IsZero():
		return store.Result{}, errors.New(`missing "time"`)
	case c.Time.Before(store.MinTime()) || !c.Time.Before(store.MaxTime()):
		return store.Result{}, fmt.Errorf("time %s is outside 1970..2262", c.Time.Format(time.RFC3339))
	case !c.Up.set:
		return store.Result{}, errors.New(`missing "up"`)
	case len(c.Location) > store.MaxLocationLen:
		return store.Result{}, fmt.Errorf("location is %d bytes long, the limit is %d", len(c.Location), store.MaxLocationLen)
	case strings.ContainsFunc(c.Location, unicode.IsControl):
		return store.Result{}, fmt.Errorf("location %q holds a control character", c.Location)
	case len(c.Error) > store.MaxReasonLen:
		return store.Result{}, fmt.Errorf("error is %d bytes long, the limit is %d", len(c.Error), store.MaxReasonLen)
	}
	rtt, ok := store.GosrvmonRTT(c.RTT, c.Up.v)
	if !ok {
		return store.Result{}, fmt.Errorf("negative rtt %d on a check that was up", c.RTT)
	}
	return store.Result{
		Host: host, Location: c.Location, Slot: c.Time.UTC(),
		RTT: rtt, Up: c.Up.v, Reason: store.ReasonIfDown(c.Up.v, c.Error), Maintenance: bool(c.Maintenance),
	}, nil
}
