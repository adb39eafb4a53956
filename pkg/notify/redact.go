package notify

import (
	"cmp"
	"context"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/srvmon/srvmon/internal/lazy"
)

// RedactURL returns what of an action URL may be logged: its scheme and
// host, with "/…" standing for any path, query or fragment, which may hold
// tokens (Telegram's bot token is in the path). User info is dropped.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(not an absolute URL)"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		s += "/…"
	}
	return s
}

// urlInText matches what looks like a URL in an error message; compiled
// on first use (lazy.Value): a process that delivers no failing
// notification never compiles it.
var urlInText = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp {
	return regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)
}}

// maxErrorLen bounds Delivery.LastError.
const maxErrorLen = 300

// redactError describes a delivery error without the secret parts of the
// action or channel URL raw. net/http's errors (*url.Error) embed the whole URL, and
// lower layers may quote its parts, so the message is also scrubbed of the
// URL's path, query, fragment and user info in every spelling.
func redactError(err error, raw string, timeout time.Duration) string {
	var msg string
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg = "timeout after " + timeout.String()
	case errors.As(err, &ue):
		// The URL is logged, redacted, beside the message.
		msg = ue.Err.Error()
	default:
		msg = err.Error()
	}
	msg = scrub(msg, raw)
	// Whatever URL is left (a service's endpoint built from the channel's
	// tokens, a redirect's target) keeps only its scheme and host.
	msg = urlInText.Get().ReplaceAllStringFunc(msg, RedactChannel)
	if len(msg) > maxErrorLen {
		msg = strings.ToValidUTF8(msg[:maxErrorLen], "") + "…"
	}
	return msg
}

// scrub replaces in msg every secret-looking part of the URL raw with "…".
func scrub(msg, raw string) string {
	secrets := []string{raw}
	if u, err := url.Parse(raw); err == nil {
		secrets = append(secrets, u.RawQuery, u.EscapedPath(), u.Path, u.Fragment, u.EscapedFragment(), u.Opaque)
		if u.User != nil {
			secrets = append(secrets, u.User.String(), u.User.Username())
			if p, ok := u.User.Password(); ok {
				secrets = append(secrets, p)
			}
		}
		for _, seg := range strings.Split(u.Path, "/") {
			secrets = append(secrets, seg)
		}
		for k, vs := range u.Query() {
			secrets = append(secrets, k+"="+url.QueryEscape(vs[0]))
			for _, v := range vs {
				secrets = append(secrets, v, url.QueryEscape(v), url.PathEscape(v))
			}
		}
	} else {
		// Unparsable: nothing after the scheme and host is safe.
		if _, rest, ok := strings.Cut(raw, "://"); ok {
			if i := strings.IndexAny(rest, "/?#"); i >= 0 {
				secrets = append(secrets, rest[i:])
			}
		}
	}
	// Longest first, so that a part is not left half replaced; parts
	// shorter than 4 bytes ("/", "up", "1") are too common to be secrets.
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "…")
		}
	}
	return msg
}
