package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
)

// slowRestore is a restore of a full backup whose body is sent in two
// parts, on a raw connection, so that a test can act in between.
type slowRestore struct {
	conn        net.Conn
	first, rest string
	host        string
	checks      int
}

// startRestore sends the request's head and the first half of a backup of
// one host with checks checks.
func startRestore(t *testing.T, p *proctest.Process, host string, checks int) *slowRestore {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `{"hosts":[%q],"notifications":[],"checks":{%q:[`, host, host)
	slot := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	half := 0
	for i := range checks {
		if i > 0 {
			b.WriteByte(',')
		}
		if i == checks/2 {
			half = b.Len()
		}
		fmt.Fprintf(&b, `{"time":%q,"rtt":1000,"up":true}`, slot.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
	}
	b.WriteString("]}}")
	body := b.String()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.Base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := &slowRestore{conn: conn, first: body[:half], rest: body[half:], host: host, checks: checks}
	head := fmt.Sprintf("POST /api/backup_full HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(conn, head+r.first); err != nil {
		t.Fatal(err)
	}
	return r
}

// finish sends the rest of the body and returns the response.
func (r *slowRestore) finish(t *testing.T) (int, string) {
	t.Helper()
	if _, err := io.WriteString(r.conn, r.rest); err != nil {
		t.Fatal(err)
	}
	r.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(r.conn), nil)
	if err != nil {
		t.Fatalf("the restore's response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// storedChecks opens the bolt file of a stopped process and counts the
// host's results; -1 when the host is not stored.
func storedChecks(t *testing.T, path, host string) int {
	t.Helper()
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	err = st.Results(context.Background(), host, time.Unix(0, 0), time.Now().AddDate(1, 0, 0), func(store.Result) error { n++; return nil })
	switch {
	case err == nil:
		return n
	case strings.Contains(err.Error(), store.ErrNotFound.Error()):
		return -1
	}
	t.Fatal(err)
	return 0
}

// TestSIGTERMDuringRestore sends SIGTERM while a restore's body is still
// arriving. Within Listen.ShutdownTimeout the restore finishes, is stored
// and the process exits 0, although the write timeout is shorter; a body
// that stops arriving is cut off at the timeout and nothing of it is
// stored.
func TestSIGTERMDuringRestore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		grace  int  // Listen.ShutdownTimeout, seconds
		finish bool // the client sends the rest of the body
	}{
		{"finishes", 30, true},
		{"cut off", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := fmt.Sprintf(`{"DB":{"Type":"bolt","Database":"srvmon.db"},`+
				`"Listen":{"Address":"127.0.0.1","Port":"0","WriteTimeout":1,"ShutdownTimeout":%d},"Checks":{"PerformChecks":false}}`, tc.grace)
			p := start(t, dir, nil, "-confstr", conf)
			r := startRestore(t, p, "restored.example", 5000)
			time.Sleep(time.Second) // the handler is reading the body
			term := time.Now()
			if err := syscall.Kill(p.Pid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			p.WaitFor(t, `waiting for the requests in flight" requests=1 restores=1`, 10*time.Second)
			want := -1
			if tc.finish {
				time.Sleep(2 * time.Second) // longer than the write timeout
				code, body := r.finish(t)
				if code != http.StatusOK || !strings.Contains(body, `"checks":5000`) {
					t.Fatalf("restore: %d %s", code, body)
				}
				want = r.checks
			}
			p.Stop(t) // a second SIGTERM changes nothing; it waits for exit 0
			took := time.Since(term)
			if tc.finish && !strings.Contains(p.Log(), "the requests in flight finished") {
				t.Errorf("the log does not say the restore finished:\n%s", p.Log())
			}
			if !tc.finish {
				if took < time.Duration(tc.grace)*time.Second || took > time.Duration(tc.grace)*time.Second+10*time.Second {
					t.Errorf("exit %v after SIGTERM, want a little over %d s", took, tc.grace)
				}
				if !strings.Contains(p.Log(), "timeout ran out") {
					t.Errorf("the log does not say the restore was cut off:\n%s", p.Log())
				}
			}
			if got := storedChecks(t, filepath.Join(dir, "srvmon.db"), r.host); got != want {
				t.Errorf("stored checks of %s: %d, want %d (-1: host not stored)", r.host, got, want)
			}
		})
	}
}
