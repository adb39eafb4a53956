package ruledoc

import (
	"reflect"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule store.Rule
		doc  string
	}{
		{"Gosrvmon", store.Rule{Host: "a", Threshold: 2, Action: "http://127.0.0.1:9/"}, ""},
		{"EmptyChannels", store.Rule{Host: "a", Channels: []string{}}, ""},
		{"Every", store.Rule{Host: "a", Channels: []string{"generic://127.0.0.1:9/"}, Message: "m", RecoveryThreshold: 2, Window: 5,
			Quorum: "majority", RemindEvery: monitor.Duration(time.Hour), CertExpiryDays: 14},
			`{"channels":["generic://127.0.0.1:9/"],"message":"m","recovery_threshold":2,"window":5,"quorum":"majority","remind_every":"1h0m0s","cert_expiry_days":14}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := Encode(tc.rule)
			if doc != tc.doc {
				t.Errorf("Encode = %s, want %s", doc, tc.doc)
			}
			got := store.Rule{Host: tc.rule.Host, Threshold: tc.rule.Threshold, Action: tc.rule.Action}
			if err := Decode(doc, &got); err != nil {
				t.Fatal(err)
			}
			want := tc.rule
			if len(want.Channels) == 0 {
				want.Channels = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode = %+v, want %+v", got, want)
			}
		})
	}
	if err := Decode("{", &store.Rule{}); err == nil {
		t.Error("Decode of a broken document: no error")
	}
}
