package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// Push tokens of the tests: valid (monitor.CheckPushToken) and distinct.
const (
	pushToken  = "tok-push-0123456789abcdef"
	pushToken2 = "tok-push-fedcba9876543210"
	otherToken = "tok-unknown-0123456789"
)

// putMonitor stores m (tests' setup, not validated).
func putMonitor(t testing.TB, st store.Store, m monitor.Monitor) {
	t.Helper()
	if _, err := st.PutMonitor(context.Background(), m); err != nil {
		t.Fatalf("PutMonitor(%q): %v", m.Host, err)
	}
}

func jsonReq(method, target, body string) request {
	return request{method: method, target: target, body: body, header: http.Header{"Content-Type": {"application/json"}}}
}

// decodeMonitorJSON decodes one monitor of the API, facts included.
type monitorOut struct {
	Host               string            `json:"host"`
	Name               string            `json:"name"`
	Group              string            `json:"group"`
	Conditions         []string          `json:"conditions"`
	Method             string            `json:"method"`
	Headers            map[string]string `json:"headers"`
	Body               string            `json:"body"`
	FollowRedirects    *bool             `json:"follow_redirects"`
	Timeout            string            `json:"timeout"`
	InsecureSkipVerify bool              `json:"insecure_skip_verify"`
	Grace              string            `json:"grace"`
	PushToken          string            `json:"push_token"`
	Source             string            `json:"source"`
	CertExpiry         string            `json:"cert_expiry"`
	PushURL            string            `json:"push_url"`
	LastPush           string            `json:"last_push"`
}

func decodeMonitors(t testing.TB, body []byte) []monitorOut {
	t.Helper()
	var ms []monitorOut
	if err := json.Unmarshal(body, &ms); err != nil {
		t.Fatalf("GET /api/monitors: %v: %s", err, body)
	}
	return ms
}

func TestMonitorAPI(t *testing.T) {
	forEachBackend(t, testMonitorAPI)
}

