package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

func TestRender(t *testing.T) {
	v := Vars{
		Host: "https://bob:" + secret + "@127.0.0.1/x?token=" + secret, Name: "web", Group: "prod", Event: store.EventDown,
		Slot: t0, RTT: 1500 * time.Microsecond, Reason: "status 503 & more", Locations: []string{"eu", "", "us"},
		Duration: 12*time.Minute + 400*time.Millisecond, ChildrenDown: []string{"db", "http://u:" + secret + "@127.0.0.1/"},
		CertExpiry: t0.Add(14 * 24 * time.Hour),
	}
	tests := []struct {
		template string
		v        Vars
		want     string
	}{
		{"{NAME} ({GROUP}) is {STATE} at {TIME}: {REASON}", v, "web (prod) is down at 2021-03-02 12:00:00 +0000 UTC: status 503 & more"},
		{"{HOST}", v, probe.MaskSecrets(v.Host)},
		{"{TIMESTAMP} {RTT} {RTTSTR} {UP} {DOWN}", v, fmt.Sprintf("%d 1500000 1.5ms false true", t0.Unix())},
		{"{LOCATIONS} | {DURATION} | {CERTEXPIRY}", v, "eu, default, us | 12m0s | 2021-03-16"},
		{"{DURATION}{CERTEXPIRY}{REASON}{LOCATIONS}{CHILDREN}", Vars{}, ""},
		{"{NAME}", Vars{Host: "127.0.0.1"}, "127.0.0.1"},
		{"{STATE}", Vars{Up: true}, "up"},
		{"{STATE}", Vars{State: StatusDown, Up: true}, "down"},
		{"{TIME}", Vars{Slot: t0, TimeZone: time.FixedZone("X", 3600)}, "2021-03-02 13:00:00 +0100 X"},
		{`{"text":"{NAME}"} {name} {NOPE} {{NAME}} {NAME`, v, `{"text":"web"} {name} {NOPE} {web} {NAME`},
		{"plain", v, "plain"},
	}
	for _, tt := range tests {
		if got := Render(tt.template, tt.v); got != tt.want {
			t.Errorf("Render(%q) = %q, want %q", tt.template, got, tt.want)
		}
	}
	if got := Render("{HOST} {CHILDREN}", v); strings.Contains(got, secret) {
		t.Errorf("Render shows a host's secret: %q", got)
	}
}

func TestDefaultMessage(t *testing.T) {
	base := Vars{Host: "h1", Name: "web", Slot: t0}
	with := func(f func(v *Vars)) Vars { v := base; f(&v); return v }
	tests := []struct {
		v            Vars
		title, text  string
		templateText string // Render("") must give text
	}{
		{with(func(v *Vars) {
			v.Event = store.EventDown
			v.Reason = "connection refused"
			v.Locations = []string{"eu", "us"}
		}),
			"srvmon: web is down", "web is down: connection refused. Seen down from: eu, us.", ""},
		{with(func(v *Vars) {
			v.Event = store.EventDown
			v.Reason = "connection refused"
			v.Locations = []string{""}
		}),
			"srvmon: web is down", "web is down: connection refused.", ""},
		{with(func(v *Vars) { v.Event = store.EventDown; v.Locations = []string{"", "eu"} }),
			"srvmon: web is down", "web is down. Seen down from: default, eu.", ""},
		{with(func(v *Vars) { v.Event = store.EventDown; v.ChildrenDown = []string{"db", "cache"} }),
			"srvmon: web is down", "web is down. Also down (depends on it): db, cache.", ""},
		{with(func(v *Vars) { v.Event = store.EventUp; v.Up = true; v.Duration = 12 * time.Minute }),
			"srvmon: web is up", "web is up again after 12m0s.", ""},
		{with(func(v *Vars) { v.Event = store.EventUp; v.Up = true }), "srvmon: web is up", "web is up again.", ""},
		{with(func(v *Vars) { v.Event = store.EventReminder; v.Duration = 4 * time.Hour; v.Reason = "timeout" }),
			"srvmon: web is still down", "web is still down, for 4h0m0s: timeout.", ""},
		{with(func(v *Vars) { v.Event = store.EventCertificate; v.CertExpiry = t0.Add(14 * 24 * time.Hour) }),
			"srvmon: certificate of web expires soon", "The certificate of web expires on 2021-03-16 (in 14 days).", ""},
		{with(func(v *Vars) {
			v.Event = store.EventCertificate
			v.CertRenewed = true
			v.CertExpiry = t0.Add(90 * 24 * time.Hour)
		}), "srvmon: certificate of web renewed", "The certificate of web was renewed: it expires on 2021-05-31.", ""},
		{with(func(v *Vars) { v.Event = store.EventTest; v.Name = "" }),
			"srvmon: test message for h1", "This is a test message from srvmon for h1: the channel works.", ""},
	}
	for _, tt := range tests {
		if got := DefaultTitle(tt.v); got != tt.title {
			t.Errorf("DefaultTitle(%+v) = %q, want %q", tt.v, got, tt.title)
		}
		if got := DefaultMessage(tt.v); got != tt.text {
			t.Errorf("DefaultMessage(%+v) = %q, want %q", tt.v, got, tt.text)
		}
		if got := Render("", tt.v); got != tt.text {
			t.Errorf("Render(\"\") = %q, want %q", got, tt.text)
		}
	}
}

