package chart

import (
	"cmp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/srvmon/srvmon/pkg/store"
)

// LocationSeries is one checker location's results of a chart's host:
// each location's own checks (not merged with the others'), counted in
// buckets with the bounds of Chart.Buckets, so that its line lies over
// the bars it belongs to. Only Up, Down and MeanRTT are read.
type LocationSeries struct {
	Name    string // "" is the default location, shown as "(default)"
	Buckets []store.Bucket
}

// MaxLocationLines is how many location lines a chart draws at most:
// as many as the palette has distinct looks. The legend counts the
// locations left out.
const MaxLocationLines = len(locationLooks)

// MaxLocationSlots bounds the ranges whose charts get a line per
// location: seven days of one-minute checks. Those lines are counted
// from every raw result of the range (hourly summaries merge the
// locations), so their cost grows with the range; longer ranges draw the
// merged chart alone, whose cost does not (see DrawsLocations).
const MaxLocationSlots = 7 * 24 * 60

// DrawsLocations reports whether a chart of [start, end), with checks
// every interval, is short enough to get a line per location: it holds
// at most MaxLocationSlots slots. With no interval it never is, since
// the number of results is not known.
func DrawsLocations(start, end time.Time, interval time.Duration) bool {
	return interval > 0 && end.After(start) && slots(start, end, interval) <= MaxLocationSlots
}

