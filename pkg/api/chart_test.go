package api

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/chart"
	"github.com/srvmon/srvmon/pkg/store"
)

// chartParts are the parts of a chart SVG that the location tests read:
// the d of each path by class and the legend's rows.
type chartParts struct {
	paths  map[string]string
	legend []string
}

// lines are the classes of the location lines drawn.
func (p chartParts) lines() []string {
	var ls []string
	for class := range p.paths {
		if strings.HasPrefix(class, "line ") {
			ls = append(ls, class)
		}
	}
	slices.Sort(ls)
	return ls
}

// parseChart decodes a chart with encoding/xml (parseSVG checks that it
// is well-formed).
func parseChart(t testing.TB, b []byte) chartParts {
	t.Helper()
	parseSVG(t, b)
	p := chartParts{paths: map[string]string{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var in xml.StartElement
	attr := func(e xml.StartElement, name string) string {
		for _, a := range e.Attr {
			if a.Name.Local == name {
				return a.Value
			}
		}
		return ""
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return p
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			in = tok
			if tok.Name.Local == "path" {
				p.paths[attr(tok, "class")] = attr(tok, "d")
			}
		case xml.EndElement:
			in = xml.StartElement{}
		case xml.CharData:
			if in.Name.Local == "text" && attr(in, "class") == "legend" {
				p.legend = append(p.legend, string(tok))
			}
		}
	}
}

// TestChartLocationLines: a host checked from two locations gets a line
// per location and a legend naming them, over the same bars and bands
// as the store's merged buckets draw; one location, a host that one
// location checks, and a range longer than chart.MaxLocationSlots draw
// the merged chart alone, byte for byte as from the store's Buckets.
func TestChartLocationLines(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		const both, single, other = "both.example", "single.example", "other.example"
		seed(t, st, []string{both, single, other}, nil)
		// One location first: other.example, checked from the default
		// location only.
		var rs []store.Result
		for i := range 30 {
			rs = append(rs, store.Result{Host: other, Slot: slot(i), RTT: 5 * time.Millisecond, Up: true})
		}
		if err := st.SaveRound(ctx, rs, nil); err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, st, Options{})
		rng := func(host string, span time.Duration) string {
			return "/web/checks/svg?host=" + url.QueryEscape(host) + "&start=" + itoa(now.Add(-span).Unix()) + "&end=" + itoa(now.Unix())
		}
		// merged renders the chart of host from the store's own merged
		// buckets, without location lines.
		merged := func(host string, span time.Duration) []byte {
			start, end := time.Unix(now.Add(-span).Unix(), 0), time.Unix(now.Unix(), 0)
			bs, err := chart.Buckets(start, end, DefaultInterval, 0, func(start, end time.Time, n int) ([]store.Bucket, error) {
				return st.Buckets(ctx, host, start, end, n)
			})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := chart.Render(&buf, chart.Chart{Host: host, Start: start, End: end, Interval: DefaultInterval, Buckets: bs}, chart.Options{}); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}
		get := func(target string) []byte {
			w := e.get(target)
			expect(t, w, http.StatusOK, "")
			return w.Body.Bytes()
		}
		if got := get(rng(other, 24*time.Hour)); !bytes.Equal(got, merged(other, 24*time.Hour)) {
			t.Errorf("one location: the chart is not the merged one")
		}

		// Then a second location: both.example from "eu" and "us", "us"
		// down for the 10 newest minutes; single.example from "eu".
		rs = nil
		for i := range 60 {
			rs = append(rs,
				store.Result{Host: both, Location: "eu", Slot: slot(i), RTT: 20 * time.Millisecond, Up: true},
				store.Result{Host: both, Location: "us", Slot: slot(i), RTT: 80 * time.Millisecond, Up: i >= 10, Reason: "timeout"},
				store.Result{Host: single, Location: "eu", Slot: slot(i), RTT: 30 * time.Millisecond, Up: true},
			)
		}
		if err := st.SaveRound(ctx, rs, nil); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name   string
			host   string
			span   time.Duration
			legend []string // none: the merged chart alone
		}{
			{"two locations, an hour", both, time.Hour, []string{"eu: avg 20ms, up 100.00%", "us: avg 80ms, up 83.33%"}},
			{"two locations, the default day", both, 24 * time.Hour, []string{"eu: avg 20ms, up 100.00%", "us: avg 80ms, up 83.33%"}},
			{"two locations, seven days", both, 7 * 24 * time.Hour, []string{"eu: avg 20ms, up 100.00%", "us: avg 80ms, up 83.33%"}},
			{"two locations, longer than seven days", both, 8 * 24 * time.Hour, nil},
			{"a host that one location checks", single, 24 * time.Hour, nil},
			{"a host of the default location", other, 24 * time.Hour, nil},
		} {
			got := get(rng(tt.host, tt.span))
			want := merged(tt.host, tt.span)
			if tt.legend == nil {
				if !bytes.Equal(got, want) {
					t.Errorf("%s: the chart is not the merged one", tt.name)
				}
				continue
			}
			g, w := parseChart(t, got), parseChart(t, want)
			if lines := g.lines(); !slices.Equal(lines, []string{"line l0", "line l1"}) {
				t.Errorf("%s: lines %q, want two", tt.name, lines)
			}
			if !slices.Equal(g.legend, tt.legend) {
				t.Errorf("%s: legend %q, want %q", tt.name, g.legend, tt.legend)
			}
			// The bars and bands are the store's merged buckets'.
			for _, class := range []string{"i", "up", "down", "na", "maint"} {
				if g.paths[class] != w.paths[class] {
					t.Errorf("%s: path %s\n got %q\nwant %q", tt.name, class, g.paths[class], w.paths[class])
				}
			}
			if gh, wh := parseSVG(t, got), parseSVG(t, want); gh != wh {
				t.Errorf("%s: header %q, want %q", tt.name, gh, wh)
			}
			// us's line breaks where it was down: it ends before the
			// ten newest minutes, where eu's goes on to the right edge.
			usEnd, euEnd := lineEnd(t, g.paths["line l1"]), lineEnd(t, g.paths["line l0"])
			if euEnd != 1280 || usEnd >= euEnd {
				t.Errorf("%s: us line ends at %v, eu's at %v; want eu's at 1280, us's before", tt.name, usEnd, euEnd)
			}
		}
		expect(t, e.get(rng("nope.example", time.Hour)), http.StatusNotFound, "unknown host")
	})
}

// lineEnd is the x of the end of a location line's path (M, then h and l
// relative to it).
func lineEnd(t testing.TB, d string) float64 {
	t.Helper()
	var x float64
	for _, f := range strings.FieldsFunc(d, func(r rune) bool { return r == 'M' || r == 'h' || r == 'l' }) {
		i := strings.Index(d, f)
		v, err := strconv.ParseFloat(strings.Fields(f)[0], 64)
		if err != nil || i < 1 {
			t.Fatalf("bad path %q", d)
		}
		if d[i-1] == 'M' {
			x = v
		} else {
			x += v
		}
		d = d[i+len(f):]
	}
	return math.Round(x*100) / 100
}
