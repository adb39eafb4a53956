package notify

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nicholas-fedor/shoutrrr/pkg/services/chat/slack"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// request is what a loopback channel receiver got.
type request struct {
	Method, Path, ContentType string
	Header                    http.Header
	Query                     url.Values
	Body                      string
}

// channelReceiver is a loopback HTTP(S) server that records every request
// and answers with answer (204 when nil).
type channelReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []request
	answer func(w http.ResponseWriter, r *http.Request)
}

func newChannelReceiver(t *testing.T, useTLS bool, answer func(w http.ResponseWriter, r *http.Request)) *channelReceiver {
	rc := &channelReceiver{answer: answer}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"),
			r.Header.Clone(), r.URL.Query(), string(body)})
		rc.mu.Unlock()
		if rc.answer != nil {
			rc.answer(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if useTLS {
		rc.Server = httptest.NewTLSServer(h)
	} else {
		rc.Server = httptest.NewServer(h)
	}
	t.Cleanup(rc.Close)
	return rc
}

func (rc *channelReceiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// hostPort is the receiver's loopback address, host:port.
func (rc *channelReceiver) hostPort() string { return rc.Listener.Addr().String() }

// pinnedClient is an HTTP client that sends every request, whatever its
// URL's host (discord.com, api.pushover.net), to rc over TLS: it dials
// rc's loopback address only and trusts rc's certificate, which is made
// for example.com. So a service whose endpoint is fixed is pointed at the
// loopback receiver without any name being resolved.
func (rc *channelReceiver) pinnedClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(rc.Certificate())
	addr := rc.hostPort()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
	}}
}

// sendOne enqueues one delivery of event to channel for host on a memory
// store and delivers it with s; it returns the delivery as stored after.
func sendOne(t *testing.T, s *Sender, st store.Store, host, channel, event string, slot time.Time) store.Delivery {
	t.Helper()
	enqueueChannel(t, st, host, channel, event, slot)
	clk := &clock{t: slot.Add(time.Second)}
	s.Now = clk.Now
	rec := &updateRecorder{Outbox: st}
	if _, _, err := s.DeliverDue(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.updates) != 1 {
		t.Fatalf("%d outcomes recorded, want 1: %+v", len(rec.updates), rec.updates)
	}
	return rec.updates[0]
}

// updateRecorder is an Outbox that keeps every outcome recorded.
type updateRecorder struct {
	store.Outbox
	mu      sync.Mutex
	updates []store.Delivery
}

func (u *updateRecorder) UpdateDelivery(ctx context.Context, d store.Delivery) error {
	err := u.Outbox.UpdateDelivery(ctx, d)
	if err == nil {
		u.mu.Lock()
		u.updates = append(u.updates, d)
		u.mu.Unlock()
	}
	return err
}

// enqueueChannel makes st enqueue a delivery of event to channel for
// host at slot, as the decision code will: through SaveRound.
func enqueueChannel(t *testing.T, st store.Store, host, channel, event string, slot time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := st.AddHost(ctx, host); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	if err := st.SetRule(ctx, store.Rule{Host: host, Threshold: 1, Channels: []string{channel}}); err != nil {
		t.Fatal(err)
	}
	v := Vars{Host: host, Event: event, Up: event == store.EventUp, Slot: slot, Reason: "connection refused",
		Locations: []string{"eu", ""}, Duration: 12 * time.Minute}
	// A fixed decision: this test is about delivery, not about deciding.
	alerting := &store.Alerting{Decide: func(in store.AlertInput) ([]store.State, []store.Delivery) {
		st := in.States[host]
		st.LastSlot = slot
		return []store.State{st}, []store.Delivery{{Host: host, Channel: channel, Event: event, Title: DefaultTitle(v),
			Message: Render("", v), Created: slot, NextAttempt: slot}}
	}}
	if err := st.SaveRound(ctx, []store.Result{{Host: host, Slot: slot, Up: v.Up}}, alerting); err != nil {
		t.Fatal(err)
	}
}

// jsonBody decodes a request's JSON body.
func jsonBody(t *testing.T, r request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("%s %s: body %q: %v", r.Method, r.Path, r.Body, err)
	}
	return m
}

const (
	wantTitle   = "srvmon: h1 is down"
	wantMessage = "h1 is down: connection refused. Seen down from: eu, default."
)

