package chart

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin on any machine

	"github.com/srvmon/srvmon/pkg/store"
)

// svgDoc is what the tests read back from a rendered chart.
type svgDoc struct {
	Width, Height string
	Header        string            // the text of the stat line
	Swatches      []string          // the classes of its tspans
	Paths         map[string]string // d of each path, by class
	Texts         []string
}

// parseSVG decodes every token of an SVG document with encoding/xml and
// fails the test if it is not well-formed.
func parseSVG(t testing.TB, b []byte) svgDoc {
	t.Helper()
	doc := svgDoc{Paths: map[string]string{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []xml.StartElement
	var root bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				if root || tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("unexpected root element %v", tok.Name)
				}
				root = true
				doc.Width, doc.Height = attr(tok, "width"), attr(tok, "height")
			}
			if tok.Name.Local == "path" {
				class := attr(tok, "class")
				if _, dup := doc.Paths[class]; dup {
					t.Fatalf("two paths of class %q", class)
				}
				doc.Paths[class] = attr(tok, "d")
			}
			stack = append(stack, tok)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && stack[len(stack)-1].Name.Local == "text" {
				if attr(stack[len(stack)-1], "class") == "stat" {
					doc.Header += string(tok)
				} else {
					doc.Texts = append(doc.Texts, string(tok))
				}
			}
			// A tspan of the stat line (the maintenance legend's swatch).
			if n := len(stack); n > 1 && stack[n-1].Name.Local == "tspan" && attr(stack[n-2], "class") == "stat" {
				doc.Header += string(tok)
				doc.Swatches = append(doc.Swatches, attr(stack[n-1], "class"))
			}
		}
	}
	if !root {
		t.Fatal("no svg element")
	}
	return doc
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func render(t testing.TB, c Chart, o Options) ([]byte, svgDoc) {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, c, o); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.Bytes(), parseSVG(t, buf.Bytes())
}

var t0 = time.Date(2021, 3, 2, 0, 0, 0, 0, time.UTC)

// minuteBuckets makes one bucket per minute from t0 with the given states:
// 'u' up (rtt ms from rtts), 'd' down, '.' unknown, 'm' one up and one down,
// 'M' one in maintenance, 'x' one up and one in maintenance, 'y' one down
// and one in maintenance, 'z' one of each.
func minuteBuckets(states string, rtt time.Duration) []store.Bucket {
	var bs []store.Bucket
	for i, s := range states {
		b := store.Bucket{Start: t0.Add(time.Duration(i) * time.Minute), End: t0.Add(time.Duration(i+1) * time.Minute)}
		switch s {
		case 'u':
			b.Up, b.MinRTT, b.MeanRTT, b.MaxRTT = 1, rtt, rtt, rtt
		case 'd':
			b.Down = 1
		case 'm':
			b.Up, b.Down, b.MinRTT, b.MeanRTT, b.MaxRTT = 1, 1, rtt, rtt, rtt
		case 'M':
			b.Maintenance = 1
		case 'x':
			b.Up, b.Maintenance, b.MinRTT, b.MeanRTT, b.MaxRTT = 1, 1, rtt, rtt, rtt
		case 'y':
			b.Down, b.Maintenance = 1, 1
		case 'z':
			b.Up, b.Down, b.Maintenance, b.MinRTT, b.MeanRTT, b.MaxRTT = 1, 1, 1, rtt, rtt, rtt
		}
		bs = append(bs, b)
	}
	return bs
}

