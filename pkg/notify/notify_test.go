package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

var t0 = time.Date(2021, 3, 2, 12, 0, 0, 0, time.UTC)

// step is one result saved and what must come of it.
type step struct {
	up       bool
	slot     int    // minutes after t0
	status   string // the state's Status after it
	count    int64  // its Count
	notify   string // "" for no delivery, else the expected {STATE}
	lastSlot int    // its LastSlot in minutes after t0; -1 means slot
}

// TestGosrvmonsRule: a rule with gosrvmon's fields alone, at one location,
// decides as gosrvmon's threshold rule, where gosrvmon is right.
func TestGosrvmonsRule(t *testing.T) {
	const (
		U = true
		D = false
	)
	// s builds a step at slot i whose LastSlot is the slot itself.
	s := func(up bool, i int, status string, count int64, notify string) step {
		return step{up, i, status, count, notify, -1}
	}
	tests := []struct {
		name      string
		threshold int64
		steps     []step
	}{
		{"first up is not news", 1, []step{
			s(U, 0, "up", 0, ""),
			s(U, 1, "up", 0, ""),
		}},
		{"first up is not news, threshold 3", 3, []step{
			s(U, 0, "up", 0, ""),
		}},
		{"down from the first check, threshold 1", 1, []step{
			s(D, 0, "down", 0, "down"),
			s(D, 1, "down", 0, ""),
		}},
		{"down from the first check, threshold 3", 3, []step{
			s(D, 0, "", 1, ""),
			s(D, 1, "", 2, ""),
			s(D, 2, "down", 0, "down"),
			s(D, 3, "down", 0, ""),
			s(U, 4, "down", 1, ""),
			s(U, 5, "down", 2, ""),
			s(U, 6, "up", 0, "up"),
		}},
		{"first checks down, then up before the threshold", 3, []step{
			s(D, 0, "", 1, ""),
			s(D, 1, "", 2, ""),
			s(U, 2, "up", 0, ""),
			s(D, 3, "up", 1, ""),
		}},
		{"threshold 1: every change notifies", 1, []step{
			s(U, 0, "up", 0, ""),
			s(D, 1, "down", 0, "down"),
			s(U, 2, "up", 0, "up"),
			s(U, 3, "up", 0, ""),
			s(D, 4, "down", 0, "down"),
		}},
		{"threshold below 1 counts as 1", 0, []step{
			s(U, 0, "up", 0, ""),
			s(D, 1, "down", 0, "down"),
		}},
		{"negative threshold counts as 1", -5, []step{
			s(U, 0, "up", 0, ""),
			s(D, 1, "down", 0, "down"),
		}},
		{"threshold 3: blips send nothing", 3, []step{
			s(U, 0, "up", 0, ""),
			s(D, 1, "up", 1, ""),
			s(U, 2, "up", 0, ""),
			s(D, 3, "up", 1, ""),
			s(D, 4, "up", 2, ""),
			s(U, 5, "up", 0, ""),
			s(D, 6, "up", 1, ""),
			s(D, 7, "up", 2, ""),
			s(D, 8, "down", 0, "down"),
			s(U, 9, "down", 1, ""),
			s(D, 10, "down", 0, ""),
		}},
		{"flapping with threshold 1", 1, []step{
			s(U, 0, "up", 0, ""),
			s(D, 1, "down", 0, "down"),
			s(U, 2, "up", 0, "up"),
			s(D, 3, "down", 0, "down"),
			s(U, 4, "up", 0, "up"),
		}},
		{"flapping with threshold 2 never notifies", 2, []step{
			s(U, 0, "up", 0, ""),
			s(D, 1, "up", 1, ""),
			s(U, 2, "up", 0, ""),
			s(D, 3, "up", 1, ""),
			s(U, 4, "up", 0, ""),
		}},
		{"repeated and older slots change nothing", 2, []step{
			s(U, 5, "up", 0, ""),
			{D, 5, "up", 0, "", 5}, // the same slot again (a retried round)
			s(D, 6, "up", 1, ""),
			{D, 6, "up", 1, "", 6}, // retried: must not count twice
			{D, 4, "up", 1, "", 6}, // older
			s(D, 7, "down", 0, "down"),
			{D, 7, "down", 0, "", 7}, // retried after notifying: no second delivery
		}},
		{"gaps between slots do not matter", 2, []step{
			s(U, 0, "up", 0, ""),
			s(D, 60, "up", 1, ""),
			s(D, 600, "down", 0, "down"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule := store.Rule{Host: "h", Threshold: tt.threshold, Action: "http://127.0.0.1:1/?s={STATE}"}
			sm := newSim(t, Options{}, rule)
			for i, st := range tt.steps {
				slot := t0.Add(time.Duration(st.slot) * time.Minute)
				ds := sm.save(store.Result{Host: "h", Slot: slot, Up: st.up, RTT: time.Millisecond})
				next := sm.states["h"]
				wantLast := slot
				if st.lastSlot >= 0 {
					wantLast = t0.Add(time.Duration(st.lastSlot) * time.Minute)
				}
				if next.Host != "h" || next.Status != st.status || next.Count != st.count || !next.LastSlot.Equal(wantLast) {
					t.Fatalf("step %d (up=%v slot=%d): state %+v, want status %q count %d last slot %v",
						i, st.up, st.slot, next, st.status, st.count, wantLast)
				}
				switch {
				case st.notify == "" && len(ds) != 0:
					t.Fatalf("step %d: unexpected deliveries %+v", i, ds)
				case st.notify != "" && len(ds) != 1:
					t.Fatalf("step %d: deliveries %+v, want one %q", i, ds, st.notify)
				case st.notify != "":
					want := store.Delivery{Host: "h", URL: "http://127.0.0.1:1/?s=" + st.notify, Event: st.notify,
						Created: slot, NextAttempt: slot, Status: store.DeliveryPending}
					if !reflect.DeepEqual(ds[0], want) {
						t.Fatalf("step %d: delivery %+v, want %+v", i, ds[0], want)
					}
				}
			}
		})
	}
}

// A rule without an action or channels keeps the state but enqueues
// nothing.
func TestRuleWithoutActionKeepsState(t *testing.T) {
	sm := newSim(t, Options{}, store.Rule{Host: "h", Threshold: 1, Action: "  "})
	sm.save(store.Result{Host: "h", Slot: t0, Up: true})
	if ds := sm.save(store.Result{Host: "h", Slot: t0.Add(time.Minute)}); len(ds) != 0 || sm.states["h"].Status != StatusDown {
		t.Fatalf("state %+v, deliveries %+v", sm.states["h"], ds)
	}
}

// The action's {TIME} is in the zone of Options.TimeZone; results of
// hosts without a rule, and slots not after the state's, change nothing.
func TestAlertingActionTimeZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	sm := newSim(t, Options{TimeZone: berlin}, store.Rule{Host: "h", Threshold: 1, Action: "{TIME}"})
	ds := sm.save(store.Result{Host: "h", Slot: t0}, store.Result{Host: "other", Slot: t0})
	if len(ds) != 1 || ds[0].URL != "2021-03-02+13%3A00%3A00+%2B0100+CET" {
		t.Fatalf("deliveries %+v", ds)
	}
	if ds := sm.save(store.Result{Host: "h", Slot: t0, Up: true}); len(ds) != 0 {
		t.Errorf("a retried slot sent %+v", ds)
	}
}

