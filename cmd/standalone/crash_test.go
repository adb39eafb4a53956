package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/srvmon/srvmon/internal/proctest"
)

// TestKill9 kills the binary (bolt) with SIGKILL mid-round, several times,
// then mid-restore. Each time the file passes bbolt's consistency check,
// the binary starts again on it, every result exported before the kill is
// still there, the restore stored nothing, and no restore spool is left in
// TMPDIR. (The backup is hosts-first, so its checks stream into the store
// without a spool: a spool left by a checks-first backup is another fix's.)
func TestKill9(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(rand.N(400 * time.Millisecond)) // spreads each round over a while
	}))
	defer target.Close()
	dir, tmp := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "srvmon.db")
	env := []string{"TMPDIR=" + tmp}
	conf := `{"DB":{"Type":"bolt","Database":"srvmon.db"},"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"Interval":1,"Timeout":2}}`
	p := start(t, dir, env, "-confstr", conf)
	const hosts = 100
	for i := range hosts {
		if code, body := p.Do(t, http.MethodPost, "/api/hosts", fmt.Sprintf("%s/%d", target.URL, i)); code != http.StatusCreated {
			t.Fatalf("add: %d %s", code, body)
		}
	}
	for cycle := range 3 {
		p.WaitFor(t, fmt.Sprintf(`targets=%d up=%d`, hosts, hosts), 15*time.Second)
		before := exportedResults(t, p)
		time.Sleep(rand.N(time.Second)) // somewhere in the next round
		p.Kill(t)
		checkAfterCrash(t, path, tmp)
		p = start(t, dir, env, "-confstr", conf)
		missing(t, fmt.Sprintf("after kill %d mid-round", cycle), before, exportedResults(t, p))
	}

	// Mid-restore: more checks than the store stages per transaction
	// arrive before the kill, so staged batches are on disk.
	before := exportedResults(t, p)
	r := startRestore(t, p, "restored.example", 140000)
	time.Sleep(3 * time.Second)
	p.Kill(t)
	if staged := checkAfterCrash(t, path, tmp); staged == 0 {
		t.Errorf("no staged restore in the file: the kill was not mid-restore")
	}
	p = start(t, dir, env, "-confstr", conf)
	after := exportedResults(t, p)
	missing(t, "after kill mid-restore", before, after)
	if n := len(after[r.host]); n != 0 {
		t.Errorf("%d checks of the restore killed midway are stored", n)
	}
	if code, _ := p.Do(t, http.MethodGet, "/api/checks/"+r.host, ""); code != http.StatusNotFound {
		t.Errorf("the host of the restore killed midway: GET /api/checks: %d, want 404", code)
	}
	p.Stop(t)
}

// exportedResults reads the process's full backup: the set of
// (time, location) of each host's checks.
func exportedResults(t *testing.T, p *proctest.Process) map[string]map[string]bool {
	t.Helper()
	code, body := p.Do(t, http.MethodGet, "/api/backup_full", "")
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, body)
	}
	var b struct {
		Checks map[string][]struct {
			Time     time.Time
			Location string
		}
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("export: %v", err)
	}
	got := map[string]map[string]bool{}
	for h, cs := range b.Checks {
		got[h] = map[string]bool{}
		for _, c := range cs {
			got[h][c.Time.Format(time.RFC3339Nano)+" "+c.Location] = true
		}
	}
	return got
}

// missing fails the test for every result of before that after lacks.
func missing(t *testing.T, when string, before, after map[string]map[string]bool) {
	t.Helper()
	n, total := 0, 0
	for h, rs := range before {
		for k := range rs {
			total++
			if !after[h][k] {
				n++
			}
		}
	}
	if total == 0 {
		t.Fatalf("%s: nothing was stored before the kill", when)
	}
	if n > 0 {
		t.Errorf("%s: %d of %d results stored before it are gone", when, n, total)
	}
}

// checkAfterCrash runs bbolt's consistency check on the file and makes
// sure no restore spool is left in tmp. It returns how many restores are
// staged in the file (srvmon drops them when it opens it).
func checkAfterCrash(t *testing.T, path, tmp string) (staged int) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			if strings.HasPrefix(string(name), "restore.") {
				staged++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	left, err := filepath.Glob(filepath.Join(tmp, "srvmon-restore-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("restore spools left in TMPDIR: %q", left)
	}
	return staged
}
