// Package chart draws gosrvmon's uptime and latency chart as SVG from
// pre-aggregated buckets: green, red and grey bands for up, down and
// unknown time, amber for checks made in maintenance (srvmon's), blue
// bars for the round-trip time, a time axis below, a millisecond axis on
// the left and a header line with the range's totals. When a host is
// checked from several locations, a thin line per location over the bars
// shows each one's rtt, with a legend naming them (see LocationSeries).
//
// The chart never looks at individual checks. The caller asks the store for
// at most one bucket per pixel column (see Buckets), so the size of the SVG
// and the time to draw it do not grow with the range, and buckets of long
// ranges are whole hours, which stores count from hourly summaries: a
// one-year chart costs what a one-day chart does. It is pure: buckets in,
// SVG out. The lines per location are the exception, since summaries
// merge the locations: BucketsByLocation counts them from the raw
// results, so they are drawn over ranges of at most MaxLocationSlots
// slots only (DrawsLocations).
package chart

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/srvmon/srvmon/pkg/store"
)

// Size limits and defaults, in pixels. The defaults are gosrvmon's.
const (
	DefaultWidth  = 1280
	DefaultHeight = 720
	MinWidth      = 320
	MaxWidth      = 3840
	MinHeight     = 200
	MaxHeight     = 2160
)

// DefaultMaxRTTScale is the top of the rtt axis when Options.MaxRTTScale is
// zero (gosrvmon's Chart.MaxRttScale default).
const DefaultMaxRTTScale = 200 * time.Millisecond

// Layout, in pixels, as gosrvmon draws it.
const (
	fontSize  = 12
	xOffset   = 3 * fontSize // left margin: the millisecond labels
	marginTop = 3 * fontSize // top margin: the header line
	marginBot = 3 * fontSize // bottom margin: the time labels
	tickLen   = 5
	yTicks    = 20 // millisecond axis steps
	xTicksMax = 24 // time axis steps at most
	xTickMinW = 50 // pixels a time label needs
)

// Options are the chart settings of an installation (gosrvmon's Chart
// section). The zero value draws like gosrvmon's defaults, in UTC.
type Options struct {
	// MaxRTTScale is the top of the rtt axis; zero means 200 ms. Longer
	// round trips are drawn clipped at the top.
	MaxRTTScale time.Duration
	// DynamicRTTScale lowers the top of the rtt axis to the smallest
	// multiple of 100 ms above the highest bar, when that is below
	// MaxRTTScale.
	DynamicRTTScale bool
	// TimeZone is the zone of the time axis labels; nil means UTC.
	TimeZone *time.Location
}

// Chart is what one chart shows.
type Chart struct {
	Host       string
	Start, End time.Time // the range [Start, End)
	// Interval is the time between checks. It lets the header count the
	// checks that are missing; zero counts each empty bucket as one.
	Interval time.Duration
	// Buckets cover [Start, End), oldest first, as store.Store.Buckets
	// returns them. None (a range shorter than one interval) draws an
	// empty chart.
	Buckets []store.Bucket
	// Width and Height of the picture; zero means the default. Use
	// CheckSize to validate requested sizes.
	Width, Height int
	// Locations are the host's results per checker location, by name,
	// for a line each over the merged bars (see LocationSeries). They
	// are drawn when there are two or more: one location's line would
	// be the bars again, so a chart with none or one draws as gosrvmon's.
	Locations []LocationSeries
}

// CheckSize reports whether width and height (zero meaning the default)
// are within the limits, with an error that says which is not.
func CheckSize(width, height int) error {
	if width != 0 && (width < MinWidth || width > MaxWidth) {
		return fmt.Errorf("width %d is outside %d..%d", width, MinWidth, MaxWidth)
	}
	if height != 0 && (height < MinHeight || height > MaxHeight) {
		return fmt.Errorf("height %d is outside %d..%d", height, MinHeight, MaxHeight)
	}
	return nil
}

// Columns is the number of pixel columns of the plot area of a chart width
// pixels wide (zero meaning the default).
func Columns(width int) int {
	if width == 0 {
		width = DefaultWidth
	}
	return max(width-xOffset, 1)
}

