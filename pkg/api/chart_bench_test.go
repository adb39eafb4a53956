package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/storetest"
)

// BenchmarkChartLocations draws the charts of 1 and 7 days (1-minute
// checks, 1280 px) of a host checked from three locations, against a
// store that holds 8 days of them, and, for comparison, of a host
// checked from one location: in a store of one location (the merged
// buckets, as before lines per location existed: Store.Buckets and one
// read of the locations) and in a store of three (the raw results).
func BenchmarkChartLocations(b *testing.B) {
	const days = 8
	rows := days * 24 * 60
	three := []string{"eu", "us", "ap"}
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			// single: a store of one location; multi: a store of three,
			// with a host that all three check and one that one does.
			single, multi := be.open(b), be.open(b)
			defer single.Close()
			defer multi.Close()
			load := func(st store.Store, host string, locations []string) {
				ctx := context.Background()
				if err := st.AddHost(ctx, host); err != nil {
					b.Fatal(err)
				}
				// Saved as rounds would, an hour at a time, so that every
				// backend records the locations.
				var round []store.Result
				for i := range rows {
					for j, loc := range locations {
						r := benchResult(host, i, rows)
						r.Location, r.RTT = loc, r.RTT+time.Duration(j)*15*time.Millisecond
						round = append(round, r)
					}
					if len(round) >= 60*len(locations) || i == rows-1 {
						if err := st.SaveRound(ctx, round, nil); err != nil {
							b.Fatal(err)
						}
						round = round[:0]
					}
				}
			}
			load(single, "one.example", []string{""})
			load(multi, "three.example", three)
			load(multi, "one-of-three.example", three[:1])
			storetest.Settle(b, single, benchEnd.Add(time.Hour))
			storetest.Settle(b, multi, benchEnd.Add(time.Hour))
			handler := func(st store.Store) http.Handler {
				return New(Options{Store: st, Now: func() time.Time { return benchEnd }, Logger: slog.New(slog.DiscardHandler)})
			}
			for _, d := range []int{1, 7} {
				for _, c := range []struct {
					name string
					h    http.Handler
					host string
				}{
					{"OneLocationStore", handler(single), "one.example"},
					{"ThreeLocations", handler(multi), "three.example"},
					{"OneOfThreeLocations", handler(multi), "one-of-three.example"},
				} {
					b.Run(fmt.Sprintf("%s/%dd", c.name, d), func(b *testing.B) { benchChartOf(b, c.h, c.host, d) })
				}
			}
			b.Run("Locations", func(b *testing.B) {
				for b.Loop() {
					if _, err := multi.Locations(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
