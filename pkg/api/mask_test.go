package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html/atom"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// Hosts with secrets, as stored and as readers see them.
const (
	secretHost   = "https://monitor:hunter2@secret.example/health?token=abc123&x=1"
	secretMasked = "https://monitor:xxxxx@secret.example/health?token=xxxxx&x=1"
	// twinHost shows as secretMasked too.
	twinHost = "https://monitor:swordfish@secret.example/health?token=def456&x=1"
)

// secretsIn lists the secrets of secretHost and twinHost found in s.
func secretsIn(s string) []string {
	var found []string
	for _, secret := range []string{"hunter2", "abc123", "swordfish", "def456", "remotesecret"} {
		if strings.Contains(s, secret) {
			found = append(found, secret)
		}
	}
	return found
}

// TestMaskedHosts: every read endpoint and page shows a host's password
// and secret query values masked, and takes the masked name back; backups
// and notification settings (change rights) keep them whole.
func TestMaskedHosts(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer failing.Close()
	forEachBackend(t, func(t *testing.T, st store.Store) {
		seed(t, st, []string{"example.org", ampHost, secretHost}, []store.Result{
			{Host: secretHost, Slot: slot(2), RTT: time.Millisecond, Up: true},
			{Host: secretHost, Slot: slot(1), RTT: time.Second, Up: false, Reason: "HTTP 500"},
		})
		if err := st.SetRule(context.Background(), store.Rule{Host: secretHost, Threshold: 2}); err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, st, Options{RemoteChecksURLs: []string{failing.URL + "/api/checks?token=remotesecret"}})
		m := url.QueryEscape(secretMasked)

		// /api/hosts: masked, sorted; other hosts exactly as stored.
		w := e.get("/api/hosts")
		expect(t, w, http.StatusOK, "")
		var hosts []string
		if err := json.Unmarshal(w.Body.Bytes(), &hosts); err != nil {
			t.Fatal(err)
		}
		if want := []string{"example.org", ampHost, secretMasked}; !slices.Equal(hosts, want) {
			t.Errorf("/api/hosts %q, want %q", hosts, want)
		}

		// Every read, asked by the masked name, answers without a secret.
		rng := "&start=" + itoa(slot(3).Unix()) + "&end=" + itoa(slot(1).Unix())
		reads := []string{
			"/", "/web/hosts", "/web/view", "/web/checks",
			"/web/view?host=" + m, "/web/view?host=" + m + rng, "/web/checks?host=" + m + rng,
			"/web/checks/svg?host=" + m + rng, "/api/checks?host=" + m + rng, "/api/checks/last?host=" + m,
		}
		for _, target := range reads {
			w := e.get(target)
			expect(t, w, http.StatusOK, "")
			if s := secretsIn(w.Body.String()); len(s) > 0 {
				t.Errorf("%s shows %q", target, s)
			}
		}
		if !strings.Contains(e.log.String(), "remote checks skipped") {
			t.Errorf("no remote logged:\n%s", e.log.String())
		}
		if s := secretsIn(e.log.String()); len(s) > 0 {
			t.Errorf("the log shows %q:\n%s", s, e.log.String())
		}
		whole := e.get("/api/checks?host=" + url.QueryEscape(secretHost) + rng).Body.String()
		if got := e.get("/api/checks?host=" + m + rng).Body.String(); got != whole || !strings.Contains(got, "HTTP 500") {
			t.Errorf("checks by masked name %q, by whole name %q", got, whole)
		}
		post := e.serve(request{method: "POST", target: "/api/checks/last", body: secretMasked})
		expect(t, post, http.StatusOK, `"error":"HTTP 500"`)
		if header := parseSVG(t, e.get("/web/checks/svg?host="+m+rng).Body.Bytes()); !strings.HasPrefix(header, "Host: "+secretMasked+" ") {
			t.Errorf("chart header %q", header)
		}
		doc := e.page("/web/view?host="+m+rng, http.StatusOK)
		if h1 := textOf(findAll(doc, atom.H1)[0]); h1 != secretMasked {
			t.Errorf("view title %q", h1)
		}
		for _, ref := range links(doc) {
			if strings.Contains(ref, "host=") {
				if w := e.get(resolve(t, "/web/view", ref)); w.Code != http.StatusOK {
					t.Errorf("link %s: %d %q", ref, w.Code, w.Body.String())
				}
			}
		}
		hostsPage := e.get("/web/hosts").Body.String()
		if !strings.Contains(hostsPage, "?host="+strings.ToLower(url.QueryEscape(secretMasked))) && !strings.Contains(hostsPage, "?host="+url.QueryEscape(secretMasked)) {
			t.Errorf("the hosts page does not link to the masked name")
		}

		// Change rights: backups and notification settings stay whole.
		for _, target := range []string{"/api/backup", "/api/backup_full", "/api/notifications_params", "/web/notifications_params"} {
			if w := e.get(target); !strings.Contains(w.Body.String(), "hunter2") || !strings.Contains(w.Body.String(), "abc123") {
				t.Errorf("%s: %d, not whole: %.300q", target, w.Code, w.Body.String())
			}
		}

		// Errors name the host masked.
		expect(t, e.get("/api/checks?host="+url.QueryEscape("https://monitor:xxxxx@other.example/")), http.StatusNotFound, `unknown host "https://monitor:xxxxx@other.example/"`)

		// Two hosts that show alike: the masked name is ambiguous, the
		// whole names still work.
		seed(t, st, []string{twinHost}, nil)
		for _, target := range []string{"/api/checks?host=" + m, "/api/checks/last?host=" + m, "/web/view?host=" + m, "/web/checks/svg?host=" + m} {
			w := e.get(target)
			expect(t, w, http.StatusBadRequest, "is ambiguous: 2 stored hosts show as it")
			if s := secretsIn(w.Body.String()); len(s) > 0 {
				t.Errorf("%s shows %q", target, s)
			}
		}
		expect(t, e.get("/api/checks/last?host="+url.QueryEscape(secretHost)), http.StatusOK, "HTTP 500")
		expect(t, e.get("/api/checks/last?host="+url.QueryEscape(twinHost)), http.StatusNotFound, `host "`+secretMasked+`" has no checks yet`)
		expect(t, e.serve(request{method: "DELETE", target: "/api/hosts", body: secretMasked}), http.StatusBadRequest, "is ambiguous")

		// The hosts page's delete button posts the masked name.
		expect(t, e.serve(request{method: "DELETE", target: "/api/hosts", body: twinHost}), http.StatusOK, "")
		form := url.Values{"action": {"del"}, "host": {secretMasked}}.Encode()
		expect(t, e.serve(request{method: "POST", target: "/web/hosts", body: form, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}), http.StatusSeeOther, "")
		if ok, _ := st.HostExists(context.Background(), secretHost); ok {
			t.Errorf("%s not deleted by its masked name", secretHost)
		}
	})
}

