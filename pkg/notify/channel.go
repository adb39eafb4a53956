package notify

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"

	"github.com/nicholas-fedor/shoutrrr/pkg/services/chat/discord"
	"github.com/nicholas-fedor/shoutrrr/pkg/services/chat/matrix"
	"github.com/nicholas-fedor/shoutrrr/pkg/services/chat/slack"
	"github.com/nicholas-fedor/shoutrrr/pkg/services/chat/teams"
	"github.com/nicholas-fedor/shoutrrr/pkg/services/chat/telegram"
	"github.com/nicholas-fedor/shoutrrr/pkg/services/email/smtp"
	"github.com/nicholas-fedor/shoutrrr/pkg/services/incident/pagerduty"
	"github.com/nicholas-fedor/shoutrrr/pkg/services/push/gotify"
	"github.com/nicholas-fedor/shoutrrr/pkg/services/push/ntfy"
	"github.com/nicholas-fedor/shoutrrr/pkg/services/push/pushover"
	"github.com/nicholas-fedor/shoutrrr/pkg/services/specialized/generic"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"
	"github.com/nicholas-fedor/shoutrrr/pkg/util"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// ChannelServices are the channel URL schemes srvmon sends to, through
// github.com/nicholas-fedor/shoutrrr, whose URL syntax they use (see its
// documentation for each service's URL). generic may be written
// generic+https:// (or generic+http://) followed by the webhook's own URL.
var ChannelServices = []string{
	"discord", "generic", "gotify", "matrix", "ntfy", "pagerduty",
	"pushover", "slack", "smtp", "teams", "telegram",
}

// errBadChannel marks a channel URL that can never be delivered to: it
// does not parse as a known service's URL. Its delivery is given up.
var errBadChannel = errors.New("not a valid channel URL")

// newService returns an uninitialized service for a channel scheme (the
// part before any "+"), and whether it shows a title; ok is false for a
// scheme srvmon does not offer. Only the services listed here are linked
// in, which keeps the binaries small (shoutrrr's router links all 26).
func newService(scheme string) (svc types.Service, title, ok bool) {
	switch scheme {
	case "discord":
		return &discord.Service{}, true, true
	case "generic":
		return &generic.Service{}, true, true
	case "gotify":
		return &gotify.Service{}, true, true
	case "matrix":
		return &matrix.Service{}, true, true
	case "ntfy":
		return &ntfy.Service{}, true, true
	case "pagerduty":
		return &pagerduty.Service{}, false, true
	case "pushover":
		return &pushover.Service{}, true, true
	case "slack":
		return &slack.Service{}, true, true
	case "smtp":
		return &smtp.Service{}, true, true
	case "teams":
		return &teams.Service{}, true, true
	case "telegram":
		return &telegram.Service{}, true, true
	}
	return nil, false, false
}

// channelURL parses a channel URL into its service's scheme and the URL
// that service is initialized with (a custom URL such as
// generic+https://… converted). It sends nothing.
func channelURL(raw string) (scheme string, svc types.Service, title bool, u *url.URL, err error) {
	u, err = url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", nil, false, nil, fmt.Errorf("%w: not a URL of the form service://…", errBadChannel)
	}
	full := strings.ToLower(u.Scheme)
	scheme, _, custom := strings.Cut(full, "+")
	svc, title, ok := newService(scheme)
	if !ok {
		return "", nil, false, nil, fmt.Errorf("%w: unknown service %q (known: %s)", errBadChannel, scheme, strings.Join(ChannelServices, ", "))
	}
	if custom {
		c, ok := svc.(types.CustomURLService)
		if !ok {
			return "", nil, false, nil, fmt.Errorf("%w: %s takes no %s:// custom URL", errBadChannel, scheme, full)
		}
		if err = withoutPanic(func() (err error) { u, err = c.GetConfigURLFromCustom(u); return err }); err != nil {
			return "", nil, false, nil, fmt.Errorf("%w: %s: %s", errBadChannel, scheme, redactError(err, raw, 0))
		}
	}
	return scheme, svc, title, u, nil
}