func testMonitorAPI(t *testing.T, st store.Store) {
	putMonitor(t, st, monitor.Monitor{Host: "cfg.example", Settings: monitor.Settings{Name: "From config"}, Source: monitor.SourceConfig})
	e := newEnv(t, st, Options{ProbeTimeout: 10 * time.Second})
	web := `{"host":"http://127.0.0.1:9/","name":"Web","group":"g","conditions":["[STATUS] == 200"],"method":"POST","headers":{"X-Key":"k1"},"body":"b","follow_redirects":false,"timeout":"2s"}`
	tests := []struct {
		name string
		req  request
		code int
		want string
	}{
		{"list, empty but for config", request{method: "GET", target: "/api/monitors"}, 200, `"host":"cfg.example","name":"From config","source":"config"`},
		{"create", jsonReq("PUT", "/api/monitor", web), 201, `"name":"Web","group":"g","conditions":["[STATUS] == 200"],"method":"POST","headers":{"X-Key":"k1"},"body":"b","follow_redirects":false,"timeout":"2s"`},
		{"replace", jsonReq("PUT", "/api/monitor", strings.Replace(web, `"Web"`, `"Web 2"`, 1)), 200, `"name":"Web 2"`},
		{"replace with the facts it was read with", jsonReq("PUT", "/api/monitor", `{"host":"http://127.0.0.1:9/","name":"Web 3","cert_expiry":"2030-01-01T00:00:00Z","push_url":"x","last_push":null}`), 200, `"name":"Web 3"`},
		{"get", request{method: "GET", target: "/api/monitor?host=" + url.QueryEscape("http://127.0.0.1:9/")}, 200, `"name":"Web 3"`},
		{"get unknown", request{method: "GET", target: "/api/monitor?host=nope.example"}, 404, `unknown host "nope.example"`},
		{"get without host", request{method: "GET", target: "/api/monitor"}, 400, "missing host parameter"},
		{"bad header name", jsonReq("PUT", "/api/monitor", `{"host":"http://127.0.0.1/","headers":{"X Y":"v"}}`), 400, `headers["X Y"]: not a valid header name`},
		{"source", jsonReq("PUT", "/api/monitor", `{"host":"a.example","source":"config"}`), 400, "source: set by srvmon, not the API"},
		{"source, empty", jsonReq("PUT", "/api/monitor", `{"host":"a.example","source":""}`), 400, "source: set by srvmon, not the API"},
		{"unknown field", jsonReq("PUT", "/api/monitor", `{"host":"a.example","colour":"red"}`), 400, "colour: unknown field"},
		{"parent not stored", jsonReq("PUT", "/api/monitor", `{"host":"a.example","parent":"router.example"}`), 400, `parent: "router.example" is not a stored host`},
		{"with a stored parent", jsonReq("PUT", "/api/monitor", `{"host":"child.example","parent":"cfg.example"}`), 201, `"host":"child.example","parent":"cfg.example"`},
		{"its own parent", jsonReq("PUT", "/api/monitor", `{"host":"a.example","parent":"a.example"}`), 400, "parent: a monitor cannot be its own parent"},
		{"bad duration", jsonReq("PUT", "/api/monitor", `{"host":"a.example","timeout":"soon"}`), 400, `timeout: "soon" is not a duration`},
		{"timeout over the probe's", jsonReq("PUT", "/api/monitor", `{"host":"a.example","timeout":"1m"}`), 400, "timeout: 1m0s is longer than the round's probe timeout, 10s"},
		{"wrong type", jsonReq("PUT", "/api/monitor", `{"host":"a.example","name":5}`), 400, "name: a JSON number is not a string"},
		{"wrong type in a list", jsonReq("PUT", "/api/monitor", `{"host":"a.example","conditions":[1]}`), 400, "conditions: a JSON number is not a string"},
		{"condition too long", jsonReq("PUT", "/api/monitor", `{"host":"a.example","conditions":["`+strings.Repeat("x", monitor.MaxConditionLen+1)+`"]}`), 400, "conditions[0]: longer than 1024 bytes"},
		{"HTTP setting of a TCP monitor", jsonReq("PUT", "/api/monitor", `{"host":"127.0.0.1:22","method":"GET"}`), 400, "method: applies only to http:// and https:// monitors"},
		{"bad host", jsonReq("PUT", "/api/monitor", `{"host":"bad host"}`), 400, "host: "},
		{"no host", jsonReq("PUT", "/api/monitor", `{"name":"x"}`), 400, "host: "},
		{"not JSON", jsonReq("PUT", "/api/monitor", `host=a.example`), 400, "bad JSON body"},
		{"not an object", jsonReq("PUT", "/api/monitor", `["a.example"]`), 400, "bad JSON body"},
		{"two values", jsonReq("PUT", "/api/monitor", `{"host":"a.example"}{}`), 400, "bad JSON body"},
		{"too deep", jsonReq("PUT", "/api/monitor", strings.Repeat("[", 40)), 400, "nested deeper"},
		{"too large", jsonReq("PUT", "/api/monitor", `{"host":"a.example","body":"`+strings.Repeat("x", monitorBodyBytes)+`"}`), 413, "larger than the limit of 1 MiB"},
		{"config-managed", jsonReq("PUT", "/api/monitor", `{"host":"cfg.example","name":"mine"}`), 409, `host "cfg.example" is managed by the config file`},
		{"delete config-managed", request{method: "DELETE", target: "/api/monitor?host=cfg.example"}, 409, `host "cfg.example" is managed by the config file`},
		{"delete config-managed, gosrvmon's way", request{method: "DELETE", target: "/api/hosts", body: "cfg.example"}, 409, "managed by the config file"},
		{"add with JSON", jsonReq("POST", "/api/hosts", `{"host":"json.example","name":"J"}`), 201, `"host":"json.example","name":"J"`},
		{"add with JSON again", jsonReq("POST", "/api/hosts", `{"host":"json.example"}`), 409, `host "json.example" already exists`},
		{"add config-managed with JSON", jsonReq("POST", "/api/hosts", `{"host":"cfg.example"}`), 409, "managed by the config file"},
		{"add bad JSON", jsonReq("POST", "/api/hosts", `{"host":"j2.example","grace":-1}`), 400, "grace: "},
		{"add text still gosrvmon's", request{method: "POST", target: "/api/hosts", body: "text.example"}, 201, ""},
		{"add text with a charset", request{method: "POST", target: "/api/hosts", body: "text2.example", header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}}, 201, ""},
		// Clients that always label their bodies JSON (gosrvmon ignored the
		// type) send the bare target: it is gosrvmon's host, not a monitor.
		{"add a bare target labelled JSON", jsonReq("POST", "/api/hosts", " 127.0.0.1:9001\n"), 201, ""},
		{"add an empty body labelled JSON", jsonReq("POST", "/api/hosts", "  "), 400, "empty body"},
		{"hosts stay strings", request{method: "GET", target: "/api/hosts"}, 200, `["127.0.0.1:9001","cfg.example","child.example","http://127.0.0.1:9/","json.example","text.example","text2.example"]`},
		{"delete", request{method: "DELETE", target: "/api/monitor?host=" + url.QueryEscape("http://127.0.0.1:9/")}, 200, ""},
		{"delete again", request{method: "DELETE", target: "/api/monitor?host=" + url.QueryEscape("http://127.0.0.1:9/")}, 404, "unknown host"},
		{"delete without host", request{method: "DELETE", target: "/api/monitor"}, 400, "missing host"},
	}
	for _, tt := range tests {
		expect(t, e.serve(tt.req), tt.code, tt.want)
	}
	ms, err := st.Monitors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []monitor.Monitor{
		{Host: "127.0.0.1:9001"},
		{Host: "cfg.example", Settings: monitor.Settings{Name: "From config"}, Source: monitor.SourceConfig},
		{Host: "child.example", Settings: monitor.Settings{Parent: "cfg.example"}},
		{Host: "json.example", Settings: monitor.Settings{Name: "J"}},
		{Host: "text.example"}, {Host: "text2.example"},
	}
	if got, _ := json.Marshal(ms); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("stored %s\nwant %s", got, must(json.Marshal(want)))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestMonitorAPIStoresSettings: what PUT stores is what it was sent.