// BucketCount is the number of buckets to ask the store for to draw
// [start, end) on a chart width pixels wide: at most one per pixel column
// and, when interval is set, none narrower than one interval, so that a
// short range is not drawn as gaps between checks. It is zero when the
// range is shorter than one interval: the chart is then empty.
func BucketCount(start, end time.Time, interval time.Duration, width int) int {
	span := end.Sub(start)
	if span <= 0 || (interval > 0 && span < interval) {
		return 0
	}
	n := Columns(width)
	if interval > 0 {
		if slots := (span + interval - 1) / interval; slots < time.Duration(n) {
			n = int(slots)
		}
	}
	return n
}

// Buckets asks get for the buckets of a chart of [start, end), width pixels
// wide: BucketCount of them, nil when that is zero. get is a store's
// Buckets for one host. When the buckets are an hour wide or more, they
// are laid on whole UTC hours, so that the store counts them from its
// hourly summaries (see store.SummarySpan) rather than from every check:
// their width is rounded up to whole hours, the middle ones start on an
// hour, and the first and the last, which the range may cut, are asked for
// on their own. That makes at most three calls to get and never more
// buckets than BucketCount.
func Buckets(start, end time.Time, interval time.Duration, width int,
	get func(start, end time.Time, n int) ([]store.Bucket, error),
) ([]store.Bucket, error) {
	n := BucketCount(start, end, interval, width)
	if n == 0 {
		return nil, nil
	}
	const hour = store.SummarySpan
	if n < 3 || store.BucketWidth(start, end, n) < hour {
		return get(start, end, n)
	}
	// n-2 in the middle leaves room for a first and a last bucket.
	w := (store.BucketWidth(start, end, n-2) + hour - 1) / hour * hour
	first := store.Hour(start) // the first bucket's end, unless start is on an hour
	if first.Before(start) {
		first = first.Add(w)
	}
	if !first.Before(end) {
		return get(start, end, 1)
	}
	last := first.Add(end.Sub(first) / w * w) // the last bucket's start, if the range cuts it
	var buckets []store.Bucket
	for _, part := range []struct {
		start, end time.Time
		n          int
	}{
		{start, first, 1},
		{first, last, int(last.Sub(first) / w)},
		{last, end, 1},
	} {
		if !part.start.Before(part.end) {
			continue
		}
		bs, err := get(part.start, part.end, part.n)
		if err != nil {
			return nil, err
		}
		buckets = append(buckets, bs...)
	}
	return buckets, nil
}

// Totals are the figures of the header line.
type Totals struct {
	Up, Down, Unknown int64 // checks not in maintenance; Unknown counts the missing ones
	// Maintenance counts the checks made in maintenance: they are
	// neither up, down nor missing, and the shares leave them out.
	Maintenance int64
	AverageRTT  time.Duration // mean rtt of the checks that were up (not in maintenance)
}

// Percent returns the shares of up, down and unknown, in percent, of the
// time not in maintenance: uptime leaves maintenance out. With no check
// expected outside maintenance, everything is unknown.
func (t Totals) Percent() (up, down, unknown float64) {
	total := t.Up + t.Down + t.Unknown
	if total == 0 {
		return 0, 0, 100
	}
	f := 100 / float64(total)
	return float64(t.Up) * f, float64(t.Down) * f, float64(t.Unknown) * f
}

// Sum computes the header figures of c.
func Sum(c Chart) Totals {
	var t Totals
	var rttSum float64 // float: a year of long rtts could overflow int64 sums
	var empty int64
	for _, b := range c.Buckets {
		t.Up += b.Up
		t.Down += b.Down
		t.Maintenance += b.Maintenance
		rttSum += float64(b.MeanRTT) * float64(b.Up)
		if b.Unknown() {
			empty++
		}
	}
	if t.Up > 0 {
		t.AverageRTT = time.Duration(rttSum / float64(t.Up))
	}
	if c.Interval > 0 {
		t.Unknown = max(slots(c.Start, c.End, c.Interval)-t.Up-t.Down-t.Maintenance, 0)
	} else {
		t.Unknown = empty
	}
	return t
}

