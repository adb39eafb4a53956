package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// hostileBodyBytes is the size of each hostile body: what the issue that
// found the defects sent (100 MB), well under the default 1 GiB limit.
const hostileBodyBytes = 100 << 20

// maxHostileRSS bounds the binary's peak resident memory (VmHWM) over
// every hostile body below, each refused. Before the hardening, 100 MB of
// '[' alone took the process to over 3 GiB.
const maxHostileRSS = 128 << 20

// TestHostileBodiesKeepMemoryBounded sends each hostile body of about
// 100 MB to the real binary (bolt): each is answered with a 4xx and a
// one-line reason, the stored data is the same afterwards, byte for byte,
// and the process's peak RSS stays under maxHostileRSS.
func TestHostileBodiesKeepMemoryBounded(t *testing.T) {
	conf := `{"DB":{"Type":"bolt","Database":"srvmon.db"},"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"Interval":60,"Timeout":1,"PerformChecks":false}}`
	p := start(t, t.TempDir(), nil, "-confstr", conf)
	seed := `{"hosts":["127.0.0.1:1"],"notifications":[],"checks":{"127.0.0.1:1":[` +
		`{"time":"2026-01-01T00:00:00Z","rtt":1000,"up":true},{"time":"2026-01-01T00:01:00Z","rtt":-1,"up":false}]}}`
	if code, body := p.Do(t, http.MethodPost, "/api/backup_full", seed); code != http.StatusOK {
		t.Fatalf("seed restore: %d %s", code, body)
	}
	_, before := p.Do(t, http.MethodGet, "/api/backup_full", "")

	check := `{"time":"2026-01-01T00:02:00Z","rtt":1,"up":false,"error":"`
	bodies := []struct {
		name, path string
		body       io.Reader
	}{
		{"nested arrays in hosts", "/api/backup_full",
			hostile(`{"hosts":`, "[", "")},
		{"nested arrays in an unknown field", "/api/backup_full",
			hostile(`{"zzz":`, "[", "")},
		{"nested objects in checks", "/api/backup_full",
			hostile(`{"hosts":[],"notifications":[],"checks":{"127.0.0.1:1":[`, `{"a":`, "")},
		{"a huge host", "/api/backup_full",
			hostile(`{"hosts":["`, "a", `"]}`)},
		{"a huge array of hosts", "/api/backup_full",
			hostile(`{"hosts":[`, `"127.0.0.1:2",`, `""]}`)},
		{"a huge check error", "/api/backup_full",
			hostile(`{"hosts":[],"notifications":[],"checks":{"127.0.0.1:1":[`+check, "e", `"}]}}`)},
		{"a huge check location", "/api/backup_full",
			hostile(`{"hosts":[],"notifications":[],"checks":{"127.0.0.1:1":[`+strings.Replace(check, "error", "location", 1), "l", `"}]}}`)},
		{"a huge string in an unknown field", "/api/backup",
			hostile(`{"zzz":"`, "z", `"}`)},
		{"a huge array of rules", "/api/backup",
			hostile(`{"hosts":[],"notifications":[`, `{"host":"127.0.0.1:1","threshold":1,"action":"http://127.0.0.1/"},`, `{}]}`)},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, p.Base+b.path, b.body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST %s: %v", b.path, err)
			}
			reason, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			line := strings.TrimSuffix(string(reason), "\n")
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || line == "" || strings.Contains(line, "\n") || len(line) > 500 {
				t.Errorf("POST %s: %d %q; want a 4xx with a one-line reason", b.path, resp.StatusCode, shorten(line))
			}
		})
	}
	if _, after := p.Do(t, http.MethodGet, "/api/backup_full", ""); after != before {
		t.Errorf("stored data changed:\nbefore %s\nafter  %s", shorten(before), shorten(after))
	}
	peak := p.Memory(t, "VmHWM")
	t.Logf("peak RSS after %d hostile bodies of %d MiB: %.1f MiB", len(bodies), hostileBodyBytes>>20, float64(peak)/(1<<20))
	if peak > maxHostileRSS {
		t.Errorf("peak RSS %.1f MiB, over the bound of %d MiB", float64(peak)/(1<<20), maxHostileRSS>>20)
	}
	p.Stop(t)
}

// hostile returns a reader of head, then unit repeated to about
// hostileBodyBytes, then tail, made as it is read.
func hostile(head, unit, tail string) io.Reader {
	n := hostileBodyBytes / len(unit)
	return io.MultiReader(strings.NewReader(head), &repeatReader{unit: []byte(unit), left: n}, strings.NewReader(tail))
}

// repeatReader reads unit left times.
type repeatReader struct {
	unit []byte
	left int
	buf  []byte
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 && len(r.buf) == 0 {
		return 0, io.EOF
	}
	if len(r.buf) == 0 {
		k := min(r.left, max(1, (64<<10)/len(r.unit)))
		r.buf = bytes.Repeat(r.unit, k)
		r.left -= k
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// shorten keeps a long text readable in a failure.
func shorten(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