func TestMonitorAPIStoresSettings(t *testing.T) {
	forEachBackend(t, testMonitorAPIStoresSettings)
}

func testMonitorAPIStoresSettings(t *testing.T, st store.Store) {
	e := newEnv(t, st, Options{})
	expect(t, e.serve(jsonReq("PUT", "/api/monitor", `{"host":"https://127.0.0.1:8443/health","name":"API","group":"prod",`+
		`"conditions":["[STATUS] == 200","[BODY].ok == true"],"method":"HEAD","headers":{"Authorization":"Bearer t0k"},`+
		`"follow_redirects":false,"timeout":3,"insecure_skip_verify":true}`)), 201, "")
	m, err := st.Monitor(context.Background(), "https://127.0.0.1:8443/health")
	if err != nil {
		t.Fatal(err)
	}
	no := false
	want := monitor.Monitor{Host: "https://127.0.0.1:8443/health", Settings: monitor.Settings{
		Name: "API", Group: "prod", Conditions: []string{"[STATUS] == 200", "[BODY].ok == true"}, Method: "HEAD",
		Headers: map[string]string{"Authorization": "Bearer t0k"}, FollowRedirects: &no, Timeout: monitor.Duration(3 * time.Second),
		InsecureSkipVerify: true,
	}}
	if string(must(json.Marshal(m))) != string(must(json.Marshal(want))) {
		t.Errorf("stored %+v, want %+v", m, want)
	}
}

