package api

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/promtext"
	"github.com/srvmon/srvmon/pkg/store"
)

// /metrics serves Prometheus's text format (0.0.4, whatever the scraper
// asks for; gzip'd when it accepts it). The monitors' metrics are read
// from the store on each scrape, never kept in the process: the checker
// may be a Lambda, and any API process answers the same. They are written
// straight to the text format (writeMonitorFamilies, with pkg/promtext's
// appenders) from a small fixed-size record per monitor
// (metricsMonitor). The process's own (Go runtime and process metrics,
// the rounds') come from Options.Metrics's registry or, when nil, one of
// the handler's (promtext.NewProcessRegistry), and are written after
// them.

// monitorFamily is one of the per-monitor metric families: all gauges,
// labelled group, host and name (metricsMonitor.labels), the uptime's
// also period.
type monitorFamily struct {
	name, help string
	// sample appends the family's samples of m to b, each a line.
	sample func(b []byte, name string, m *metricsMonitor) []byte
}

// monitorFamilies are the per-monitor families, in the order written
// (by name, as client_golang sorted them).
var monitorFamilies = []monitorFamily{
	{"srvmon_certificate_expiry_timestamp_seconds",
		"When the leaf certificate of the newest https:// or tls:// check that reached a handshake expires, Unix seconds.",
		func(b []byte, name string, m *metricsMonitor) []byte {
			if !m.hasCert {
				return b
			}
			return appendSample(b, name, m.labels, "", float64(m.certExpiry))
		}},
	{"srvmon_in_maintenance",
		"Whether a maintenance window covering the monitor is active now.",
		func(b []byte, name string, m *metricsMonitor) []byte {
			return appendSample(b, name, m.labels, "", boolValue(m.inMaintenance))
		}},
	{"srvmon_rtt_seconds",
		"Round-trip time of the monitor's newest check (of a down check, how long it took to fail).",
		func(b []byte, name string, m *metricsMonitor) []byte {
			if !m.checked {
				return b
			}
			return appendSample(b, name, m.labels, "", m.rtt.Seconds())
		}},
	{"srvmon_up",
		"Whether the monitor's newest check was up (1) or down (0); absent before its first check.",
		func(b []byte, name string, m *metricsMonitor) []byte {
			if !m.checked {
				return b
			}
			return appendSample(b, name, m.labels, "", boolValue(m.up))
		}},
	{"srvmon_uptime_ratio",
		"Up checks over up and down checks in the period before now, checks in maintenance left out; absent when the period has none.",
		func(b []byte, name string, m *metricsMonitor) []byte {
			for i, p := range uptimePeriods {
				if ratio, ok := uptimeRatio(store.Bucket{Up: m.upChecks[i], Down: m.downChecks[i]}); ok {
					b = appendSample(b, name, m.labels, p.name, ratio)
				}
			}
			return b
		}},
}

// metricsMonitor is what a scrape holds of one monitor until it is
// written: its label set, escaped once, and its figures.
type metricsMonitor struct {
	// labels is `group="…",host="…",name="…"`: the group ("" when none),
	// the host masked (probe.MaskSecrets, as /api/hosts shows it) and the
	// display name, in label-name order as client_golang wrote them.
	labels string
	// checked says whether the monitor has a newest check: up and rtt
	// are its.
	checked, up   bool
	rtt           time.Duration
	hasCert       bool
	certExpiry    int64 // Unix seconds
	inMaintenance bool
	// upChecks and downChecks count the checks out of maintenance over
	// each of uptimePeriods.
	upChecks, downChecks [metricsPeriods]int64
}

// metricsPeriods is len(uptimePeriods), as an array length
// (TestMetricsPeriods holds them equal).
const metricsPeriods = 4