// FuzzRender checks the one-pass renderer against a strings.Replacer
// over every placeholder.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"{NAME} is {STATE}: {REASON} ({LOCATIONS}, {DURATION})", "{{NAME}}{", "{CHILDREN}{CERTEXPIRY}{GROUP}", "x"} {
		f.Add(s, "web {TIME}", "{REASON}", true, int64(1500000))
	}
	f.Fuzz(func(t *testing.T, template, name, reason string, up bool, rtt int64) {
		if template == "" {
			return // the default message
		}
		v := Vars{Host: "127.0.0.1", Name: name, Group: "g", Up: up, Slot: t0.Add(time.Duration(rtt)), RTT: time.Duration(rtt),
			Reason: reason, Locations: []string{"a", "b"}, Duration: time.Duration(rtt), ChildrenDown: []string{"c"}}
		var pairs []string
		for _, p := range Placeholders {
			pairs = append(pairs, "{"+p+"}", v.placeholderValue(p))
		}
		if got, want := Render(template, v), strings.NewReplacer(pairs...).Replace(template); got != want {
			t.Fatalf("Render(%q)\n got %q\nwant %q", template, got, want)
		}
	})
}

func TestRedactChannel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"generic://127.0.0.1:9000/hook?template=json&disabletls=yes", "generic://127.0.0.1:9000/…?template=…&disabletls=…"},
		{"generic+https://127.0.0.1/hook/" + secret + "?" + secret + "&token=" + secret, "generic+https://127.0.0.1/…?…&…"},
		{"slack://hook:" + secret + "@webhook", "slack://…@webhook"},
		{"discord://" + secret + "@123456", "discord://…@123456"},
		{"telegram://123:" + secret + "@telegram?chats=@ops", "telegram://…@telegram?chats=…"},
		{"ntfy://u:" + secret + "@127.0.0.1/topic" + secret, "ntfy://…@127.0.0.1/…"},
		{"smtp://bob:" + secret + "@127.0.0.1:25/?from=a@example.com&to=b@example.com", "smtp://…@127.0.0.1:25?from=…&to=…"},
		{"pagerduty://127.0.0.1/0123456789abcdef0123456789abcdef", "pagerduty://127.0.0.1/…"},
		{"GOTIFY://127.0.0.1/A" + secret + "#" + secret, "gotify://127.0.0.1/…#…"},
		{"mailto:" + secret + "@example.com", "mailto:…"},
		{"not a url " + secret, "(not a channel URL)"},
		{"generic://127.0.0.1/%zz" + secret, "(not a channel URL)"},
		{"", "(not a channel URL)"},
	}
	for _, tt := range tests {
		if got := RedactChannel(tt.in); got != tt.want {
			t.Errorf("RedactChannel(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := RedactChannel(tt.in); !IsRedactedChannel(got) && !strings.HasPrefix(got, "(") && strings.ContainsAny(tt.in, "/@?#") {
			t.Errorf("RedactChannel(%q) = %q: not recognised as masked", tt.in, got)
		}
	}
}

// FuzzRedactChannel: whatever the channel URL, RedactChannel gives its
// scheme and host and nothing of its user info, path, query values or
// fragment; a redacted error holds no part of them either.
func FuzzRedactChannel(f *testing.F) {
	for _, s := range []string{
		"generic://127.0.0.1:9000/hook/SECRETA?template=json&token=SECRETB#SECRETC", "ntfy://u:SECRETP@127.0.0.1/topicSECRET",
		"telegram://123:SECRETT@telegram?chats=@SECRETCHAT", "x:SECRETOPAQUE", "generic://h/?SECRETKEY", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := RedactChannel(raw)
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" {
			if got != "(not a channel URL)" {
				t.Fatalf("RedactChannel(%q) = %q", raw, got)
			}
			return
		}
		if !strings.HasPrefix(got, strings.ToLower(u.Scheme)+":") {
			t.Fatalf("RedactChannel(%q) = %q: not its scheme", raw, got)
		}
		// What follows the scheme (which may equal a secret's text:
		// AAAA:aaaa is scheme aaaa, opaque aaaa).
		rest := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(got, strings.ToLower(u.Scheme)+":"), "//"), "…@")
		rest = strings.TrimPrefix(rest, u.Host)
		secrets := []string{u.Path, u.Fragment, u.Opaque}
		if u.User != nil {
			secrets = append(secrets, u.User.String())
		}
		for _, vs := range u.Query() {
			secrets = append(secrets, vs...)
		}
		for _, s := range secrets {
			if len(s) >= 4 && strings.Contains(rest, s) && !slices.Contains(channelQueryKeys, strings.ToLower(s)) {
				t.Fatalf("RedactChannel(%q) = %q: holds %q", raw, got, s)
			}
		}
		msg := redactError(errors.New("failed: "+raw+" and "+u.Path), raw, time.Second)
		for _, s := range []string{u.RawQuery, u.EscapedPath(), u.Path} {
			if len(s) >= 4 && strings.Contains(msg, s) {
				t.Fatalf("redactError for %q = %q: holds %q", raw, msg, s)
			}
		}
	})
}

