package api

import (
	"context"
	"errors"
	"fmt"
	"html"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// Badges: /api/badge/status, /api/badge/uptime, /api/badge/response-time
// (SVG in shields.io's flat style) and /api/badge/shields (shields.io's
// endpoint JSON, for a badge that shields.io draws). Each figure is one
// store read: the newest check and the active maintenance windows for the
// state; one bucket over the period (store.Buckets with n=1, from the
// hourly summaries) for uptime and response time.

// badgeMaxAge is how long a badge may be cached, in seconds: about one
// check interval, so a badge is at most a round or two behind.
const badgeMaxAge = "60"

// uptimePeriod is one of the periods that badges and /metrics give
// uptime over.
type uptimePeriod struct {
	name string
	d    time.Duration
}

// uptimePeriods are the periods of uptime figures (the dashboard's
// columns, badges, /metrics), shortest first.
var uptimePeriods = []uptimePeriod{
	{"24h", 24 * time.Hour},
	{"7d", 7 * 24 * time.Hour},
	{"30d", 30 * 24 * time.Hour},
	{"365d", 365 * 24 * time.Hour},
}

// start is where an uptime over p ending at now begins: p before now,
// back to the start of that hour. The store keeps whole hours summarised,
// so a range from a whole hour reads summaries up to the current hour; a
// range from the middle of an hour would read that hour's checks of
// every host (for the fleet, most of the read's cost).
func (p uptimePeriod) start(now time.Time) time.Time { return now.Add(-p.d).Truncate(time.Hour) }

// periodBounds are the starts of every uptime period, longest first: the
// first bounds of one fleet read (store.BucketQuery) that gives each
// period's figure, its caller adding the bounds after the shortest's
// start (now, or that day's hours). Period i's figure adds up the buckets
// from periodBucket(i) on.
func periodBounds(now time.Time) []time.Time {
	bounds := make([]time.Time, len(uptimePeriods))
	for i, p := range uptimePeriods {
		bounds[len(bounds)-1-i] = p.start(now)
	}
	return bounds
}

// periodBucket is the bucket of a read from periodBounds that period i's
// figure begins with.
func periodBucket(i int) int { return len(uptimePeriods) - 1 - i }

// parsePeriod reads a period parameter; empty means 24h.
func parsePeriod(v string) (uptimePeriod, error) {
	if v == "" {
		return uptimePeriods[0], nil
	}
	for _, p := range uptimePeriods {
		if p.name == v {
			return p, nil
		}
	}
	return uptimePeriod{}, badRequest(fmt.Sprintf("period %q: want 24h, 7d, 30d or 365d", v))
}

// Badge kinds, as the shields endpoint's kind parameter names them.
const (
	badgeStatus       = "status"
	badgeUptime       = "uptime"
	badgeResponseTime = "response-time"
)

// Badge colours: shields.io's names (for its endpoint JSON) and the
// values it draws them with.
type badgeColor struct{ name, hex string }

var (
	colorGreen  = badgeColor{"brightgreen", "#4c1"}
	colorYellow = badgeColor{"yellow", "#dfb317"}
	colorRed    = badgeColor{"red", "#e05d44"}
	colorAmber  = badgeColor{"orange", "#fe7d37"} // maintenance
	colorGrey   = badgeColor{"lightgrey", "#9f9f9f"}
	colorBlue   = badgeColor{"blue", "#007ec6"}
)

// badge is what a badge says: its label (left, grey) and message
// (right, in color).
type badge struct {
	label, message string
	color          badgeColor
}

// badgeRequest is a badge's parameters.
type badgeRequest struct {
	kind   string
	period uptimePeriod
	host   string // the stored host
}

// badgeSVG serves /api/badge/{status,uptime,response-time} as SVG.
func (s *server) badgeSVG(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, public, err := s.badge(w, r, kind)
		if err != nil {
			if err != errAnswered {
				s.fail(w, r, err)
			}
			return
		}
		h := w.Header()
		h.Set("Content-Type", "image/svg+xml")
		setBadgeCache(h, public)
		w.WriteHeader(http.StatusOK)
		w.Write(b.svg())
	}
}