// Each service whose URL can name a host, or which takes an HTTP client
// (pointed at the loopback receiver: pinnedClient), gets one message per
// delivery, with the title where the service shows one, as the service's
// API wants it. The log and the stored delivery never hold the channel's
// secret.
func TestChannelServices(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tls     bool
		pinned  bool // the service's host is fixed: send it through pinnedClient
		channel func(rc *channelReceiver) string
		answer  func(w http.ResponseWriter, r *http.Request)
		check   func(t *testing.T, reqs []request)
	}{
		{
			name: "generic JSON",
			channel: func(rc *channelReceiver) string {
				return "generic://" + rc.hostPort() + "/hook/" + secret + "?template=json&disabletls=yes&token=" + secret
			},
			check: func(t *testing.T, reqs []request) {
				r := reqs[0]
				if r.Method != http.MethodPost || r.Path != "/hook/"+secret || r.Query.Get("token") != secret || r.ContentType != "application/json" {
					t.Errorf("got %s %s?%s (%s)", r.Method, r.Path, r.Query.Encode(), r.ContentType)
				}
				b := jsonBody(t, r)
				if b["title"] != wantTitle || b["message"] != wantMessage || b["event"] != "down" || b["host"] != "h1" {
					t.Errorf("body %v", b)
				}
			},
		},
		{
			name: "generic+http custom URL",
			channel: func(rc *channelReceiver) string {
				return "generic+http://" + rc.hostPort() + "/in/" + secret + "?template=json"
			},
			check: func(t *testing.T, reqs []request) {
				if r := reqs[0]; r.Method != http.MethodPost || r.Path != "/in/"+secret || jsonBody(t, r)["message"] != wantMessage {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			name: "ntfy",
			channel: func(rc *channelReceiver) string {
				return "ntfy://" + rc.hostPort() + "/alerts" + secret + "?disabletls=yes&priority=high"
			},
			answer: func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"id":"1"}`) },
			check: func(t *testing.T, reqs []request) {
				r := reqs[0]
				if r.Method != http.MethodPost || r.Path != "/alerts"+secret || r.Body != wantMessage ||
					r.Header.Get("Title") != wantTitle || r.Header.Get("Priority") != "High" {
					t.Errorf("got %s %s %v %q", r.Method, r.Path, r.Header, r.Body)
				}
			},
		},
		{
			name: "gotify",
			channel: func(rc *channelReceiver) string {
				return "gotify://" + rc.hostPort() + "/A" + secret + "123?disabletls=yes"
			},
			answer: func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"id":1}`) },
			check: func(t *testing.T, reqs []request) {
				r := reqs[0]
				b := jsonBody(t, r)
				if r.Method != http.MethodPost || r.Path != "/message" || r.Query.Get("token") != "A"+secret+"123" ||
					b["message"] != wantMessage || b["title"] != wantTitle {
					t.Errorf("got %s %s?%s %v", r.Method, r.Path, r.Query.Encode(), b)
				}
			},
		},
		{
			name: "matrix",
			channel: func(rc *channelReceiver) string {
				return "matrix://:" + secret + "@" + rc.hostPort() + "/?disableTLS=yes&rooms=!ops:example.com"
			},
			answer: func(w http.ResponseWriter, r *http.Request) {
				switch {
				case strings.Contains(r.URL.Path, "/join/"):
					io.WriteString(w, `{"room_id":"!ops:example.com"}`)
				case strings.Contains(r.URL.Path, "/send/m.room.message"):
					io.WriteString(w, `{"event_id":"$1"}`)
				default:
					http.NotFound(w, r)
				}
			},
			check: func(t *testing.T, reqs []request) {
				if len(reqs) != 2 {
					t.Fatalf("got %d requests, want a join and a send: %+v", len(reqs), reqs)
				}
				join, send := reqs[0], reqs[1]
				if join.Path != "/_matrix/client/r0/join/!ops:example.com" || join.Query.Get("access_token") != secret {
					t.Errorf("join %s?%s", join.Path, join.Query.Encode())
				}
				b := jsonBody(t, send)
				if send.Method != http.MethodPost || send.Path != "/_matrix/client/r0/rooms/!ops:example.com/send/m.room.message" ||
					b["body"] != wantMessage || b["msgtype"] != "m.text" {
					t.Errorf("send %s %s %v", send.Method, send.Path, b)
				}
			},
		},
		{
			name:   "discord",
			tls:    true,
			pinned: true,
			channel: func(*channelReceiver) string {
				return "discord://" + secret + "@123456789"
			},
			check: func(t *testing.T, reqs []request) {
				r := reqs[0]
				b := jsonBody(t, r)
				embeds, _ := b["embeds"].([]any)
				if r.Method != http.MethodPost || r.Path != "/api/webhooks/123456789/"+secret || len(embeds) == 0 {
					t.Fatalf("got %s %s %v", r.Method, r.Path, b)
				}
				if e := embeds[0].(map[string]any); e["description"] != wantMessage || !strings.Contains(r.Body, wantTitle) {
					t.Errorf("embed %v, body %s", e, r.Body)
				}
			},
		},
		{
			name:   "pushover",
			tls:    true,
			pinned: true,
			answer: func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"status":1,"request":"x"}`) },
			channel: func(*channelReceiver) string {
				return "pushover://shoutrrr:" + secret + "@uQiRzpo4DXghDmr9QzzfQu27cmVRsG/?devices=phone"
			},
			check: func(t *testing.T, reqs []request) {
				r := reqs[0]
				f, err := url.ParseQuery(r.Body)
				if err != nil || r.Method != http.MethodPost || r.Path != "/1/messages.json" || f.Get("token") != secret ||
					f.Get("user") != "uQiRzpo4DXghDmr9QzzfQu27cmVRsG" || f.Get("message") != wantMessage || f.Get("title") != wantTitle ||
					f.Get("device") != "phone" {
					t.Errorf("got %s %s %v (%v)", r.Method, r.Path, f, err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newChannelReceiver(t, tc.tls, tc.answer)
			s, logs := newSender(t, &clock{})
			if tc.pinned {
				s.Client = rc.pinnedClient()
			}
			st := memory.New()
			d := sendOne(t, s, st, "h1", tc.channel(rc), store.EventDown, t0)
			if d.Status != store.DeliveryDelivered {
				t.Fatalf("delivery %s: %s\n%s", d.Status, d.LastError, logs)
			}
			reqs := rc.requests()
			if len(reqs) == 0 {
				t.Fatal("the receiver got nothing")
			}
			tc.check(t, reqs)
			if out := logs.String(); !strings.Contains(out, "notification delivered") || !strings.Contains(out, "channel=") {
				t.Errorf("log:\n%s", out)
			}
		})
	}
}

// A receiver that fails answers a failed attempt whose stored error and
// log line name neither the channel's token nor its path.
func TestChannelFailureRedacted(t *testing.T) {
	rc := newChannelReceiver(t, false, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusBadGateway)
	})
	s, logs := newSender(t, &clock{})
	channel := "generic://" + rc.hostPort() + "/hook/" + secret + "?template=json&disabletls=yes&token=" + secret
	d := sendOne(t, s, memory.New(), "h1", channel, store.EventDown, t0)
	if d.Status != store.DeliveryPending || d.LastError == "" || strings.Contains(d.LastError, secret) {
		t.Errorf("delivery %s, last error %q", d.Status, d.LastError)
	}
	if out := logs.String(); !strings.Contains(out, "attempt failed") || !strings.Contains(out, "502") {
		t.Errorf("log:\n%s", out)
	}
}

// An unknown service or a URL the service refuses is given up at once:
// it can never be delivered.
func TestChannelInvalidGivenUp(t *testing.T) {
	for _, channel := range []string{"nosuch://" + secret + "@127.0.0.1/", "teams://" + secret + "@127.0.0.1/x", "pagerduty://127.0.0.1/" + secret} {
		s, _ := newSender(t, &clock{})
		d := sendOne(t, s, memory.New(), "h1", channel, store.EventDown, t0)
		if d.Status != store.DeliveryFailed || d.Attempts != 1 || strings.Contains(d.LastError, secret) {
			t.Errorf("%s: delivery %s after %d attempts, %q", RedactChannel(channel), d.Status, d.Attempts, d.LastError)
		}
	}
}

// A receiver that never answers costs one Timeout: the attempt fails and
// is retried later.
func TestChannelTimeout(t *testing.T) {
	release := make(chan struct{})
	rc := newChannelReceiver(t, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	s, _ := newSender(t, &clock{})
	s.Timeout = 100 * time.Millisecond
	d := sendOne(t, s, memory.New(), "h1", "generic://"+rc.hostPort()+"/hook?disabletls=yes", store.EventDown, t0)
	if d.Status != store.DeliveryPending || d.LastError != "timeout after 100ms" {
		t.Errorf("delivery %s, %q", d.Status, d.LastError)
	}
}

// PagerDuty: a down triggers the host's incident and the recovery
// resolves it, under one dedup key derived from the host (another host's
// differs); a test triggers and resolves an info event of its own.
func TestChannelPagerDuty(t *testing.T) {
	rc := newChannelReceiver(t, true, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"x"}`)
	})
	s, _ := newSender(t, &clock{})
	s.Client = rc.Client() // trusts the loopback receiver's certificate
	st := memory.New()
	const key = "0123456789abcdef0123456789abcdef"
	channel := "pagerduty://" + rc.hostPort() + "/" + key
	for i, step := range []struct{ host, event string }{
		{"h1", store.EventDown}, {"h1", store.EventReminder}, {"h1", store.EventUp}, {"h2", store.EventDown}, {"h1", store.EventTest},
	} {
		if d := sendOne(t, s, st, step.host, channel, step.event, t0.Add(time.Duration(i)*time.Minute)); d.Status != store.DeliveryDelivered {
			t.Fatalf("%s %s: %s %s", step.host, step.event, d.Status, d.LastError)
		}
	}
	type event struct{ action, dedup, source, severity string }
	var got []event
	for _, r := range rc.requests() {
		b := jsonBody(t, r)
		if r.Method != http.MethodPost || r.Path != "/v2/enqueue" || b["routing_key"] != key {
			t.Errorf("got %s %s %v", r.Method, r.Path, b)
		}
		p, _ := b["payload"].(map[string]any)
		got = append(got, event{fmt.Sprint(b["event_action"]), fmt.Sprint(b["dedup_key"]), fmt.Sprint(p["source"]), fmt.Sprint(p["severity"])})
	}
	h1, h2 := PagerDutyDedupKey("h1", store.EventDown), PagerDutyDedupKey("h2", store.EventDown)
	test := PagerDutyDedupKey("h1", store.EventTest)
	want := []event{
		{"trigger", h1, "h1", "error"}, {"trigger", h1, "h1", "error"}, {"resolve", h1, "h1", "error"},
		{"trigger", h2, "h2", "error"}, {"trigger", test, "h1", "info"}, {"resolve", test, "h1", "info"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
	if h1 == h2 || h1 == test || !strings.HasPrefix(h1, "srvmon-") {
		t.Errorf("dedup keys %q %q %q", h1, h2, test)
	}
}

// smtpServer is a minimal loopback SMTP server (no TLS, no auth) that
// records each mail's envelope and data.
type smtpServer struct {
	ln    net.Listener
	mu    sync.Mutex
	mails []string // "FROM:<…> TO:<…>\n" + data
}

func newSMTPServer(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &smtpServer{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { srv.serve(c) })
		}
	})
	return srv
}