func TestCheckRule(t *testing.T) {
	ok := store.Rule{Host: "h1", Threshold: 3}
	with := func(f func(r *store.Rule)) store.Rule { r := ok; f(&r); return r }
	long := "generic://127.0.0.1/" + strings.Repeat("a", MaxChannelLen)
	tests := []struct {
		rule store.Rule
		want string // a part of the error; "" for none
	}{
		{ok, ""},
		{with(func(r *store.Rule) {
			r.Channels = []string{
				"generic://127.0.0.1:9000/hook?template=json&disabletls=yes", "generic+https://127.0.0.1/hook",
				"slack://hook:WNA3PBYV6-F20DUQND3RQ-Webc4MAvoacrpPakR8phF0zi@webhook", "discord://token@123456789",
				"telegram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw@telegram?chats=@ops",
				"ntfy://127.0.0.1/alerts", "gotify://127.0.0.1/Aaa.bbb.ccc.ddd", "pushover://shoutrrr:token@userkey/",
				"teams://11111111-4444-4444-8444-cccccccccccc@22222222-4444-4444-8444-cccccccccccc/33333333012222222222333333333344/44444444-4444-4444-8444-cccccccccccc/V2ESyij_gAljSoUQHvZoZYzlpAoAXExyOl26dlf1xHEx05?host=example.webhook.office.com",
				"matrix://user:pass@127.0.0.1/?rooms=!r:example.com", "smtp://127.0.0.1:25/?from=a@example.com&to=b@example.com",
				"pagerduty://127.0.0.1/0123456789abcdef0123456789abcdef",
			}
			r.Message = `{NAME} is {STATE} {"json": true}`
			r.RecoveryThreshold, r.Window, r.Quorum = 2, 5, "majority"
			r.RemindEvery, r.CertExpiryDays = monitor.Duration(time.Hour), 14
		}), ""},
		{with(func(r *store.Rule) { r.Host = "" }), "without a host"},
		{with(func(r *store.Rule) { r.Channels = make([]string, 21) }), "channels: 21 channels, at most 20"},
		{with(func(r *store.Rule) { r.Channels = []string{"ntfy://127.0.0.1/a", ""} }), "channels[1]: empty"},
		{with(func(r *store.Rule) { r.Channels = []string{long} }), "channels[0]: 2068 bytes, at most 2048"},
		{with(func(r *store.Rule) { r.Channels = []string{"nosuch://" + secret + "@127.0.0.1/"} }), `channels[0]: not a valid channel URL: unknown service "nosuch"`},
		{with(func(r *store.Rule) { r.Channels = []string{"pagerduty://127.0.0.1/" + secret} }), "channels[0]: not a valid channel URL: pagerduty:"},
		{with(func(r *store.Rule) { r.Channels = []string{"slack://" + secret} }), "channels[0]: not a valid channel URL: slack:"},
		{with(func(r *store.Rule) { r.Channels = []string{"https://127.0.0.1/hook"} }), `channels[0]: not a valid channel URL: unknown service "https"`},
		{with(func(r *store.Rule) { r.Channels = []string{"generic://127.0.0.1/\n"} }), "channels[0]: not valid UTF-8 text"},
		{with(func(r *store.Rule) { r.Channels = []string{"ntfy+https://127.0.0.1/x"} }), "channels[0]: not a valid channel URL: ntfy takes no"},
		// shoutrrr indexes a Matrix room unchecked: the panic is a
		// rejected URL, not a crash (found by FuzzCheckRule).
		{with(func(r *store.Rule) { r.Channels = []string{"matrix://u:" + secret + "@127.0.0.1/?room"} }), "channels[0]: not a valid channel URL: matrix: the service failed on this URL (runtime error: index out of range"},
		{with(func(r *store.Rule) { r.Message = strings.Repeat("x", MaxMessageLen+1) }), "message: 4097 bytes"},
		{with(func(r *store.Rule) { r.Message = "{NAME} {HOSTNAME}" }), "message: unknown placeholder {HOSTNAME}"},
		{with(func(r *store.Rule) { r.Message = "\xff" }), "message: not valid UTF-8"},
		{with(func(r *store.Rule) { r.RecoveryThreshold = -1 }), "recovery_threshold: -1 is negative"},
		{with(func(r *store.Rule) { r.Window = 2 }), "window: 2 must be 0 or from the threshold (3) to 64"},
		{with(func(r *store.Rule) { r.Window = 65 }), "window: 65"},
		{with(func(r *store.Rule) { r.Window = -1 }), "window: -1"},
		{with(func(r *store.Rule) { r.Window = 3 }), ""},
		{with(func(r *store.Rule) { r.Quorum = "0" }), `quorum: "0" is not`},
		{with(func(r *store.Rule) { r.Quorum = "most" }), `quorum: "most" is not`},
		{with(func(r *store.Rule) { r.Quorum = "02" }), `quorum: "02" is not`},
		{with(func(r *store.Rule) { r.Quorum = "2" }), ""},
		{with(func(r *store.Rule) { r.RemindEvery = monitor.Duration(time.Second) }), "remind_every: 1s must be 0 or at least 1m0s"},
		{with(func(r *store.Rule) { r.RemindEvery = monitor.Duration(-time.Hour) }), "remind_every"},
		{with(func(r *store.Rule) { r.CertExpiryDays = 366 }), "cert_expiry_days: 366 must be from 0 to 365"},
		{with(func(r *store.Rule) { r.CertExpiryDays = -1 }), "cert_expiry_days"},
	}
	for i, tt := range tests {
		err := CheckRule(tt.rule)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%d: %v", i, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%d: error %v, want %q", i, err, tt.want)
		case err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%d: error %q holds a secret or a newline", i, err)
		}
	}
}