// CheckChannel reports whether raw is a channel URL srvmon can send to:
// a known service's URL that the service accepts. It sends nothing and
// contacts nobody (a Matrix URL's login is not tried). Its error holds
// no part of raw that may be secret.
func CheckChannel(raw string) error {
	scheme, svc, _, u, err := channelURL(raw)
	if err != nil {
		return err
	}
	err = withoutPanic(func() error {
		if scheme == "matrix" {
			// Initialize logs in to the server: check the URL only.
			return (&matrix.Config{}).SetURL(u)
		}
		return svc.Initialize(u, util.DiscardLogger)
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %s", errBadChannel, scheme, redactError(err, raw, 0))
	}
	return nil
}

// withoutPanic runs f, a call into a service of shoutrrr, and
// turns a panic into an error, so that a channel URL the library cannot
// read (it indexes parts of some URLs unchecked: a Matrix URL with an
// empty room, matrix://…?room, panics) fails its check, or its delivery,
// instead of ending the process: the API's request, the config's load
// and the round's deliveries all call it. The error names the panic only
// when it is the runtime's own (an index out of range, a nil pointer),
// which holds no part of the URL; other panic values might.
func withoutPanic(f func() error) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if re, ok := v.(runtime.Error); ok {
			err = fmt.Errorf("the service failed on this URL (%v)", re)
		} else {
			err = errors.New("the service failed on this URL")
		}
	}()
	return f()
}

