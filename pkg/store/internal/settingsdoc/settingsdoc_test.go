package settingsdoc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
)

func boolPtr(b bool) *bool { return &b }

// monitors are documents of every shape Encode writes.
var monitors = []monitor.Monitor{
	{Host: "a.test", Source: monitor.SourceConfig},
	{Host: "push://job", Settings: monitor.Settings{Status: boolPtr(false), Grace: monitor.Duration(24 * time.Hour), PushToken: "0123456789abcdef0123456789abcdef"}},
	{Host: "https://b.test", Settings: monitor.Settings{
		Name: "Shop – front page", Group: "web", Conditions: []string{"[STATUS] == 200", `[BODY].status == "ok"`},
		Method: "POST", Headers: map[string]string{"X-Key": "v\u00e9", "Accept": "*/*"}, Body: "{\"a\":1}\x00\n<b>&",
		FollowRedirects: boolPtr(false), Timeout: monitor.Duration(2500 * time.Millisecond), InsecureSkipVerify: true,
	}},
	{Host: "https://c.test", Settings: monitor.Settings{FollowRedirects: boolPtr(true), Status: boolPtr(true), Timeout: monitor.Duration(time.Nanosecond)}},
}

// decodeJSON is Decode without its fast path: encoding/json's reading.
func decodeJSON(host string, b []byte) (monitor.Monitor, error) {
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		return monitor.Monitor{Host: host}, err
	}
	return monitor.Monitor{Host: host, Settings: d.Settings, Source: d.Source}, nil
}

func TestEncodeDecode(t *testing.T) {
	for _, m := range monitors {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		// A document whose strings need no escape takes the fast path.
		var fast monitor.Monitor
		if !bytes.Contains(b, []byte(`\`)) && !decodeFast(b, &fast) {
			t.Errorf("%s: %s does not take the fast path", m.Host, b)
		}
		got, err := Decode(m.Host, b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("Decode(Encode(%+v)) = %+v, %v", m, got, err)
		}
	}
}

// Documents that Encode does not write read as encoding/json reads them:
// through it, whose errors name what is wrong.
func TestDecodeOtherDocuments(t *testing.T) {
	for _, doc := range []string{
		`{"grace":90}`,                              // seconds
		`{"Name":"case-insensitive key"}`,           // encoding/json matches keys so
		`{"name":"\u00e9\n"}`,                       // escapes
		`{"name":null,"conditions":null}`,           // nulls
		`{"unknown":1,"name":"n"}`,                  // an unknown key is ignored
		`{"headers":{"a":"1"},"headers":{"b":"2"}}`, // a key twice merges
		`{"conditions":[]}`,                         // empty, not nil
		`{"status":false,"status":true}`,            // a key twice: the last
		`{"status":"false"}`,                        // the wrong type: an error
		`{"status":null}`,                           // null is unset
		"{\"name\":\"\xff\"}",                       // invalid UTF-8
		`{"name":1}`,                                // the wrong type: an error
		`{"grace":"ten"}`,                           // an error
		`{"name":"n"`,                               // an error
		`[]`,                                        // an error
	} {
		t.Run(doc, func(t *testing.T) {
			got, err := Decode("h", []byte(doc))
			want, wantErr := decodeJSON("h", []byte(doc))
			if (err != nil) != (wantErr != nil) || (err == nil && !reflect.DeepEqual(got, want)) {
				t.Errorf("Decode = %+v, %v; encoding/json: %+v, %v", got, err, want, wantErr)
			}
		})
	}
}

// FuzzDecode: the fast path reads every document it takes as
// encoding/json does.
func FuzzDecode(f *testing.F) {
	for _, m := range monitors {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"headers":{"a":"1"},"headers":{"a":"2","b":"3"},"conditions":["x"],"conditions":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast monitor.Monitor
		if !decodeFast(b, &fast) {
			return
		}
		fast.Host = "h"
		want, err := decodeJSON("h", b)
		if err != nil || !reflect.DeepEqual(fast, want) {
			t.Errorf("fast path %+v; encoding/json %+v, %v", fast, want, err)
		}
	})
}

// BenchmarkDecode decodes a push monitor's document, as a round does
// 10,000 times with 10,000 push monitors.
func BenchmarkDecode(b *testing.B) {
	doc, err := Encode(monitors[1])
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		decode func(string, []byte) (monitor.Monitor, error)
	}{{"fast", Decode}, {"encoding-json", decodeJSON}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.decode("push://job", doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFastPathKnowsEverySetting: a setting added to monitor.Settings
// without a case in setField would send every document that has it down
// the slow path, silently; this fills every field and expects the fast
// path to read it all.
func TestFastPathKnowsEverySetting(t *testing.T) {
	var s monitor.Settings
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int64: // monitor.Duration
			f.SetInt(int64(time.Second))
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"[STATUS] == 200"}))
		case reflect.Map:
			f.Set(reflect.ValueOf(map[string]string{"X-Key": "v"}))
		case reflect.Pointer:
			f.Set(reflect.ValueOf(boolPtr(false)))
		default:
			t.Fatalf("Settings.%s: a %s; teach this test and setField", v.Type().Field(i).Name, f.Kind())
		}
	}
	m := monitor.Monitor{Host: "h", Settings: s, Source: monitor.SourceConfig}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got := monitor.Monitor{Host: "h"}
	if !decodeFast(b, &got) || !reflect.DeepEqual(got, m) {
		t.Errorf("the fast path does not read %s: got %+v", b, got)
	}
}
