package monitor

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func boolp(b bool) *bool { return &b }

func TestValidate(t *testing.T) {
	const (
		httpURL  = "http://127.0.0.1:8080/health"
		httpsURL = "https://localhost/health"
		tcp      = "127.0.0.1:5432"
		ping     = "127.0.0.1"
		tlsT     = "tls://localhost:8443"
		dnsT     = "dns://127.0.0.1:5353/example.test?type=TXT"
		push     = "push://nightly-backup"
		token    = "0123456789abcdef0123456789abcdef"
	)
	lim := Limits{MaxTimeout: 10 * time.Second}
	s := func(h string, s Settings) Monitor { return Monitor{Host: h, Settings: s} }
	conds := func(h string, cs ...string) Monitor { return s(h, Settings{Conditions: cs}) }
	for _, c := range []struct {
		m    Monitor
		want string // "" for valid
	}{
		// gosrvmon's hosts, without settings.
		{Monitor{Host: httpURL}, ""},
		{Monitor{Host: tcp}, ""},
		{Monitor{Host: ping}, ""},
		{Monitor{Host: "foo bar"}, `host: invalid target: contains white space (U+0020)`},

		// Settings for every kind.
		{s(httpURL, Settings{Name: "API", Group: "prod", Method: "post", Headers: map[string]string{"X-Key": "k", "accept": "application/json"},
			Body: `{"q":1}`, FollowRedirects: boolp(false), Timeout: Duration(5 * time.Second),
			Conditions: []string{"[STATUS] == 200", "[RESPONSE_TIME] < 1s", "[BODY].status == ok", "[HEADER].Content-Type == pat(*json*)"}}), ""},
		{s(httpsURL, Settings{InsecureSkipVerify: true, Conditions: []string{"[CERTIFICATE_EXPIRATION] > 48h", "[IP] == 127.0.0.1"}}), ""},
		{s(tlsT, Settings{InsecureSkipVerify: true, Timeout: Duration(time.Second), Conditions: []string{"[CERTIFICATE_EXPIRATION] > 7d", "[CONNECTED] == true"}}), ""},
		{conds(dnsT, "[DNS_RCODE] == NOERROR", "[BODY] == re(^v=spf1)", "len([BODY]) > 0", "[RESPONSE_TIME] < 200"), ""},
		{conds(tcp, "[CONNECTED] == true", "[RESPONSE_TIME] < 50ms", "[IP] == 127.0.0.1"), ""},
		{conds(ping, "[CONNECTED] == true", "[RESPONSE_TIME] <= 100"), ""},
		{s(push, Settings{Name: "backup", Grace: Duration(25 * time.Hour), PushToken: token}), ""},
		// status applies to every kind.
		{s(push, Settings{Status: boolp(false)}), ""},
		{s(ping, Settings{Status: boolp(true)}), ""},
		{s(dnsT, Settings{Status: boolp(false)}), ""},

		// Conditions that do not parse: the position and what was expected.
		{conds(httpURL, "[STATUS] == 200", "[STATUS] == abc"), `conditions[1]: position 13: expected a number after "==", got "abc"`},
		{conds(httpURL, "[STATUS] = 200"), `conditions[0]: position 10: expected an operator (==, !=, <, <=, >, >=) after [STATUS], got "= 200"`},
		{conds(httpsURL, "[BODY] == re(("), `conditions[0]: position 15: expected ")" to close re(, got end of condition`},
		{conds(httpURL, strings.Repeat("x", MaxConditionLen+1)), `conditions[0]: longer than 1024 bytes`},
		{conds(httpURL, make([]string, MaxConditions+1)...), `conditions: 21 conditions, more than 20`},

		// Placeholders the kind of check never yields.
		{conds(tcp, "[STATUS] == 200"), `conditions[0]: [STATUS] does not apply to tcp monitors, which yield [CONNECTED], [RESPONSE_TIME], [IP]`},
		{conds(httpURL, "[DNS_RCODE] == NOERROR"), `conditions[0]: [DNS_RCODE] does not apply to http:// monitors, which yield [CONNECTED], [RESPONSE_TIME], [IP], [STATUS], [HEADER].Name, [BODY]`},
		{conds(httpURL, "[STATUS] == 200", "[CERTIFICATE_EXPIRATION] > 48h"), `conditions[1]: [CERTIFICATE_EXPIRATION] does not apply to http:// monitors, which yield [CONNECTED], [RESPONSE_TIME], [IP], [STATUS], [HEADER].Name, [BODY]`},
		{conds(tlsT, "[BODY] == ok"), `conditions[0]: [BODY] does not apply to tls:// monitors, which yield [CONNECTED], [RESPONSE_TIME], [IP], [CERTIFICATE_EXPIRATION]`},
		{conds(ping, "[BODY] == ok"), `conditions[0]: [BODY] does not apply to ping monitors, which yield [CONNECTED], [RESPONSE_TIME]`},
		{conds(ping, "[IP] == 127.0.0.1"), `conditions[0]: [IP] does not apply to ping monitors, which yield [CONNECTED], [RESPONSE_TIME]`},
		{conds(dnsT, "has([HEADER].X) == true"), `conditions[0]: [HEADER].Name does not apply to dns:// monitors, which yield [CONNECTED], [RESPONSE_TIME], [BODY], [DNS_RCODE]`},
		{conds(tcp, "[BODY].a == [STATUS]"), `conditions[0]: [STATUS] and [BODY] do not apply to tcp monitors, which yield [CONNECTED], [RESPONSE_TIME], [IP]`},

		// Settings that do not apply to the kind.
		{conds(push, "[CONNECTED] == true"), `conditions: do not apply to push:// monitors, which are not probed`},
		{s(tcp, Settings{Method: "GET"}), `method: applies only to http:// and https:// monitors`},
		{s(dnsT, Settings{Headers: map[string]string{"A": "b"}}), `headers: applies only to http:// and https:// monitors`},
		{s(tlsT, Settings{Body: "x"}), `body: applies only to http:// and https:// monitors`},
		{s(ping, Settings{FollowRedirects: boolp(true)}), `follow_redirects: applies only to http:// and https:// monitors`},
		{s(httpURL, Settings{InsecureSkipVerify: true}), `insecure_skip_verify: applies only to https:// and tls:// monitors`},
		{s(tcp, Settings{InsecureSkipVerify: true}), `insecure_skip_verify: applies only to https:// and tls:// monitors`},
		{s(push, Settings{Timeout: Duration(time.Second)}), `timeout: does not apply to push:// monitors, which are not probed`},
		{s(httpURL, Settings{Grace: Duration(time.Hour)}), `grace: applies only to push:// monitors`},
		{s(tcp, Settings{PushToken: token}), `push_token: applies only to push:// monitors`},

		// Values.
		{s(httpURL, Settings{Method: "GE T"}), `method: "GE T" is not an HTTP method`},
		{s(httpURL, Settings{Headers: map[string]string{"X-Key": "a", "x-key": "b"}}), `headers["x-key"]: the same header as "X-Key"`},
		{s(httpURL, Settings{Headers: map[string]string{"b ad": "x", "a\x00": "y"}}), `headers["a\x00"]: not a valid header name`},
		{s(httpURL, Settings{Headers: map[string]string{"X": "a\nb"}}), `headers["X"]: the value holds a control character`},
		{s(httpURL, Settings{Timeout: Duration(11 * time.Second)}), `timeout: 11s is longer than the round's probe timeout, 10s`},
		{s(httpURL, Settings{Timeout: Duration(-time.Second)}), `timeout: -1s is negative`},
		{s(push, Settings{Grace: Duration(-time.Second)}), `grace: -1s is not between 0 and 9600h0m0s`},
		{s(push, Settings{PushToken: "short"}), `push_token: a push token has 16 to 128 characters`},
		{s(httpURL, Settings{Name: "a\tb"}), `name: holds a control character`},
		{Monitor{Host: httpURL, Source: "file"}, `source: "file" is not "config" or empty`},
	} {
		err := Validate(c.m, lim)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%+v: error %v does not wrap ErrInvalid", c.m, err)
			}
		}
		if got != c.want {
			t.Errorf("Validate(%q, %+v) = %q\n want %q", c.m.Host, c.m.Settings, got, c.want)
		}
		if strings.Contains(got, "\n") {
			t.Errorf("error %q is more than one line", got)
		}
		// Compile refuses what Validate does, bar the configured limits.
		if _, cerr := Compile(c.m); (cerr == nil) != (c.want == "" || strings.HasPrefix(c.want, "timeout: 11s")) {
			t.Errorf("Compile(%q, %+v) = %v; Validate says %q", c.m.Host, c.m.Settings, cerr, c.want)
		}
	}
}