// TestMonitorPushTokens: a push monitor gets a token on create, keeps it
// when a replace omits it, changes it when one is given, and may not
// take another monitor's.
func TestMonitorPushTokens(t *testing.T) {
	forEachBackend(t, testMonitorPushTokens)
}

func testMonitorPushTokens(t *testing.T, st store.Store) {
	s := newServer(Options{Store: st, Now: func() time.Time { return now }})
	e := &env{t: t, st: st, h: s.handler(), log: &testLog{}}
	token := func(host string) string {
		t.Helper()
		m, err := st.Monitor(context.Background(), host)
		if err != nil {
			t.Fatal(err)
		}
		return m.PushToken
	}
	w := e.serve(jsonReq("PUT", "/api/monitor", `{"host":"push://backup","grace":"2m"}`))
	expect(t, w, 201, `"push_url":"api/push/`)
	first := token("push://backup")
	if monitor.CheckPushToken(first) != nil || !strings.Contains(w.Body.String(), `"push_token":"`+first+`"`) {
		t.Fatalf("token %q, answer %s", first, w.Body)
	}
	expect(t, e.serve(jsonReq("PUT", "/api/monitor", `{"host":"push://backup","name":"Backup"}`)), 200, `"push_url":"api/push/`+first+`"`)
	if got := token("push://backup"); got != first {
		t.Errorf("replace without a token: %q, want %q kept", got, first)
	}
	expect(t, e.serve(jsonReq("PUT", "/api/monitor", `{"host":"push://backup","push_token":"`+pushToken+`"}`)), 200, `"push_url":"api/push/`+pushToken+`"`)
	if got := token("push://backup"); got != pushToken {
		t.Errorf("given token: %q", got)
	}
	expect(t, e.serve(jsonReq("PUT", "/api/monitor", `{"host":"push://other","push_token":"`+pushToken+`"}`)), 409, "push_token: another monitor has this push token")
	expect(t, e.serve(jsonReq("PUT", "/api/monitor", `{"host":"push://other","push_token":"short"}`)), 400, "push_token: a push token has 16 to 128 characters")
	expect(t, e.serve(jsonReq("PUT", "/api/monitor", `{"host":"push://other","push_token":"`+strings.Repeat("é", 10)+`"}`)), 400, "push_token: a push token holds only")
	if ok, _ := st.HostExists(context.Background(), "push://other"); ok {
		t.Error("a refused monitor was stored")
	}
	expect(t, e.serve(jsonReq("POST", "/api/hosts", `{"host":"push://other"}`)), 201, `"push_url":"api/push/`)
	if second := token("push://other"); second == first || second == pushToken || monitor.CheckPushToken(second) != nil {
		t.Errorf("second monitor's token %q", second)
	}
}