// BucketsByLocation is Buckets for a chart with a line per location: it
// reads the host's raw results of [start, end) once, with results (a
// store's ResultReader.Results for the host), and counts them twice in
// the buckets Buckets lays: merged slot by slot
// (store.MergeResults, as the store's own Buckets counts them) for the
// bars, and each location's alone for its line. The locations are those
// with a result in the range, by name; each one's buckets have the
// bounds of the merged ones. A range with no buckets (shorter than an
// interval) reads nothing.
func BucketsByLocation(start, end time.Time, interval time.Duration, width int,
	results func(start, end time.Time, fn func(store.Result) error) error,
) ([]store.Bucket, []LocationSeries, error) {
	// The grid that Buckets lays, read from nowhere: even buckets when it
	// makes one call (NewBucketer's, whose Index divides), else buckets
	// at their bounds (NewBucketerAt's, whose Index searches).
	type call struct {
		start, end time.Time
		n          int
	}
	var calls []call
	grid, _ := Buckets(start, end, interval, width, func(start, end time.Time, n int) ([]store.Bucket, error) {
		calls = append(calls, call{start, end, n})
		return store.NewBucketer(start, end, n).Buckets(), nil
	})
	if len(grid) == 0 {
		return nil, nil, nil
	}
	bounds := make([]time.Time, len(grid)+1)
	for i, b := range grid {
		bounds[i] = b.Start
	}
	bounds[len(grid)] = grid[len(grid)-1].End
	newBucketer := func() (*store.Bucketer, error) {
		if len(calls) == 1 {
			return store.NewBucketer(calls[0].start, calls[0].end, calls[0].n), nil
		}
		return store.NewBucketerAt(bounds)
	}
	all, err := newBucketer()
	if err != nil {
		return nil, nil, err
	}
	// A few locations: a slice is quicker to search than a map.
	type located struct {
		name string
		b    *store.Bucketer
	}
	var locs []located
	add, flush := store.MergeResults(func(c store.Check) error { all.Add(c); return nil })
	err = results(start, end, func(r store.Result) error {
		i := slices.IndexFunc(locs, func(l located) bool { return l.name == r.Location })
		if i < 0 {
			b, err := newBucketer()
			if err != nil {
				return err
			}
			i, locs = len(locs), append(locs, located{r.Location, b})
		}
		locs[i].b.Add(store.MergeSlot([]store.Result{r})) // the location's own check
		return add(r)
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(locs, func(a, b located) int { return cmp.Compare(a.name, b.name) })
	series := make([]LocationSeries, len(locs))
	for i, l := range locs {
		series[i] = LocationSeries{Name: l.name, Buckets: l.b.Buckets()}
	}
	return all.Buckets(), series, nil
}

// locationLook is how one location's line looks: a dark colour, which
// stands out on the bands' light green, red and amber (and, on its white
// halo, on the blue bars), and a dash pattern of its own, so that lines
// of the same hue to a reader who does not tell colours apart still
// differ; the legend names each with its look.
type locationLook struct{ colour, dash string }

// locationLooks is the palette: the first line is solid black.
var locationLooks = [...]locationLook{
	{"#000000", ""},
	{"#b000b0", "6 3"},
	{"#8a4b00", "2 2"},
	{"#006d6d", "8 3 2 3"},
	{"#4b0082", "10 4"},
	{"#5c5c00", "4 2 1 2"},
	{"#8b0000", "12 3 3 3"},
	{"#2f4f4f", "1 2"},
}

// locationStyle writes the rules of the location lines (path.line, their
// halo path.halo, the legend's keys path.key, its box and text), which
// the chart's style has only when it has them. They are written per
// chart rather than built into a string at package init: most charts
// have none, and most processes draw no chart at start.
func (d *drawer) locationStyle() {
	d.str(locationStyleHead)
	for i, l := range locationLooks {
		d.str("path.l")
		d.int(i)
		d.str(" {\n  stroke: " + l.colour + ";\n")
		if l.dash != "" {
			d.str("  stroke-dasharray: " + l.dash + ";\n")
		}
		d.str("}\n")
	}
	d.str(locationStyleTail)
}

// locationStyleHead and locationStyleTail are the rules of locationStyle
// before and after those of each line's look.
const (
	locationStyleHead = `path.line, path.key {
  fill: none;
  stroke-width: 1.5;
  stroke-linejoin: round;
  shape-rendering: auto;
}
`
	locationStyleTail = `path.halo {
  fill: none;
  stroke: rgba(255,255,255,0.8);
  stroke-width: 4;
  stroke-linejoin: round;
  stroke-linecap: round;
  shape-rendering: auto;
}
rect.legend {
  fill: rgba(255,255,255,0.85);
  stroke: rgba(51,51,51,1.0);
  stroke-width: 1;
}
text.legend {
  text-anchor: end;
}
`
)

// locationLines are the location series the chart draws: none for fewer
// than two, else the first MaxLocationLines.
func (d *drawer) locationLines() []LocationSeries {
	if len(d.c.Locations) < 2 {
		return nil
	}
	return d.c.Locations[:min(len(d.c.Locations), MaxLocationLines)]
}

// locations draws a line per location over the rtt bars, through the
// middle of each bucket at its mean rtt, flat across the first and the
// last bucket of a run, and broken where the location has no check up
// (none made, all down or in maintenance): a location that sees the
// host down has a gap where the merged bars may not. A white halo under
// the lines keeps them readable over every band and bar.
func (d *drawer) locations(lines []LocationSeries, scale time.Duration) {
	if len(lines) == 0 {
		return
	}
	paths := make([][]byte, len(lines))
	size := 0
	for i, l := range lines {
		paths[i] = d.linePath(l.Buckets, scale)
		size += len(paths[i])
	}
	halo := make([]byte, 0, size)
	for _, p := range paths {
		halo = append(halo, p...)
	}
	if len(halo) > 0 {
		d.str(`<path class="halo" d="`)
		d.buf = append(d.buf, halo...)
		d.str(`"/>` + "\n")
	}
	for i, p := range paths {
		if len(p) == 0 {
			continue
		}
		d.str(`<path class="line l`)
		d.int(i)
		d.str(`" d="`)
		d.buf = append(d.buf, p...)
		d.str(`"/>` + "\n")
	}
}

// linePath is the path of one location's line (see locations); empty
// when the location had no check up. Each run of buckets with checks up
// is a subpath: an absolute move to its start, then lines relative to
// the point before (h and l: a third shorter than absolute ones, and
// exact, since every point is on the hundredths that appendNum writes).
func (d *drawer) linePath(bs []store.Bucket, scale time.Duration) []byte {
	var p []byte
	var (
		inRun    bool
		prevEnd  time.Time
		at       point   // the last point written
		pendingX float64 // where the flat part at at.y ends so far
		runEnd   float64 // the right edge of the run's last bucket
	)
	hTo := func(x float64) {
		if x != at.x {
			p = append(p, 'h')
			p = appendNum(p, x-at.x)
			at.x = x
		}
	}
	endRun := func() {
		if inRun {
			hTo(runEnd)
		}
		inRun = false
	}
	for _, b := range bs {
		if b.Up == 0 || !b.Start.Equal(prevEnd) {
			endRun()
		}
		prevEnd = b.End
		if b.Up == 0 {
			continue
		}
		x0, x1 := d.x(b.Start), d.x(b.End)
		mid, y := (x0+x1)/2, d.rttY(b.MeanRTT, scale)
		switch {
		case !inRun:
			p = append(p, 'M')
			p = appendNum(p, x0)
			p = append(p, ' ')
			p = appendNum(p, y)
			inRun, at, pendingX = true, point{x0, y}, mid
		case y == at.y:
			pendingX = mid
		default:
			hTo(pendingX)
			p = append(p, 'l')
			p = appendNum(p, mid-at.x)
			p = append(p, ' ')
			p = appendNum(p, y-at.y)
			at, pendingX = point{mid, y}, mid
		}
		runEnd = x1
	}
	endRun()
	return p
}

// point is a point of a path.
type point struct{ x, y float64 }

// Legend layout, in pixels.
const (
	legendRow    = 16 // height of a row
	legendKey    = 24 // length of a key line
	legendMargin = 6  // inside the box and around the key
)

// legend writes the legend of the location lines in the top right corner
// of the plot: a row per line with the location's name, its mean rtt and
// its share of checks up (of its checks not in maintenance), and the key
// line in its look; then how many locations were left out, if any. The
// text names every line, so colour is never the only way to tell them.
func (d *drawer) legend(lines []LocationSeries) {
	if len(lines) == 0 {
		return
	}
	rows := make([]string, len(lines), len(lines)+1)
	glyphs := 0
	for i, l := range lines {
		rows[i] = locationSummary(l)
		glyphs = max(glyphs, utf8.RuneCountInString(rows[i]))
	}
	if more := len(d.c.Locations) - len(lines); more > 0 {
		rows = append(rows, "and "+strconv.Itoa(more)+" more locations, not drawn")
		glyphs = max(glyphs, utf8.RuneCountInString(rows[len(rows)-1]))
	}
	right := d.right - legendMargin // the box's right edge
	textX := right - 2*legendMargin - legendKey
	width := statGlyphWidth*fontSize*float64(glyphs) + 3*legendMargin + legendKey
	d.str(`<rect class="legend" x="`)
	d.num(max(right-width, d.left))
	d.str(`" y="`)
	d.num(d.top + legendMargin)
	d.str(`" width="`)
	d.num(min(width, right-d.left))
	d.str(`" height="`)
	d.int(legendRow*len(rows) + legendMargin)
	d.str(`"/>` + "\n")
	for i, row := range rows {
		y := d.top + legendMargin + float64(legendRow*(i+1))
		if i < len(lines) {
			d.str(`<path class="key l`)
			d.int(i)
			d.str(`" d="M`)
			d.num(textX + legendMargin)
			d.str(" ")
			d.num(y - fontSize/3)
			d.str("h")
			d.int(legendKey)
			d.str(`"/>`)
		}
		d.str(`<text class="legend" x="`)
		d.num(textX)
		d.str(`" y="`)
		d.num(y)
		d.str(`">`)
		d.text(row)
		d.str("</text>\n")
	}
}

// locationSummary is the legend's text of a location: its name, the mean
// rtt of its checks up, and the share of its checks (not in maintenance)
// that were up; "no checks" when it made none but in maintenance.
func locationSummary(l LocationSeries) string {
	var up, down int64
	var rttSum float64
	for _, b := range l.Buckets {
		up += b.Up
		down += b.Down
		rttSum += float64(b.MeanRTT) * float64(b.Up)
	}
	text := cmp.Or(l.Name, "(default)") + ": "
	if up+down == 0 {
		return text + "no checks"
	}
	var mean time.Duration
	if up > 0 {
		mean = time.Duration(rttSum / float64(up))
	}
	return text + "avg " + mean.Round(time.Microsecond).String() +
		", up " + strconv.FormatFloat(100*float64(up)/float64(up+down), 'f', 2, 64) + "%"
}