// FuzzCheckRule: CheckRule never panics, sends nothing (only loopback or
// unresolved names are in the corpus, and it contacts nobody anyway), and
// its error is one line naming a field, without the channel's secrets.
func FuzzCheckRule(f *testing.F) {
	f.Add("ntfy://127.0.0.1/alerts", "{NAME} is {STATE}", int64(3), int64(5), "majority", int64(60), int64(14))
	f.Add("generic+https://u:SECRETP@127.0.0.1/x?template=json", "{", int64(0), int64(0), "", int64(0), int64(0))
	f.Add("pagerduty://127.0.0.1/SECRETKEY", "{NOPE}", int64(-1), int64(65), "0", int64(1), int64(400))
	f.Add("matrix://u:SECRETP@127.0.0.1/?rooms=x", "", int64(1), int64(1), "2", int64(3600), int64(1))
	f.Fuzz(func(t *testing.T, channel, message string, recovery, window int64, quorum string, remind, days int64) {
		r := store.Rule{Host: "h1", Threshold: 1, Channels: []string{channel}, Message: message, RecoveryThreshold: recovery,
			Window: window, Quorum: store.Quorum(quorum), RemindEvery: monitor.Duration(time.Duration(remind) * time.Second), CertExpiryDays: days}
		err := CheckRule(r)
		if err == nil {
			return
		}
		msg := err.Error()
		if strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("error on several lines: %q", msg)
		}
		field, _, _ := strings.Cut(msg, ":")
		if !slices.Contains([]string{"channels[0]", "message", "recovery_threshold", "window", "quorum", "remind_every", "cert_expiry_days"}, field) {
			t.Fatalf("error names no field: %q", msg)
		}
		if u, perr := url.Parse(channel); perr == nil && field == "channels[0]" {
			if p, ok := u.User.Password(); ok && len(p) >= 4 && strings.Contains(msg, p) {
				t.Fatalf("error holds the password: %q", msg)
			}
		}
	})
}

