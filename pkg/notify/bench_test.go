package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// BenchmarkAdvance is the per-host cost a round adds inside SaveRound's
// transaction: a steady host (no change) and a change with its delivery.
func BenchmarkAdvance(b *testing.B) {
	rule := store.Rule{Host: "http://127.0.0.1:8080/", Threshold: 3,
		Action: "https://127.0.0.1:9/bot123:ABC/sendMessage?chat_id=1&text=Host%20{HOST}%20is%20{STATE}%20at%20{TIME}%20rtt%20{RTTSTR}"}
	b.Run("steady", func(b *testing.B) {
		prev := store.State{Host: rule.Host, Status: StatusUp, LastSlot: t0}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r := store.Result{Host: rule.Host, Slot: t0.Add(time.Duration(i+1) * time.Minute), Up: true, RTT: time.Millisecond}
			prev, _ = Advance(rule, prev, r, time.UTC)
		}
	})
	b.Run("change", func(b *testing.B) {
		prev := store.State{Host: rule.Host, Status: StatusUp, Count: 2, LastSlot: t0}
		r := store.Result{Host: rule.Host, Slot: t0.Add(time.Minute), Up: false, RTT: 10 * time.Second}
		b.ReportAllocs()
		for b.Loop() {
			if _, d := Advance(rule, prev, r, time.UTC); d == nil {
				b.Fatal("no delivery")
			}
		}
	})
}

// BenchmarkDeliverDue sends 100 due deliveries to a loopback receiver per
// iteration, on the memory store.
func BenchmarkDeliverDue(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	s := &Sender{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		ctx := context.Background()
		st := memory.New()
		results := make([]store.Result, 100)
		for i := range results {
			host := fmt.Sprintf("h%d", i)
			if err := st.AddHost(ctx, host); err != nil {
				b.Fatal(err)
			}
			if err := st.SetRule(ctx, store.Rule{Host: host, Threshold: 1, Action: srv.URL + "/hook?h={HOST}"}); err != nil {
				b.Fatal(err)
			}
			results[i] = store.Result{Host: host, Slot: t0}
		}
		if err := st.SaveRound(ctx, results, LegacyAlerting(time.UTC)); err != nil {
			b.Fatal(err)
		}
		s.Now = func() time.Time { return t0 }
		b.StartTimer()
		sent, _, err := s.DeliverDue(context.Background(), st)
		if err != nil || sent != 100 {
			b.Fatalf("sent %d, %v", sent, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100), "µs/delivery")
}

// BenchmarkDeliverDueBacklog drains, per iteration, a receiver outage's
// backlog of 100 changes (down, up, down, …) on the memory store: of one
// host, and of ten hosts with ten each.
func BenchmarkDeliverDueBacklog(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	s := &Sender{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, hosts := range []int{1, 10} {
		changes := 100 / hosts
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				ctx := context.Background()
				st := memory.New()
				for h := range hosts {
					host := fmt.Sprintf("h%d", h)
					if err := st.AddHost(ctx, host); err != nil {
						b.Fatal(err)
					}
					if err := st.SetRule(ctx, store.Rule{Host: host, Threshold: 1, Action: srv.URL + "/hook?h={HOST}&s={STATE}"}); err != nil {
						b.Fatal(err)
					}
				}
				for i := range changes {
					results := make([]store.Result, hosts)
					for h := range results {
						results[h] = store.Result{Host: fmt.Sprintf("h%d", h), Slot: t0.Add(time.Duration(i) * time.Minute), Up: i%2 == 1}
					}
					if err := st.SaveRound(ctx, results, LegacyAlerting(time.UTC)); err != nil {
						b.Fatal(err)
					}
				}
				s.Now = func() time.Time { return t0.Add(time.Duration(changes) * time.Minute) }
				b.StartTimer()
				sent, _, err := s.DeliverDue(context.Background(), st)
				if err != nil || sent != 100 {
					b.Fatalf("sent %d, %v", sent, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100), "µs/delivery")
		})
	}
}

// FuzzRedact: whatever the action URL, RedactURL gives at most its scheme
// and host, and a redacted net/http error holds no part of the URL's
// path or query.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"https://api.telegram.org/bot123:SECRET/sendMessage?chat_id=1&text=x",
		"http://user:pass@127.0.0.1:8080/hook", "http://127.0.0.1:8080#SECRET",
		"http://[::1]:80/x", "not a url SECRET", "http://127.0.0.1:8080/%zzSECRET", "",
		"http://127.0.0.1/a%20b?q=%E2%82%AC&k=v+w", "//host/path", "http:opaque?q=SECRETQ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := RedactURL(raw)
		if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
			if base := u.Scheme + "://" + u.Host; got != base && got != base+"/…" {
				t.Fatalf("RedactURL(%q) = %q", raw, got)
			}
		} else if got != "(not an absolute URL)" {
			t.Fatalf("RedactURL(%q) = %q", raw, got)
		}
		msg := redactError(&url.Error{Op: "Get", URL: raw, Err: errors.New("dial: " + raw)}, raw, time.Second)
		if u, err := url.Parse(raw); err == nil {
			for _, part := range []string{u.RawQuery, u.EscapedPath()} {
				if len(part) >= 4 && strings.Contains(msg, part) {
					t.Fatalf("redactError for %q = %q: holds %q", raw, msg, part)
				}
			}
		}
	})
}

// FuzzExpandAction checks the one-pass expander against the obvious
// definition, a strings.Replacer over every placeholder.
func FuzzExpandAction(f *testing.F) {
	for _, s := range []string{
		"https://api.telegram.org/bot<token>/sendMessage?chat_id=<chat_id>&text=State%20changed.%20Host%3A%20{HOST}%20New%20state%3A%20{STATE}%20Time%3A%20{TIME}",
		"{HOST}|{STATE}|{TIME}|{TIMESTAMP}|{RTT}|{RTTSTR}|{UP}|{DOWN}|{REASON}", "{{HOST}}{{}{HOST", "{host}{HOSTS}{TIME", "", "{", "}{",
	} {
		f.Add(s, "http://[::1]:8080/a b?x=1&y={TIME}", true, int64(1500000))
	}
	f.Fuzz(func(t *testing.T, action, host string, up bool, rtt int64) {
		r := store.Result{Host: host, Slot: t0.Add(time.Duration(rtt)), Up: up, RTT: time.Duration(rtt), Reason: host + " failed"}
		state, upS, downS := "down", "false", "true"
		if up {
			state, upS, downS = "up", "true", "false"
		}
		want := strings.NewReplacer(
			"{HOST}", url.QueryEscape(host),
			"{TIME}", url.QueryEscape(r.Slot.Format(TimeLayout)),
			"{TIMESTAMP}", fmt.Sprint(r.Slot.Unix()),
			"{RTT}", fmt.Sprint(rtt),
			"{RTTSTR}", url.QueryEscape(r.RTT.String()),
			"{STATE}", state, "{UP}", upS, "{DOWN}", downS,
			"{REASON}", url.QueryEscape(r.Reason),
		).Replace(action)
		if got := ExpandAction(action, r, nil); got != want {
			t.Fatalf("ExpandAction(%q)\n got %q\nwant %q", action, got, want)
		}
	})
}