// slots counts the multiples of interval (slot times, as time.Truncate
// makes them) in [start, end).
func slots(start, end time.Time, interval time.Duration) int64 {
	first := start.Truncate(interval)
	if first.Before(start) {
		first = first.Add(interval)
	}
	if !first.Before(end) {
		return 0
	}
	return int64((end.Sub(first)-1)/interval) + 1
}

// Render writes c as an SVG document to w. The host name is escaped; the
// output is always well-formed XML.
func Render(w io.Writer, c Chart, opts Options) error {
	if err := CheckSize(c.Width, c.Height); err != nil {
		return err
	}
	if c.Width == 0 {
		c.Width = DefaultWidth
	}
	if c.Height == 0 {
		c.Height = DefaultHeight
	}
	if opts.TimeZone == nil {
		opts.TimeZone = time.UTC
	}
	if opts.MaxRTTScale <= 0 {
		opts.MaxRTTScale = DefaultMaxRTTScale
	}
	d := drawer{c: c, opts: opts, buf: make([]byte, 0, 16<<10+len(c.Buckets)*40)}
	d.draw()
	_, err := w.Write(d.buf)
	return err
}

// drawer accumulates one SVG document.
type drawer struct {
	c    Chart
	opts Options
	buf  []byte

	top, bottom, left, right float64 // the plot area
	span                     time.Duration
}

func (d *drawer) str(s string) { d.buf = append(d.buf, s...) }

func (d *drawer) int(n int) { d.buf = strconv.AppendInt(d.buf, int64(n), 10) }

// num writes v rounded to two decimals, in its shortest form.
func (d *drawer) num(v float64) { d.buf = appendNum(d.buf, v) }

// text writes s as XML character data.
func (d *drawer) text(s string) {
	var e escaper
	xml.EscapeText(&e, []byte(s)) // writes to memory: cannot fail
	d.buf = append(d.buf, e...)
}

type escaper []byte

func (e *escaper) Write(p []byte) (int, error) { *e = append(*e, p...); return len(p), nil }

// x maps a time to its horizontal position, on a whole pixel: the chart
// is drawn with crisp edges anyway, and whole numbers keep it short when
// buckets are not a whole number of pixels wide.
func (d *drawer) x(t time.Time) float64 {
	if d.span <= 0 {
		return d.left
	}
	off := t.Sub(d.c.Start)
	if off <= 0 {
		return d.left
	}
	if off >= d.span {
		return d.right
	}
	return math.Round(d.left + (d.right-d.left)*float64(off)/float64(d.span))
}

const style = `<style>
/* <![CDATA[ */
text {
  font-family: 'Roboto Medium', sans-serif;
  fill: rgba(51,51,51,1.0);
  font-size: 12px;
}
text.stat {
  font-size: 24px;
  text-anchor: middle;
}
path.axis {
  stroke-width: 1;
  stroke: rgba(51,51,51,1.0);
  fill: none;
}
path.up {
  stroke: none;
  fill: rgba(102,255,102,1.0);
}
path.down {
  stroke: none;
  fill: rgba(255,102,102,1.0);
}
path.na {
  stroke: none;
  fill: rgba(102,102,102,1.0);
}
path.i {
  stroke: none;
  fill: rgba(102,102,255,1.0);
}
path.maint {
  stroke: none;
  fill: rgba(255,204,102,1.0);
}
tspan.maint {
  fill: rgba(255,204,102,1.0);
}
`

// styleEnd closes style; the rules of the location lines go between
// them, when there are any (locationStyle).
const styleEnd = `/* ]]> */
</style>
`

