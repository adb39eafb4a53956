package api

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchLastHTTP is /api/checks/last as wrk sees it: 16 keep-alive
// connections to a real http.Server on loopback, with the standalone
// binary's timeouts (Listen.ReadTimeout and WriteTimeout, which cost the
// server a deadline change per read and write), each client sending its
// next request when the answer to the last has arrived. The clients are
// raw sockets that reuse their buffers, so the allocations are the
// server's; cpu-us/op is the whole process's CPU (server, clients and
// their share of the kernel's loopback) per request, the figure load on
// a shared machine disturbs least.
func benchLastHTTP(b *testing.B, h http.Handler) {
	const clients = 16
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadTimeout: 30 * time.Second, ReadHeaderTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	conns := make(chan net.Conn, clients)
	for range clients {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns <- c
	}
	req := []byte("GET /api/checks/last?host=" + benchHost(3) + " HTTP/1.1\r\nHost: " + ln.Addr().String() + "\r\n\r\n")
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn := <-conns
		br := bufio.NewReaderSize(conn, 4096)
		body := make([]byte, 0, 256)
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			_, err := conn.Write(req)
			if err == nil {
				body, err = readResponse(br, body[:0])
			}
			if err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
		if len(body) > 0 && !bytes.HasPrefix(body, []byte(`{"time":`)) {
			b.Errorf("body %q", body)
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-us/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Millisecond), "p99-ms")
	}
}

// cpuTime is the process's CPU time, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readResponse reads one HTTP/1.1 200 response with a Content-Length
// from br and appends its body to body.
func readResponse(br *bufio.Reader, body []byte) ([]byte, error) {
	n := -1
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return body, err
		}
		if first {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				return body, errors.New("status line " + string(line))
			}
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(": ")); ok && string(k) == "Content-Length" {
			if n, err = strconv.Atoi(string(v)); err != nil {
				return body, err
			}
		}
	}
	if n < 0 {
		return body, errors.New("no Content-Length")
	}
	start := len(body)
	body = slices.Grow(body, n)[:start+n]
	_, err := io.ReadFull(br, body[start:])
	return body, err
}

// BenchmarkHTTPFloor is benchLastHTTP against a handler that only writes
// a constant answer of /api/checks/last's size with its three headers
// (Content-Type, Content-Security-Policy, X-Frame-Options): what
// net/http, the deadlines and the loopback cost without srvmon, the
// floor under BenchmarkAPI/…/ChecksLastHTTP.
func BenchmarkHTTPFloor(b *testing.B) {
	body := []byte(`{"time":"2023-12-31T23:57:00Z","rtt":41000000,"up":true}` + "\n")
	csp, deny, ct := sharedValue(pageCSP), sharedValue("DENY"), sharedValue("application/json")
	benchLastHTTP(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Security-Policy"], h["X-Frame-Options"], h["Content-Type"] = csp, deny, ct
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}))
}
