package round_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// A round marks the results of the monitors that an active maintenance
// window covers (by host or by group), and only those.
func TestRunMarksResultsInMaintenance(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	st := memory.New()
	named, grouped, other, late := srv.URL+"/named", srv.URL+"/grouped", srv.URL+"/other", srv.URL+"/late"
	putMonitors(t, st,
		monitor.Monitor{Host: named},
		monitor.Monitor{Host: grouped, Settings: monitor.Settings{Group: "db"}},
		monitor.Monitor{Host: other, Settings: monitor.Settings{Group: "web"}},
		monitor.Monitor{Host: late},
	)
	now := time.Now()
	ctx := context.Background()
	for _, w := range []monitor.Maintenance{
		{Hosts: []string{named}, Start: now.Add(-time.Hour), End: now.Add(time.Hour)},
		{Groups: []string{"db"}, Cron: "* * * * *", Duration: monitor.Duration(2 * time.Minute)},
		{Hosts: []string{late}, Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}, // not yet
	} {
		if _, err := st.PutMaintenance(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := newRunner(t, st).Run(ctx, now); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{named: true, grouped: true, other: false, late: false} {
		rs := results(t, st, host)
		if len(rs) != 1 || rs[0].Maintenance != want || !rs[0].Up {
			t.Errorf("%s: results %+v, want one up with maintenance %v", host, rs, want)
		}
	}
}