// TestMonitorsJSON: facts (certificate expiry, push URL, last push),
// masked hosts, and secrets only for those who may change them.
func TestMonitorsJSON(t *testing.T) {
	const secretHost = "http://u:hunter2@127.0.0.1:8080/?token=q7secret"
	expiry := time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC)
	auth := Auth{Enable: true, User: "admin", Password: "s3cret"}
	readsToo := auth
	readsToo.ProtectReads = true
	for _, tt := range []struct {
		name        string
		auth        Auth
		user        string
		host        string // Host header; empty: 127.0.0.1:8000
		code        int
		secretsSeen bool
	}{
		{"auth off", Auth{}, "", "", 200, true},
		{"auth off, a name not allowed", Auth{}, "", "rebound.example", 200, false},
		{"auth on, anonymous", auth, "", "", 200, false},
		{"auth on, signed in", auth, "admin", "", 200, true},
		{"reads protected, anonymous", readsToo, "", "", 401, false},
		{"reads protected, signed in", readsToo, "admin", "", 200, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, st store.Store) {
				putMonitor(t, st, monitor.Monitor{Host: secretHost, Settings: monitor.Settings{
					Name: "Secret", Headers: map[string]string{"Authorization": "Bearer hdr-secret"}, Body: "body-secret"}})
				putMonitor(t, st, monitor.Monitor{Host: "push://job", Settings: monitor.Settings{PushToken: pushToken}})
				putMonitor(t, st, monitor.Monitor{Host: "https://127.0.0.1:8443/"})
				if err := st.SaveRound(context.Background(), []store.Result{{Host: "https://127.0.0.1:8443/", Slot: slot(1), Up: true, CertExpiry: expiry}}, nil); err != nil {
					t.Fatal(err)
				}
				if _, err := st.RecordPush(context.Background(), pushToken, now, store.Result{Slot: slot(0), Up: true}, nil); err != nil {
					t.Fatal(err)
				}
				e := newEnv(t, st, Options{Auth: tt.auth})
				req := request{method: "GET", target: "/api/monitors", host: tt.host}
				if tt.user != "" {
					req.user, req.pass = tt.user, "s3cret"
				}
				w := e.serve(req)
				expect(t, w, tt.code, "")
				if tt.code != 200 {
					return
				}
				body := w.Body.String()
				if strings.Contains(body, "hunter2") || strings.Contains(body, "q7secret") {
					t.Errorf("a host's secret shows: %s", body)
				}
				for _, secret := range []string{"hdr-secret", "body-secret", pushToken} {
					if strings.Contains(body, secret) != tt.secretsSeen {
						t.Errorf("secret %q shown: %v, want %v: %s", secret, !tt.secretsSeen, tt.secretsSeen, body)
					}
				}
				ms := decodeMonitors(t, w.Body.Bytes())
				if len(ms) != 3 {
					t.Fatalf("%d monitors: %s", len(ms), body)
				}
				secret, https, push := ms[0], ms[1], ms[2]
				if https.CertExpiry != "2021-04-01T00:00:00Z" || secret.CertExpiry != "" || push.CertExpiry != "" {
					t.Errorf("cert_expiry %q, %q, %q", https.CertExpiry, secret.CertExpiry, push.CertExpiry)
				}
				if push.LastPush != "2021-03-02T12:00:30Z" || https.LastPush != "" {
					t.Errorf("last_push %q, %q", push.LastPush, https.LastPush)
				}
				if secret.Host != "http://u:xxxxx@127.0.0.1:8080/?token=xxxxx" {
					t.Errorf("host %q", secret.Host)
				}
				wantURL, wantHeader := "", "xxxxx"
				if tt.secretsSeen {
					wantURL, wantHeader = "api/push/"+pushToken, "Bearer hdr-secret"
				}
				if push.PushURL != wantURL || secret.Headers["Authorization"] != wantHeader {
					t.Errorf("push_url %q, header %q", push.PushURL, secret.Headers["Authorization"])
				}
				// The masked host names the monitor.
				req.target = "/api/monitor?host=" + url.QueryEscape(secret.Host)
				expect(t, e.serve(req), 200, `"name":"Secret"`)
			})
		})
	}
}

// pushEnv is a handler over a memory store holding push://job (token
// pushToken) with a notification rule of threshold 1, and a clock the
// test moves.
type pushEnv struct {
	*env
	clock *time.Time
}

func newPushEnv(t *testing.T, st store.Store, opts Options) pushEnv {
	putMonitor(t, st, monitor.Monitor{Host: "push://job", Settings: monitor.Settings{PushToken: pushToken}})
	putMonitor(t, st, monitor.Monitor{Host: "other.example"})
	if err := st.SetRule(context.Background(), store.Rule{Host: "push://job", Threshold: 1, Action: "http://127.0.0.1:9/{HOST}/{STATE}"}); err != nil {
		t.Fatal(err)
	}
	clock := now
	opts.Now = func() time.Time { return clock }
	return pushEnv{newEnv(t, st, opts), &clock}
}

