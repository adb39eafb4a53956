package deploy

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/pkg/config"
)

// release holds the binaries of every main package under cmd/, built once
// by TestMain as they ship (ReleaseFlags, ReleaseEnv) for this machine:
// cmd/api -> its path. Tests only read it.
var release map[string]string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "srvmon-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	release, err = buildRelease(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "internal/deploy:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the repository's root directory, two levels above this
// package.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		tb.Fatalf("repository root: %v", err)
	}
	return root
}

// mainPackages lists the main packages under cmd/ as "cmd/NAME".
func mainPackages() ([]string, error) {
	cmd := exec.Command("go", "list", "-f", "{{.Name}} {{.ImportPath}}", "./cmd/...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list ./cmd/...: %w", err)
	}
	var pkgs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, path, _ := strings.Cut(line, " ")
		if name != "main" {
			continue
		}
		_, rel, ok := strings.Cut(path, "/cmd/")
		if !ok {
			return nil, fmt.Errorf("go list: %q is not under cmd/", path)
		}
		pkgs = append(pkgs, "cmd/"+rel)
	}
	slices.Sort(pkgs)
	return pkgs, nil
}

// buildRelease builds every main package under cmd/ into dir with
// ReleaseFlags and ReleaseEnv.
func buildRelease(dir string) (map[string]string, error) {
	pkgs, err := mainPackages()
	if err != nil {
		return nil, err
	}
	bins := map[string]string{}
	args := append([]string{"build"}, ReleaseFlags()...)
	args = append(args, "-o", dir+string(filepath.Separator))
	for _, p := range pkgs {
		args = append(args, "./"+p)
		bins[p] = filepath.Join(dir, filepath.Base(p))
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), ReleaseEnv()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bins, nil
}

// binaryPackage maps an installed binary's name to its main package:
// srvmon-api -> cmd/api. ok is false for a name that is not srvmon-NAME
// with a main package cmd/NAME.
func binaryPackage(name string) (pkg string, ok bool) {
	rest, ok := strings.CutPrefix(name, "srvmon-")
	if !ok {
		return "", false
	}
	pkg = "cmd/" + rest
	_, ok = release[pkg]
	return pkg, ok
}

// envNames is the set of environment names srvmon reads: SRVMON_… for
// every config field, and DATABASE_URL.
func envNames() map[string]bool {
	names := map[string]bool{}
	for _, v := range config.EnvNames() {
		names[v.Name] = true
	}
	return names
}

// checkEnvNames fails the test for every name in env that srvmon does not
// read (a typo would be ignored at run time, with only a warning).
func checkEnvNames(t *testing.T, where string, env map[string]string) {
	t.Helper()
	known := envNames()
	for k := range env {
		if !known[k] {
			t.Errorf("%s: environment %s is not one srvmon reads (see pkg/config EnvNames)", where, k)
		}
	}
}

// loadEnv loads srvmon's configuration from env alone, as a binary started
// with that environment does, and fails the test on an error or a warning.
// defaultDB is the binary's default store ("" for checker and api).
func loadEnv(t *testing.T, where string, env map[string]string, defaultDB string) config.Config {
	t.Helper()
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	slices.Sort(list)
	cfg, err := config.Load(config.Source{Env: list, DefaultDatabase: defaultDB})
	if err != nil {
		t.Fatalf("%s: the config does not load: %v", where, err)
	}
	if w := cfg.Warnings(); len(w) > 0 {
		t.Errorf("%s: the config loads with warnings: %q", where, w)
	}
	return cfg
}

// checkFlags fails the test unless args parse as the flags of the binary
// (gosrvmon's -config, -confstr, -init, -check).
func checkFlags(t *testing.T, where, binary string, args []string) {
	t.Helper()
	if _, err := app.ParseFlags(binary, args, nil, "", io.Discard); err != nil {
		t.Errorf("%s: %s %q: %v", where, binary, args, err)
	}
}
