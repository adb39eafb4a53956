package monitor

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
)

// A monitor without probe settings is gosrvmon's check: exactly the
// Target of probe.Parse.
func TestCompileWithoutSettingsIsParse(t *testing.T) {
	for _, m := range []Monitor{
		{Host: "http://127.0.0.1:8080/x?y=1"},
		{Host: "127.0.0.1:22"},
		{Host: "::1"},
		{Host: "localhost"},
		{Host: "tls://localhost"},
		{Host: "push://job"},
		// Settings that are not the probe's.
		{Host: "https://localhost/", Settings: Settings{Name: "n", Group: "g", FollowRedirects: boolp(true)}, Source: SourceConfig},
		{Host: "push://job", Settings: Settings{PushToken: "0123456789abcdef"}},
	} {
		want, err := probe.Parse(m.Host)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Compile(m)
		if err != nil {
			t.Fatalf("Compile(%+v): %v", m, err)
		}
		if !reflect.DeepEqual(got, want) || got.Settings != nil {
			t.Errorf("Compile(%+v) = %+v, want probe.Parse's %+v", m, got, want)
		}
	}
}

func TestCompileSettings(t *testing.T) {
	m := Monitor{Host: "https://localhost:8443/health", Settings: Settings{
		Method:             "post",
		Headers:            map[string]string{"x-api-key": "k", "ACCEPT": "application/json"},
		Body:               `{"q":1}`,
		FollowRedirects:    boolp(false),
		Timeout:            Duration(3 * time.Second),
		InsecureSkipVerify: true,
		Conditions:         []string{"[STATUS] == 200", "[BODY].status == ok"},
	}}
	got, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != "https://localhost:8443/health" || got.Kind != probe.KindHTTP {
		t.Errorf("target %v (%v)", got, got.Kind)
	}
	s := got.Settings
	if s == nil {
		t.Fatal("no settings")
	}
	wantHeader := http.Header{"X-Api-Key": {"k"}, "Accept": {"application/json"}}
	if s.Method != "POST" || !reflect.DeepEqual(s.Header, wantHeader) || s.Body != `{"q":1}` || !s.NoFollowRedirects ||
		s.Timeout != 3*time.Second || !s.InsecureSkipVerify || s.Grace != 0 {
		t.Errorf("settings %+v", s)
	}
	var cs []string
	for _, c := range s.Conditions {
		cs = append(cs, c.String())
	}
	if strings.Join(cs, "; ") != "[STATUS] == 200; [BODY].status == ok" {
		t.Errorf("conditions %q", cs)
	}

	for _, c := range []struct {
		m    Monitor
		want probe.Settings
	}{
		{Monitor{Host: "http://127.0.0.1/", Settings: Settings{FollowRedirects: boolp(false)}}, probe.Settings{NoFollowRedirects: true}},
		{Monitor{Host: "127.0.0.1:1", Settings: Settings{Timeout: Duration(time.Second)}}, probe.Settings{Timeout: time.Second}},
		{Monitor{Host: "push://job", Settings: Settings{Grace: Duration(25 * time.Hour)}}, probe.Settings{Grace: 25 * time.Hour}},
	} {
		got, err := Compile(c.m)
		if err != nil {
			t.Fatal(err)
		}
		if got.Settings == nil || !reflect.DeepEqual(*got.Settings, c.want) {
			t.Errorf("Compile(%+v).Settings = %+v, want %+v", c.m, got.Settings, c.want)
		}
	}
}

// A host that does not parse keeps probe.Parse's reason, as a round has
// always stored it; an invalid setting is a FieldError.
func TestCompileErrors(t *testing.T) {
	_, perr := probe.Parse("foo bar")
	if _, err := Compile(Monitor{Host: "foo bar"}); err == nil || err.Error() != perr.Error() {
		t.Errorf("Compile(foo bar) = %v, want %v", err, perr)
	}
	_, err := Compile(Monitor{Host: "127.0.0.1:1", Settings: Settings{Conditions: []string{"[STATUS] == 200"}}})
	if err == nil || err.Error() != "conditions[0]: [STATUS] does not apply to tcp monitors, which yield [CONNECTED], [RESPONSE_TIME], [IP]" {
		t.Errorf("Compile = %v", err)
	}
}
