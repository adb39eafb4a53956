package api

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html/atom"

	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/notify/notifytest"
	"github.com/srvmon/srvmon/pkg/store"
)

// The notifications page edits every field of a rule, keeps a channel
// that comes back masked, shows each host's alert state and the outbox
// with channels masked, and tests a rule's channels on a real receiver.
func TestRulesPageEditsSrvmonFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		receiver := notifytest.NewReceiver(t, "token=s3cret")
		channel := receiver.URL
		seed(t, st, []string{"db.example"}, nil)
		e := newEnv(t, st, Options{})
		post := func(v url.Values) *httptest.ResponseRecorder {
			return e.serve(request{method: "POST", target: "/web/notifications_params", body: v.Encode(),
				header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}})
		}
		full := url.Values{"action": {"add"}, "full": {"1"}, "host": {"db.example"}, "threshold": {"2"},
			"recovery_threshold": {"3"}, "window": {"5"}, "quorum": {"majority"}, "remind_every": {"4h"},
			"cert_expiry_days": {"14"}, "channels": {channel + "\r\n\r\n"}, "message": {"{NAME} is {STATE}"}}
		expect(t, post(full), http.StatusSeeOther, "")
		rule, err := st.Rule(ctx, "db.example")
		if err != nil {
			t.Fatal(err)
		}
		want := store.Rule{Host: "db.example", Threshold: 2, RecoveryThreshold: 3, Window: 5, Quorum: "majority",
			RemindEvery: 4 * 3600e9, CertExpiryDays: 14, Channels: []string{channel}, Message: "{NAME} is {STATE}"}
		if rule.Host != want.Host || rule.Threshold != 2 || rule.RecoveryThreshold != 3 || rule.Window != 5 || rule.Quorum != "majority" ||
			rule.RemindEvery != want.RemindEvery || rule.CertExpiryDays != 14 || len(rule.Channels) != 1 || rule.Channels[0] != channel ||
			rule.Message != want.Message {
			t.Fatalf("stored %+v, want %+v", rule, want)
		}

		// The edit form shows the channel masked; sent back as it is,
		// the stored one is kept.
		doc := e.page("/web/notifications_params?host=db.example", http.StatusOK)
		var masked string
		for _, ta := range findAll(doc, atom.Textarea) {
			if attrOf(ta, "name") == "channels" {
				masked = textOf(ta)
			}
		}
		if masked == "" || strings.Contains(masked, "s3cret") || masked != notify.RedactChannel(channel) {
			t.Fatalf("channels in the edit form %q, want %q", masked, notify.RedactChannel(channel))
		}
		full.Set("channels", masked)
		full.Set("threshold", "4")
		expect(t, post(full), http.StatusSeeOther, "")
		if rule, _ := st.Rule(ctx, "db.example"); rule.Threshold != 4 || len(rule.Channels) != 1 || rule.Channels[0] != channel {
			t.Fatalf("after saving the masked form: %+v", rule)
		}
		// gosrvmon's form changes gosrvmon's fields and keeps srvmon's.
		expect(t, post(url.Values{"action": {"add"}, "host": {"db.example"}, "threshold": {"1"}}), http.StatusSeeOther, "")
		if rule, _ := st.Rule(ctx, "db.example"); rule.Threshold != 1 || rule.Window != 5 || len(rule.Channels) != 1 {
			t.Fatalf("after gosrvmon's form: %+v", rule)
		}
		expect(t, post(url.Values{"action": {"add"}, "full": {"1"}, "host": {"db.example"}, "threshold": {"1"}, "remind_every": {"often"}}),
			400, `remind_every: "often" is not a duration`)
		expect(t, post(url.Values{"action": {"add"}, "full": {"1"}, "host": {"db.example"}, "threshold": {"1"}, "quorum": {"most"}}),
			400, "quorum")

		// A round's change: the page shows the state and the outbox.
		slot := now.Truncate(time.Minute)
		if err := st.SaveRound(ctx, []store.Result{{Host: "db.example", Slot: slot, Reason: "refused"}},
			notify.NewAlerting(notify.Options{})); err != nil {
			t.Fatal(err)
		}
		page := e.get("/web/notifications_params")
		expect(t, page, 200, `<b class="down">down</b> since`)
		expect(t, page, 200, html.EscapeString(notify.RedactChannel(channel)))
		expect(t, page, 200, "<td>1 of 5, up after 3</td>")
		if strings.Contains(page.Body.String(), "s3cret") {
			t.Error("the page shows a channel's secret")
		}
		expect(t, page, 200, "<td>pending</td>")

		// Test: a real message to the receiver, its outcome on the page.
		w := post(url.Values{"action": {"test"}, "host": {"db.example"}})
		expect(t, w, 200, "Test of db.example")
		expect(t, w, 200, `<b class="up">sent</b>`)
		if got := receiver.Messages(); len(got) != 1 || got[0].Event != store.EventTest {
			t.Errorf("the receiver got %+v, want one test message", got)
		}
	})
}