func (srv *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(s string) { io.WriteString(c, s+"\r\n") }
	say("220 localhost ESMTP test")
	var env []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-localhost")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"):
			env = append(env, strings.TrimSpace(line))
			say("250 OK")
		case cmd == "DATA":
			say("354 go on")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(l)
			}
			srv.mu.Lock()
			srv.mails = append(srv.mails, strings.Join(env, " ")+"\n"+data.String())
			srv.mu.Unlock()
			env = nil
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		case cmd == "RSET", cmd == "NOOP":
			say("250 OK")
		default:
			say("502 not implemented")
		}
	}
}

// E-mail: one mail to a loopback SMTP server, the title as its subject
// and the message as its body.
func TestChannelSMTP(t *testing.T) {
	srv := newSMTPServer(t)
	s, logs := newSender(t, &clock{})
	channel := "smtp://" + srv.ln.Addr().String() + "/?from=srvmon@example.com&to=ops@example.com&encryption=None&starttls=No&auth=None"
	d := sendOne(t, s, memory.New(), "h1", channel, store.EventDown, t0)
	if d.Status != store.DeliveryDelivered {
		t.Fatalf("delivery %s: %s\n%s", d.Status, d.LastError, logs)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.mails) != 1 {
		t.Fatalf("got %d mails", len(srv.mails))
	}
	m := srv.mails[0]
	for _, want := range []string{"MAIL FROM:<srvmon@example.com>", "RCPT TO:<ops@example.com>", "Subject: " + wantTitle, wantMessage} {
		if !strings.Contains(m, want) {
			t.Errorf("mail lacks %q:\n%s", want, m)
		}
	}
}