func TestHeader(t *testing.T) {
	mixed := minuteBuckets("uudd", 0)
	mixed[0].MeanRTT, mixed[1].MeanRTT = 10*time.Millisecond, 20*time.Millisecond
	tests := []struct {
		name string
		c    Chart
		want string
	}{
		{
			name: "counts missing checks by interval",
			c:    Chart{Host: "example.org", Start: t0, End: t0.Add(8 * time.Minute), Interval: time.Minute, Buckets: minuteBuckets("uu..dd..", 15*time.Millisecond)},
			want: "Host: example.org Up 25.00% Down 25.00% Unknown 50.00% Average RTT 15ms",
		},
		{
			name: "average weighted by up checks",
			c:    Chart{Host: "h", Start: t0, End: t0.Add(4 * time.Minute), Interval: time.Minute, Buckets: mixed},
			want: "Host: h Up 50.00% Down 50.00% Unknown 0.00% Average RTT 15ms",
		},
		{
			name: "without an interval an empty bucket is one unknown",
			c:    Chart{Host: "h", Start: t0, End: t0.Add(4 * time.Minute), Buckets: minuteBuckets("u.d.", time.Millisecond)},
			want: "Host: h Up 25.00% Down 25.00% Unknown 50.00% Average RTT 1ms",
		},
		{
			name: "empty chart",
			c:    Chart{Host: "h", Start: t0, End: t0.Add(30 * time.Second), Interval: time.Minute},
			want: "Host: h Up 0.00% Down 0.00% Unknown 100.00% Average RTT 0s",
		},
		{
			name: "more checks than slots never gives a negative unknown",
			c:    Chart{Host: "h", Start: t0, End: t0.Add(2 * time.Minute), Interval: time.Hour, Buckets: minuteBuckets("dd", 0)},
			want: "Host: h Up 0.00% Down 100.00% Unknown 0.00% Average RTT 0s",
		},
		{
			name: "host is escaped",
			c:    Chart{Host: `http://a.example/?x=1&y=<b>"'`, Start: t0, End: t0.Add(time.Minute), Interval: time.Minute, Buckets: minuteBuckets("u", 1500*time.Microsecond)},
			want: `Host: http://a.example/?x=1&y=<b>"' Up 100.00% Down 0.00% Unknown 0.00% Average RTT 1.5ms`,
		},
		{
			name: "maintenance is left out of the shares, and shown with its swatch",
			c:    Chart{Host: "h", Start: t0, End: t0.Add(8 * time.Minute), Interval: time.Minute, Buckets: minuteBuckets("uMMud.M.", 10*time.Millisecond)},
			want: "Host: h Up 40.00% Down 20.00% Unknown 40.00% ■ Maintenance 3m0s Average RTT 10ms",
		},
		{
			name: "only maintenance: all unknown but for it",
			c:    Chart{Host: "h", Start: t0, End: t0.Add(2 * time.Minute), Interval: time.Minute, Buckets: minuteBuckets("MM", 0)},
			want: "Host: h Up 0.00% Down 0.00% Unknown 100.00% ■ Maintenance 2m0s Average RTT 0s",
		},
		{
			name: "maintenance without an interval counts checks",
			c:    Chart{Host: "h", Start: t0, End: t0.Add(4 * time.Minute), Buckets: minuteBuckets("uM.z", time.Millisecond)},
			want: "Host: h Up 50.00% Down 25.00% Unknown 25.00% ■ Maintenance 2 checks Average RTT 1ms",
		},
		{
			name: "characters XML cannot hold are replaced",
			c:    Chart{Host: "a\x00b\xffc\x1b", Start: t0, End: t0.Add(time.Minute), Interval: time.Minute},
			want: "Host: a\uFFFDb\uFFFDc\uFFFD Up 0.00% Down 0.00% Unknown 100.00% Average RTT 0s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, doc := render(t, tt.c, Options{})
			if doc.Header != tt.want {
				t.Errorf("header\n got %q\nwant %q", doc.Header, tt.want)
			}
			if want := strings.Contains(tt.want, "Maintenance"); want != slices.Equal(doc.Swatches, []string{"maint"}) {
				t.Errorf("swatches of the header %q; want the maintenance one: %v", doc.Swatches, want)
			}
		})
	}
}