// contentsWithMonitors is what a push may change: results, monitors,
// facts and deliveries.
func contentsWithMonitors(t testing.TB, st store.Store) string {
	ctx := context.Background()
	ms, err1 := st.Monitors(ctx)
	fs, err2 := st.Facts(ctx)
	ds, err3 := st.DueDeliveries(ctx, store.MaxTime(), 1000)
	if err := cmpErr(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	return string(must(json.Marshal([]any{takeSnapshot(t, st), ms, fs, ds})))
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestPush(t *testing.T) {
	forEachBackend(t, testPush)
}

func testPush(t *testing.T, st store.Store) {
	e := newPushEnv(t, st, Options{Interval: time.Minute})
	ctx := context.Background()
	tests := []struct {
		name  string
		req   request
		at    time.Duration // after now
		code  int
		want  string
		saved bool
	}{
		{"up", request{method: "GET", target: "/api/push/" + pushToken}, 0, 200, `{"host":"push://job","slot":"2021-03-02T12:00:00Z","up":true}`, true},
		{"up by POST", request{method: "POST", target: "/api/push/" + pushToken + "?status=up&msg=ignored"}, time.Minute, 200, `"slot":"2021-03-02T12:01:00Z","up":true`, true},
		{"down", request{method: "POST", target: "/api/push/" + pushToken + "?status=down&msg=disk%20full"}, 2 * time.Minute, 200, `"slot":"2021-03-02T12:02:00Z","up":false`, true},
		{"wrong token", request{method: "GET", target: "/api/push/" + otherToken}, 3 * time.Minute, 404, "unknown push token", false},
		{"malformed token", request{method: "GET", target: "/api/push/short"}, 3 * time.Minute, 404, "unknown push token", false},
		{"bad status", request{method: "GET", target: "/api/push/" + pushToken + "?status=maybe"}, 3 * time.Minute, 400, `status: "maybe" is not up or down`, false},
		{"bad query", request{method: "GET", target: "/api/push/" + pushToken + "?msg=%zz"}, 3 * time.Minute, 400, "bad query", false},
		{"HEAD", request{method: "HEAD", target: "/api/push/" + pushToken}, 3 * time.Minute, 405, "", false},
		{"from anywhere", request{method: "POST", target: "/api/push/" + pushToken, host: "status.example",
			header: http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://elsewhere.example"}}}, 3 * time.Minute, 200, `"up":true`, true},
	}
	for _, tt := range tests {
		*e.clock = now.Add(tt.at)
		before := contentsWithMonitors(t, e.st)
		w := e.serve(tt.req)
		if tt.req.method == "HEAD" {
			if w.Code != 405 || w.Header().Get("Allow") != "GET, POST" {
				t.Errorf("%s: %d, Allow %q", tt.name, w.Code, w.Header().Get("Allow"))
			}
		} else {
			expect(t, w, tt.code, tt.want)
		}
		if changed := contentsWithMonitors(t, e.st) != before; changed != tt.saved {
			t.Errorf("%s: store changed: %v, want %v", tt.name, changed, tt.saved)
		}
	}
	var got []store.Result
	if err := e.st.Results(ctx, "push://job", store.MinTime(), store.MaxTime(), func(r store.Result) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []store.Result{
		{Host: "push://job", Slot: slot(0), Up: true},
		{Host: "push://job", Slot: slot(-1), Up: true},
		{Host: "push://job", Slot: slot(-2), Reason: "disk full"},
		{Host: "push://job", Slot: slot(-3), Up: true},
	}
	if !slices.EqualFunc(got, want, func(a, b store.Result) bool {
		return a.Host == b.Host && a.Slot.Equal(b.Slot) && a.Up == b.Up && a.Reason == b.Reason && a.RTT == 0 && a.Location == ""
	}) {
		t.Errorf("results %+v\nwant %+v", got, want)
	}
	// The down push notified, as a round's result does; then the up one.
	ds, err := e.st.DueDeliveries(ctx, store.MaxTime(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, d := range ds {
		urls = append(urls, d.URL)
	}
	if !slices.Equal(urls, []string{"http://127.0.0.1:9/push%3A%2F%2Fjob/down", "http://127.0.0.1:9/push%3A%2F%2Fjob/up"}) {
		t.Errorf("deliveries %q", urls)
	}
	fs, err := e.st.Facts(ctx)
	i := slices.IndexFunc(fs, func(f store.Facts) bool { return f.Host == "push://job" })
	if err != nil || i < 0 || !fs[i].LastPush.Equal(now.Add(3*time.Minute)) || !fs[i].LastPushUp {
		t.Errorf("facts %+v, %v", fs, err)
	}
	if strings.Contains(e.log.String(), pushToken) {
		t.Errorf("the token was logged: %s", e.log)
	}
}

func TestPushReason(t *testing.T) {
	for _, tt := range []struct{ msg, want string }{
		{"", defaultPushDownReason},
		{" \t\r\n", defaultPushDownReason},
		{"disk full", "disk full"},
		{"line 1\nline 2\x00\x7f end", "line 1 line 2 end"},
		{"bad \xff utf-8", "bad \uFFFD utf-8"},
		{strings.Repeat("é", store.MaxReasonLen), strings.Repeat("é", store.MaxReasonLen/2)},
	} {
		if got := pushReason(tt.msg); got != tt.want {
			t.Errorf("pushReason(%.20q) = %.40q, want %.40q", tt.msg, got, tt.want)
		}
	}
	e := newPushEnv(t, backends()[0].open(t), Options{})
	expect(t, e.serve(request{method: "GET", target: "/api/push/" + pushToken + "?status=down&msg=" + strings.Repeat("x", 2*store.MaxReasonLen)}), 200, `"up":false`)
	c, ok, err := e.st.LastCheck(context.Background(), "push://job")
	if err != nil || !ok || c.Error != strings.Repeat("x", store.MaxReasonLen) {
		t.Errorf("last check %+v %v %v", c, ok, err)
	}
}

// TestPushRateLimit: pushBurst pushes at once, then pushRate a second,
// per token; the limit answers 429 and stores nothing.
func TestPushRateLimit(t *testing.T) {
	forEachBackend(t, testPushRateLimit)
}

func testPushRateLimit(t *testing.T, st store.Store) {
	e := newPushEnv(t, st, Options{})
	push := func(token string) int { return e.serve(request{method: "POST", target: "/api/push/" + token}).Code }
	for i := range pushBurst {
		if code := push(pushToken); code != 200 {
			t.Fatalf("push %d: %d", i, code)
		}
	}
	before := contentsWithMonitors(t, e.st)
	w := e.serve(request{method: "POST", target: "/api/push/" + pushToken})
	expect(t, w, 429, "too many pushes: at most 10 a second (bursts of 20) per token")
	if w.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	if contentsWithMonitors(t, e.st) != before {
		t.Error("a refused push was stored")
	}
	// Another token has its own bucket (unknown: 404, not 429).
	if code := push(otherToken); code != 404 {
		t.Errorf("other token: %d", code)
	}
	// A tenth of a second gives one push back.
	*e.clock = e.clock.Add(100 * time.Millisecond)
	if a, b := push(pushToken), push(pushToken); a != 200 || b != 429 {
		t.Errorf("after 100ms: %d, %d; want 200, 429", a, b)
	}
}

func TestPushLimiterBounded(t *testing.T) {
	var l pushLimiter
	t0 := now
	for i := range maxPushBuckets + 100 {
		if !l.allow(itoa(int64(i)), t0) {
			t.Fatalf("token %d refused", i)
		}
	}
	if n := l.tracked(); n > maxPushBuckets {
		t.Errorf("%d buckets, limit %d", n, maxPushBuckets)
	}
	// Buckets that are full again are forgotten first.
	if !l.allow("late", t0.Add(time.Hour)) || l.tracked() != 1 {
		t.Errorf("%d buckets after all refilled", l.tracked())
	}
}

// TestPushNeverLogsToken: a push that fails inside logs its path with the
// token masked.
func TestPushNeverLogsToken(t *testing.T) {
	e := newPushEnv(t, backends()[0].open(t), Options{}) // closed below
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, e.serve(request{method: "POST", target: "/api/push/" + pushToken}), 500, "internal server error")
	log := e.log.String()
	if strings.Contains(log, pushToken) || !strings.Contains(log, "path=/api/push/xxxxx") {
		t.Errorf("log %q", log)
	}
}

// TestMonitorsOverHTTP: a monitor made with PUT and reported in by a
// push, over a real HTTP connection, as curl does it.
func TestMonitorsOverHTTP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		s := newServer(Options{Store: st, Auth: Auth{Enable: true, User: "admin", Password: "s3cret"}})
		srv := httptest.NewServer(s.handler())
		defer srv.Close()
		do := func(method, path, body string, auth bool) (int, string) {
			t.Helper()
			req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if auth {
				req.SetBasicAuth("admin", "s3cret")
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, string(b)
		}
		if code, _ := do("PUT", "/api/monitor", `{"host":"push://nightly","push_token":"`+pushToken+`"}`, false); code != 401 {
			t.Errorf("PUT without auth: %d", code)
		}
		if code, body := do("PUT", "/api/monitor", `{"host":"push://nightly","push_token":"`+pushToken+`"}`, true); code != 201 {
			t.Fatalf("PUT: %d %s", code, body)
		}
		if code, body := do("POST", "/api/push/"+pushToken+"?status=down&msg=backup%20failed", "", false); code != 200 || !strings.Contains(body, `"host":"push://nightly"`) || !strings.Contains(body, `"up":false`) {
			t.Errorf("push: %d %s", code, body)
		}
		code, body := do("GET", "/api/monitors", "", true)
		if ms := decodeMonitors(t, []byte(body)); code != 200 || len(ms) != 1 || ms[0].PushURL != "api/push/"+pushToken || ms[0].LastPush == "" {
			t.Errorf("monitors: %d %s", code, body)
		}
		if code, body := do("GET", "/api/checks/last?host=push://nightly", "", false); code != 200 || !strings.Contains(body, `"error":"backup failed"`) {
			t.Errorf("last check: %d %s", code, body)
		}
	})
}

// BenchmarkPush: one push, rate limit and store included (memory), each
// at a new second so that the limit never refuses.
func BenchmarkPush(b *testing.B) {
	st := memory.New()
	putMonitor(b, st, monitor.Monitor{Host: "push://job", Settings: monitor.Settings{PushToken: pushToken}})
	clock := now
	h := New(Options{Store: st, Now: func() time.Time { return clock }})
	req := httptest.NewRequest("POST", "/api/push/"+pushToken, nil)
	b.ReportAllocs()
	for b.Loop() {
		clock = clock.Add(time.Second)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkMonitorsList: GET /api/monitors of 1000 monitors with
// settings (memory).
func BenchmarkMonitorsList(b *testing.B) {
	st := memory.New()
	for i := range 1000 {
		putMonitor(b, st, monitor.Monitor{Host: "http://127.0.0.1:" + itoa(int64(1000+i)) + "/", Settings: monitor.Settings{
			Name: "Monitor " + itoa(int64(i)), Group: "g", Conditions: []string{"[STATUS] == 200"}, Headers: map[string]string{"X-Key": "k"}}})
	}
	h := New(Options{Store: st, Now: func() time.Time { return now }})
	req := httptest.NewRequest("GET", "/api/monitors", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d", w.Code)
		}
	}
}
