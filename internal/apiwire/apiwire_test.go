package apiwire

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/api"
	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// TestAPIOptionsAllowedHosts: a change is served under Listen.Address's
// name and Listen.AllowedHosts and refused under another name, except on
// Lambda, where API Gateway's own name arrives and any is allowed.
func TestAPIOptionsAllowedHosts(t *testing.T) {
	cfg, err := config.Load(config.Source{JSON: `{"DB":{"Type":"memory"},"Listen":{"Address":"Monitor.LAN","AllowedHosts":["proxy.example"]}}`})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lambda bool
		host   string
		code   int
	}{
		{false, "monitor.lan:8000", http.StatusCreated},
		{false, "proxy.example", http.StatusCreated},
		{false, "127.0.0.1:8000", http.StatusCreated},
		{false, "abc123.execute-api.eu-west-1.amazonaws.com", http.StatusForbidden},
		{true, "abc123.execute-api.eu-west-1.amazonaws.com", http.StatusCreated},
	} {
		h := api.New(APIOptions(cfg, c.lambda, memory.New(), nil, slog.New(slog.DiscardHandler)))
		req := httptest.NewRequest(http.MethodPost, "/api/hosts", strings.NewReader("127.0.0.1:22"))
		req.Host = c.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != c.code {
			t.Errorf("lambda %v, Host %q: %d %q, want %d", c.lambda, c.host, w.Code, w.Body.String(), c.code)
		}
	}
}

// APIOptions hands the loaded config's values on: durations from
// gosrvmon's seconds (MaxRttScale's milliseconds), Checks.RemoteTimeout
// falling back to Checks.Timeout as in gosrvmon.
func TestAPIOptionsFromConfig(t *testing.T) {
	for _, tc := range []struct {
		json          string
		remoteTimeout time.Duration
	}{
		{`"Timeout":3`, 3 * time.Second},
		{`"Timeout":3,"RemoteTimeout":7`, 7 * time.Second},
	} {
		cfg, err := config.Load(config.Source{JSON: `{"DB":{"Type":"memory"},"Checks":{` + tc.json +
			`,"Interval":30},"Chart":{"MaxRttScale":500,"DynamicRttScale":true},"Listen":{"MaxBodyBytes":99},` +
			`"Status":{"Public":true},"Metrics":{"Token":"t0ken"},"Notify":{"LocationTimeout":120}}`})
		if err != nil {
			t.Fatal(err)
		}
		a := APIOptions(cfg, false, memory.New(), nil, slog.New(slog.DiscardHandler))
		if a.RemoteTimeout != tc.remoteTimeout || a.Chart.MaxRTTScale != 500*time.Millisecond || !a.Chart.DynamicRTTScale ||
			a.MaxBodyBytes != 99 || a.Interval != 30*time.Second || a.ProbeTimeout != 3*time.Second ||
			!a.StatusPublic || a.MetricsToken != "t0ken" || a.LocationTimeout != 2*time.Minute || a.Sender == nil {
			t.Errorf("%s: APIOptions = %+v", tc.json, a)
		}
	}
}
