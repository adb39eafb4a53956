package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// locationDoc is what the location tests read back from a chart: the d
// of every path by class, the legend's rows (text with the class of the
// key before it), and the rules of the style.
type locationDoc struct {
	paths  map[string]string
	legend []legendLine
	style  string
}

type legendLine struct{ key, text string }

// parseLocations decodes a chart with encoding/xml, failing the test if
// it is not well-formed or a path class repeats.
func parseLocations(t testing.TB, b []byte) locationDoc {
	t.Helper()
	parseSVG(t, b) // well-formed, one svg root, unique classes
	doc := locationDoc{paths: map[string]string{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var key string
	var in xml.StartElement
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			in = tok
			if tok.Name.Local == "path" {
				class := attr(tok, "class")
				doc.paths[class] = attr(tok, "d")
				if strings.HasPrefix(class, "key ") {
					key = strings.TrimPrefix(class, "key ")
				}
			}
		case xml.EndElement:
			in = xml.StartElement{}
		case xml.CharData:
			switch {
			case in.Name.Local == "style":
				doc.style += string(tok)
			case in.Name.Local == "text" && attr(in, "class") == "legend":
				doc.legend = append(doc.legend, legendLine{key, string(tok)})
				key = ""
			}
		}
	}
	return doc
}

// subpaths parses a path of M, l and h commands (what the lines use)
// into its subpaths' vertices, in absolute coordinates rounded to
// hundredths.
func subpaths(t testing.TB, d string) [][]point {
	t.Helper()
	var out [][]point
	for d != "" {
		cmd := d[0]
		d = d[1:]
		end := strings.IndexAny(d, "Mlh")
		if end < 0 {
			end = len(d)
		}
		args := strings.Fields(d[:end])
		d = d[end:]
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("bad number %q in path", s)
			}
			return v
		}
		round := func(v float64) float64 { return math.Round(v*100) / 100 }
		var last point
		if len(out) > 0 {
			sp := out[len(out)-1]
			last = sp[len(sp)-1]
		}
		switch {
		case cmd == 'M' && len(args) == 2:
			out = append(out, []point{{num(args[0]), num(args[1])}})
		case cmd == 'l' && len(args) == 2 && len(out) > 0:
			out[len(out)-1] = append(out[len(out)-1], point{round(last.x + num(args[0])), round(last.y + num(args[1]))})
		case cmd == 'h' && len(args) == 1 && len(out) > 0:
			out[len(out)-1] = append(out[len(out)-1], point{round(last.x + num(args[0])), last.y})
		default:
			t.Fatalf("unexpected path command %c %q", cmd, args)
		}
	}
	return out
}

// series makes a location's minute buckets from t0 (see minuteBuckets).
func series(name, states string, rtt time.Duration) LocationSeries {
	return LocationSeries{Name: name, Buckets: minuteBuckets(states, rtt)}
}

