package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// idle builds testdata/idle with its symbols (go test strips its own
// binary), starts it and returns its path and pid; it runs until the test
// ends.
func idle(t *testing.T) (bin string, pid int) {
	t.Helper()
	bin = filepath.Join(t.TempDir(), "idle")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/idle").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("idle said %q: %v", line, err)
	}
	return bin, cmd.Process.Pid
}

func TestPkgOf(t *testing.T) {
	tests := []struct{ name, want string }{
		{"runtime.main", "runtime"},
		{"net/http.(*ServeMux).Handle", "net/http"},
		{"github.com/srvmon/srvmon/pkg/api.(*server).routes.func1", "github.com/srvmon/srvmon/pkg/api"},
		{"gopkg.in/yaml%2ev3.init.0", "gopkg.in/yaml%2ev3"},
		{"slices.insertionSortOrdered[go.shape.int32]", "slices"},
		{"internal/sync.(*HashTrieMap[go.shape.interface {},go.shape.interface {}]).Load", "internal/sync"},
		{"go:itab.*github.com/srvmon/srvmon/pkg/store/bolt.Store,github.com/srvmon/srvmon/pkg/store.Store", "github.com/srvmon/srvmon/pkg/store/bolt"},
		{"type:.eq.net/netip.Addr", "net/netip"},
		{"*[]github.com/jackc/pgx/v5/pgtype.Type", "github.com/jackc/pgx/v5/pgtype"},
		{"map[string]int", "(composite)"},
		{"noalg.struct { F uintptr; X0 *net/http.conn }", "(composite)"},
		{"", "?"},
	}
	for _, tt := range tests {
		if got := pkgOf(tt.name); got != tt.want {
			t.Errorf("pkgOf(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRoot(t *testing.T) {
	tests := []struct {
		stack []string // leaf first
		want  string
	}{
		{[]string{"runtime.step", "modernc.org/ql.yyParse", "modernc.org/ql.init", "runtime.doInit1", "runtime.main"}, "init modernc.org/ql.init"},
		{[]string{"encoding/json.(*Decoder).Decode", "main.command", "main.run", "github.com/srvmon/srvmon/internal/app.Main", "main.main"}, "main.main"},
		{[]string{"runtime.(*mheap).init", "runtime.schedinit", "runtime.rt0_go.abi0"}, "root runtime.rt0_go.abi0"},
		{nil, "?"},
	}
	for _, tt := range tests {
		if got := root(tt.stack); got != tt.want {
			t.Errorf("root(%q) = %q, want %q", tt.stack, got, tt.want)
		}
	}
}

// TestAttribute attributes the resident pages of a running binary: every
// page is counted once, the runtime's code and functions' pclntab entries
// are among them, and a package of our module groups under its top two
// directories.
func TestAttribute(t *testing.T) {
	bin, pid := idle(t)
	img, err := openImage(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer img.f.Close()
	pages, err := residentPages(strconv.Itoa(pid))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no resident pages")
	}
	r := img.attribute(pages)
	var total float64
	for _, b := range r.byKind {
		total += b
	}
	if total != float64(len(pages)*pageSize) {
		t.Errorf("attributed %v bytes of %d pages (%d bytes)", total, len(pages), len(pages)*pageSize)
	}
	if r.moduleKind[[2]string{"std:runtime,reflect,internal,sync,slices", ".text"}] == 0 || r.byKind["pcln:_func"] == 0 {
		t.Errorf("no resident runtime code or _func entries: %v", r.byKind)
	}
	if got := img.module("github.com/srvmon/srvmon/internal/deploy/cmd/rsswhere"); got != "github.com/srvmon/srvmon/internal/deploy" {
		t.Errorf("module of this package = %q", got)
	}
	var out strings.Builder
	r.write(&out, 5)
	if !strings.Contains(out.String(), fmt.Sprintf("(%d pages)", len(pages))) {
		t.Errorf("report does not count %d pages:\n%s", len(pages), out.String())
	}
}

// TestFaults names what is at a fault's address and what ran: a fault in
// runtime.main's code is listed, one outside the image is not.
func TestFaults(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "idle")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/idle").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	img, err := openImage(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer img.f.Close()
	var mainAt uint64
	for _, s := range img.spans {
		if s.owner == "runtime.main" && s.kind == ".text" {
			mainAt = s.start
		}
	}
	if mainAt == 0 {
		t.Fatal("no runtime.main")
	}
	perf := fmt.Sprintf(`%x runtime.main
	    1234 runtime.main+0x0 (/x)
	    5678 runtime.goexit.abi0+0x1 (/x)

7fff3d574119 [unknown]
	ffffffff81bae0d8 _copy_to_user
`, mainAt)
	var out strings.Builder
	if err := img.writeFaults(&out, perf); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%#x\t.text\truntime.main\truntime.main\troot runtime.goexit.abi0\n", mainAt)
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
