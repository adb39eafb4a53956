package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// TestBackupExportSnapshot exports full backups while rounds store results
// for many hosts: on the stores that offer a snapshot, every export holds
// each round for every host or for none of them; on memory, which reads
// host by host, a round is in it from some host on (README.md).
func TestBackupExportSnapshot(t *testing.T) {
	const hosts, rounds = 300, 80
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			t.Cleanup(func() { st.Close() })
			_, snap := st.(store.Snapshotter)
			if want := b.name != "memory" && b.name != "ql"; snap != want { // ql has no snapshots
				t.Fatalf("%T: store.Snapshotter %v, want %v", st, snap, want)
			}
			names := make([]string, hosts)
			for i := range names {
				names[i] = fmt.Sprintf("h%03d.example", i)
			}
			round := func(k int) []store.Result {
				rs := make([]store.Result, hosts)
				for i, h := range names {
					rs[i] = store.Result{Host: h, Slot: slot(rounds - k), RTT: time.Millisecond, Up: true}
				}
				return rs
			}
			seed(t, st, names, round(0))
			e := newEnv(t, st, Options{})

			done := make(chan error, 1)
			go func() {
				for k := 1; k <= rounds; k++ {
					if err := st.SaveRound(context.Background(), round(k), nil); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			exports := 0
			for finished := false; !finished; exports++ {
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("SaveRound: %v", err)
					}
					finished = true
				default:
				}
				w := e.get("/api/backup_full")
				expect(t, w, http.StatusOK, "")
				checkWholeRounds(t, exports, w.Body.Bytes(), names, snap)
			}
			t.Logf("%d exports during %d rounds of %d hosts", exports, rounds, hosts)
		})
	}
}

// checkWholeRounds fails the test unless every host of the backup has the
// same slots (snapshot) or, in host order, never fewer than the host before.
func checkWholeRounds(t *testing.T, n int, body []byte, hosts []string, snapshot bool) {
	t.Helper()
	var b struct {
		Hosts  []string
		Checks map[string][]struct{ Time time.Time }
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("export %d: %v", n, err)
	}
	if !slices.Equal(b.Hosts, hosts) {
		t.Fatalf("export %d: hosts %q", n, b.Hosts)
	}
	for i, h := range hosts[1:] {
		prev, got := len(b.Checks[hosts[i]]), len(b.Checks[h])
		if snapshot && got != prev || got < prev {
			t.Fatalf("export %d: %s has %d checks, %s has %d: a round is in it for some hosts only", n, hosts[i], prev, h, got)
		}
	}
}