// Slack's endpoint is fixed (hooks.slack.com, slack.com) and its client
// cannot be replaced, so it is not sent to: the request it would send is
// rendered with shoutrrr's own payload builder from the channel URL and
// the title srvmon gives it. Telegram and Teams cannot be pointed at a
// loopback receiver at all (fixed or validated hosts, net/http's default
// client) and render their requests in unexported code: CheckChannel is
// all that is tested of them (TestCheckRule).
func TestChannelSlackRendered(t *testing.T) {
	u, err := url.Parse("slack://hook:WNA3PBYV6-F20DUQND3RQ-Webc4MAvoacrpPakR8phF0zi@webhook?color=good")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckChannel(u.String()); err != nil {
		t.Fatal(err)
	}
	cfg, err := slack.CreateConfigFromURL(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Title = wantTitle
	body, err := json.Marshal(slack.CreateJSONPayload(cfg, wantMessage))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"text":"` + wantTitle + `"`, `"text":"` + wantMessage + `"`, `"color":"good"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("payload lacks %s: %s", want, body)
		}
	}
	if got := cfg.Token.WebhookURL(); got != "https://hooks.slack.com/services/WNA3PBYV6/F20DUQND3RQ/Webc4MAvoacrpPakR8phF0zi" {
		t.Errorf("webhook %s", got)
	}
}