func (d *drawer) draw() {
	c := d.c
	d.left, d.right = xOffset, float64(c.Width)
	d.top, d.bottom = marginTop, float64(c.Height-marginBot)
	d.span = c.End.Sub(c.Start)
	lines := d.locationLines()
	scale := d.scale(lines)

	d.str(`<svg width="`)
	d.int(c.Width)
	d.str(`" height="`)
	d.int(c.Height)
	d.str(`" viewBox="0 0 `)
	d.int(c.Width)
	d.str(" ")
	d.int(c.Height)
	d.str(`" shape-rendering="crispEdges" xmlns="http://www.w3.org/2000/svg">` + "\n")
	d.str(style)
	if len(lines) > 0 {
		d.locationStyle()
	}
	d.str(styleEnd)

	d.bands()
	d.rtt(scale)
	d.locations(lines, scale)
	d.axes(scale)
	d.legend(lines)

	d.header(Sum(c))
	d.str("</svg>\n")
}

// statFontSize is the font size of the header line (text.stat).
const statFontSize = 24

// statGlyphWidth is about the mean width of a header glyph, in ems: a
// little above a proportional sans-serif's digits and lower case, so
// that a header measured with it fits.
const statGlyphWidth = 0.55

// header writes the header line: the host and the shares of up, down and
// unknown (of the time not in maintenance), the maintenance legend (an
// amber swatch and how long) when any check was in maintenance, and the
// average rtt. A line that would be wider than the chart (a narrow chart,
// a long host name) gets a smaller font, so that it is whole, legend
// included; one that fits is drawn as gosrvmon draws it.
func (d *drawer) header(t Totals) {
	c := d.c
	up, down, unknown := t.Percent()
	// The line's text, and where the swatch goes.
	text := make([]byte, 0, 128+len(c.Host))
	text = append(text, "Host: "...)
	text = append(text, c.Host...)
	text = append(text, " Up "...)
	text = strconv.AppendFloat(text, up, 'f', 2, 64)
	text = append(text, "% Down "...)
	text = strconv.AppendFloat(text, down, 'f', 2, 64)
	text = append(text, "% Unknown "...)
	text = strconv.AppendFloat(text, unknown, 'f', 2, 64)
	text = append(text, "%"...)
	before := len(text) // the text before the legend
	var legend []byte
	if t.Maintenance > 0 {
		legend = append(legend, " Maintenance "...)
		if c.Interval > 0 {
			legend = append(legend, (time.Duration(t.Maintenance) * c.Interval).String()...)
		} else {
			legend = strconv.AppendInt(legend, t.Maintenance, 10)
			legend = append(legend, " checks"...)
		}
	}
	after := " Average RTT " + t.AverageRTT.Round(time.Microsecond).String()
	glyphs := utf8.RuneCount(text) + utf8.RuneCount(legend) + len(after)
	if len(legend) > 0 {
		glyphs += 2 // " ■"
	}

	d.str(`<text class="stat" x="50%" y="`)
	d.int(2 * fontSize)
	d.str(`"`)
	if width := statGlyphWidth * statFontSize * float64(glyphs); width > float64(c.Width)-8 {
		d.str(` style="font-size:`)
		d.num(max(math.Floor(statFontSize*(float64(c.Width)-8)/width*100)/100, 6))
		d.str(`px"`)
	}
	d.str(">")
	d.text(string(text[:before]))
	if len(legend) > 0 {
		d.str(` <tspan class="maint">■</tspan>`)
		d.text(string(legend))
	}
	d.str(after)
	d.str("</text>\n")
}

// scale is the top of the rtt axis: with DynamicRTTScale, above the
// highest bar and the highest point of the location lines drawn.
func (d *drawer) scale(lines []LocationSeries) time.Duration {
	scale := d.opts.MaxRTTScale
	if !d.opts.DynamicRTTScale {
		return scale
	}
	var highest time.Duration
	for _, b := range d.c.Buckets {
		highest = max(highest, b.MeanRTT)
	}
	for _, l := range lines {
		for _, b := range l.Buckets {
			highest = max(highest, b.MeanRTT)
		}
	}
	// gosrvmon: whole milliseconds plus one, up to the next 100 ms.
	ms := int64(highest/time.Millisecond) + 1
	dyn := time.Duration((ms+99)/100*100) * time.Millisecond
	if dyn < scale {
		return dyn
	}
	return scale
}