// sendChannel sends d's message to d.Channel, within the Sender's
// Timeout. client is given to the services that take one (Discord, ntfy,
// PagerDuty, Pushover); the others use their own, or net/http's default
// one (generic webhooks, Teams), which has no timeout of its own: when
// Timeout passes first, the attempt counts as failed and the request is
// left to end on its own.
func (s *Sender) sendChannel(ctx context.Context, client *http.Client, d store.Delivery) error {
	if err := CheckChannel(d.Channel); err != nil {
		return err
	}
	scheme, svc, title, u, err := channelURL(d.Channel)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	message := cmp.Or(d.Message, d.Title, "srvmon: "+d.Event)
	params := types.Params{}
	if title && d.Title != "" {
		params.SetTitle(d.Title)
	}
	if scheme == "generic" {
		// Fields of a JSON body beside title and message.
		params["event"] = d.Event
		params["host"] = probe.MaskSecrets(d.Host)
	}
	send := func() error {
		// Checked above: what fails now is the network (a Matrix login).
		if err := svc.Initialize(u, util.DiscardLogger); err != nil {
			return fmt.Errorf("%s: %w", scheme, err)
		}
		if client != nil {
			c := *client
			c.Timeout = s.timeout()
			useClient(svc, &c)
		}
		if pd, ok := svc.(*pagerduty.Service); ok {
			return sendPagerDuty(ctx, pd, u, d, message)
		}
		return svc.Send(message, &params)
	}
	done := make(chan error, 1)
	go func() { done <- withoutPanic(send) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// useClient gives client to the services that take one.
func useClient(svc types.Service, client *http.Client) {
	switch svc := svc.(type) {
	case *discord.Service:
		svc.HTTPClient = client
	case *ntfy.Service:
		svc.SetHTTPClient(client)
	case *pagerduty.Service:
		svc.SetHTTPClient(client)
	case *pushover.Service:
		svc.Client = client
	}
}

// sendPagerDuty sends d as a PagerDuty event: a down or a reminder
// triggers the host's incident, a recovery resolves it, both under
// PagerDutyDedupKey, so that the recovery resolves the incident its down
// opened (and a reminder adds to it). A certificate alert triggers an
// incident of its own (its key is the host's with "/certificate"). A
// test triggers an info event under a test key and resolves it at once.
// The URL's own dedup_key, source or severity, when it sets them, win.
func sendPagerDuty(ctx context.Context, pd *pagerduty.Service, u *url.URL, d store.Delivery, message string) error {
	q := u.Query()
	params := func(action, event string) *types.Params {
		p := types.Params{"action": action}
		if !q.Has("dedup_key") {
			p["dedup_key"] = PagerDutyDedupKey(d.Host, event)
		}
		if !q.Has("source") {
			// At most 255 bytes in PagerDuty; the host is masked.
			p["source"] = truncate(probe.MaskSecrets(d.Host), 255)
		}
		if event == store.EventTest && !q.Has("severity") {
			p["severity"] = "info"
		}
		return &p
	}
	switch d.Event {
	case store.EventUp:
		return pd.SendWithContext(ctx, message, params("resolve", store.EventDown))
	case store.EventTest:
		if err := pd.SendWithContext(ctx, message, params("trigger", store.EventTest)); err != nil {
			return err
		}
		return pd.SendWithContext(ctx, message, params("resolve", store.EventTest))
	case store.EventCertificate:
		return pd.SendWithContext(ctx, message, params("trigger", store.EventCertificate))
	case store.EventCertificateRenewed:
		return pd.SendWithContext(ctx, message, params("resolve", store.EventCertificate))
	}
	return pd.SendWithContext(ctx, message, params("trigger", store.EventDown))
}

// PagerDutyDedupKey is the PagerDuty dedup key of a host's incidents:
// "srvmon-" and a hash of the host (which may hold secrets, and may be
// longer than the 255 bytes PagerDuty keeps), with the kind of incident:
// down (downs, reminders and recoveries share it), certificate, test.
func PagerDutyDedupKey(host, event string) string {
	sum := sha256.Sum256([]byte(host))
	key := "srvmon-" + hex.EncodeToString(sum[:16])
	switch event {
	case store.EventCertificate:
		return key + "-certificate"
	case store.EventTest:
		return key + "-test"
	}
	return key
}

// truncate cuts s to at most n bytes at a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// channelQueryKeys are the query keys of channel URLs that RedactChannel
// shows (their values it masks): option names of shoutrrr's services.
// Any other key may be a receiver's own parameter, even a token.
var channelQueryKeys = []string{
	"action", "auth", "avatar", "botname", "cache", "channels", "chats", "click", "client", "clienthost",
	"color", "contenttype", "devices", "disabletls", "disabletlsverification", "encryption", "firebase",
	"from", "fromaddress", "fromname", "host", "icon", "insecureskipverify", "json", "messagekey",
	"method", "notification", "parsemode", "preview", "priority", "requirestarttls", "room", "rooms",
	"scheme", "severity", "skiptlsverify", "source", "splitlines", "starttls", "subject", "tags",
	"template", "thread_id", "timeout", "title", "titlekey", "to", "toaddresses", "useheader", "usehtml",
	"username", "usestarttls",
}

// RedactChannel returns what of a channel URL may be logged and shown:
// its scheme and host (with port), "…@" for any user info, "/…" for any
// path, the query's option names of shoutrrr's services with their values
// masked ("…") and every other query part masked, "#…" for a fragment.
// Tokens, passwords, topics and webhook paths are thus never in it. It is
// a function of raw alone, so the API can tell which stored channel a
// masked one that a client sends back stands for.
func RedactChannel(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(not a channel URL)"
	}
	scheme := strings.ToLower(u.Scheme)
	if u.Opaque != "" {
		return scheme + ":…"
	}
	var b strings.Builder
	b.WriteString(scheme + "://")
	if u.User != nil {
		b.WriteString("…@")
	}
	b.WriteString(u.Host)
	if u.Path != "" && u.Path != "/" {
		b.WriteString("/…")
	}
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteByte('?')
		for i, part := range strings.Split(u.RawQuery, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			key, _, _ := strings.Cut(part, "=")
			if k, err := url.QueryUnescape(key); err == nil && slices.Contains(channelQueryKeys, strings.ToLower(k)) {
				b.WriteString(strings.ToLower(k) + "=…")
			} else {
				b.WriteString("…")
			}
		}
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		b.WriteString("#…")
	}
	return b.String()
}

// IsRedactedChannel reports whether s looks like RedactChannel's output
// rather than a channel URL: it holds the mask "…", which no channel URL
// needs (a client sending a masked channel back means the stored one).
func IsRedactedChannel(s string) bool { return strings.Contains(s, "…") }
