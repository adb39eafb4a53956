package promtext

import (
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/srvmon/srvmon/pkg/promtext/promtexttest"
)

// TestAppendEscaped: the text format's escapes, and only those.
func TestAppendEscaped(t *testing.T) {
	for _, c := range []struct {
		in    string
		quote bool
		want  string
	}{
		{"", true, ""},
		{"plain ✓", true, "plain ✓"},
		{`a"b\c` + "\n" + "d\te", true, `a\"b\\c\nd` + "\t" + "e"},
		{`a"b\c` + "\n", false, `a"b\\c\n`},
		{"x\xffy", true, "x\uFFFDy"},
	} {
		if got := string(appendEscaped([]byte("<"), c.in, c.quote)); got != "<"+c.want {
			t.Errorf("appendEscaped(%q, %v) = %q, want %q", c.in, c.quote, got, "<"+c.want)
		}
	}
}

// TestAppendFloat: values as expfmt wrote them.
func TestAppendFloat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{0.25, "0.25"},
		{-3.5, "-3.5"},
		{1.445883e+06, "1.445883e+06"},
		{1e21, "1e+21"},
		{math.MaxInt64, "9.223372036854776e+18"},
		{math.MaxUint64, "1.8446744073709552e+19"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	} {
		if got := string(AppendFloat(nil, c.v)); got != c.want {
			t.Errorf("AppendFloat(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

// TestFamilies: counter and gauge vectors and a histogram written in the
// text format, exactly, and read back by Prometheus's parser; a gauge
// series is absent until set; keep keeps the families it names.
func TestFamilies(t *testing.T) {
	var reg Registry
	c := NewCounterVec("x_total", "Counts \"x\"\\y\nz.", "outcome", "ok", `we"ird\`)
	g := NewGaugeVec("x_last", "Last x.", "result", "up", "down")
	h := NewHistogram("x_seconds", "How long.", []float64{0.5, 1, 2.5})
	reg.MustRegister(c, g, h)

	const before = "# HELP x_total Counts \"x\"\\\\y\\nz.\n" +
		"# TYPE x_total counter\n" +
		"x_total{outcome=\"ok\"} 0\n" +
		"x_total{outcome=\"we\\\"ird\\\\\"} 0\n" +
		"# HELP x_seconds How long.\n" +
		"# TYPE x_seconds histogram\n" +
		"x_seconds_bucket{le=\"0.5\"} 0\n" +
		"x_seconds_bucket{le=\"1\"} 0\n" +
		"x_seconds_bucket{le=\"2.5\"} 0\n" +
		"x_seconds_bucket{le=\"+Inf\"} 0\n" +
		"x_seconds_sum 0\n" +
		"x_seconds_count 0\n"
	if got := string(reg.AppendText(nil, nil)); got != before {
		t.Errorf("before any observation:\n%s\nwant\n%s", got, before)
	}

	c.Inc("ok")
	c.Add("ok", 2.5)
	c.Add(`we"ird\`, 0)
	g.Set("down", 3)
	for _, x := range []float64{0.1, 0.5, 0.75, 2.5, 7} {
		h.Observe(x)
	}
	const after = "# HELP x_total Counts \"x\"\\\\y\\nz.\n" +
		"# TYPE x_total counter\n" +
		"x_total{outcome=\"ok\"} 3.5\n" +
		"x_total{outcome=\"we\\\"ird\\\\\"} 0\n" +
		"# HELP x_last Last x.\n" +
		"# TYPE x_last gauge\n" +
		"x_last{result=\"down\"} 3\n" +
		"# HELP x_seconds How long.\n" +
		"# TYPE x_seconds histogram\n" +
		"x_seconds_bucket{le=\"0.5\"} 2\n" +
		"x_seconds_bucket{le=\"1\"} 3\n" +
		"x_seconds_bucket{le=\"2.5\"} 4\n" +
		"x_seconds_bucket{le=\"+Inf\"} 5\n" +
		"x_seconds_sum 10.85\n" +
		"x_seconds_count 5\n"
	body := string(reg.AppendText(nil, nil))
	if body != after {
		t.Errorf("after:\n%s\nwant\n%s", body, after)
	}
	got := promtexttest.Samples(t, body)
	for k, v := range map[string]float64{
		`x_total{outcome="ok"}`:        3.5,
		`x_total{outcome="we\"ird\\"}`: 0,
		`x_last{result="down"}`:        3,
		`x_seconds_bucket{le="0.5"}`:   2,
		`x_seconds_bucket{le="+Inf"}`:  5,
		`x_seconds_count{}`:            5,
		`x_seconds_sum{}`:              10.85,
		`x_seconds_bucket{le="2.5"}`:   4,
		`x_seconds_bucket{le="1"}`:     3,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got[`x_last{result="up"}`]; ok {
		t.Error("a gauge series that was never set is written")
	}

	for _, c := range []struct {
		keep []string
		want string
	}{
		{[]string{"x_last"}, "x_last gauge result"},
		{[]string{"x_seconds", "x_total", "nope"}, "x_seconds histogram -\nx_total counter outcome"},
	} {
		keep := func(name string) bool { return slices.Contains(c.keep, name) }
		got := strings.Join(promtexttest.Families(t, string(reg.AppendText(nil, keep))), "\n")
		if got != c.want {
			t.Errorf("keep %v: families\n%s\nwant\n%s", c.keep, got, c.want)
		}
	}
	if got := reg.AppendText(nil, func(string) bool { return false }); len(got) != 0 {
		t.Errorf("keep nothing: %q", got)
	}
}

// TestHistogramBuckets: an observation counts in the first bucket whose
// upper bound it does not exceed (le: less or equal), and in +Inf.
func TestHistogramBuckets(t *testing.T) {
	for _, c := range []struct {
		x    float64
		want [3]uint64 // cumulative: le 1, le 2, +Inf
	}{
		{-5, [3]uint64{1, 1, 1}},
		{1, [3]uint64{1, 1, 1}},
		{math.Nextafter(1, 2), [3]uint64{0, 1, 1}},
		{2, [3]uint64{0, 1, 1}},
		{2.01, [3]uint64{0, 0, 1}},
		{math.Inf(1), [3]uint64{0, 0, 1}},
	} {
		h := NewHistogram("h", "h", []float64{1, 2})
		h.Observe(c.x)
		got := promtexttest.Samples(t, string(h.AppendText(nil, nil)))
		for i, le := range []string{"1", "2", "+Inf"} {
			if k := `h_bucket{le="` + le + `"}`; got[k] != float64(c.want[i]) {
				t.Errorf("Observe(%v): %s = %v, want %d", c.x, k, got[k], c.want[i])
			}
		}
	}
}

// TestRegistryClash: a family name registered twice is an error, and
// nothing of that Register is kept.
func TestRegistryClash(t *testing.T) {
	var reg Registry
	reg.MustRegister(NewGaugeVec("a", "a", "l", "v"))
	for _, cs := range [][]Collector{
		{NewCounterVec("a", "again", "l", "v")},
		{NewCounterVec("b", "b", "l", "v"), NewHistogram("b", "b twice", nil)},
		{NewHistogram("c", "c", nil), NewProcessRegistry(), NewGoCollector()},
	} {
		if err := reg.Register(cs...); err == nil {
			t.Errorf("Register of %d collectors: no error", len(cs))
		}
	}
	if got := reg.Names(); len(got) != 1 || got[0] != "a" {
		t.Errorf("names %v after refused Registers", got)
	}
	if err := reg.Register(NewProcessRegistry()); err != nil {
		t.Errorf("a registry of other names: %v", err)
	}
}

// TestMetricsConcurrent: counters and histograms updated from many
// goroutines while scrapes write them count every update (go test -race
// checks the locking too).
func TestMetricsConcurrent(t *testing.T) {
	var reg Registry
	c := NewCounterVec("n_total", "n", "k", "a", "b")
	g := NewGaugeVec("g", "g", "k", "a")
	h := NewHistogram("h", "h", []float64{1})
	reg.MustRegister(c, g, h)
	const workers, each = 8, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				c.Inc("a")
				c.Add("b", 2)
				g.Set("a", float64(i))
				h.Observe(float64(w % 2))
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			promtexttest.Parse(t, string(reg.AppendText(nil, nil)))
		}
	})
	wg.Wait()
	got := promtexttest.Samples(t, string(reg.AppendText(nil, nil)))
	for k, v := range map[string]float64{
		`n_total{k="a"}`:      workers * each,
		`n_total{k="b"}`:      2 * workers * each,
		`g{k="a"}`:            each - 1,
		`h_count{}`:           workers * each,
		`h_sum{}`:             workers / 2 * each,
		`h_bucket{le="1"}`:    workers * each,
		`h_bucket{le="+Inf"}`: workers * each,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestMisuse: an unknown label value, a negative counter increment and
// buckets that do not ascend are programming errors, and panic.
func TestMisuse(t *testing.T) {
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"unknown counter value", func() { NewCounterVec("c", "c", "k", "a").Inc("b") }},
		{"unknown gauge value", func() { NewGaugeVec("g", "g", "k", "a").Set("b", 1) }},
		{"negative increment", func() { NewCounterVec("c", "c", "k", "a").Add("a", -1) }},
		{"descending buckets", func() { NewHistogram("h", "h", []float64{2, 1}) }},
		{"+Inf bucket", func() { NewHistogram("h", "h", []float64{1, math.Inf(1)}) }},
		{"clash", func() { new(Registry).MustRegister(NewHistogram("h", "h", nil), NewHistogram("h", "h", nil)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			c.fn()
		})
	}
}
