package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// channelSecret is in every channel URL these tests store: no answer but
// a backup may show it.
const channelSecret = "CHANNELSECRET"

// The memory store keeps a rule's channels; the other backends keep them
// once their part of issue 12 lands, when these tests should run on
// forEachBackend.
func newChannelEnv(t *testing.T) (*env, store.Store) {
	st := memory.New()
	seed(t, st, []string{"example.org"}, nil)
	return newEnv(t, st, Options{}), st
}

func TestRulesChannels(t *testing.T) {
	e, st := newChannelEnv(t)
	hook := "generic://127.0.0.1:9/hook/" + channelSecret + "?template=json&disabletls=yes"
	ntfy := "ntfy://u:" + channelSecret + "@127.0.0.1:9/alerts"
	rule := store.Rule{Host: "example.org", Threshold: 2, Channels: []string{hook, ntfy, hook + "&x=1"},
		Message: "{NAME} is {STATE}", RecoveryThreshold: 3, Window: 5, Quorum: "majority",
		RemindEvery: monitor.Duration(4 * time.Hour), CertExpiryDays: 14}
	body, _ := json.Marshal(rule)
	expect(t, e.serve(request{method: "POST", target: "/api/notifications_params", body: string(body)}), 201, "")

	// GET masks the channels.
	w := e.get("/api/notifications_params")
	if strings.Contains(w.Body.String(), channelSecret) {
		t.Fatalf("GET shows a channel's secret: %s", w.Body)
	}
	var got []store.Rule
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got) != 1 {
		t.Fatalf("%v: %s", err, w.Body)
	}
	wantMasked := []string{"generic://127.0.0.1:9/…?template=…&disabletls=…", "ntfy://…@127.0.0.1:9/…", "generic://127.0.0.1:9/…?template=…&disabletls=…&…"}
	if !reflect.DeepEqual(got[0].Channels, wantMasked) {
		t.Errorf("masked channels %q, want %q", got[0].Channels, wantMasked)
	}

	// Sent back as GET gave it, with another threshold and the channels
	// reordered: the stored channels are kept, in the new order.
	edit := got[0]
	edit.Threshold = 4
	edit.Channels = []string{wantMasked[1], wantMasked[0], wantMasked[2], "ntfy://127.0.0.1:9/new"}
	body, _ = json.Marshal(edit)
	expect(t, e.serve(request{method: "POST", target: "/api/notifications_params", body: string(body)}), 201, "")
	stored, err := st.Rule(context.Background(), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	rule.Threshold, rule.Channels = 4, []string{ntfy, hook, hook + "&x=1", "ntfy://127.0.0.1:9/new"}
	if !reflect.DeepEqual(stored, rule) {
		t.Errorf("stored\n%+v\nwant\n%+v", stored, rule)
	}

	for _, tc := range []struct{ body, want string }{
		{`{"host":"example.org","threshold":1,"channels":["generic://127.0.0.1:9/…?template=…&token=…"]}`,
			`channels[0]: "generic://127.0.0.1:9/…?template=…&token=…" is masked and is none of host "example.org"'s stored channels`},
		{`{"host":"example.org","threshold":1,"channels":["ntfy://…@127.0.0.1:9/…","ntfy://…@127.0.0.1:9/…"]}`, "channels[1]: "},
		{`{"host":"example.org","threshold":1,"channels":["ntfy://127.0.0.1/a","nosuch://` + channelSecret + `@127.0.0.1/"]}`,
			`channels[1]: not a valid channel URL: unknown service "nosuch"`},
		{`{"host":"example.org","threshold":1,"message":"{NOPE}"}`, "message: unknown placeholder {NOPE}"},
		{`{"host":"example.org","threshold":3,"window":2}`, "window: 2 must be 0 or from the threshold (3) to 64"},
		{`{"host":"example.org","threshold":1,"quorum":"most"}`, `quorum: "most" is not`},
		{`{"host":"example.org","threshold":1,"remind_every":"10s"}`, "remind_every: 10s must be 0 or at least 1m0s"},
		{`{"host":"example.org","threshold":1,"cert_expiry_days":400}`, "cert_expiry_days: 400"},
		{`{"host":"example.org","threshold":1,"recovery_threshold":-2}`, "recovery_threshold: -2 is negative"},
	} {
		w := e.serve(request{method: "POST", target: "/api/notifications_params", body: tc.body})
		expect(t, w, 400, tc.want)
		if strings.Contains(w.Body.String(), channelSecret) {
			t.Errorf("%s: answer shows the secret: %s", tc.body, w.Body)
		}
	}
	if after, _ := st.Rule(context.Background(), "example.org"); !reflect.DeepEqual(after, rule) {
		t.Errorf("a refused rule changed the stored one: %+v", after)
	}

	// gosrvmon's form changes the threshold and action only.
	w = e.serve(request{method: "POST", target: "/web/notifications_params", header: formHeader,
		body: url.Values{"action": {"add"}, "host": {"example.org"}, "threshold": {"4"}, "state_action": {"http://127.0.0.1:9/a"}}.Encode()})
	if w.Code != http.StatusSeeOther && w.Code != http.StatusFound {
		t.Fatalf("form: %d %s", w.Code, w.Body)
	}
	rule.Threshold, rule.Action = 4, "http://127.0.0.1:9/a"
	if after, _ := st.Rule(context.Background(), "example.org"); !reflect.DeepEqual(after, rule) {
		t.Errorf("after the form\n%+v\nwant\n%+v", after, rule)
	}
}

