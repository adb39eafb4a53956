package monitor

import (
	"errors"
	"fmt"
	"maps"
	"net/textproto"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/probe/condition"
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
// *FieldError (wrapping ErrInvalid) whose text names the field: the host
// (probe.Parse's reason), a display text, a setting that does not apply to
// the host's kind of check (kindRules), a condition that does not parse
// (with its position and what was expected there) or that reads what the
// kind of check never yields (yields), a limit exceeded.
func Validate(m Monitor, lim Limits) error {
	t, err := probe.Parse(m.Host)
	if err != nil {
		return fieldErr("host", "%v", err)
	}
	_, err = compileSettings(m, t, lim)
	return err
}

// compileSettings validates m's settings for its parsed target t and
// returns its compiled conditions (nil when it has none).
func compileSettings(m Monitor, t probe.Target, lim Limits) ([]*condition.Condition, error) {
	if err := checkText("name", m.Name, MaxNameLen); err != nil {
		return nil, err
	}
	if err := checkText("group", m.Group, MaxGroupLen); err != nil {
		return nil, err
	}
	switch {
	case m.Parent == m.Host && m.Parent != "":
		return nil, fieldErr("parent", "a monitor cannot be its own parent")
	case len(m.Parent) > probe.MaxTargetLen:
		return nil, fieldErr("parent", "longer than %d bytes", probe.MaxTargetLen)
	}
	switch m.Source {
	case SourceAPI, SourceConfig:
	default:
		return nil, fieldErr("source", "%q is not %q or empty", m.Source, SourceConfig)
	}
	k := kindOf(t)
	if err := checkApplies(m.Settings, k); err != nil {
		return nil, err
	}
	if err := checkHTTP(m.Settings); err != nil {
		return nil, err
	}
	switch {
	case m.Timeout < 0:
		return nil, fieldErr("timeout", "%v is negative", m.Timeout.D())
	case lim.MaxTimeout > 0 && m.Timeout.D() > lim.MaxTimeout:
		return nil, fieldErr("timeout", "%v is longer than the round's probe timeout, %v", m.Timeout.D(), lim.MaxTimeout)
	case m.Grace < 0 || m.Grace.D() > MaxGrace:
		return nil, fieldErr("grace", "%v is not between 0 and %v", m.Grace.D(), MaxGrace)
	}
	if m.PushToken != "" {
		if err := CheckPushToken(m.PushToken); err != nil {
			return nil, fieldErr("push_token", "%v", err)
		}
	}
	return compileConditions(m.Conditions, k)
}

// compileConditions parses conds and checks that each reads only what a
// check of kind k yields.
func compileConditions(conds []string, k kind) ([]*condition.Condition, error) {
	if len(conds) > MaxConditions {
		return nil, fieldErr("conditions", "%d conditions, more than %d", len(conds), MaxConditions)
	}
	if len(conds) == 0 {
		return nil, nil
	}
	cs := make([]*condition.Condition, len(conds))
	for i, s := range conds {
		field := fmt.Sprintf("conditions[%d]", i)
		if len(s) > MaxConditionLen {
			return nil, fieldErr(field, "longer than %d bytes", MaxConditionLen)
		}
		c, err := condition.Parse(s)
		if err != nil {
			return nil, fieldErr(field, "%v", err)
		}
		if extra := c.Uses() &^ k.yields; extra != 0 {
			verb := "does"
			if extra&(extra-1) != 0 {
				verb = "do"
			}
			return nil, fieldErr(field, "%s %s not apply to %s monitors, which yield %s",
				placeholders(extra, " and "), verb, k.name, placeholders(k.yields, ", "))
		}
		cs[i] = c
	}
	return cs, nil
}

// kind is what a kind of check is called in messages, and what its
// conditions can read.
type kind struct {
	name   string         // as users write it: "ping", "tcp", "http://", ...
	yields condition.Uses // what its probe fills in for the conditions
}

// The kinds of check, as pkg/probe runs them. Every probed kind yields
// [CONNECTED] and [RESPONSE_TIME]; a push:// monitor is not probed and
// yields nothing. (Ping yields no [IP]: the probe does not report the
// address it pinged.)
var (
	kindPing  = kind{"ping", condition.UsesConnected | condition.UsesResponseTime}
	kindTCP   = kind{"tcp", kindPing.yields | condition.UsesIP}
	kindHTTP  = kind{"http://", kindTCP.yields | condition.UsesStatus | condition.UsesHeader | condition.UsesBody}
	kindHTTPS = kind{"https://", kindHTTP.yields | condition.UsesCertificate}
	kindTLS   = kind{"tls://", kindTCP.yields | condition.UsesCertificate}
	kindDNS   = kind{"dns://", kindPing.yields | condition.UsesDNS | condition.UsesBody}
	kindPush  = kind{"push://", 0}
)

// kindOf returns the kind of check of t, a target of probe.Parse.
func kindOf(t probe.Target) kind {
	switch t.Kind {
	case probe.KindTCP:
		return kindTCP
	case probe.KindHTTP:
		if t.URL != nil && t.URL.Scheme == "https" {
			return kindHTTPS
		}
		return kindHTTP
	case probe.KindTLS:
		return kindTLS
	case probe.KindDNS:
		return kindDNS
	case probe.KindPush:
		return kindPush
	}
	return kindPing
}

// placeholderNames name each of condition.Uses' bits, in the order
// messages list them.
var placeholderNames = []struct {
	u    condition.Uses
	name string
}{
	{condition.UsesConnected, "[CONNECTED]"},
	{condition.UsesResponseTime, "[RESPONSE_TIME]"},
	{condition.UsesIP, "[IP]"},
	{condition.UsesStatus, "[STATUS]"},
	{condition.UsesHeader, "[HEADER].Name"},
	{condition.UsesBody, "[BODY]"},
	{condition.UsesCertificate, "[CERTIFICATE_EXPIRATION]"},
	{condition.UsesDNS, "[DNS_RCODE]"},
}

// placeholders names the placeholders of u, joined with sep.
func placeholders(u condition.Uses, sep string) string {
	var names []string
	for _, p := range placeholderNames {
		if u&p.u != 0 {
			names = append(names, p.name)
		}
	}
	return strings.Join(names, sep)
}

// checkApplies refuses a setting that a check of kind k does not use.
func checkApplies(s Settings, k kind) error {
	http := k == kindHTTP || k == kindHTTPS
	for _, r := range []struct {
		field   string
		set, ok bool
		only    string
	}{
		{"method", s.Method != "", http, "applies only to http:// and https:// monitors"},
		{"headers", len(s.Headers) > 0, http, "applies only to http:// and https:// monitors"},
		{"body", s.Body != "", http, "applies only to http:// and https:// monitors"},
		{"follow_redirects", s.FollowRedirects != nil, http, "applies only to http:// and https:// monitors"},
		{"insecure_skip_verify", s.InsecureSkipVerify, k == kindHTTPS || k == kindTLS, "applies only to https:// and tls:// monitors"},
		{"timeout", s.Timeout != 0, k != kindPush, "does not apply to push:// monitors, which are not probed"},
		{"conditions", len(s.Conditions) > 0, k != kindPush, "do not apply to push:// monitors, which are not probed"},
		{"grace", s.Grace != 0, k == kindPush, "applies only to push:// monitors"},
		{"push_token", s.PushToken != "", k == kindPush, "applies only to push:// monitors"},
	} {
		if r.set && !r.ok {
			return fieldErr(r.field, "%s", r.only)
		}
	}
	return nil
}

// checkHTTP validates the values of the HTTP settings. Header names are
// checked in sorted order, so that the error is the same every time, and
// two that are one header (case aside) are refused.
func checkHTTP(s Settings) error {
	if s.Method != "" && (len(s.Method) > maxMethodLen || !isToken(s.Method)) {
		return fieldErr("method", "%q is not an HTTP method", s.Method)
	}
	if len(s.Headers) > MaxHeaders {
		return fieldErr("headers", "%d headers, more than %d", len(s.Headers), MaxHeaders)
	}
	seen := make(map[string]string, len(s.Headers))
	for _, name := range slices.Sorted(maps.Keys(s.Headers)) {
		value := s.Headers[name]
		field := fmt.Sprintf("headers[%q]", name)
		switch {
		case len(name)+len(value) > MaxHeaderLen:
			return fieldErr(field, "longer than %d bytes", MaxHeaderLen)
		case !httpguts.ValidHeaderFieldName(name):
			return fieldErr(field, "not a valid header name")
		case !httpguts.ValidHeaderFieldValue(value):
			return fieldErr(field, "the value holds a control character")
		}
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		if other, dup := seen[canonical]; dup {
			return fieldErr(field, "the same header as %q", other)
		}
		seen[canonical] = name
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
