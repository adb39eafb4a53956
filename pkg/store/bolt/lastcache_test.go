package bolt

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// After every kind of write, LastCheck (which may answer from its cache)
// answers what the file holds.
func TestLastCheckCacheFollowsWrites(t *testing.T) {
	t0 := time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)
	slot := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	up := func(host, loc string, i int, rtt time.Duration) store.Result {
		return store.Result{Host: host, Location: loc, Slot: slot(i), RTT: rtt, Up: true}
	}
	const token = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name  string
		write func(ctx context.Context, s *Store) error
		want  lastCheck
	}{
		{"SaveRound of a newer slot", func(ctx context.Context, s *Store) error {
			return s.SaveRound(ctx, []store.Result{up("a.test", "", 3, time.Millisecond)}, nil)
		}, lastCheck{store.Check{Time: slot(3), RTT: time.Millisecond, Up: true}, true}},
		{"SaveRound of another location in the last slot", func(ctx context.Context, s *Store) error {
			return s.SaveRound(ctx, []store.Result{up("a.test", "eu", 2, time.Microsecond)}, nil)
		}, lastCheck{store.Check{Time: slot(2), RTT: time.Microsecond, Up: true}, true}},
		{"RecordPush", func(ctx context.Context, s *Store) error {
			if _, err := s.PutMonitor(ctx, monitor.Monitor{Host: "a.test", Settings: monitor.Settings{Grace: monitor.Duration(time.Hour), PushToken: token}}); err != nil {
				return err
			}
			if _, _, err := s.LastCheck(ctx, "a.test"); err != nil { // cached again
				return err
			}
			_, err := s.RecordPush(ctx, token, slot(5), store.Result{Slot: slot(5), Up: false, Reason: "failed"}, nil)
			return err
		}, lastCheck{store.Check{Time: slot(5), Error: "failed"}, true}},
		{"Restore of newer results", func(ctx context.Context, s *Store) error {
			return s.Restore(ctx, store.Restore{Results: func(ctx context.Context, emit func(store.Result) error) error {
				return emit(up("a.test", "", 9, 9*time.Millisecond))
			}})
		}, lastCheck{store.Check{Time: slot(9), RTT: 9 * time.Millisecond, Up: true}, true}},
		{"DeleteResultsBefore everything", func(ctx context.Context, s *Store) error {
			_, err := s.DeleteResultsBefore(ctx, slot(60))
			return err
		}, lastCheck{}},
		{"compaction", func(ctx context.Context, s *Store) error { return Compact(ctx, s) },
			lastCheck{store.Check{Time: slot(2), RTT: 2 * time.Millisecond, Up: true}, true}},
		{"DeleteHost then AddHost", func(ctx context.Context, s *Store) error {
			if err := s.DeleteHost(ctx, "a.test"); err != nil {
				return err
			}
			if _, _, err := s.LastCheck(ctx, "a.test"); !errors.Is(err, store.ErrNotFound) {
				return errors.New("LastCheck of the deleted host did not fail with ErrNotFound")
			}
			return s.AddHost(ctx, "a.test")
		}, lastCheck{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "srvmon.db"), WithNoSync())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := t.Context()
			if err := s.AddHost(ctx, "a.test"); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveRound(ctx, []store.Result{up("a.test", "", 1, time.Millisecond), up("a.test", "", 2, 2*time.Millisecond)}, nil); err != nil {
				t.Fatal(err)
			}
			// Cache the answer before the write.
			if c, ok, err := s.LastCheck(ctx, "a.test"); err != nil || !ok || !c.Time.Equal(slot(2)) {
				t.Fatalf("LastCheck before the write = %+v, %v, %v; want the check at %v", c, ok, err, slot(2))
			}
			if _, found, _ := s.last.get("a.test"); !found {
				t.Fatal("LastCheck kept nothing in its cache")
			}
			if err := tc.write(ctx, s); err != nil {
				t.Fatal(err)
			}
			c, ok, err := s.LastCheck(ctx, "a.test")
			if err != nil {
				t.Fatal(err)
			}
			if got := (lastCheck{c, ok}); !sameLastCheck(got, tc.want) {
				t.Errorf("LastCheck after the write = %+v, want %+v", got, tc.want)
			}
			fc, fok, err := s.lastCheck(ctx, "a.test")
			if err != nil {
				t.Fatal(err)
			}
			if got := (lastCheck{fc, fok}); !sameLastCheck(got, tc.want) {
				t.Errorf("the file's last check after the write = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func sameLastCheck(a, b lastCheck) bool {
	return a.ok == b.ok && a.check.Time.Equal(b.check.Time) && a.check.RTT == b.check.RTT &&
		a.check.Up == b.check.Up && a.check.Error == b.check.Error
}

// Readers racing a stream of rounds never see a round older than the last
// one SaveRound returned from: a read that began before a commit does not
// put its stale answer back into the cache after the commit emptied it.
func TestLastCheckCacheNeverStaleUnderRounds(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "srvmon.db"), WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.AddHost(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var last time.Time // the newest slot SaveRound has returned from
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				floor := last
				mu.Unlock()
				c, ok, err := s.LastCheck(ctx, "a.test")
				if err != nil {
					errs <- err
					return
				}
				if !floor.IsZero() && (!ok || c.Time.Before(floor)) {
					errs <- errors.New("LastCheck = " + c.Time.String() + ", older than the round saved before it asked: " + floor.String())
					return
				}
			}
		}()
	}
	for i := range 300 {
		slot := t0.Add(time.Duration(i) * time.Minute)
		if err := s.SaveRound(ctx, []store.Result{{Host: "a.test", Slot: slot, Up: true}}, nil); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		last = slot
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Every write transaction of the package goes through Store.update, which
// empties the LastCheck cache: a write that went around it could leave a
// stale last check cached. Only writes that change nothing LastCheck reads
// may call the file directly; they are listed here.
func TestWritesGoThroughUpdate(t *testing.T) {
	allowed := map[string]bool{
		"update":      true, // the one that empties the cache
		"dropStaging": true, // deletes a restore's staging bucket, which no read sees
	}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					recv, ok := sel.X.(*ast.SelectorExpr)
					if !ok || recv.Sel.Name != "db" {
						return true
					}
					switch sel.Sel.Name {
					case "Update", "Batch", "Begin":
						if !allowed[fn.Name.Name] {
							t.Errorf("%s: %s calls db.%s: write through Store.update, which empties the LastCheck cache",
								fset.Position(call.Pos()), fn.Name.Name, sel.Sel.Name)
						}
					}
					return true
				})
			}
		}
	}
}
