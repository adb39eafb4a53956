package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

func TestMaintenanceAPI(t *testing.T) {
	forEachBackend(t, testMaintenanceAPI)
}

func testMaintenanceAPI(t *testing.T, st store.Store) {
	ctx := context.Background()
	for _, h := range []string{"a.example", "b.example"} {
		if err := st.AddHost(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, st, Options{})
	// now is 2021-03-02 12:00:30 UTC.
	once := `{"hosts":["a.example"],"start":"2021-03-02T11:00:00Z","end":"2021-03-02T13:00:00Z","reason":"disk swap"}`
	weekly := `{"groups":["db"],"cron":"0 3 * * SUN","duration":"2h","reason":"backups"}`
	tests := []struct {
		name string
		req  request
		code int
		want string
	}{
		{"empty list", request{method: "GET", target: "/api/maintenance"}, 200, "[]"},
		{"add one-off", jsonReq("POST", "/api/maintenance", once), 201, `"id":1,"hosts":["a.example"],"start":"2021-03-02T11:00:00Z","end":"2021-03-02T13:00:00Z","reason":"disk swap","active":true,"until":"2021-03-02T13:00:00Z"`},
		{"add recurring", jsonReq("POST", "/api/maintenance", weekly), 201, `"id":2,"groups":["db"],"cron":"0 3 * * SUN","duration":"2h0m0s","reason":"backups","active":false,"next":"2021-03-07T03:00:00Z"`},
		{"list", request{method: "GET", target: "/api/maintenance"}, 200, `[{"id":1,`},
		{"replace", jsonReq("PUT", "/api/maintenance?id=1", strings.Replace(once, "disk swap", "disk swap, take 2", 1)), 200, `"reason":"disk swap, take 2"`},
		{"replace with what a list shows", jsonReq("PUT", "/api/maintenance?id=2", `{"id":2,"cron":"0 4 * * SUN","duration":"1h","active":false,"next":"2021-03-07T03:00:00Z"}`), 200, `"cron":"0 4 * * SUN"`},
		{"replace unknown", jsonReq("PUT", "/api/maintenance?id=9", once), 404, "no maintenance window 9"},
		{"id mismatch", jsonReq("PUT", "/api/maintenance?id=1", `{"id":2,"cron":"@daily","duration":"1h"}`), 400, "id: the body's 2 is not the query's 1"},
		{"add with an id", jsonReq("POST", "/api/maintenance", `{"id":5,"cron":"@daily","duration":"1h"}`), 400, "id: set by srvmon"},
		{"unknown host", jsonReq("POST", "/api/maintenance", `{"hosts":["nope.example"],"cron":"@daily","duration":"1h"}`), 400, `hosts[0]: "nope.example" is not a stored host`},
		{"bad cron", jsonReq("POST", "/api/maintenance", `{"cron":"every day","duration":"1h"}`), 400, "cron: "},
		{"no time", jsonReq("POST", "/api/maintenance", `{"reason":"x"}`), 400, "start: give start and end, or cron and duration"},
		{"end before start", jsonReq("POST", "/api/maintenance", `{"start":"2021-03-02T13:00:00Z","end":"2021-03-02T11:00:00Z"}`), 400, "end: "},
		{"unknown field", jsonReq("POST", "/api/maintenance", `{"cron":"@daily","duration":"1h","colour":"red"}`), 400, "colour"},
		{"not JSON", jsonReq("POST", "/api/maintenance", `{`), 400, "bad JSON body"},
		{"delete without id", request{method: "DELETE", target: "/api/maintenance"}, 400, "missing id parameter"},
		{"delete bad id", request{method: "DELETE", target: "/api/maintenance?id=x"}, 400, `id "x" is not`},
		{"delete", request{method: "DELETE", target: "/api/maintenance?id=2"}, 200, ""},
		{"delete again", request{method: "DELETE", target: "/api/maintenance?id=2"}, 404, "no maintenance window 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, e.serve(tt.req), tt.code, tt.want)
		})
	}
	ws, err := st.Maintenances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []monitor.Maintenance{{ID: 1, Hosts: []string{"a.example"}, Start: time.Date(2021, 3, 2, 11, 0, 0, 0, time.UTC),
		End: time.Date(2021, 3, 2, 13, 0, 0, 0, time.UTC), Reason: "disk swap, take 2"}}
	if got, _ := json.Marshal(ws); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("stored %s, want %s", got, must(json.Marshal(want)))
	}
}

// The maintenance page adds, edits and deletes windows through its form,
// with times in the chart's time zone.
func TestMaintenancePage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		putMonitor(t, st, monitor.Monitor{Host: "db.example", Settings: monitor.Settings{Name: "DB", Group: "db"}})
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{}
		opts.Chart.TimeZone = berlin
		e := newEnv(t, st, opts)
		post := func(v url.Values) *httptest.ResponseRecorder {
			return e.serve(request{method: "POST", target: "/web/maintenance", body: v.Encode(),
				header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}})
		}
		w := post(url.Values{"action": {"add"}, "hosts": {"db.example"}, "kind": {"once"},
			"start": {"2021-03-02T13:00"}, "end": {"2021-03-02T14:30"}, "reason": {"upgrade"}})
		expect(t, w, http.StatusSeeOther, "")
		ws, err := st.Maintenances(ctx)
		if err != nil || len(ws) != 1 {
			t.Fatalf("windows %+v, %v", ws, err)
		}
		if !ws[0].Start.Equal(time.Date(2021, 3, 2, 12, 0, 0, 0, time.UTC)) || !ws[0].End.Equal(time.Date(2021, 3, 2, 13, 30, 0, 0, time.UTC)) {
			t.Errorf("window %+v: the form's times are Berlin's (UTC+1)", ws[0])
		}
		expect(t, post(url.Values{"action": {"add"}, "id": {"1"}, "groups": {"db, web"}, "kind": {"recurring"},
			"cron": {"0 3 * * SUN"}, "duration": {"2h"}}), http.StatusSeeOther, "")
		page := e.serve(request{method: "GET", target: "/web/maintenance"})
		expect(t, page, 200, "<code>0 3 * * SUN</code> for 2h0m0s")
		expect(t, page, 200, "groups db, web")
		expect(t, e.serve(request{method: "GET", target: "/web/maintenance?id=1"}), 200, `value="0 3 * * SUN"`)
		expect(t, e.serve(request{method: "GET", target: "/web/maintenance?id=7"}), 404, "no maintenance window 7")
		expect(t, post(url.Values{"action": {"add"}, "kind": {"once"}, "start": {"soon"}}), 400, `start: "soon" is not a date and time`)
		expect(t, post(url.Values{"action": {"add"}, "kind": {"recurring"}, "cron": {"@daily"}, "duration": {"long"}}), 400, `duration: "long" is not a duration`)
		expect(t, post(url.Values{"action": {"del"}, "id": {"1"}}), http.StatusSeeOther, "")
		expect(t, e.serve(request{method: "GET", target: "/web/maintenance"}), 200, "No maintenance windows.")
	})
}
