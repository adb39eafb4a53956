package config

import "testing"

// loadSource is a typical small config: what every binary loads at start.
var loadSource = Source{DefaultDatabase: "srvmon.db",
	JSON: `{"DB":{"Type":"memory"},"Listen":{"Address":"127.0.0.1","Port":"18000"},"Checks":{"Interval":60,"Timeout":10,"PerformChecks":false}}`}

// BenchmarkLoad is the cost of loading a config, which every start pays
// (and whose garbage stays resident in a process that is idle after it).
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(loadSource); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoadWalksConfigAFewTimes: Load walks Config's fields a few times,
// not once per setting, whose garbage stays resident in a process that is
// idle after its start. Allocations, unlike time, are the same on every
// machine.
func TestLoadWalksConfigAFewTimes(t *testing.T) {
	const most = 2000 // a few walks; one walk per setting was over 8,000
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := Load(loadSource); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > most {
		t.Errorf("Load makes %.0f allocations, more than %d", allocs, most)
	}
}

// BenchmarkLoadFull loads testdata/full.json and full.yaml (every section
// and four monitors): the price of YAML over JSON at start.
func BenchmarkLoadFull(b *testing.B) {
	for _, file := range []string{"testdata/full.json", "testdata/full.yaml"} {
		b.Run(file[len("testdata/"):], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(Source{File: file}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
