package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

func formReq(v url.Values) request {
	return request{method: "POST", target: "/web/monitor", body: v.Encode(), header: formHeader}
}

// inputValue is the value of the form field named name (a textarea's
// text), and whether a checkbox of that name is checked.
func inputValue(doc *html.Node, name string) (value string, checked bool) {
	for _, a := range []atom.Atom{atom.Input, atom.Textarea} {
		for _, n := range findAll(doc, a) {
			if attrOf(n, "name") != name {
				continue
			}
			if a == atom.Textarea {
				if n.FirstChild == nil {
					return "", false
				}
				return n.FirstChild.Data, false
			}
			_, checked := attrValue(n, "checked")
			return attrOf(n, "value"), checked
		}
	}
	return "", false
}

func attrValue(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// errorLine is the text of the page's error paragraph.
func errorLine(doc *html.Node) string {
	for _, p := range findAll(doc, atom.P) {
		if attrOf(p, "id") == "error" {
			return textOf(p)
		}
	}
	return ""
}

func TestMonitorForms(t *testing.T) {
	forEachBackend(t, testMonitorForms)
}

func testMonitorForms(t *testing.T, st store.Store) {
	putMonitor(t, st, monitor.Monitor{Host: "cfg.example", Source: monitor.SourceConfig})
	e := newEnv(t, st, Options{ProbeTimeout: 10 * time.Second})
	ctx := context.Background()
	const host = "https://127.0.0.1:9/"

	doc := e.page("/web/hosts", http.StatusOK)
	if _, checked := inputValue(doc, "follow_redirects"); !checked {
		t.Error("follow redirects is not on by default")
	}
	if v, _ := inputValue(doc, "mode"); v != "add" {
		t.Errorf("add form mode %q", v)
	}

	add := url.Values{
		"mode": {"add"}, "host": {host}, "name": {"Web <b>"}, "group": {"prod"},
		"conditions": {"[STATUS] == 200\r\n\r\n  [BODY].ok == true  \r\n"}, "method": {"POST"},
		"headers": {"X-Key: k1\r\nAccept: text/plain; q=1\r\n"}, "body": {"ping\r\n"}, "timeout": {"2s"},
		"insecure_skip_verify": {"on"}, // follow_redirects unchecked: not sent
		"status_hidden":        {"on"},
	}
	w := e.serve(formReq(add))
	expect(t, w, http.StatusSeeOther, "")
	if loc := w.Header().Get("Location"); loc != "../web/monitor?action=saved&host="+url.QueryEscape(host) {
		t.Errorf("Location %q", loc)
	}
	m, err := st.Monitor(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	no := false
	want := monitor.Monitor{Host: host, Settings: monitor.Settings{
		Name: "Web <b>", Group: "prod", Conditions: []string{"[STATUS] == 200", "[BODY].ok == true"}, Method: "POST",
		Headers: map[string]string{"X-Key": "k1", "Accept": "text/plain; q=1"}, Body: "ping\r\n", FollowRedirects: &no,
		Timeout: monitor.Duration(2 * time.Second), InsecureSkipVerify: true, Status: &no,
	}}
	if string(must(jsonMarshal(m))) != string(must(jsonMarshal(want))) {
		t.Errorf("stored %s\nwant %s", must(jsonMarshal(m)), must(jsonMarshal(want)))
	}

	// Refused: the page again, with the reason and the values as typed.
	for _, tt := range []struct {
		name string
		set  url.Values
		code int
		want string
	}{
		{"exists", nil, http.StatusConflict, `host "` + host + `" already exists`},
		{"header line", url.Values{"host": {"h.example"}, "method": {""}, "body": {""}, "headers": {"X-Ok: 1\nNoColon"}}, http.StatusBadRequest, `headers: line 2 is not "Name: value"`},
		{"header name", url.Values{"host": {"https://h.example/"}, "headers": {"X Y: 1"}}, http.StatusBadRequest, `headers["X Y"]: not a valid header name`},
		{"HTTP setting of a TCP monitor", url.Values{"host": {"127.0.0.1:22"}, "headers": {""}, "body": {""}}, http.StatusBadRequest, "method: applies only to http:// and https:// monitors"},
		{"timeout", url.Values{"host": {"http://h.example/"}, "timeout": {"soon"}}, http.StatusBadRequest, `timeout: "soon" is not a duration`},
		{"timeout too long", url.Values{"host": {"https://h.example/"}, "timeout": {"30"}}, http.StatusBadRequest, "timeout: 30s is longer than the round's probe timeout, 10s"},
		{"bad host", url.Values{"host": {"bad host"}}, http.StatusBadRequest, "host: "},
		{"config-managed", url.Values{"host": {"cfg.example"}, "method": {""}, "headers": {""}, "body": {""}, "insecure_skip_verify": {""}}, http.StatusConflict, `host "cfg.example" is managed by the config file`},
	} {
		v := maps(add, tt.set)
		before := must(st.Monitors(ctx))
		w := e.serve(formReq(v))
		if w.Code != tt.code {
			t.Fatalf("%s: %d, want %d: %s", tt.name, w.Code, tt.code, w.Body)
		}
		doc := parsePage(t, w.Body.Bytes())
		if got := errorLine(doc); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: error %q, want %q", tt.name, got, tt.want)
		}
		if got, _ := inputValue(doc, "name"); got != "Web <b>" {
			t.Errorf("%s: name %q not kept", tt.name, got)
		}
		if got, _ := inputValue(doc, "headers"); got != strings.ReplaceAll(v.Get("headers"), "\r\n", "\n") { // as HTML reads it
			t.Errorf("%s: headers %q not kept, want %q", tt.name, got, v.Get("headers"))
		}
		if after := must(st.Monitors(ctx)); string(must(jsonMarshal(after))) != string(must(jsonMarshal(before))) {
			t.Errorf("%s: the store changed", tt.name)
		}
	}

	// The monitor page shows it and its form holds its settings.
	doc = e.page("/web/monitor?host="+url.QueryEscape(host), http.StatusOK)
	text := textOf(doc)
	for _, s := range []string{"Web <b>", "[STATUS] == 200", "X-Key: k1", "Insecure: the certificate is not verified."} {
		if !strings.Contains(text, s) {
			t.Errorf("monitor page lacks %q: %s", s, text)
		}
	}
	if v, _ := inputValue(doc, "headers"); v != "Accept: text/plain; q=1\nX-Key: k1" {
		t.Errorf("edit form headers %q", v)
	}
	if v, checked := inputValue(doc, "follow_redirects"); v != "on" || checked {
		t.Errorf("edit form follow_redirects %q checked %v", v, checked)
	}
	if v, _ := inputValue(doc, "timeout"); v != "2s" {
		t.Errorf("edit form timeout %q", v)
	}
	if _, checked := inputValue(doc, "status_hidden"); !checked {
		t.Error("edit form: hide from the status page is not checked")
	}

	// Edit: the form's values with a new name; follow redirects back on,
	// shown on the status page again (status_hidden not sent).
	edit := url.Values{"mode": {"edit"}, "host": {host}, "follow_redirects": {"on"}}
	for _, f := range []string{"group", "conditions", "method", "headers", "body", "timeout", "insecure_skip_verify"} {
		v, checked := inputValue(doc, f)
		if f != "insecure_skip_verify" || checked {
			edit.Set(f, v)
		}
	}
	edit.Set("name", "Web 2")
	expect(t, e.serve(formReq(edit)), http.StatusSeeOther, "")
	m = must(st.Monitor(ctx, host))
	want.Name, want.FollowRedirects, want.Body, want.Status = "Web 2", nil, "ping\n", nil
	if string(must(jsonMarshal(m))) != string(must(jsonMarshal(want))) {
		t.Errorf("edited %s\nwant %s", must(jsonMarshal(m)), must(jsonMarshal(want)))
	}
	// Refused edit: the monitor page with the reason.
	edit.Set("timeout", "-1s")
	w = e.serve(formReq(edit))
	if w.Code != http.StatusBadRequest {
		t.Fatalf("bad edit: %d", w.Code)
	}
	if got := errorLine(parsePage(t, w.Body.Bytes())); got != "timeout: -1s is negative" {
		t.Errorf("bad edit: error %q", got)
	}
	expect(t, e.serve(formReq(url.Values{"mode": {"edit"}, "host": {"nope.example"}})), http.StatusNotFound, "unknown host")
	expect(t, e.serve(formReq(url.Values{"mode": {"edit"}, "host": {"cfg.example"}})), http.StatusConflict, "managed by the config file")

	// A config-managed monitor is read-only.
	doc = e.page("/web/monitor?host=cfg.example", http.StatusOK)
	if !strings.Contains(textOf(doc), "Managed by the config file") || len(findAll(doc, atom.Form)) != 0 {
		t.Errorf("config-managed page: %s", textOf(doc))
	}
	expect(t, e.serve(request{method: "POST", target: "/web/hosts", body: "action=del&host=cfg.example", header: formHeader}), http.StatusConflict, "managed by the config file")
	e.page("/web/monitor", http.StatusOK) // a list to pick from
	expect(t, e.get("/web/monitor?host=nope.example"), http.StatusNotFound, `unknown host "nope.example"`)
}

// maps is a copy of base with set's values replacing its own.
func maps(base, set url.Values) url.Values {
	v := url.Values{}
	for k, vs := range base {
		v[k] = slices.Clone(vs)
	}
	for k, vs := range set {
		v[k] = vs
	}
	return v
}

func TestHostsPageMonitors(t *testing.T) {
	forEachBackend(t, testHostsPageMonitors)
}

func testHostsPageMonitors(t *testing.T, st store.Store) {
	putMonitor(t, st, monitor.Monitor{Host: "https://127.0.0.1:8443/", Settings: monitor.Settings{
		Name: "Shop", Group: "prod", Conditions: []string{"[STATUS] == 200"}, InsecureSkipVerify: true}})
	putMonitor(t, st, monitor.Monitor{Host: "cfg.example", Source: monitor.SourceConfig})
	putMonitor(t, st, monitor.Monitor{Host: "http://u:hunter2@127.0.0.1/", Settings: monitor.Settings{Name: "<script>alert(1)</script>"}})
	if err := st.SaveRound(context.Background(), []store.Result{
		{Host: "https://127.0.0.1:8443/", Slot: slot(1), Reason: "condition [STATUS] == 200 failed: 503", CertExpiry: now.Add(10*24*time.Hour + time.Hour)},
	}, nil); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, st, Options{})
	w := e.get("/web/hosts")
	if strings.Contains(w.Body.String(), "hunter2") || strings.Contains(w.Body.String(), "<script>") {
		t.Fatalf("unmasked or unescaped: %s", w.Body)
	}
	doc := parsePage(t, w.Body.Bytes())
	var rows []string
	for _, tr := range findAll(doc, atom.Tr)[1:] {
		rows = append(rows, textOf(tr))
	}
	want := []string{
		"<script>alert(1)</script> http://u:xxxxx@127.0.0.1/ unknown never – – Last day Delete",
		"cfg.example managed by config file unknown never – – Last day",
		"Shop https://127.0.0.1:8443/ prod down 2021-03-02 11:59:00 UTC – condition [STATUS] == 200 failed: 503 0.00% 10 days insecure: certificate not verified [STATUS] == 200 Last day Delete",
	}
	if !slices.Equal(rows, want) {
		t.Errorf("rows\n%q\nwant\n%q", rows, want)
	}
	if !slices.Contains(links(doc), "../web/monitor?host="+url.QueryEscape("https://127.0.0.1:8443/")) {
		t.Errorf("no link to the monitor page: %q", links(doc))
	}
}

