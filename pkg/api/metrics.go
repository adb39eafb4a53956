package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// /metrics serves Prometheus's text format (or what the scraper asks
// for, gzip'd when it accepts it) through github.com/prometheus/
// client_golang. The monitors' metrics are read from the store on each
// scrape (fleetCollector), never kept in the process: the checker may be
// a Lambda, and any API process answers the same. The process's own
// (Go runtime and process metrics) come from Options.Metrics's registry
// or, when nil, one of the handler's.

// monitorLabels are the labels of every per-monitor series: the host
// masked (probe.MaskSecrets, as /api/hosts shows it), the display name
// and the group ("" when none).
var monitorLabels = []string{"host", "name", "group"}

// The per-monitor metrics. Descriptors are immutable.
var (
	descUp = prometheus.NewDesc("srvmon_up",
		"Whether the monitor's newest check was up (1) or down (0); absent before its first check.", monitorLabels, nil)
	descRTT = prometheus.NewDesc("srvmon_rtt_seconds",
		"Round-trip time of the monitor's newest check (of a down check, how long it took to fail).", monitorLabels, nil)
	descCertExpiry = prometheus.NewDesc("srvmon_certificate_expiry_timestamp_seconds",
		"When the leaf certificate of the newest https:// or tls:// check that reached a handshake expires, Unix seconds.", monitorLabels, nil)
	descUptime = prometheus.NewDesc("srvmon_uptime_ratio",
		"Up checks over up and down checks in the period before now, checks in maintenance left out; absent when the period has none.",
		append(append([]string(nil), monitorLabels...), "period"), nil)
	descMaintenance = prometheus.NewDesc("srvmon_in_maintenance",
		"Whether a maintenance window covering the monitor is active now.", monitorLabels, nil)
)

// fleetCollector collects the per-monitor metrics of one scrape from the
// store: Monitors, Maintenances and Facts once, the newest checks in one
// pass (store.FleetReader.LastChecks) and one pass of buckets per period
// (BucketsAll with n=1). It is made per scrape, to carry its request's
// context and clock.
type fleetCollector struct {
	ctx context.Context
	st  store.Store
	now time.Time
}

// Describe implements prometheus.Collector.
func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descRTT, descCertExpiry, descUptime, descMaintenance} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A store error is sent as an
// invalid metric, which fails the gathering (500).
func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	if err := c.collect(ch); err != nil {
		ch <- prometheus.NewInvalidMetric(descUp, err)
	}
}

func (c *fleetCollector) collect(ch chan<- prometheus.Metric) error {
	ms, err := c.st.Monitors(c.ctx)
	if err != nil {
		return fmt.Errorf("metrics: monitors: %w", err)
	}
	ws, err := c.st.Maintenances(c.ctx)
	if err != nil {
		return fmt.Errorf("metrics: maintenance windows: %w", err)
	}
	active := monitor.ActiveAt(ws, c.now)
	labels := make(map[string][]string, len(ms))
	for _, m := range ms {
		host := probe.MaskSecrets(m.Host)
		name := m.Name
		if name == "" {
			name = host
		}
		lv := []string{host, name, m.Group}
		labels[m.Host] = lv
		in := 0.0
		for _, w := range active {
			if w.Covers(m) {
				in = 1
				break
			}
		}
		ch <- prometheus.MustNewConstMetric(descMaintenance, prometheus.GaugeValue, in, lv...)
	}
	facts, err := c.st.Facts(c.ctx)
	if err != nil {
		return fmt.Errorf("metrics: facts: %w", err)
	}
	for _, f := range facts {
		if lv, ok := labels[f.Host]; ok && !f.CertExpiry.IsZero() {
			ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, float64(f.CertExpiry.Unix()), lv...)
		}
	}
	// The passes over the fleet run at once: each is a stream of reads,
	// and a scrape's time is its slowest pass rather than their sum.
	passes := []func() error{func() error {
		err := c.st.LastChecks(c.ctx, func(host string, chk store.Check) error {
			lv, ok := labels[host]
			if !ok {
				return nil // added since Monitors
			}
			up := 0.0
			if chk.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, lv...)
			ch <- prometheus.MustNewConstMetric(descRTT, prometheus.GaugeValue, chk.RTT.Seconds(), lv...)
			return nil
		})
		if err != nil {
			return fmt.Errorf("metrics: last checks: %w", err)
		}
		return nil
	}}
	for _, p := range uptimePeriods {
		passes = append(passes, func() error {
			err := c.st.BucketsAll(c.ctx, store.BucketQuery{Bounds: store.EvenBounds(p.start(c.now), c.now, 1)}, func(host string, bs []store.Bucket) error {
				lv, ok := labels[host]
				if !ok || len(bs) == 0 {
					return nil
				}
				if ratio, ok := uptimeRatio(bs[0]); ok {
					ch <- prometheus.MustNewConstMetric(descUptime, prometheus.GaugeValue, ratio, append(lv[:3:3], p.name)...)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("metrics: uptime over %s: %w", p.name, err)
			}
			return nil
		})
	}
	errs := make([]error, len(passes))
	var wg sync.WaitGroup
	for i, pass := range passes {
		wg.Go(func() { errs[i] = pass() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// processMetrics is a registry of the Go runtime's and the process's
// collectors, for a handler whose Options.Metrics is nil.
func processMetrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// metrics serves GET /metrics: the per-monitor metrics read now, then
// Options.Metrics's. A store error is a 500 (logged), before anything is
// written.
func (s *server) metrics(w http.ResponseWriter, r *http.Request) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&fleetCollector{ctx: r.Context(), st: s.Store, now: s.Now()})
	mfs, err := prometheus.Gatherers{reg, s.Metrics}.Gather()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// promhttp negotiates the format and the compression.
	gathered := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, nil })
	promhttp.HandlerFor(gathered, promhttp.HandlerOpts{}).ServeHTTP(&explicitStatus{ResponseWriter: w}, r)
}

// explicitStatus sets the status (200) before the first write of a
// handler that writes without setting one, as promhttp does: the Lambda
// adapter needs the status set.
type explicitStatus struct {
	http.ResponseWriter
	wrote bool
}

func (w *explicitStatus) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *explicitStatus) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (w *explicitStatus) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