// badgeShields serves /api/badge/shields?kind=…: shields.io's endpoint
// JSON ({"schemaVersion":1,"label","message","color"}).
func (s *server) badgeShields(w http.ResponseWriter, r *http.Request) {
	b, public, err := s.badge(w, r, "")
	if err != nil {
		if err != errAnswered {
			s.fail(w, r, err)
		}
		return
	}
	out := make([]byte, 0, 128)
	out = append(out, `{"schemaVersion":1,"label":`...)
	out = strconv.AppendQuote(out, b.label)
	out = append(out, `,"message":`...)
	out = strconv.AppendQuote(out, b.message)
	out = append(out, `,"color":`...)
	out = strconv.AppendQuote(out, b.color.name)
	out = append(out, "}\n"...)
	w.Header()["Content-Type"] = s.jsonType
	setBadgeCache(w.Header(), public)
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// setBadgeCache lets any cache keep a badge served without credentials
// for badgeMaxAge; one that needed them only the browser's own cache.
func setBadgeCache(h http.Header, public bool) {
	scope := "private"
	if public {
		scope = "public"
	}
	h.Set("Cache-Control", scope+", max-age="+badgeMaxAge)
}

// errAnswered: the request was answered (401) and needs nothing more.
var errAnswered = errors.New("answered")

// badge reads a badge's parameters (kind from the query when kind is
// empty), checks that r may read it, and computes it. public reports
// whether it was served without needing credentials.
//
// With Auth.ProtectReads, a badge needs credentials unless StatusPublic
// is on and the monitor is on the status page (monitor.Settings.
// OnStatusPage). That is decided before the host's existence is told, so
// that an unknown and a hidden host both answer 401 without credentials.
func (s *server) badge(w http.ResponseWriter, r *http.Request, kind string) (b badge, public bool, err error) {
	q, err := queryParams(r)
	if err != nil {
		return b, false, err
	}
	req := badgeRequest{kind: kind}
	if req.kind == "" {
		switch req.kind = q.Get("kind"); req.kind {
		case badgeStatus, badgeUptime, badgeResponseTime:
		case "":
			return b, false, badRequest("missing kind parameter: status, uptime or response-time")
		default:
			return b, false, badRequest(fmt.Sprintf("kind %q: want status, uptime or response-time", req.kind))
		}
	}
	if req.kind != badgeStatus {
		if req.period, err = parsePeriod(q.Get("period")); err != nil {
			return b, false, err
		}
	}
	name := q.Get("host")
	if name == "" {
		return b, false, badRequest("missing host parameter")
	}
	ctx := r.Context()
	if req.host, err = s.resolveHost(ctx, name); err != nil {
		return b, false, err
	}
	m, err := s.Store.Monitor(ctx, req.host)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return b, false, err
	}
	public = !s.Auth.Enable || !s.Auth.ProtectReads || s.StatusPublic && found && m.OnStatusPage()
	if !public && !s.checkAuth(w, r) {
		return b, false, errAnswered
	}
	if !found {
		return b, false, unknownHost(req.host)
	}
	b, err = s.badgeOf(ctx, req, m)
	return b, public, storeErr(err, req.host)
}

// badgeOf computes the badge of m.
func (s *server) badgeOf(ctx context.Context, req badgeRequest, m monitor.Monitor) (badge, error) {
	now := s.Now()
	if req.kind == badgeStatus {
		return s.statusBadge(ctx, m, now)
	}
	bs, err := s.Store.Buckets(ctx, req.host, req.period.start(now), now, 1)
	if err != nil {
		return badge{}, err
	}
	var bk store.Bucket
	if len(bs) > 0 {
		bk = bs[0]
	}
	if req.kind == badgeUptime {
		return uptimeBadge("uptime "+req.period.name, bk), nil
	}
	return responseTimeBadge("response time "+req.period.name, bk), nil
}

// statusBadge is m's state now: maintenance while a window covering it
// is active, otherwise its newest check's (up or down), "no data" before
// its first check.
func (s *server) statusBadge(ctx context.Context, m monitor.Monitor, now time.Time) (badge, error) {
	b := badge{label: "status"}
	ws, err := s.Store.Maintenances(ctx)
	if err != nil {
		return b, err
	}
	for _, w := range monitor.ActiveAt(ws, now) {
		if w.Covers(m) {
			b.message, b.color = "maintenance", colorAmber
			return b, nil
		}
	}
	c, ok, err := s.Store.LastCheck(ctx, m.Host)
	switch {
	case err != nil:
		return b, err
	case !ok:
		b.message, b.color = "no data", colorGrey
	case c.Up:
		b.message, b.color = "up", colorGreen
	default:
		b.message, b.color = "down", colorRed
	}
	return b, nil
}

// uptimeBadge is bk's uptime, Up/(Up+Down): maintenance is left out.
// Green from 99 %, yellow from 95 %, red below; "maintenance" when the
// period held only checks in maintenance, "no data" when none.
func uptimeBadge(label string, bk store.Bucket) badge {
	b := badge{label: label}
	switch ratio, ok := uptimeRatio(bk); {
	case !ok && bk.Maintenance > 0:
		b.message, b.color = "maintenance", colorAmber
	case !ok:
		b.message, b.color = "no data", colorGrey
	default:
		b.message = formatPercent(ratio)
		switch {
		case ratio >= 0.99:
			b.color = colorGreen
		case ratio >= 0.95:
			b.color = colorYellow
		default:
			b.color = colorRed
		}
	}
	return b
}

// uptimeRatio is Up/(Up+Down); false when the bucket has no check out of
// maintenance.
func uptimeRatio(bk store.Bucket) (float64, bool) {
	if bk.Up+bk.Down == 0 {
		return 0, false
	}
	return float64(bk.Up) / float64(bk.Up+bk.Down), true
}

