package backup

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store/memory"
)

// BenchmarkParseCheck decodes the checks that make up most of a backup:
// gosrvmon's plain shape (the fast path) and one with escapes (through
// encoding/json).
func BenchmarkParseCheck(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"gosrvmon", `{"time":"2021-03-02T12:00:00Z","rtt":15321000,"up":true}`},
		{"srvmon", `{"time":"2021-03-02T12:00:00.123456789Z","rtt":10001023457,"up":false,"location":"eu-west","error":"timeout after 10s"}`},
		{"escaped", `{"time":"2021-03-02T12:00:00Z","rtt":0,"up":false,"error":"a \"quoted\" reason"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := []byte(bc.raw)
			for b.Loop() {
				if _, err := parseCheck(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRestore decodes and validates a full backup of 10 hosts ×
// 10,000 checks, generated as it is read, into a memory store: the cost
// of the format without a server or a disk.
func BenchmarkRestore(b *testing.B) {
	const hosts, rows = 10, 10_000
	for b.Loop() {
		n, err := Restore(b.Context(), memory.New(), generatedBackup(hosts, rows), Options{Full: true})
		if err != nil || n.Checks != hosts*rows {
			b.Fatalf("restore: %+v, %v", n, err)
		}
	}
	b.ReportMetric(float64(hosts*rows)*float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// generatedBackup streams a full backup in gosrvmon's format, written as
// it is read.
func generatedBackup(hosts, rows int) io.Reader {
	pr, pw := io.Pipe()
	end := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		host := func(i int) string { return strconv.Quote(fmt.Sprintf("h%d.example:443", i)) }
		bw.WriteString(`{"hosts":[`)
		for i := range hosts {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(host(i))
		}
		bw.WriteString(`],"notifications":null,"checks":{`)
		buf := make([]byte, 0, 256)
		for i := range hosts {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(host(i) + ":[")
			for j := range rows {
				if j > 0 {
					bw.WriteByte(',')
				}
				up := j%37 != 0
				buf = AppendCheck(buf[:0], end.Add(-time.Duration(rows-j)*time.Minute), time.Duration(10+j%50)*time.Millisecond, up, "", "", false)
				bw.Write(buf)
			}
			bw.WriteByte(']')
		}
		bw.WriteString("}}")
		pw.CloseWithError(bw.Flush())
	}()
	return pr
}