// A channel receiver down while hosts change state, then up: every
// change is delivered exactly once, each host's in the order of its
// changes.
func TestChannelInOrderAfterOutage(t *testing.T) {
	const hosts, changes = 4, 3 // down, up, down
	var (
		down     atomic.Bool
		mu       sync.Mutex
		accepted = map[string][]string{}
	)
	down.Store(true)
	rc := newChannelReceiver(t, false, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	rc.answer = func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		reqs := rc.requests()
		b := jsonBody(t, reqs[len(reqs)-1])
		mu.Lock()
		accepted[fmt.Sprint(b["host"])] = append(accepted[fmt.Sprint(b["host"])], fmt.Sprint(b["event"], "@", b["message"]))
		mu.Unlock()
	}
	st := memory.New()
	clk := &clock{}
	s, _ := newSender(t, clk)
	s.Backoff = ExponentialBackoff(time.Minute, time.Hour)
	channel := "generic://" + rc.hostPort() + "/hook/" + secret + "?template=json&disabletls=yes"
	want := map[string][]string{}
	events := []string{store.EventDown, store.EventUp, store.EventDown}
	for i := range changes {
		slot := t0.Add(time.Duration(i) * time.Minute)
		for h := range hosts {
			host := fmt.Sprintf("h%d", h)
			enqueueChannel(t, st, host, channel, events[i], slot)
			v := Vars{Host: host, Event: events[i], Up: events[i] == store.EventUp, Slot: slot, Reason: "connection refused",
				Locations: []string{"eu", ""}, Duration: 12 * time.Minute}
			want[host] = append(want[host], events[i]+"@"+Render("", v))
		}
		clk.Set(slot.Add(time.Second))
		if _, _, err := s.DeliverDue(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	down.Store(false)
	end := t0.Add(changes * time.Minute).Add(time.Second)
	for _, at := range []time.Time{end, end.Add(1000 * time.Hour)} {
		clk.Set(at)
		if _, _, err := s.DeliverDue(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for host, w := range want {
		if got := accepted[host]; !slices.Equal(got, w) {
			t.Errorf("%s: accepted\n%q\nwant\n%q", host, got, w)
		}
	}
}
