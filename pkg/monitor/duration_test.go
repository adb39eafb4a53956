package monitor

import (
	"encoding/json"
	"testing"
	"time"
)

// Duration reads a plain string (its fast path), an escaped one, a number
// of seconds and null, and refuses what is not a duration with the same
// message whichever path read it.
func TestDurationUnmarshalJSON(t *testing.T) {
	for _, c := range []struct {
		json string
		want Duration
		err  string
	}{
		{`"10s"`, Duration(10 * time.Second), ""},
		{`"1m30s"`, Duration(90 * time.Second), ""},
		{`"24h0m0s"`, Duration(24 * time.Hour), ""},
		{`"1.5µs"`, Duration(1500 * time.Nanosecond), ""},
		{`"\u0031\u0030s"`, Duration(10 * time.Second), ""},
		{` "2m" `, Duration(2 * time.Minute), ""},
		{`90`, Duration(90 * time.Second), ""},
		{`0.5`, Duration(500 * time.Millisecond), ""},
		{`null`, Duration(7), ""},
		{`""`, 0, `"" is not a duration (e.g. "10s", "1m30s")`},
		{`"10"`, 0, `"10" is not a duration (e.g. "10s", "1m30s")`},
		{`"ten\"s"`, 0, `"ten\"s" is not a duration (e.g. "10s", "1m30s")`},
		{`"é"`, 0, `"é" is not a duration (e.g. "10s", "1m30s")`},
		{`"\u00e9"`, 0, `"é" is not a duration (e.g. "10s", "1m30s")`},
		{`true`, 0, `true is not a duration: give a string ("10s") or a number of seconds`},
	} {
		t.Run(c.json, func(t *testing.T) {
			d := Duration(7)
			err := d.UnmarshalJSON([]byte(c.json))
			switch {
			case c.err != "" && (err == nil || err.Error() != c.err):
				t.Errorf("error %v, want %q", err, c.err)
			case c.err == "" && err != nil:
				t.Errorf("error %v", err)
			case c.err == "" && d != c.want:
				t.Errorf("%v, want %v", time.Duration(d), time.Duration(c.want))
			}
			// In a document, as the stores and the API read it.
			var s struct{ D Duration }
			s.D = 7
			err = json.Unmarshal([]byte(`{"D":`+c.json+`}`), &s)
			if (err != nil) != (c.err != "") || (err == nil && s.D != c.want) {
				t.Errorf("in a document: %v, %v", time.Duration(s.D), err)
			}
		})
	}
}

func BenchmarkDurationUnmarshalJSON(b *testing.B) {
	in := []byte(`"24h0m0s"`)
	for b.Loop() {
		var d Duration
		if err := d.UnmarshalJSON(in); err != nil {
			b.Fatal(err)
		}
	}
}