// FuzzValidate feeds monitor bodies as the API and the config file read
// them: Validate never panics, and what it accepts compiles.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"host":"http://127.0.0.1/","conditions":["[STATUS] == 200","[BODY].status == ok"],"method":"post","headers":{"X-A":"b"}}`,
		`{"host":"https://localhost/","insecure_skip_verify":true,"conditions":["[CERTIFICATE_EXPIRATION] > 48h"],"timeout":"5s"}`,
		`{"host":"tls://localhost:8443","conditions":["[CONNECTED] == true"]}`,
		`{"host":"dns://127.0.0.1/example.test?type=MX","conditions":["[DNS_RCODE] == NOERROR","[BODY] == re(mail)"]}`,
		`{"host":"push://job","grace":90000,"push_token":"0123456789abcdef0123"}`,
		`{"host":"127.0.0.1:22","conditions":["[STATUS] == 200"]}`,
		`{"host":"127.0.0.1","follow_redirects":false}`,
		`{"host":"http://127.0.0.1/","headers":{"a":"1","A":"2"}}`,
		`{"host":"foo bar","name":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var m Monitor
		if json.Unmarshal(body, &m) != nil {
			return
		}
		err := Validate(m, Limits{MaxTimeout: time.Minute})
		if err == nil {
			if _, cerr := Compile(m); cerr != nil {
				t.Fatalf("valid monitor %s does not compile: %v", body, cerr)
			}
			return
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field == "" || strings.Contains(err.Error(), "\n") {
			t.Fatalf("Validate(%s) = %q: want a one-line *FieldError naming the field", body, err)
		}
	})
}

// TestSettingsIsZero: each setting alone makes Settings non-zero, so
// that a new setting cannot be forgotten there (a store would drop it).
func TestSettingsIsZero(t *testing.T) {
	if !(Settings{}).IsZero() {
		t.Fatal("Settings{}.IsZero() = false")
	}
	typ := reflect.TypeFor[Settings]()
	for i := range typ.NumField() {
		var s Settings
		f := reflect.ValueOf(&s).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int64:
			f.SetInt(1)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Map:
			f.Set(reflect.MakeMap(f.Type()))
			f.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf("v"))
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		default:
			t.Fatalf("field %s: kind %v not covered by this test", typ.Field(i).Name, f.Kind())
		}
		if s.IsZero() {
			t.Errorf("Settings with only %s set: IsZero() = true", typ.Field(i).Name)
		}
	}
}

func TestOnStatusPage(t *testing.T) {
	for _, c := range []struct {
		status *bool
		want   bool
	}{{nil, true}, {boolp(true), true}, {boolp(false), false}} {
		if got := (Settings{Status: c.status}).OnStatusPage(); got != c.want {
			t.Errorf("Status %v: OnStatusPage() = %v, want %v", c.status, got, c.want)
		}
	}
	// The JSON: absent is nil, false is kept.
	var m Monitor
	if err := json.Unmarshal([]byte(`{"host":"127.0.0.1","status":false}`), &m); err != nil || m.Status == nil || *m.Status {
		t.Fatalf("status false decodes as %v, %v", m.Status, err)
	}
	b, err := json.Marshal(Monitor{Host: "127.0.0.1"})
	if err != nil || strings.Contains(string(b), "status") {
		t.Errorf("a monitor without status encodes as %s, %v", b, err)
	}
}