func TestBands(t *testing.T) {
	// 4 one-minute buckets over a 1280 px chart: plot x 36..1280, y 36..684,
	// each bucket 311 px wide.
	tests := []struct {
		name   string
		states string
		want   map[string]string
	}{
		{"all up is one rectangle", "uuuu", map[string]string{"up": "M36 36h1244v648h-1244z"}},
		{"runs merge", "uudd", map[string]string{"up": "M36 36h622v648h-622z", "down": "M658 36h622v648h-622z"}},
		{"unknown is grey", ".u.u", map[string]string{
			"na": "M36 36h311v648h-311zM658 36h311v648h-311z",
			"up": "M347 36h311v648h-311zM969 36h311v648h-311z",
		}},
		{"mixed bucket is split, down on top", "m", map[string]string{
			"down": "M36 36h1244v324h-1244z",
			"up":   "M36 360h1244v324h-1244z",
		}},
		{"mixed buckets alike merge", "mmuu", map[string]string{
			"down": "M36 36h622v324h-622z",
			"up":   "M36 360h622v324h-622zM658 36h622v648h-622z",
		}},
		{"maintenance has its own colour", "uMMd", map[string]string{
			"up":    "M36 36h311v648h-311z",
			"maint": "M347 36h622v648h-622z",
			"down":  "M969 36h311v648h-311z",
		}},
		{"up and maintenance: amber on top of green", "x", map[string]string{
			"maint": "M36 36h1244v324h-1244z",
			"up":    "M36 360h1244v324h-1244z",
		}},
		{"down and maintenance: red on top of amber", "y", map[string]string{
			"down":  "M36 36h1244v324h-1244z",
			"maint": "M36 360h1244v324h-1244z",
		}},
		{"all three: red, amber, green", "zz", map[string]string{
			"down":  "M36 36h1244v216h-1244z",
			"maint": "M36 252h1244v216h-1244z",
			"up":    "M36 468h1244v216h-1244z",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Chart{Host: "h", Start: t0, End: t0.Add(time.Duration(len(tt.states)) * time.Minute), Interval: time.Minute, Buckets: minuteBuckets(tt.states, 0)}
			_, doc := render(t, c, Options{})
			for _, class := range []string{"up", "down", "na", "maint"} {
				if got := doc.Paths[class]; got != tt.want[class] {
					t.Errorf("path %s\n got %q\nwant %q", class, got, tt.want[class])
				}
			}
		})
	}
}

func TestShortOutageStaysVisible(t *testing.T) {
	// One down check among 1000: less than a pixel, drawn as one.
	c := Chart{Host: "h", Start: t0, End: t0.Add(time.Hour), Buckets: []store.Bucket{{Start: t0, End: t0.Add(time.Hour), Up: 999, Down: 1, MeanRTT: time.Millisecond}}}
	_, doc := render(t, c, Options{})
	if want := "M36 36h1244v1h-1244z"; doc.Paths["down"] != want {
		t.Errorf("down path %q, want %q", doc.Paths["down"], want)
	}
}

// TestHeaderFitsTheWidth: a header wider than the chart gets a smaller
// font, so that it is whole, the maintenance legend included; one that
// fits keeps gosrvmon's.
func TestHeaderFitsTheWidth(t *testing.T) {
	bs := minuteBuckets("uMd", time.Millisecond)
	for _, tc := range []struct {
		name  string
		host  string
		width int
		want  string // the stat text's style
	}{
		{"WideFits", "db.example", 1280, ""},
		{"Narrow", "db.example", 390, "font-size:7.98px"},
		{"LongHost", "https://" + strings.Repeat("h", 200) + ".example/", 1280, "font-size:7.86px"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Chart{Host: tc.host, Start: t0, End: t0.Add(3 * time.Minute), Interval: time.Minute, Buckets: bs, Width: tc.width}
			b, doc := render(t, c, Options{})
			if !strings.Contains(doc.Header, "Maintenance 1m0s") {
				t.Fatalf("header %q", doc.Header)
			}
			i := bytes.Index(b, []byte(`<text class="stat"`))
			tag := string(b[i : i+bytes.IndexByte(b[i:], '>')])
			style := ""
			if j := strings.Index(tag, `style="`); j >= 0 {
				style = strings.TrimSuffix(tag[j+len(`style="`):], `"`)
			}
			if style != tc.want {
				t.Errorf("stat style %q, want %q", style, tc.want)
			}
		})
	}
}