// TestMonitorPageOfAHostWithSecrets: the page of a monitor whose host
// holds a password shows that host's last check.
func TestMonitorPageOfAHostWithSecrets(t *testing.T) {
	st := memory.New()
	const host = "http://u:hunter2@127.0.0.1:9/"
	putMonitor(t, st, monitor.Monitor{Host: host, Settings: monitor.Settings{Name: "Secret"}})
	if err := st.SaveRound(context.Background(), []store.Result{{Host: host, Slot: slot(1), Reason: "refused"}}, nil); err != nil {
		t.Fatal(err)
	}
	w := newEnv(t, st, Options{}).get("/web/monitor?host=" + url.QueryEscape(host))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `<td class="down">down</td>`) || !strings.Contains(w.Body.String(), "refused") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

// TestMonitorPageSecrets: with auth on, a reader who has not signed in
// sees no secret and no form, and the edit page asks for the password.
func TestMonitorPageSecrets(t *testing.T) {
	forEachBackend(t, testMonitorPageSecrets)
}

func testMonitorPageSecrets(t *testing.T, st store.Store) {
	putMonitor(t, st, monitor.Monitor{Host: "push://job", Settings: monitor.Settings{PushToken: pushToken, Grace: monitor.Duration(5 * time.Minute)}})
	putMonitor(t, st, monitor.Monitor{Host: "http://127.0.0.1/", Settings: monitor.Settings{Headers: map[string]string{"Authorization": "Bearer hdr-secret"}}})
	if _, err := st.RecordPush(context.Background(), pushToken, now, store.Result{Slot: slot(0), Up: true}, nil); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, st, Options{Auth: Auth{Enable: true, User: "admin", Password: "s3cret"}})
	for _, target := range []string{"/web/monitor?host=push://job", "/web/monitor?host=http://127.0.0.1/"} {
		w := e.get(target)
		expect(t, w, http.StatusOK, "sign in to change it")
		for _, secret := range []string{pushToken, "hdr-secret"} {
			if strings.Contains(w.Body.String(), secret) {
				t.Errorf("%s shows %q", target, secret)
			}
		}
		if n := len(findAll(parsePage(t, w.Body.Bytes()), atom.Form)); n != 0 {
			t.Errorf("%s: %d forms", target, n)
		}
	}
	expect(t, e.get("/web/monitor/edit?host=push://job"), http.StatusUnauthorized, "unauthorized")
	signedIn := func(r request) request { r.user, r.pass = "admin", "s3cret"; return r }
	w := e.serve(signedIn(request{method: "GET", target: "/web/monitor/edit?host=push://job"}))
	expect(t, w, http.StatusOK, "../api/push/"+pushToken)
	doc := parsePage(t, w.Body.Bytes())
	if text := textOf(doc); !strings.Contains(text, "Last push 2021-03-02 12:00:30 UTC") || !strings.Contains(text, "Grace 5m0s") {
		t.Errorf("push page: %s", text)
	}
	// Saving keeps the token unless a new one is asked for.
	save := url.Values{"mode": {"edit"}, "host": {"push://job"}, "name": {"Job"}, "grace": {"10m"}}
	expect(t, e.serve(signedIn(formReq(save))), http.StatusSeeOther, "")
	if m := must(st.Monitor(context.Background(), "push://job")); m.PushToken != pushToken || m.Name != "Job" || m.Grace.D() != 10*time.Minute {
		t.Errorf("saved %+v", m)
	}
	save.Set("new_push_token", "on")
	expect(t, e.serve(signedIn(formReq(save))), http.StatusSeeOther, "")
	if m := must(st.Monitor(context.Background(), "push://job")); m.PushToken == pushToken || monitor.CheckPushToken(m.PushToken) != nil {
		t.Errorf("new token %q", m.PushToken)
	}
	expect(t, e.serve(request{method: "GET", target: "/api/push/" + pushToken}), http.StatusNotFound, "unknown push token")
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// TestHostsPageUptimeLeavesMaintenanceOut: the hosts page's uptime is up
// of the checks up or down, checks in maintenance left out; a host
// checked only in maintenance says so rather than dividing by zero.
func TestHostsPageUptimeLeavesMaintenanceOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		for _, h := range []string{"a.example", "b.example", "c.example"} {
			putMonitor(t, st, monitor.Monitor{Host: h})
		}
		rs := []store.Result{
			{Host: "a.example", Slot: slot(1), RTT: time.Millisecond, Up: true},
			{Host: "a.example", Slot: slot(2), RTT: time.Millisecond, Up: true},
			{Host: "a.example", Slot: slot(3), Reason: "timeout"},
			{Host: "a.example", Slot: slot(4), Reason: "timeout", Maintenance: true},
			{Host: "a.example", Slot: slot(5), Reason: "timeout", Maintenance: true},
			{Host: "a.example", Slot: slot(6), RTT: time.Millisecond, Up: true, Maintenance: true},
			{Host: "b.example", Slot: slot(1), Reason: "timeout", Maintenance: true},
		}
		if err := st.SaveRound(context.Background(), rs, nil); err != nil {
			t.Fatal(err)
		}
		doc := parsePage(t, newEnv(t, st, Options{}).get("/web/hosts").Body.Bytes())
		var got []string
		for _, tr := range findAll(doc, atom.Tr)[1:] {
			if tds := findAll(tr, atom.Td); len(tds) > 6 {
				got = append(got, textOf(tds[6]))
			}
		}
		if want := []string{"66.67%", "maintenance", "–"}; !slices.Equal(got, want) {
			t.Errorf("uptimes %q, want %q", got, want)
		}
	})
}
