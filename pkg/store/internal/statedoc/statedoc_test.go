package statedoc

import (
	"reflect"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, tc := range []struct {
		name  string
		st    store.State
		empty bool
	}{
		{"Gosrvmon", store.State{Host: "a", Status: "down", Count: 2, LastSlot: at}, true},
		{"Every", store.State{Host: "a", Since: at, Recent: 1<<63 | 5, RecentLen: 64, Notified: "up", Reason: "timeout",
			Locations: []string{"", "eu"}, NextReminder: at.Add(time.Hour), CertExpiry: at.AddDate(0, 1, 0), CertDays: 3}, false},
		{"OneDefaultLocation", store.State{Host: "a", Locations: []string{""}}, false},
		{"BeforeUnixEpoch", store.State{Host: "a", Since: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Encode(nil, tc.st)
			if (len(b) == 0) != tc.empty {
				t.Errorf("Encode = %x, want empty %v", b, tc.empty)
			}
			got := store.State{Host: tc.st.Host, Status: tc.st.Status, Count: tc.st.Count, LastSlot: tc.st.LastSlot,
				Notified: "stale", Locations: []string{"stale"}}
			if err := Decode(b, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.st) {
				t.Errorf("Decode = %+v, want %+v", got, tc.st)
			}
			for i := range b {
				if err := Decode(b[:i], &got); err == nil && i > 0 {
					t.Errorf("Decode of %d of %d bytes: no error", i, len(b))
				}
			}
		})
	}
	if err := Decode([]byte{9}, &store.State{}); err == nil {
		t.Error("Decode of an unknown version: no error")
	}
}
