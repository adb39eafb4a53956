package lambdatest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// warmRuns is how many warm invocations follow each first one.
const warmRuns = 10

// firstAndWarm measures, b.N times, a new function's first invocation
// under the emulator and then warmRuns warm ones. invoke(e, i) makes
// invocation i (numbered across the whole benchmark) and checks its
// answer. The timer runs for the first invocations only, from the moment
// the emulator listens (its own start is not counted; the bootstrap's
// start, its init and the first event are) to the answer; so ns/op is a
// first invocation. It reports first-ms, warm-ms (the mean warm
// invocation) and over-warm-ms, by how much a first invocation exceeds a
// warm one.
func firstAndWarm(b *testing.B, bootstrap string, env []string, invoke func(e *emulator, i int)) {
	b.Helper()
	var first, warm time.Duration
	n := 0
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		e := startEmulator(b, bootstrap, env...)
		b.StartTimer()
		start := time.Now()
		invoke(e, n)
		first += time.Since(start)
		b.StopTimer()
		n++
		for j := 0; j < warmRuns; j++ {
			start := time.Now()
			invoke(e, n)
			warm += time.Since(start)
			n++
		}
		e.Stop(b)
	}
	firstMS := float64(first) / float64(b.N) / 1e6
	warmMS := float64(warm) / float64(b.N*warmRuns) / 1e6
	b.ReportMetric(firstMS, "first-ms")
	b.ReportMetric(warmMS, "warm-ms")
	b.ReportMetric(firstMS-warmMS, "over-warm-ms")
}

// BenchmarkAPIFirstInvocation: the API function's first request (GET
// /api/hosts) against a warm one, on PostgreSQL. Target: over-warm-ms ≤ 50.
func BenchmarkAPIFirstInvocation(b *testing.B) {
	db := pgtest.NewDatabase(b)
	if err := openStore(b, db).AddHost(context.Background(), "127.0.0.1:22"); err != nil {
		b.Fatal(err)
	}
	firstAndWarm(b, apiBoot, templateEnv(b, "ApiFunction", map[string]string{"DatabaseUrl": db}), func(e *emulator, _ int) {
		if resp := e.Request(b, http.MethodGet, "/api/hosts", ""); resp.StatusCode != http.StatusOK {
			b.Fatalf("GET /api/hosts: %d %q", resp.StatusCode, resp.Body)
		}
	})
}

// BenchmarkCheckerFirstInvocation: the checker function's first scheduled
// round end to end (bootstrap start, init, three targets on loopback
// probed, results stored) against a warm round. Each invocation is the
// event of a slot of its own.
func BenchmarkCheckerFirstInvocation(b *testing.B) {
	db := pgtest.NewDatabase(b)
	st := openStore(b, db)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.Cleanup(srv.Close)
	for _, h := range []string{srv.URL + "/", freeAddr(b), "127.0.0.1"} {
		if err := st.AddHost(context.Background(), h); err != nil {
			b.Fatal(err)
		}
	}
	firstAndWarm(b, checkerBoot, checkerEnv(b, db), func(e *emulator, i int) {
		at := eventTime.Add(time.Duration(i) * interval)
		if sum := roundSummary(b, e.Invoke(b, scheduledEvent(at))); sum.Targets != 3 || sum.Up != 1 {
			b.Fatalf("round %+v", sum)
		}
	})
}