// axes draws both axes with their ticks and labels.
func (d *drawer) axes(scale time.Duration) {
	c := d.c
	d.str(`<text x="0" y="`)
	d.int(fontSize)
	d.str(`">ms</text>` + "\n")
	d.str(`<text x="0" y="`)
	d.int(c.Height - fontSize)
	d.str(`">T</text>` + "\n")

	// One path for both axis lines and every tick.
	d.str(`<path class="axis" d="M`)
	d.num(d.left)
	d.str(" 0V")
	d.num(d.bottom)
	d.str("H")
	d.num(d.right)
	nx := min(xTicksMax, max(int(d.right-d.left)/xTickMinW, 1))
	stepX := (d.right - d.left) / float64(nx)
	for i := 0; i < nx; i++ {
		d.str("M")
		d.num(d.left + stepX*float64(i))
		d.str(" ")
		d.num(d.bottom)
		d.str("v")
		d.int(tickLen)
	}
	stepY := (d.bottom - d.top) / yTicks
	for i := 0; i <= yTicks; i++ {
		d.str("M")
		d.num(d.left)
		d.str(" ")
		d.num(d.bottom - stepY*float64(i))
		d.str("h-")
		d.int(tickLen)
	}
	d.str(`"/>` + "\n")

	for i := 0; i < nx; i++ {
		x := d.left + stepX*float64(i)
		t := c.Start.Add(time.Duration(float64(d.span) * float64(i) / float64(nx))).In(d.opts.TimeZone)
		d.str(`<text x="`)
		d.num(x)
		d.str(`" y="`)
		d.num(float64(c.Height) - fontSize*1.6)
		d.str(`">`)
		d.buf = t.AppendFormat(d.buf, "06-01-02")
		d.str(`</text><text x="`)
		d.num(x)
		d.str(`" y="`)
		d.num(float64(c.Height) - fontSize*0.6)
		d.str(`">`)
		d.buf = t.AppendFormat(d.buf, "15:04:05")
		d.str("</text>\n")
	}
	scaleMs := float64(scale) / float64(time.Millisecond)
	for i := 0; i <= yTicks; i++ {
		d.str(`<text x="0" y="`)
		d.num(d.bottom - stepY*float64(i))
		d.str(`">`)
		d.num(scaleMs * float64(i) / yTicks)
		d.str("</text>\n")
	}
}

// Band classes.
const (
	classUp = iota
	classDown
	classNA
	classMaint
)

var classNames = [...]string{classUp: "up", classDown: "down", classNA: "na", classMaint: "maint"}

// look is how a bucket's band looks: grey (not known), or, from the top,
// red down to down, amber (maintenance) down to maint, green below (down
// is the whole height when all its checks were down, 0 when none was;
// maint is down when none was in maintenance). Runs of buckets that look
// alike are merged.
type look struct {
	known       bool
	down, maint float64
}

// lookOf is how b looks in a band height pixels tall. Each kind of check
// gets its share of the height, at least a pixel, so that a short outage
// or maintenance stays visible. Without maintenance it is gosrvmon's: the
// down share of the up and down checks.
func lookOf(b store.Bucket, height float64) look {
	total := b.Up + b.Down + b.Maintenance
	share := func(n int64) float64 { return math.Round(height * float64(n) / float64(total)) }
	switch {
	case total == 0:
		return look{}
	case b.Maintenance == 0 && b.Up > 0 && b.Down > 0:
		down := min(max(share(b.Down), 1), height)
		return look{true, down, down}
	case b.Maintenance == 0 && b.Up > 0:
		return look{true, 0, 0}
	case b.Maintenance == 0:
		return look{true, height, height}
	}
	var down float64
	if b.Down > 0 {
		down = min(max(share(b.Down), 1), height-1) // leaves maintenance a pixel
	}
	maint := max(share(b.Down+b.Maintenance), down+1)
	if b.Up == 0 {
		maint = height
	} else {
		maint = min(maint, height-1) // leaves up a pixel
	}
	return look{true, down, maint}
}

