package monitor

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/srvmon/srvmon/pkg/probe"
)

// Limits on a monitor's settings. A monitor is read on every round and
// every page that lists it, so none of it may be large.
const (
	MaxNameLen      = 128
	MaxGroupLen     = 64
	MaxConditions   = 20
	MaxConditionLen = 1024
	MaxHeaders      = 50
	MaxHeaderLen    = 4096 // name and value together
	MaxBodyLen      = 64 << 10
	MaxGrace        = 400 * 24 * time.Hour
	MinPushTokenLen = 16
	MaxPushTokenLen = 128
	maxMethodLen    = 32
)

// ErrInvalid is wrapped by every error of Validate.
var ErrInvalid = errors.New("invalid monitor")

// FieldError is a setting that does not validate: Field names it as the
// JSON does ("name", "headers[\"X-Key\"]", "conditions[2]"), Reason says
// why in a short phrase. Its text is one line: "FIELD: REASON".
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Limits bound what Validate accepts beyond the fixed limits above. The
// zero value bounds nothing more.
type Limits struct {
	// MaxTimeout is the round's probe timeout: a monitor's timeout may
	// not be longer. Zero: no bound.
	MaxTimeout time.Duration
}

// Validate reports the first field of m that is invalid, as a
// *FieldError (wrapping ErrInvalid) whose text names the field.
func Validate(m Monitor, lim Limits) error {
	t, err := probe.Parse(m.Host)
	if err != nil {
		return fieldErr("host", "%v", err)
	}
	if err := checkText("name", m.Name, MaxNameLen); err != nil {
		return err
	}
	if err := checkText("group", m.Group, MaxGroupLen); err != nil {
		return err
	}
	switch m.Source {
	case SourceAPI, SourceConfig:
	default:
		return fieldErr("source", "%q is not %q or empty", m.Source, SourceConfig)
	}
	if len(m.Conditions) > MaxConditions {
		return fieldErr("conditions", "%d conditions, more than %d", len(m.Conditions), MaxConditions)
	}
	for i, c := range m.Conditions {
		if len(c) > MaxConditionLen {
			return fieldErr(fmt.Sprintf("conditions[%d]", i), "longer than %d bytes", MaxConditionLen)
		}
	}
	if err := checkHTTP(m.Settings, t.Kind == probe.KindHTTP); err != nil {
		return err
	}
	switch {
	case m.Timeout < 0:
		return fieldErr("timeout", "%v is negative", m.Timeout.D())
	case lim.MaxTimeout > 0 && m.Timeout.D() > lim.MaxTimeout:
		return fieldErr("timeout", "%v is longer than the round's probe timeout, %v", m.Timeout.D(), lim.MaxTimeout)
	case m.Grace < 0 || m.Grace.D() > MaxGrace:
		return fieldErr("grace", "%v is not between 0 and %v", m.Grace.D(), MaxGrace)
	}
	if m.PushToken != "" {
		if err := CheckPushToken(m.PushToken); err != nil {
			return fieldErr("push_token", "%v", err)
		}
	}
	return nil
}

// checkHTTP validates the HTTP settings; http is whether the target is
// an http:// or https:// URL.
func checkHTTP(s Settings, http bool) error {
	set := func(field string, isSet bool) error {
		if isSet && !http {
			return fieldErr(field, "applies only to http:// and https:// monitors")
		}
		return nil
	}
	for _, e := range []error{
		set("method", s.Method != ""),
		set("headers", len(s.Headers) > 0),
		set("body", s.Body != ""),
		set("follow_redirects", s.FollowRedirects != nil),
	} {
		if e != nil {
			return e
		}
	}
	if s.Method != "" && (len(s.Method) > maxMethodLen || !isToken(s.Method)) {
		return fieldErr("method", "%q is not an HTTP method", s.Method)
	}
	if len(s.Headers) > MaxHeaders {
		return fieldErr("headers", "%d headers, more than %d", len(s.Headers), MaxHeaders)
	}
	for name, value := range s.Headers {
		field := fmt.Sprintf("headers[%q]", name)
		switch {
		case len(name)+len(value) > MaxHeaderLen:
			return fieldErr(field, "longer than %d bytes", MaxHeaderLen)
		case !httpguts.ValidHeaderFieldName(name):
			return fieldErr(field, "not a valid header name")
		case !httpguts.ValidHeaderFieldValue(value):
			return fieldErr(field, "the value holds a control character")
		}
	}
	if len(s.Body) > MaxBodyLen {
		return fieldErr("body", "longer than %d bytes", MaxBodyLen)
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110), as methods are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}

// checkText validates a short display text: UTF-8, no control
// characters, at most max bytes.
func checkText(field, s string, max int) error {
	switch {
	case len(s) > max:
		return fieldErr(field, "longer than %d bytes", max)
	case !utf8.ValidString(s):
		return fieldErr(field, "not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fieldErr(field, "holds a control character")
	}
	return nil
}

// CheckPushToken reports why token cannot be a push token: one of
// MinPushTokenLen to MaxPushTokenLen letters, digits, '-' or '_', so that
// it stands in a URL path unescaped.
func CheckPushToken(token string) error {
	if len(token) < MinPushTokenLen || len(token) > MaxPushTokenLen {
		return fmt.Errorf("a push token has %d to %d characters", MinPushTokenLen, MaxPushTokenLen)
	}
	for _, c := range token {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("a push token holds only letters, digits, '-' and '_'")
		}
	}
	return nil
}