func TestExpandAction(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	summer := time.Date(2021, 7, 1, 0, 30, 0, 0, time.UTC)
	down := store.Result{Host: "8.8.8.8", Slot: t0, RTT: 10 * time.Second, Up: false, Reason: `condition [BODY].status == ok failed: "degraded"`}
	up := store.Result{Host: "http://[::1]:8080/a b?x=1&y={TIME}", Slot: t0, RTT: 1500 * time.Microsecond, Up: true}
	tests := []struct {
		name   string
		action string
		r      store.Result
		tz     *time.Location
		want   string
	}{
		{"gosrvmon README example", "https://api.telegram.org/bot<token>/sendMessage?chat_id=<chat_id>&text=State%20changed.%20Host%3A%20{HOST}%20New%20state%3A%20{STATE}%20Time%3A%20{TIME}",
			down, time.UTC,
			"https://api.telegram.org/bot<token>/sendMessage?chat_id=<chat_id>&text=State%20changed.%20Host%3A%208.8.8.8%20New%20state%3A%20down%20Time%3A%202021-03-02+12%3A00%3A00+%2B0000+UTC"},
		{"every placeholder, down", "{HOST}|{STATE}|{TIME}|{TIMESTAMP}|{RTT}|{RTTSTR}|{UP}|{DOWN}", down, time.UTC,
			"8.8.8.8|down|2021-03-02+12%3A00%3A00+%2B0000+UTC|1614686400|10000000000|10s|false|true"},
		{"every placeholder, up, escaped", "{HOST}|{STATE}|{RTT}|{RTTSTR}|{UP}|{DOWN}", up, time.UTC,
			"http%3A%2F%2F%5B%3A%3A1%5D%3A8080%2Fa+b%3Fx%3D1%26y%3D%7BTIME%7D|up|1500000|1.5ms|true|false"},
		{"placeholders repeat", "{STATE}{STATE}{UP}", up, nil, "upuptrue"},
		{"reason, down", "text={REASON}", down, nil, "text=condition+%5BBODY%5D.status+%3D%3D+ok+failed%3A+%22degraded%22"},
		{"reason, up", "text=[{REASON}]", up, nil, "text=[]"},
		{"nil zone is UTC", "{TIME}", down, nil, "2021-03-02+12%3A00%3A00+%2B0000+UTC"},
		{"time zone, winter", "{TIME}", down, berlin, "2021-03-02+13%3A00%3A00+%2B0100+CET"},
		{"time zone, summer", "{TIME} {TIMESTAMP}", store.Result{Slot: summer}, berlin, "2021-07-01+02%3A30%3A00+%2B0200+CEST 1625099400"},
		{"sub-second slot", "{TIME}", store.Result{Slot: t0.Add(250 * time.Millisecond)}, time.UTC, "2021-03-02+12%3A00%3A00.25+%2B0000+UTC"},
		{"unknown and lower-case placeholders stay", "{host}{HOSTS}{TIME", down, time.UTC, "{host}{HOSTS}{TIME"},
		{"nested braces", "{{HOST}}{{}{HOST", down, time.UTC, "{8.8.8.8}{{}{HOST"},
		{"no placeholders", "http://127.0.0.1:9/hook", down, time.UTC, "http://127.0.0.1:9/hook"},
		{"negative rtt", "{RTT} {RTTSTR}", store.Result{RTT: -1}, time.UTC, "-1 -1ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExpandAction(tt.action, tt.r, tt.tz); got != tt.want {
				t.Errorf("ExpandAction\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	// {TIME} is gosrvmon's checkTime.String() for a slot in UTC.
	if got, want := ExpandAction("{TIME}", down, time.UTC), strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(t0.String(), " ", "+"), ":", "%3A"), "+0000", "%2B0000"); got != want {
		t.Errorf("{TIME} = %s, want gosrvmon's %s", got, want)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://api.telegram.org/bot123:SECRET/sendMessage?chat_id=1&text=x", "https://api.telegram.org/…"},
		{"http://user:pass@127.0.0.1:8080/hook", "http://127.0.0.1:8080/…"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{"http://127.0.0.1:8080/?token=SECRET", "http://127.0.0.1:8080/…"},
		{"http://127.0.0.1:8080#SECRET", "http://127.0.0.1:8080/…"},
		{"http://[::1]:80/x", "http://[::1]:80/…"},
		{"not a url SECRET", "(not an absolute URL)"},
		{"http://127.0.0.1:8080/%zzSECRET", "(not an absolute URL)"},
		{"", "(not an absolute URL)"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactError(t *testing.T) {
	const raw = "http://bob:PASSWORD1@127.0.0.1:1/botTOKEN123:ABC/send?key=QUERYSECRET&text=a%20b#FRAGSECRET"
	secrets := []string{"PASSWORD1", "TOKEN123", "QUERYSECRET", "FRAGSECRET", "bob:"}
	for _, err := range []error{
		fmt.Errorf("wrapped: %w", &url.Error{Op: "Get", URL: raw, Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}),
		&url.Error{Op: "Get", URL: raw, Err: fmt.Errorf("stopped after redirect to %s", raw)},
		fmt.Errorf("parse %q: invalid", raw),
		fmt.Errorf("path /botTOKEN123:ABC/send and query key=QUERYSECRET"),
		fmt.Errorf("unescaped %s", "/botTOKEN123:ABC/send?key=QUERYSECRET"),
	} {
		got := redactError(err, raw, time.Second)
		for _, s := range secrets {
			if strings.Contains(got, s) {
				t.Errorf("redactError(%q) = %q: holds %s", err, got, s)
			}
		}
	}
	if got := redactError(&url.Error{Op: "Get", URL: raw, Err: context.DeadlineExceeded}, raw, 3*time.Second); got != "timeout after 3s" {
		t.Errorf("deadline: %q", got)
	}
	long := redactError(fmt.Errorf("%s", strings.Repeat("é", 400)), raw, time.Second)
	if len(long) > maxErrorLen+len("…") || !strings.HasSuffix(long, "…") || !strings.HasPrefix(long, "éé") {
		t.Errorf("long error: %d bytes, %q...", len(long), long[:10])
	}
}
