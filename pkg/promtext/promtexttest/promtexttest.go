// Package promtexttest reads the text format back for tests, with
// Prometheus's own parser (github.com/prometheus/common/expfmt): what a
// Prometheus server accepts. Only tests import it, so that the parser and
// its protobuf data model stay out of the binaries.
package promtexttest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse parses body with Prometheus's text parser, failing t when it does
// not parse, and returns its families by name.
func Parse(t testing.TB, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse the text format: %v\n%s", err, body)
	}
	return fams
}

// Samples is every sample of body (Parse) as name{label="value",...}
// (labels sorted, {} when none) → value: a histogram's as
// name_bucket{…,le="…"}, name_sum{…} and name_count{…}; a summary's as
// name{…,quantile="…"}, name_sum{…} and name_count{…}.
func Samples(t testing.TB, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for name, f := range Parse(t, body) {
		for _, m := range f.Metric {
			key := func(name string, extra ...string) string { return sampleKey(name, m.Label, extra...) }
			switch f.GetType() {
			case dto.MetricType_GAUGE:
				out[key(name)] = m.GetGauge().GetValue()
			case dto.MetricType_COUNTER:
				out[key(name)] = m.GetCounter().GetValue()
			case dto.MetricType_UNTYPED:
				out[key(name)] = m.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.Bucket {
					out[key(name+"_bucket", "le", fmt.Sprint(b.GetUpperBound()))] = float64(b.GetCumulativeCount())
				}
				out[key(name+"_sum")] = h.GetSampleSum()
				out[key(name+"_count")] = float64(h.GetSampleCount())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.Quantile {
					out[key(name, "quantile", fmt.Sprint(q.GetQuantile()))] = q.GetValue()
				}
				out[key(name+"_sum")] = s.GetSampleSum()
				out[key(name+"_count")] = float64(s.GetSampleCount())
			default:
				t.Fatalf("family %s is a %v", name, f.GetType())
			}
		}
	}
	return out
}

// sampleKey is name{label="value",...} of labels and extra's name, value
// pairs, sorted.
func sampleKey(name string, labels []*dto.LabelPair, extra ...string) string {
	var parts []string
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		parts = append(parts, fmt.Sprintf("%s=%q", extra[i], extra[i+1]))
	}
	slices.Sort(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// Families describes each family of body (Parse) as a line
// "name type labels", sorted: type as the TYPE line names it, labels the
// names of its samples' labels, sorted and comma-separated ("-" for
// none; a histogram's le and a summary's quantile are left out, the type
// implies them). It is what a dashboard or an alert relies on.
func Families(t testing.TB, body string) []string {
	t.Helper()
	var lines []string
	for name, f := range Parse(t, body) {
		var labels []string
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		slices.Sort(labels)
		names := strings.Join(labels, ",")
		if names == "" {
			names = "-"
		}
		lines = append(lines, name+" "+strings.ToLower(f.GetType().String())+" "+names)
	}
	slices.Sort(lines)
	return lines
}