// testReceiver is a loopback webhook that records the test messages it
// gets and fails the requests whose path holds "fail".
type testReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	gets   []string
}

func newTestReceiver(t *testing.T) *testReceiver {
	rc := &testReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if r.Method == http.MethodGet {
			rc.gets = append(rc.gets, r.URL.RequestURI())
		} else {
			var m map[string]any
			b, _ := io.ReadAll(r.Body)
			json.Unmarshal(b, &m)
			rc.bodies = append(rc.bodies, m)
		}
		if strings.Contains(r.URL.Path, "reject") {
			http.Error(w, "no", http.StatusBadGateway)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func TestRulesTest(t *testing.T) {
	e, st := newChannelEnv(t)
	rc := newTestReceiver(t)
	addr := strings.TrimPrefix(rc.URL, "http://")
	good := "generic://" + addr + "/ok/" + channelSecret + "?template=json&disabletls=yes"
	bad := "generic://" + addr + "/reject/" + channelSecret + "?template=json&disabletls=yes"
	if _, err := st.PutMonitor(context.Background(), monitor.Monitor{Host: "example.org", Settings: monitor.Settings{Name: "Example"}}); err != nil {
		t.Fatal(err)
	}
	rule := store.Rule{Host: "example.org", Threshold: 1, Channels: []string{good, bad}, Action: rc.URL + "/get?h={HOST}&s={STATE}"}
	if err := st.SetRule(context.Background(), rule); err != nil {
		t.Fatal(err)
	}
	want := []notify.TestResult{
		{Channel: notify.RedactChannel(good), OK: true},
		{Channel: notify.RedactChannel(bad), Error: "failed to send notification to generic webhook: server returned unexpected response status code: 502 Bad Gateway"},
		{Channel: rc.URL + "/…", OK: true},
	}
	for _, body := range []string{
		`{"host":"example.org"}`, // the stored rule
		`{"host":"example.org","threshold":1,"channels":["` + notify.RedactChannel(good) + `","` + bad + `"],"action":"` + rule.Action + `"}`,
	} {
		w := e.serve(request{method: "POST", target: "/api/notifications_params/test", body: body})
		expect(t, w, 200, "")
		if strings.Contains(w.Body.String(), channelSecret) {
			t.Errorf("answer shows the secret: %s", w.Body)
		}
		var got []notify.TestResult
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", body, got, want)
		}
	}
	rc.mu.Lock()
	if len(rc.bodies) != 4 || len(rc.gets) != 2 {
		t.Fatalf("receiver got %d messages and %d GETs, want 4 and 2", len(rc.bodies), len(rc.gets))
	}
	for _, b := range rc.bodies {
		if b["event"] != "test" || b["title"] != "srvmon: test message for Example" ||
			!strings.HasPrefix(b["message"].(string), "This is a test message from srvmon for Example") {
			t.Errorf("message %v", b)
		}
	}
	if rc.gets[0] != "/get?h=example.org&s=up" {
		t.Errorf("GET %s", rc.gets[0])
	}
	rc.mu.Unlock()
	if after, _ := st.Rule(context.Background(), "example.org"); !reflect.DeepEqual(after, rule) {
		t.Errorf("a test changed the rule: %+v", after)
	}

	seed(t, st, []string{"norule.example"}, nil)
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"host":"nope.example"}`, 404, "unknown host"},
		{`{"host":"norule.example"}`, 404, `host "norule.example" has no notification rule`},
		{`{}`, 400, "missing host"},
		{`{"host":"example.org","channels":["slack://x"]}`, 400, "channels[0]: not a valid channel URL: slack"},
		{`{"host":"example.org","channels":["generic://127.0.0.1:9/…"]}`, 400, "channels[0]: "},
		{`{"host":`, 400, "bad JSON body"},
	} {
		expect(t, e.serve(request{method: "POST", target: "/api/notifications_params/test", body: tc.body}), tc.code, tc.want)
	}
}
