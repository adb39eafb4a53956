package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// goldenCharts are charts of one location, as gosrvmon and srvmon before
// per-location lines drew them: their SVG must stay byte for byte the
// same (testdata/*.svg were rendered before the lines were added).
func goldenCharts(t testing.TB) map[string]struct {
	c    Chart
	opts Options
} {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// A day of one-minute checks, bucketed as a handler does, with an
	// outage, a maintenance window, a gap and varying rtts.
	day, _ := Buckets(t0, t0.Add(24*time.Hour), time.Minute, 0, func(start, end time.Time, n int) ([]store.Bucket, error) {
		return store.NewBucketer(start, end, n).Buckets(), nil
	})
	for i := range day {
		b := &day[i]
		switch {
		case i >= 300 && i < 320:
			b.Down = 1
		case i >= 600 && i < 660:
			b.Maintenance, b.Up = 1, 1
		case i >= 900 && i < 950:
		default:
			b.Up, b.MeanRTT = 1, time.Duration(5+i%40)*time.Millisecond+123456
		}
	}
	return map[string]struct {
		c    Chart
		opts Options
	}{
		"day":         {Chart{Host: "db.example:5432", Start: t0, End: t0.Add(24 * time.Hour), Interval: time.Minute, Buckets: day}, Options{}},
		"day-dynamic": {Chart{Host: "db.example:5432", Start: t0, End: t0.Add(24 * time.Hour), Interval: time.Minute, Buckets: day, Width: 640, Height: 360}, Options{DynamicRTTScale: true, TimeZone: berlin}},
		"minutes":     {Chart{Host: `http://a.example/?x=1&y=<b>`, Start: t0, End: t0.Add(8 * time.Minute), Interval: time.Minute, Buckets: minuteBuckets("uMmd.xyz", 30*time.Millisecond)}, Options{MaxRTTScale: 100 * time.Millisecond}},
		"empty":       {Chart{Host: "h", Start: t0, End: t0.Add(30 * time.Second), Interval: time.Minute}, Options{}},
	}
}

// TestGolden: a chart of one location (no Locations, or one) renders byte
// for byte as before per-location lines existed.
func TestGolden(t *testing.T) {
	for name, g := range goldenCharts(t) {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", name+".svg"))
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := Render(&got, g.c, g.opts); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				path := filepath.Join(t.TempDir(), name+".svg")
				os.WriteFile(path, got.Bytes(), 0o644)
				t.Errorf("chart differs from testdata/%s.svg; got %s", name, path)
			}
		})
	}
}