// formatPercent writes a ratio as a percentage with at most two decimals,
// rounded down so that anything short of all up never reads 100%.
func formatPercent(ratio float64) string {
	p := math.Floor(ratio*10000) / 100
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// responseTimeBadge is the mean rtt of bk's up checks (out of
// maintenance), in blue: a response time has no threshold that suits
// every monitor.
func responseTimeBadge(label string, bk store.Bucket) badge {
	b := badge{label: label, message: "no data", color: colorGrey}
	if bk.Up > 0 {
		b.message, b.color = badgeRTT(bk.MeanRTT), colorBlue
	}
	return b
}

// badgeRTT writes a response time short, as a badge has room for: "87 ms", "1.25 s".
func badgeRTT(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10) + " ms"
	}
	return strconv.FormatFloat(math.Round(d.Seconds()*100)/100, 'f', -1, 64) + " s"
}

// svg draws b in shields.io's flat style: 20 px high, the label on grey
// at left, the message on its colour at right, each text 5 px from its
// edges in 11 px Verdana (with a shadow), corners rounded by 3 px. Text
// widths come from textWidth's table, as shields.io's own are measured
// in advance, so no font is needed here.
func (b badge) svg() []byte {
	lw, mw := textWidth(b.label)+10, textWidth(b.message)+10
	total := lw + mw
	label, message := html.EscapeString(b.label), html.EscapeString(b.message)
	out := make([]byte, 0, 1024)
	out = fmt.Appendf(out, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`, total, label, message)
	out = fmt.Appendf(out, `<title>%s: %s</title>`, label, message)
	out = append(out, `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`...)
	out = fmt.Appendf(out, `<clipPath id="r"><rect width="%d" height="20" rx="3" fill="#fff"/></clipPath>`, total)
	out = fmt.Appendf(out, `<g clip-path="url(#r)"><rect width="%d" height="20" fill="#555"/><rect x="%d" width="%d" height="20" fill="%s"/><rect width="%d" height="20" fill="url(#s)"/></g>`,
		lw, lw, mw, b.color.hex, total)
	out = append(out, `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110">`...)
	for _, t := range []struct {
		text       string
		x, width   int
		textLength int
	}{{label, 0, lw, lw - 10}, {message, lw, mw, mw - 10}} {
		// Drawn at 10 times the size and scaled down, as shields.io
		// does, for finer positions.
		cx := t.x*10 + t.width*5
		out = fmt.Appendf(out, `<text aria-hidden="true" x="%d" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="%d">%s</text>`, cx, t.textLength*10, t.text)
		out = fmt.Appendf(out, `<text x="%d" y="140" transform="scale(.1)" fill="#fff" textLength="%d">%s</text>`, cx, t.textLength*10, t.text)
	}
	out = append(out, "</g></svg>\n"...)
	return out
}

// verdanaWidths are the advance widths of ASCII ' ' to '~' in 11 px
// Verdana, in tenths of a pixel.
var verdanaWidths = [95]uint8{
	39, 43, 51, 90, 70, 118, 80, 30, 50, 50, 70, 90, 40, 50, 40, 50, // ' ' to '/'
	70, 70, 70, 70, 70, 70, 70, 70, 70, 70, // '0' to '9'
	50, 50, 90, 90, 90, 60, 110, // ':' to '@'
	75, 75, 77, 85, 70, 63, 85, 83, 46, 50, 76, 61, 93, 82, 87, 66, 87, 77, 75, 68, 81, 75, 109, 75, 68, 75, // 'A' to 'Z'
	50, 50, 50, 90, 70, 70, // '[' to '`'
	66, 69, 57, 69, 66, 39, 69, 70, 30, 38, 65, 30, 107, 70, 67, 69, 69, 47, 57, 43, 70, 65, 90, 65, 65, 58, // 'a' to 'z'
	70, 50, 70, 90, // '{' to '~'
}

// textWidth estimates the width in pixels of s in 11 px Verdana: ASCII
// from verdanaWidths, other characters as a wide letter (East Asian
// ones as two).
func textWidth(s string) int {
	tenths := 0
	for _, r := range s {
		switch {
		case r >= ' ' && r <= '~':
			tenths += int(verdanaWidths[r-' '])
		case isWide(r):
			tenths += 110
		default:
			tenths += 75
		}
	}
	return (tenths + 9) / 10
}

// isWide reports whether r is in the main East Asian wide ranges (CJK,
// Hangul, kana, full-width forms).
func isWide(r rune) bool {
	return r >= 0x1100 && r <= 0x115f || r >= 0x2e80 && r <= 0xa4cf || r >= 0xac00 && r <= 0xd7a3 ||
		r >= 0xf900 && r <= 0xfaff || r >= 0xff00 && r <= 0xff60 || r >= 0xffe0 && r <= 0xffe6
}