// readMetricsFleet reads what /metrics says of every monitor at now:
// Monitors, Maintenances and Facts once, then two passes over the fleet
// at once (store.FleetReader): the newest checks, and the buckets between
// the uptime periods' starts, which give every period in one read.
func readMetricsFleet(ctx context.Context, st store.Store, now time.Time) ([]metricsMonitor, error) {
	ms, err := st.Monitors(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics: monitors: %w", err)
	}
	ws, err := st.Maintenances(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics: maintenance windows: %w", err)
	}
	active := monitor.ActiveAt(ws, now)
	mons := make([]metricsMonitor, len(ms))
	byHost := make(map[string]*metricsMonitor, len(ms))
	var buf []byte
	for i, m := range ms {
		host := probe.MaskSecrets(m.Host)
		buf = promtext.AppendLabel(buf[:0], "group", m.Group)
		buf = append(buf, ',')
		buf = promtext.AppendLabel(buf, "host", host)
		buf = append(buf, ',')
		buf = promtext.AppendLabel(buf, "name", cmp.Or(m.Name, host))
		mons[i].labels = string(buf)
		mons[i].inMaintenance = slices.ContainsFunc(active, func(w monitor.Maintenance) bool { return w.Covers(m) })
		byHost[m.Host] = &mons[i]
	}
	facts, err := st.Facts(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics: facts: %w", err)
	}
	for _, f := range facts {
		if m := byHost[f.Host]; m != nil && !f.CertExpiry.IsZero() {
			m.hasCert, m.certExpiry = true, f.CertExpiry.Unix()
		}
	}
	// The two passes run at once, each a stream of reads, so that a
	// scrape takes the slower rather than their sum. They write
	// different fields of the records; hosts added since Monitors are
	// left out.
	lastChecks := func() error {
		err := st.LastChecks(ctx, func(host string, c store.Check) error {
			if m := byHost[host]; m != nil {
				m.checked, m.up, m.rtt = true, c.Up, c.RTT
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("metrics: last checks: %w", err)
		}
		return nil
	}
	// One bucket from each period's start (periodBounds) to the next's,
	// the shortest's to now.
	bounds := append(periodBounds(now), now)
	uptime := func() error {
		err := st.BucketsAll(ctx, store.BucketQuery{Bounds: bounds}, func(host string, bs []store.Bucket) error {
			m := byHost[host]
			if m == nil || len(bs) != len(uptimePeriods) {
				return nil
			}
			for i := range uptimePeriods {
				for _, b := range bs[periodBucket(i):] {
					m.upChecks[i] += b.Up
					m.downChecks[i] += b.Down
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("metrics: uptime: %w", err)
		}
		return nil
	}
	var wg sync.WaitGroup
	var lastErr error
	wg.Go(func() { lastErr = lastChecks() })
	err = uptime()
	wg.Wait()
	if err := errors.Join(lastErr, err); err != nil {
		return nil, err
	}
	return mons, nil
}

// writeMonitorFamilies writes the per-monitor families of mons in the
// text format, each family's samples together; a family without any is
// left out, as client_golang left it. keep, when not nil, keeps only
// the families it accepts (promhttp's name[] parameter), as
// promtext.Collector's AppendText does.
func writeMonitorFamilies(w *bufio.Writer, mons []metricsMonitor, keep func(name string) bool) error {
	for _, f := range monitorFamilies {
		if keep != nil && !keep(f.name) {
			continue
		}
		header := false
		for i := range mons {
			b := f.sample(w.AvailableBuffer(), f.name, &mons[i])
			if len(b) == 0 {
				continue
			}
			if !header {
				// The header goes before the first sample: b may be in
				// w's buffer, so it is copied out of the way first.
				sample := slices.Clone(b)
				if _, err := w.Write(promtext.AppendHeader(w.AvailableBuffer(), f.name, promtext.TypeGauge, f.help)); err != nil {
					return err
				}
				b, header = sample, true
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendSample appends the sample line name{labels[,period="…"]} v.
func appendSample(b []byte, name, labels, period string, v float64) []byte {
	b = append(b, name...)
	b = append(b, '{')
	b = append(b, labels...)
	if period != "" {
		b = append(b, ',')
		b = promtext.AppendLabel(b, "period", period)
	}
	b = append(b, "} "...)
	b = promtext.AppendFloat(b, v)
	return append(b, '\n')
}

func boolValue(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// metrics serves GET /metrics: the per-monitor metrics read now, then
// Options.Metrics's, in the text format 0.0.4 (the format every
// Prometheus reads; asking for protobuf or OpenMetrics gets it too). A
// store error, or process metrics that name a per-monitor family, is a
// 500 (logged), before anything is written: the store is read before
// the first byte. name[] parameters keep only the families they name,
// as promhttp's do.
func (s *server) metrics(w http.ResponseWriter, r *http.Request) {
	mons, err := readMetricsFleet(r.Context(), s.Store, s.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, name := range s.Metrics.Names() {
		if slices.ContainsFunc(monitorFamilies, func(f monitorFamily) bool { return f.name == name }) {
			s.fail(w, r, fmt.Errorf("metrics: the process's metrics have a family %s, which /metrics writes per monitor", name))
			return
		}
	}
	var keep func(string) bool
	if names := r.URL.Query()["name[]"]; len(names) > 0 {
		want := make(map[string]bool, len(names))
		for _, n := range names {
			want[n] = true
		}
		keep = func(name string) bool { return want[name] }
	}

	h := w.Header()
	h.Set("Content-Type", promtext.ContentType)
	// Only the encoding varies: every Accept gets the text format.
	h.Set("Vary", "Accept-Encoding")
	var out io.Writer = w
	var gz *gzip.Writer
	if acceptsGzip(r.Header) {
		h.Set("Content-Encoding", "gzip")
		// BestSpeed: the text repeats itself so much that it gains
		// little from harder work, and costs a third of the time.
		gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		out = gz
	}
	w.WriteHeader(http.StatusOK) // set, for the Lambda adapter
	bw := bufio.NewWriterSize(out, 64<<10)
	err = writeMonitorFamilies(bw, mons, keep)
	if err == nil {
		_, err = bw.Write(s.Metrics.AppendText(bw.AvailableBuffer(), keep))
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && gz != nil {
		err = gz.Close()
	}
	if err != nil {
		// The 200 is out: a write error is the scraper gone.
		s.Logger.Debug("client went away", "path", logPath(r), "error", err)
	}
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip: gzip
// or * with a weight that is not zero.
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for spec := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(spec, ";")
			if coding = strings.ToLower(strings.TrimSpace(coding)); coding != "gzip" && coding != "*" {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				if k, v, ok := strings.Cut(p, "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}

// metricsGuard guards /metrics: with a MetricsToken, the request must
// bear it (Authorization: Bearer TOKEN, compared in constant time);
// without one, read is the guard, as for every other read.
func (s *server) metricsGuard(read func(http.HandlerFunc) http.Handler) http.Handler {
	if s.MetricsToken == "" {
		return read(s.metrics)
	}
	want := sha256.Sum256([]byte(s.MetricsToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="srvmon metrics"`)
			http.Error(w, "unauthorized: /metrics needs the configured token (Authorization: Bearer TOKEN)", http.StatusUnauthorized)
			return
		}
		s.metrics(w, r)
	})
}