func TestShortMaintenanceStaysVisible(t *testing.T) {
	// One check in maintenance among 1000, and one down: a pixel each.
	c := Chart{Host: "h", Start: t0, End: t0.Add(time.Hour), Buckets: []store.Bucket{{Start: t0, End: t0.Add(time.Hour), Up: 998, Down: 1, Maintenance: 1, MeanRTT: time.Millisecond}}}
	_, doc := render(t, c, Options{})
	want := map[string]string{"down": "M36 36h1244v1h-1244z", "maint": "M36 37h1244v1h-1244z", "up": "M36 38h1244v646h-1244z"}
	for class, w := range want {
		if doc.Paths[class] != w {
			t.Errorf("%s path %q, want %q", class, doc.Paths[class], w)
		}
	}
	// All but one in maintenance: the up check keeps its pixel.
	c.Buckets[0].Up, c.Buckets[0].Down, c.Buckets[0].Maintenance = 1, 0, 999
	_, doc = render(t, c, Options{})
	if w := "M36 683h1244v1h-1244z"; doc.Paths["up"] != w {
		t.Errorf("up path %q, want %q", doc.Paths["up"], w)
	}
}

func TestRTTBars(t *testing.T) {
	tests := []struct {
		name   string
		states string
		rtt    time.Duration
		opts   Options
		want   string
		top    string // label at the top of the ms axis
	}{
		{"half of the default scale", "uu", 100 * time.Millisecond, Options{}, "M36 684V360H1280V684z", "200"},
		{"clipped at the scale", "u", time.Second, Options{}, "M36 684V36H1280V684z", "200"},
		{"gaps drop to the axis", "u.du", 50 * time.Millisecond, Options{}, "M36 684V522H347V684H969V522H1280V684z", "200"},
		{"nothing up draws no bars", "d.d", 0, Options{}, "", "200"},
		{"maintenance alone draws no bar", "uMu", 100 * time.Millisecond, Options{}, "M36 684V360H451V684H865V360H1280V684z", "200"},
		{"custom scale", "u", 50 * time.Millisecond, Options{MaxRTTScale: 100 * time.Millisecond}, "M36 684V360H1280V684z", "100"},
		{"dynamic scale rounds up to 100 ms", "u", 42 * time.Millisecond, Options{DynamicRTTScale: true}, "M36 684V411.84H1280V684z", "100"},
		{"dynamic scale never above the maximum", "u", 420 * time.Millisecond, Options{DynamicRTTScale: true}, "M36 684V36H1280V684z", "200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Chart{Host: "h", Start: t0, End: t0.Add(time.Duration(len(tt.states)) * time.Minute), Interval: time.Minute, Buckets: minuteBuckets(tt.states, tt.rtt)}
			_, doc := render(t, c, tt.opts)
			if got := doc.Paths["i"]; got != tt.want {
				t.Errorf("rtt path\n got %q\nwant %q", got, tt.want)
			}
			// Labels: 24 dates and times, then 0..top of the ms axis.
			if got := doc.Texts[len(doc.Texts)-1]; got != tt.top {
				t.Errorf("top of the ms axis %q, want %q", got, tt.top)
			}
		})
	}
}

func TestTimeAxisInTimeZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	c := Chart{Host: "h", Start: t0, End: t0.Add(24 * time.Hour), Interval: time.Minute}
	for _, tt := range []struct {
		tz         *time.Location
		date, time string
		second     string
	}{
		{nil, "21-03-02", "00:00:00", "01:00:00"},
		{berlin, "21-03-02", "01:00:00", "02:00:00"},
	} {
		_, doc := render(t, c, Options{TimeZone: tt.tz})
		// Texts: "ms", "T", then date and time of each tick.
		if doc.Texts[2] != tt.date || doc.Texts[3] != tt.time || doc.Texts[5] != tt.second {
			t.Errorf("zone %v: first ticks %q, want %s %s then %s", tt.tz, doc.Texts[2:6], tt.date, tt.time, tt.second)
		}
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		w, h    int
		wantErr string
	}{
		{0, 0, ""},
		{MinWidth, MinHeight, ""},
		{MaxWidth, MaxHeight, ""},
		{MinWidth - 1, 0, "width 319 is outside 320..3840"},
		{MaxWidth + 1, 0, "width 3841 is outside 320..3840"},
		{0, MinHeight - 1, "height 199 is outside 200..2160"},
		{0, -5, "height -5 is outside 200..2160"},
	}
	for _, tt := range tests {
		err := CheckSize(tt.w, tt.h)
		if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
			t.Errorf("CheckSize(%d, %d) = %v, want %q", tt.w, tt.h, err, tt.wantErr)
		}
		var buf bytes.Buffer
		err = Render(&buf, Chart{Host: "h", Start: t0, End: t0.Add(time.Hour), Width: tt.w, Height: tt.h}, Options{})
		if (err == nil) != (tt.wantErr == "") {
			t.Errorf("Render at %dx%d: %v, want error %q", tt.w, tt.h, err, tt.wantErr)
		}
		if err == nil {
			doc := parseSVG(t, buf.Bytes())
			w, h := tt.w, tt.h
			if w == 0 {
				w = DefaultWidth
			}
			if h == 0 {
				h = DefaultHeight
			}
			if doc.Width != strconv.Itoa(w) || doc.Height != strconv.Itoa(h) {
				t.Errorf("svg is %sx%s, want %dx%d", doc.Width, doc.Height, w, h)
			}
		}
	}
}

