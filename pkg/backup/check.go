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
func checkJSONText(raw []byte, depth int) error {
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
			case r == 0:
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
// with srvmon's optional "location" and "error".
type backupCheck struct {
	Time     time.Time `json:"time"`
	RTT      int64     `json:"rtt"`
	Up       jsonBool  `json:"up"`
	Location string    `json:"location"`
	Error    string    `json:"error"`
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
// values; ok is false for anything else.
func parseCheckFast(b []byte) (c backupCheck, ok bool) {
	i := 0
	ws := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
	}
	// str reads a string without escapes and returns it with its quotes.
	str := func() ([]byte, bool) {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		for j := i + 1; j < len(b); j++ {
			switch ch := b[j]; {
			case ch == '"':
				s := b[i : j+1]
				i = j + 1
				return s, true
			case ch == '\\' || ch < 0x20 || ch >= 0x80:
				return nil, false
			}
		}
		return nil, false
	}
	ws()
	if i >= len(b) || b[i] != '{' {
		return c, false
	}
	i++
	ws()
	if i < len(b) && b[i] == '}' {
		i++
		ws()
		return c, i == len(b)
	}
	for {
		ws()
		key, ok := str()
		if !ok {
			return c, false
		}
		ws()
		if i >= len(b) || b[i] != ':' {
			return c, false
		}
		i++
		ws()
		switch string(key) {
		case `"time"`:
			v, ok := str()
			if !ok || c.Time.UnmarshalJSON(v) != nil {
				return c, false
			}
		case `"location"`, `"error"`:
			v, ok := str()
			if !ok {
				return c, false
			}
			if key[1] == 'l' {
				c.Location = string(v[1 : len(v)-1])
			} else {
				c.Error = string(v[1 : len(v)-1])
			}
		case `"rtt"`:
			j := i
			if j < len(b) && b[j] == '-' {
				j++
			}
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			// A plain integer only: no leading zero, fraction or exponent.
			if j == i || (b[i] == '0' && j-i > 1) || (b[i] == '-' && (j == i+1 || (b[i+1] == '0' && j-i > 2))) {
				return c, false
			}
			n, err := strconv.ParseInt(string(b[i:j]), 10, 64)
			if err != nil {
				return c, false
			}
			c.RTT, i = n, j
		case `"up"`:
			switch {
			case bytes.HasPrefix(b[i:], []byte("true")):
				c.Up, i = jsonBool{true, true}, i+4
			case bytes.HasPrefix(b[i:], []byte("false")):
				c.Up, i = jsonBool{false, true}, i+5
			default:
				return c, false
			}
		default:
			return c, false
		}
		ws()
		if i >= len(b) {
			return c, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			i++
			ws()
			return c, i == len(b)
		default:
			return c, false
		}
	}
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
		RTT: rtt, Up: c.Up.v, Reason: c.reason(),
	}, nil
}

// reason is the check's error as a result's reason: none when it was up.
func (c backupCheck) reason() string {
	if c.Up.v {
		return ""
	}
	return c.Error
}
