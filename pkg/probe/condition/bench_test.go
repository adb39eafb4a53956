package condition

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func benchEval(b *testing.B, cond string, r *Response) {
	b.Helper()
	c, err := Parse(cond)
	if err != nil {
		b.Fatal(err)
	}
	if ok, reason := c.Eval(r); !ok {
		b.Fatalf("Eval: %s", reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Eval(r)
	}
}

func BenchmarkEvalStatus(b *testing.B) {
	benchEval(b, "[STATUS] == 200", &Response{Status: 200})
}

func BenchmarkEvalResponseTime(b *testing.B) {
	benchEval(b, "[RESPONSE_TIME] < 300ms", &Response{ResponseTime: 120 * time.Millisecond})
}

// statusPageBody returns a status API's answer of about size bytes:
// components first, then the data the condition looks at, so that the
// path is found near the end.
func statusPageBody(size int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"page":{"id":"srvmon","name":"Example status","url":"http://localhost/","time_zone":"Etc/UTC","updated_at":"2026-12-07T00:00:00Z"},"components":[`)
	for i := 0; sb.Len() < size-300; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"c%04d","name":"Component %d","status":"operational","created_at":"2026-01-01T00:00:00Z","position":%d,"description":null,"showcase":false,"group":false,"only_show_if_degraded":false}`, i, i, i)
	}
	sb.WriteString(`],"data":{"items":[{"id":1,"status":"ok","latency_ms":12.5,"tags":["api","eu"]},{"id":2,"status":"ok"}],"count":2},"status":{"indicator":"none","description":"All Systems Operational"}}`)
	return []byte(sb.String())
}

func BenchmarkEvalJSONPath10KB(b *testing.B) {
	body := statusPageBody(10 << 10)
	if len(body) < 9<<10 || len(body) > 10<<10 {
		b.Fatalf("body of %d bytes, want about 10 KB", len(body))
	}
	b.SetBytes(int64(len(body)))
	benchEval(b, "[BODY].data.items[0].status == ok", &Response{Body: body})
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("[BODY].data.items[0].status == any(ok, degraded)"); err != nil {
			b.Fatal(err)
		}
	}
}