func TestBucketCount(t *testing.T) {
	tests := []struct {
		name     string
		span     time.Duration
		interval time.Duration
		width    int
		want     int
	}{
		{"shorter than an interval", 59 * time.Second, time.Minute, 0, 0},
		{"empty range", 0, time.Minute, 0, 0},
		{"reversed range", -time.Hour, time.Minute, 0, 0},
		{"one interval", time.Minute, time.Minute, 0, 1},
		{"an hour of minutes", time.Hour, time.Minute, 0, 60},
		{"partial last slot", 90 * time.Second, time.Minute, 0, 2},
		{"a day: one per column", 24 * time.Hour, time.Minute, 0, DefaultWidth - xOffset},
		{"a year: one per column", 365 * 24 * time.Hour, time.Minute, 0, DefaultWidth - xOffset},
		{"narrow chart", 24 * time.Hour, time.Minute, MinWidth, MinWidth - xOffset},
		{"no interval", time.Minute, 0, 0, DefaultWidth - xOffset},
	}
	for _, tt := range tests {
		if got := BucketCount(t0, t0.Add(tt.span), tt.interval, tt.width); got != tt.want {
			t.Errorf("%s: BucketCount = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestSlots(t *testing.T) {
	tests := []struct {
		start, end time.Duration // from t0
		want       int64
	}{
		{0, time.Minute, 1},
		{0, 59 * time.Second, 1},
		{time.Second, time.Minute, 0},
		{time.Second, time.Minute + time.Nanosecond, 1},
		{30 * time.Second, 150 * time.Second, 2},
		{0, 24 * time.Hour, 1440},
		{time.Hour, time.Hour, 0},
	}
	for _, tt := range tests {
		if got := slots(t0.Add(tt.start), t0.Add(tt.end), time.Minute); got != tt.want {
			t.Errorf("slots(+%v, +%v) = %d, want %d", tt.start, tt.end, got, tt.want)
		}
	}
}

// TestSizeIndependentOfRange draws the worst case, every column of another
// class than its neighbours, and a year of mixed columns: the SVG stays
// under 64 KB because it never has more than one bucket per column.
func TestSizeIndependentOfRange(t *testing.T) {
	for _, tt := range []struct {
		name string
		span time.Duration
		fill func(i int, b *store.Bucket)
	}{
		{"alternating states, one day", 24 * time.Hour, func(i int, b *store.Bucket) {
			switch i % 3 {
			case 0:
				b.Up, b.MeanRTT = 1, time.Duration(i)*time.Millisecond/7
			case 1:
				b.Down = 1
			}
		}},
		{"mixed columns, one year", 365 * 24 * time.Hour, func(i int, b *store.Bucket) {
			b.Up, b.Down, b.MeanRTT = 400, int64(1+i%20), time.Duration(i%190)*time.Millisecond+123456
		}},
		{"mixed columns, one year, on whole hours", 365*24*time.Hour + 17*time.Minute, func(i int, b *store.Bucket) {
			b.Up, b.Down, b.MeanRTT = 400, int64(1+i%20), time.Duration(i%190)*time.Millisecond+123456
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The grid a handler asks for: whole hours a bucket over a year.
			bs, _ := Buckets(t0, t0.Add(tt.span), time.Minute, 0, func(start, end time.Time, n int) ([]store.Bucket, error) {
				return store.NewBucketer(start, end, n).Buckets(), nil
			})
			for i := range bs {
				tt.fill(i, &bs[i])
			}
			svg, _ := render(t, Chart{Host: "h", Start: t0, End: t0.Add(tt.span), Interval: time.Minute, Buckets: bs}, Options{})
			if len(svg) > 64<<10 {
				t.Errorf("SVG is %d bytes, want at most 64 KiB", len(svg))
			}
			t.Logf("%d buckets: %d bytes", len(bs), len(svg))
		})
	}
}

func FuzzRender(f *testing.F) {
	f.Add("example.org", "uu..dd..", int64(15e6), 0, 0, false, "")
	f.Add("http://a.example/?x=1&y=<b>", "m", int64(1e9), MinWidth, MaxHeight, true, "u.d")
	f.Add("a\x00b\xffc", "", int64(0), 0, 0, false, "a\x00<&")
	f.Fuzz(func(t *testing.T, host, states string, rtt int64, w, h int, dyn bool, location string) {
		if len(states) > 4000 {
			states = states[:4000]
		}
		bs := minuteBuckets(states, time.Duration(rtt))
		c := Chart{Host: host, Start: t0, End: t0.Add(time.Duration(len(bs)) * time.Minute), Interval: time.Minute, Buckets: bs, Width: w, Height: h}
		if location != "" { // named location, its states its name; and the default one, the merged states
			c.Locations = []LocationSeries{{Name: location, Buckets: minuteBuckets(location, time.Duration(rtt)*2)}, {Buckets: bs}}
		}
		var buf bytes.Buffer
		err := Render(&buf, c, Options{DynamicRTTScale: dyn})
		if CheckSize(w, h) != nil {
			if err == nil {
				t.Fatal("Render accepted a bad size")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		doc := parseSVG(t, buf.Bytes())
		if !strings.HasPrefix(doc.Header, "Host: ") || !strings.Contains(doc.Header, " Average RTT ") {
			t.Fatalf("bad header %q", doc.Header)
		}
	})
}

// BenchmarkRender draws a chart from one bucket per column of the
// default size: the cost of drawing, whatever the range.
func BenchmarkRender(b *testing.B) {
	n := Columns(DefaultWidth)
	span := 365 * 24 * time.Hour
	w := store.BucketWidth(t0, t0.Add(span), n)
	bs := make([]store.Bucket, n)
	for i := range bs {
		bs[i] = store.Bucket{Start: t0.Add(time.Duration(i) * w), End: t0.Add(time.Duration(i+1) * w),
			Up: 410, Down: int64(i % 11), MeanRTT: time.Duration(10+i%50) * time.Millisecond}
	}
	benchRender(b, Chart{Host: "h0.example:443", Start: t0, End: t0.Add(span), Interval: time.Minute, Buckets: bs})
}

// benchRender renders c in b's loop and reports the SVG's size.
func benchRender(b *testing.B, c Chart) {
	b.Helper()
	var size int
	for b.Loop() {
		var buf bytes.Buffer
		if err := Render(&buf, c, Options{}); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/1024, "KiB")
}

func TestAppendNum(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {-0.001, "0"}, {36, "36"}, {36.5, "36.5"}, {36.57, "36.57"}, {36.574, "36.57"},
		{36.575, "36.58"}, {0.05, "0.05"}, {-5, "-5"}, {-0.5, "-0.5"}, {1279.999, "1280"}, {411.84, "411.84"},
	} {
		if got := string(appendNum(nil, tt.v)); got != tt.want {
			t.Errorf("appendNum(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// TestBuckets checks the grid that Buckets asks for: the buckets cover
// [start, end) in order, there are never more than BucketCount of them,
// and when they are an hour wide or more, those of the call for more than
// one (the middle, between a first and a last that the range may cut) are
// whole hours on hours.
func TestBuckets(t *testing.T) {
	t0 := time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		start, end time.Time
		interval   time.Duration
		width      int
		calls      int // calls of get
		wholeHours bool
	}{
		{"Day", t0.Add(17 * time.Minute), t0.Add(24*time.Hour + 17*time.Minute), time.Minute, 0, 1, false},
		{"YearCut", t0.Add(17 * time.Minute), t0.Add(365*24*time.Hour + 17*time.Minute), time.Minute, 0, 3, true},
		{"YearOnHours", t0, t0.Add(365 * 24 * time.Hour), time.Minute, 0, 1, true},
		{"ThirtyDaysWide", t0.Add(time.Second), t0.Add(30 * 24 * time.Hour), time.Minute, 320, 2, true},
		{"ThirtyDays", t0.Add(time.Second), t0.Add(30 * 24 * time.Hour), time.Minute, 0, 1, false},
		{"HourlyChecks", t0.Add(90 * time.Minute), t0.Add(100 * time.Hour), time.Hour, 0, 1, false},
		{"ThreeHoursOfHourlyChecks", t0.Add(90 * time.Minute), t0.Add(270 * time.Minute), time.Hour, 0, 2, true},
		{"ShorterThanAnInterval", t0, t0.Add(30 * time.Second), time.Minute, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			get := func(start, end time.Time, n int) ([]store.Bucket, error) {
				calls++
				b := store.NewBucketer(start, end, n).Buckets()
				w := store.BucketWidth(start, end, n)
				if tc.wholeHours && n > 1 && (w%time.Hour != 0 || !start.Equal(store.Hour(start)) || !end.Equal(store.Hour(end))) {
					t.Errorf("middle call [%v, %v) in %d: not whole hours on hours (width %v)", start, end, n, w)
				}
				return b, nil
			}
			got, err := Buckets(tc.start, tc.end, tc.interval, tc.width, get)
			if err != nil {
				t.Fatal(err)
			}
			if calls != tc.calls {
				t.Errorf("%d calls of get, want %d", calls, tc.calls)
			}
			if max := BucketCount(tc.start, tc.end, tc.interval, tc.width); len(got) > max {
				t.Errorf("%d buckets, more than BucketCount's %d", len(got), max)
			}
			if tc.calls == 0 {
				if got != nil {
					t.Errorf("Buckets = %v, want nil", got)
				}
				return
			}
			at := tc.start
			for i, b := range got {
				if !b.Start.Equal(at) || !b.Start.Before(b.End) {
					t.Fatalf("bucket %d is [%v, %v), want it to start at %v", i, b.Start, b.End, at)
				}
				at = b.End
			}
			if !at.Equal(tc.end) {
				t.Errorf("buckets end at %v, want %v", at, tc.end)
			}
		})
	}
}