func TestLocationLines(t *testing.T) {
	// Four one-minute buckets over a 1280 px chart: plot x 36..1280,
	// y 36..684, buckets 311 px wide, middles at 191.5, 502.5, 813.5,
	// 1124.5; 100 ms (half the default scale) is at y 360, 50 ms at 522.
	tests := []struct {
		name      string
		merged    string
		locations []LocationSeries
		lines     map[string][][]point // by class
		legend    []legendLine
	}{
		{
			name:   "no locations: the merged chart alone",
			merged: "uuuu",
		},
		{
			name:      "one location: the merged chart alone",
			merged:    "uuuu",
			locations: []LocationSeries{series("", "uuuu", 100*time.Millisecond)},
		},
		{
			name:   "two locations, one line each",
			merged: "uuuu",
			locations: []LocationSeries{
				series("", "uuuu", 100*time.Millisecond),
				series("eu", "uuuu", 50*time.Millisecond),
			},
			lines: map[string][][]point{
				"line l0": {{{36, 360}, {1280, 360}}},
				"line l1": {{{36, 522}, {1280, 522}}},
			},
			legend: []legendLine{{"l0", "(default): avg 100ms, up 100.00%"}, {"l1", "eu: avg 50ms, up 100.00%"}},
		},
		{
			name:   "three locations: a gap where one has no check up",
			merged: "uuuu",
			locations: []LocationSeries{
				series("a", "uudu", 100*time.Millisecond),
				series("b", "u.Mu", 50*time.Millisecond),
				series("c", "dddd", 0),
			},
			lines: map[string][][]point{
				"line l0": {{{36, 360}, {658, 360}}, {{969, 360}, {1280, 360}}},
				"line l1": {{{36, 522}, {347, 522}}, {{969, 522}, {1280, 522}}},
			},
			legend: []legendLine{
				{"l0", "a: avg 100ms, up 75.00%"},
				{"l1", "b: avg 50ms, up 100.00%"},
				{"l2", "c: avg 0s, up 0.00%"},
			},
		},
		{
			name:   "the line goes through the middles at each mean",
			merged: "uuuu",
			locations: []LocationSeries{
				{Name: "a", Buckets: rtts(100, 100, 50, 200)},
				series("b", "....", 0),
			},
			lines: map[string][][]point{
				"line l0": {{{36, 360}, {502.5, 360}, {813.5, 522}, {1124.5, 36}, {1280, 36}}},
			},
			legend: []legendLine{{"l0", "a: avg 112.5ms, up 100.00%"}, {"l1", "b: no checks"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Chart{Host: "h", Start: t0, End: t0.Add(4 * time.Minute), Interval: time.Minute,
				Buckets: minuteBuckets(tt.merged, 20*time.Millisecond), Locations: tt.locations}
			b, doc := render(t, c, Options{})
			ld := parseLocations(t, b)
			if len(tt.lines) == 0 {
				// As the chart without locations draws it, byte for byte.
				c.Locations = nil
				want, _ := render(t, c, Options{})
				if !bytes.Equal(b, want) {
					t.Errorf("chart differs from the one without locations")
				}
				return
			}
			for class, want := range tt.lines {
				if got := subpaths(t, ld.paths[class]); !slices.EqualFunc(got, want, slices.Equal) {
					t.Errorf("%s: %v, want %v", class, got, want)
				}
			}
			var lines int
			var all []string
			for class, d := range ld.paths {
				if strings.HasPrefix(class, "line ") {
					lines++
					all = append(all, d)
				}
			}
			if lines != len(tt.lines) {
				t.Errorf("%d lines, want %d", lines, len(tt.lines))
			}
			// The halo lies under every line.
			if halo := ld.paths["halo"]; len(halo) != len(strings.Join(all, "")) {
				t.Errorf("halo %q is not the lines %q", halo, all)
			}
			if !slices.Equal(ld.legend, tt.legend) {
				t.Errorf("legend\n got %q\nwant %q", ld.legend, tt.legend)
			}
			if !strings.Contains(ld.style, "path.l0 {") || doc.Header != "Host: h Up 100.00% Down 0.00% Unknown 0.00% Average RTT 20ms" {
				t.Errorf("style %q, header %q", ld.style, doc.Header)
			}
		})
	}
}

// rtts makes minute buckets from t0, each one check up with the rtt given
// in milliseconds.
func rtts(ms ...int) []store.Bucket {
	bs := minuteBuckets(strings.Repeat("u", len(ms)), 0)
	for i, m := range ms {
		bs[i].MeanRTT = time.Duration(m) * time.Millisecond
	}
	return bs
}

// TestLocationLinesBounded: more locations than the palette has looks
// draws the first MaxLocationLines, and the legend counts the others.
func TestLocationLinesBounded(t *testing.T) {
	var locs []LocationSeries
	for i := range MaxLocationLines + 3 {
		locs = append(locs, series(fmt.Sprintf("loc%02d", i), "uu", time.Duration(i+1)*time.Millisecond))
	}
	c := Chart{Host: "h", Start: t0, End: t0.Add(2 * time.Minute), Interval: time.Minute, Buckets: minuteBuckets("uu", time.Millisecond), Locations: locs}
	b, _ := render(t, c, Options{})
	doc := parseLocations(t, b)
	if _, ok := doc.paths["line l"+strconv.Itoa(MaxLocationLines-1)]; !ok {
		t.Error("the last line of the palette is not drawn")
	}
	if _, ok := doc.paths["line l"+strconv.Itoa(MaxLocationLines)]; ok {
		t.Error("a line beyond the palette is drawn")
	}
	if n := len(doc.legend); n != MaxLocationLines+1 || doc.legend[n-1] != (legendLine{"", "and 3 more locations, not drawn"}) {
		t.Errorf("legend %q", doc.legend)
	}
}

// TestLocationLinesDynamicScale: the dynamic rtt axis makes room for the
// highest location line, not only the merged bars.
func TestLocationLinesDynamicScale(t *testing.T) {
	c := Chart{Host: "h", Start: t0, End: t0.Add(time.Minute), Interval: time.Minute, Buckets: minuteBuckets("u", 20*time.Millisecond),
		Locations: []LocationSeries{series("a", "u", 20*time.Millisecond), series("b", "u", 150*time.Millisecond)}}
	for _, tt := range []struct {
		locations []LocationSeries
		top       string // the top label of the ms axis
	}{
		{nil, "100"}, // the bars' 20 ms
		{c.Locations, "200"},
	} {
		c.Locations = tt.locations
		_, doc := render(t, c, Options{DynamicRTTScale: true})
		// "ms", "T", the time axis's 24 dates and times, then 0..top.
		if got := doc.Texts[2+48+20]; got != tt.top {
			t.Errorf("%d locations: top of the ms axis %q, want %q", len(tt.locations), got, tt.top)
		}
	}
}

// TestBucketsByLocation counts raw results both merged, as the store's
// Buckets does, and per location, over the same buckets.
func TestBucketsByLocation(t *testing.T) {
	ms := time.Millisecond
	var results []store.Result
	for i := range 6 {
		slot := t0.Add(time.Duration(i) * time.Minute)
		results = append(results,
			store.Result{Host: "h", Location: "", Slot: slot, RTT: 30 * ms, Up: true},
			store.Result{Host: "h", Location: "eu", Slot: slot, RTT: 10 * ms, Up: i != 2, Maintenance: i == 5},
		)
		if i >= 3 {
			results = append(results, store.Result{Host: "h", Location: "us", Slot: slot, RTT: 50 * ms, Up: true})
		}
	}
	var calls int
	read := func(start, end time.Time, fn func(store.Result) error) error {
		calls++
		for _, r := range results {
			if !r.Slot.Before(start) && r.Slot.Before(end) {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	start, end := t0, t0.Add(6*time.Minute)
	merged, locs, err := BucketsByLocation(start, end, time.Minute, 0, read)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("%d reads, want 1", calls)
	}
	// The merged buckets are the store's.
	want := store.NewBucketer(start, end, 6)
	add, flush := store.MergeResults(func(c store.Check) error { want.Add(c); return nil })
	for _, r := range results {
		add(r)
	}
	flush()
	if !slices.Equal(merged, want.Buckets()) {
		t.Errorf("merged\n got %v\nwant %v", merged, want.Buckets())
	}
	names := []string{}
	for _, l := range locs {
		names = append(names, l.Name)
		if len(l.Buckets) != len(merged) {
			t.Fatalf("%q: %d buckets, want %d", l.Name, len(l.Buckets), len(merged))
		}
		for i, b := range l.Buckets {
			if !b.Start.Equal(merged[i].Start) || !b.End.Equal(merged[i].End) {
				t.Errorf("%q bucket %d is [%v, %v), want the merged one's bounds", l.Name, i, b.Start, b.End)
			}
		}
	}
	if !slices.Equal(names, []string{"", "eu", "us"}) {
		t.Fatalf("locations %q", names)
	}
	count := func(l LocationSeries) string {
		var s []string
		for _, b := range l.Buckets {
			s = append(s, fmt.Sprintf("%d/%d/%d %v", b.Up, b.Down, b.Maintenance, b.MeanRTT))
		}
		return strings.Join(s, " ")
	}
	for i, w := range []string{
		"1/0/0 30ms 1/0/0 30ms 1/0/0 30ms 1/0/0 30ms 1/0/0 30ms 1/0/0 30ms",
		"1/0/0 10ms 1/0/0 10ms 0/1/0 0s 1/0/0 10ms 1/0/0 10ms 0/0/1 0s",
		"0/0/0 0s 0/0/0 0s 0/0/0 0s 1/0/0 50ms 1/0/0 50ms 1/0/0 50ms",
	} {
		if got := count(locs[i]); got != w {
			t.Errorf("%q: %s\nwant %s", locs[i].Name, got, w)
		}
	}

	// On whole hours (Buckets would make three calls), in one read, each
	// location has a bucket for every merged one.
	yearStart, yearEnd := t0.Add(17*time.Minute), t0.Add(365*24*time.Hour+17*time.Minute)
	results = []store.Result{
		{Host: "h", Location: "a", Slot: yearStart, Up: true, RTT: ms},
		{Host: "h", Location: "b", Slot: yearEnd.Add(-time.Minute), Up: true, RTT: ms},
	}
	calls = 0
	merged, locs, err = BucketsByLocation(yearStart, yearEnd, time.Minute, 0, read)
	if err != nil || calls != 1 || len(locs) != 2 {
		t.Fatalf("%d locations in %d reads: %v", len(locs), calls, err)
	}
	for _, l := range locs {
		if len(l.Buckets) != len(merged) || !l.Buckets[len(merged)-1].End.Equal(yearEnd) {
			t.Errorf("%q: %d buckets, want %d up to the end", l.Name, len(l.Buckets), len(merged))
		}
	}
	if locs[0].Buckets[0].Up != 1 || locs[1].Buckets[len(merged)-1].Up != 1 || merged[0].Up != 1 || merged[len(merged)-1].Up != 1 {
		t.Errorf("results not in the first and last buckets")
	}
	grid, _ := Buckets(yearStart, yearEnd, time.Minute, 0, func(start, end time.Time, n int) ([]store.Bucket, error) {
		return store.NewBucketer(start, end, n).Buckets(), nil
	})
	if len(grid) != len(merged) {
		t.Fatalf("%d merged buckets, want Buckets' %d", len(merged), len(grid))
	}
	for i, b := range grid {
		if !b.Start.Equal(merged[i].Start) || !b.End.Equal(merged[i].End) {
			t.Fatalf("merged bucket %d is [%v, %v), want Buckets' [%v, %v)", i, merged[i].Start, merged[i].End, b.Start, b.End)
		}
	}

	// A read's error is returned.
	boom := errors.New("boom")
	if _, _, err := BucketsByLocation(start, end, time.Minute, 0, func(time.Time, time.Time, func(store.Result) error) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("error %v, want %v", err, boom)
	}
}

func TestDrawsLocations(t *testing.T) {
	for _, tt := range []struct {
		span     time.Duration
		interval time.Duration
		want     bool
	}{
		{24 * time.Hour, time.Minute, true},
		{7 * 24 * time.Hour, time.Minute, true},
		{7*24*time.Hour + time.Minute, time.Minute, false},
		{30 * 24 * time.Hour, time.Minute, false},
		{30 * 24 * time.Hour, 5 * time.Minute, true},
		{24 * time.Hour, 0, false},
		{0, time.Minute, false},
	} {
		if got := DrawsLocations(t0, t0.Add(tt.span), tt.interval); got != tt.want {
			t.Errorf("DrawsLocations(%v, every %v) = %v, want %v", tt.span, tt.interval, got, tt.want)
		}
	}
}

// BenchmarkRenderLocations draws a day's chart with three location
// lines: what they add to BenchmarkRender.
func BenchmarkRenderLocations(b *testing.B) {
	span := 24 * time.Hour
	n := Columns(DefaultWidth)
	c := Chart{Host: "h0.example:443", Start: t0, End: t0.Add(span), Interval: time.Minute}
	c.Buckets = store.NewBucketer(c.Start, c.End, n).Buckets()
	for i := range c.Buckets {
		c.Buckets[i].Up, c.Buckets[i].MeanRTT = 1, time.Duration(10+i%50)*time.Millisecond
	}
	for l := range 3 {
		s := LocationSeries{Name: "loc" + strconv.Itoa(l), Buckets: slices.Clone(c.Buckets)}
		for i := range s.Buckets {
			s.Buckets[i].MeanRTT += time.Duration(l*20+i%7) * time.Millisecond
		}
		c.Locations = append(c.Locations, s)
	}
	benchRender(b, c)
	if dir := os.Getenv("SRVMON_CHART_SAMPLE_DIR"); dir != "" { // to look at
		var buf bytes.Buffer
		Render(&buf, c, Options{})
		os.WriteFile(filepath.Join(dir, "locations.svg"), buf.Bytes(), 0o644)
	}
}

// BenchmarkBucketsByLocation counts seven days of one-minute results
// from three locations: the Go side of a chart with location lines,
// without the store's read.
func BenchmarkBucketsByLocation(b *testing.B) {
	start, end := t0, t0.Add(7*24*time.Hour)
	locations := []string{"ap", "eu", "us"}
	read := func(from, to time.Time, fn func(store.Result) error) error {
		for slot := from.Truncate(time.Minute); slot.Before(to); slot = slot.Add(time.Minute) {
			for i, loc := range locations {
				r := store.Result{Host: "h", Location: loc, Slot: slot, RTT: time.Duration(10+i*20) * time.Millisecond, Up: slot.Minute()%37 != 0}
				if err := fn(r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for b.Loop() {
		if _, locs, err := BucketsByLocation(start, end, time.Minute, 0, read); err != nil || len(locs) != 3 {
			b.Fatal(len(locs), err)
		}
	}
}