// FuzzResolveHost: a name resolves to the one stored host that is it or
// shows as it, is ambiguous when several do, and otherwise stays as it is.
func FuzzResolveHost(f *testing.F) {
	f.Add(secretHost, twinHost, secretMasked)
	f.Add(secretHost, "example.org", secretMasked)
	f.Add(secretMasked, secretHost, secretMasked)
	f.Add(secretHost, twinHost, secretHost)
	f.Add("https://a/?key=xxxxx", "https://a/?key=1", "https://a/?key=xxxxx")
	f.Add("example.org", ampHost, "example.org")
	f.Fuzz(func(t *testing.T, a, b, name string) {
		if a == "" || b == "" || a == b {
			return
		}
		st := backends()[0].open(t)
		seed(t, st, []string{a, b}, nil)
		s := newServer(Options{Store: st})
		got, err := s.resolveHost(context.Background(), name)
		var matches []string
		for _, h := range []string{a, b} {
			if h == name || probe.MaskSecrets(h) == name {
				matches = append(matches, h)
			}
		}
		switch {
		case len(matches) > 1:
			if he, ok := err.(*httpError); !ok || he.code != http.StatusBadRequest {
				t.Fatalf("%q among %q, %q: %q, %v; want ambiguous", name, a, b, got, err)
			}
		case len(matches) == 1:
			if err != nil || got != matches[0] {
				t.Fatalf("%q among %q, %q: %q, %v; want %q", name, a, b, got, err, matches[0])
			}
		default:
			if err != nil || got != name {
				t.Fatalf("%q among %q, %q: %q, %v; want it as it is", name, a, b, got, err)
			}
		}
		if !strings.Contains(name, probe.MaskedValue) && got != name {
			t.Fatalf("%q without a mask resolved to %q", name, got)
		}
	})
}