// bands draws the up, down, maintenance and unknown bands: one path per
// class, in which runs of buckets that look alike are merged into one
// rectangle. A bucket with checks of more than one kind is split (see
// lookOf): red on top for its share of down checks, amber below for its
// share of checks in maintenance, green below; a run of such buckets
// whose shares are as tall is merged too.
func (d *drawer) bands() {
	var paths [4][]byte
	rect := func(class int, x0, x1, y0, y1 float64) {
		p := paths[class]
		p = append(p, 'M')
		p = appendNum(p, x0)
		p = append(p, ' ')
		p = appendNum(p, y0)
		p = append(p, 'h')
		p = appendNum(p, x1-x0)
		p = append(p, 'v')
		p = appendNum(p, y1-y0)
		p = append(p, 'h')
		p = appendNum(p, x0-x1)
		p = append(p, 'z')
		paths[class] = p
	}
	height := d.bottom - d.top
	var (
		run          look
		inRun        bool
		runX0, runX1 float64
	)
	flush := func() {
		switch {
		case !inRun || runX1 <= runX0:
		case !run.known:
			rect(classNA, runX0, runX1, d.top, d.bottom)
		default:
			if run.down > 0 {
				rect(classDown, runX0, runX1, d.top, d.top+run.down)
			}
			if run.maint > run.down {
				rect(classMaint, runX0, runX1, d.top+run.down, d.top+run.maint)
			}
			if run.maint < height {
				rect(classUp, runX0, runX1, d.top+run.maint, d.bottom)
			}
		}
		inRun = false
	}
	for _, b := range d.c.Buckets {
		x0, x1 := d.x(b.Start), d.x(b.End)
		l := lookOf(b, height)
		if inRun && l == run && x0 <= runX1+0.01 {
			runX1 = x1
			continue
		}
		flush()
		run, inRun, runX0, runX1 = l, true, x0, x1
	}
	flush()
	for class, p := range paths {
		if len(p) == 0 {
			continue
		}
		d.str(`<path class="`)
		d.str(classNames[class])
		d.str(`" d="`)
		d.buf = append(d.buf, p...)
		d.str(`"/>` + "\n")
	}
}

// rttY is where the top of an rtt goes on an axis whose top is scale,
// rounded to two decimals; longer rtts are clipped at the top.
func (d *drawer) rttY(r, scale time.Duration) float64 {
	height := d.bottom - d.top
	h := height * float64(r) / float64(scale)
	return math.Round((d.bottom-min(h, height))*100) / 100
}

// rtt draws the mean rtt of each bucket as one step-shaped filled path
// over the bands: gosrvmon's blue bars.
func (d *drawer) rtt(scale time.Duration) {
	y := func(r time.Duration) float64 { return d.rttY(r, scale) }
	var p []byte
	curY, pendingX, pending := d.bottom, 0.0, false
	for _, b := range d.c.Buckets {
		by := d.bottom
		if b.Up > 0 {
			by = y(b.MeanRTT)
		}
		if len(p) == 0 {
			if by == d.bottom {
				continue // nothing drawn yet: no need to start at the left edge
			}
			p = append(p, 'M')
			p = appendNum(p, d.x(b.Start))
			p = append(p, ' ')
			p = appendNum(p, d.bottom)
		}
		if by != curY {
			if pending {
				p = append(p, 'H')
				p = appendNum(p, pendingX)
			}
			p = append(p, 'V')
			p = appendNum(p, by)
			curY = by
		}
		pendingX, pending = d.x(b.End), true
	}
	if len(p) == 0 {
		return
	}
	p = append(p, 'H')
	p = appendNum(p, pendingX)
	if curY != d.bottom {
		p = append(p, 'V')
		p = appendNum(p, d.bottom)
	}
	p = append(p, 'z')
	d.str(`<path class="i" d="`)
	d.buf = append(d.buf, p...)
	d.str(`"/>` + "\n")
}

// appendNum appends v rounded to two decimals, in its shortest form
// ("36", "36.5", "36.57").
func appendNum(b []byte, v float64) []byte {
	n := int64(math.Round(v * 100))
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/100, 10)
	switch frac := n % 100; {
	case frac == 0:
	case frac%10 == 0:
		b = append(b, '.', byte('0'+frac/10))
	default:
		b = append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
	}
	return b
}
