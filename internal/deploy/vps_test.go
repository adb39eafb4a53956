package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/config"
)

// unitFile is a systemd unit: section -> key -> values in order (a key
// may be given more than once).
type unitFile map[string]map[string][]string

// get is the last value of a key ("" when unset), as systemd reads most
// settings.
func (u unitFile) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// parseUnit reads a systemd unit file: [Section] lines, Key=Value lines,
// comments starting with # or ;, and lines continued with a backslash.
func parseUnit(file string) (unitFile, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	u := unitFile{}
	section := ""
	var cont strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if c, ok := strings.CutSuffix(line, `\`); ok {
			cont.WriteString(c + " ")
			continue
		}
		cont.WriteString(line)
		line = cont.String()
		cont.Reset()
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("%s:%d: %q is not Key=Value in a section", filepath.Base(file), n, line)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	return u, sc.Err()
}

// unitEnv is a unit's Environment= assignments.
func unitEnv(u unitFile) (map[string]string, error) {
	env := map[string]string{}
	for _, line := range u["Service"]["Environment"] {
		words, err := shellWords(line)
		if err != nil {
			return nil, err
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return nil, fmt.Errorf("Environment=%s: want KEY=value", line)
			}
			env[k] = v
		}
	}
	return env, nil
}

// readEnvFile reads an EnvironmentFile: KEY=value lines, # comments,
// values optionally in double or single quotes, as systemd reads it.
func readEnvFile(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not KEY=value", filepath.Base(file), n+1, line)
		}
		w, err := shellWords(v)
		if err != nil || len(w) > 1 {
			return nil, fmt.Errorf("%s:%d: quote a value with spaces", filepath.Base(file), n+1)
		}
		env[k] = strings.Join(w, "")
	}
	return env, nil
}

// The unit files and what each one runs.
var units = map[string]string{
	"srvmon-api.service":        "cmd/api",
	"srvmon-checker.service":    "cmd/checker",
	"srvmon-standalone.service": "cmd/standalone",
	"srvmon-checker.timer":      "",
}

const envFile = "/etc/srvmon/srvmon.env"

func deployDir(t *testing.T) string { return filepath.Join(repoRoot(t), "deploy") }

func TestSystemdUnits(t *testing.T) {
	dir := filepath.Join(deployDir(t), "systemd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	var want []string
	for f := range units {
		want = append(want, f)
	}
	slices.Sort(want)
	assertEqual(t, "deploy/systemd", files, want)

	example, err := readEnvFile(filepath.Join(deployDir(t), "srvmon.env.example"))
	if err != nil {
		t.Fatal(err)
	}

	for file, pkg := range units {
		if pkg == "" {
			continue
		}
		t.Run(file, func(t *testing.T) {
			u, err := parseUnit(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			svc := u["Service"]
			if len(svc["ExecStart"]) != 1 {
				t.Fatalf("ExecStart %q: want exactly one", svc["ExecStart"])
			}
			argv, err := shellWords(svc["ExecStart"][0])
			if err != nil {
				t.Fatal(err)
			}
			bin := argv[0]
			if dir, base := filepath.Split(bin); dir != "/usr/local/bin/" {
				t.Errorf("ExecStart runs %s: want /usr/local/bin/ (make install)", bin)
			} else if got, ok := binaryPackage(base); !ok || got != pkg {
				t.Errorf("ExecStart runs %s, want srvmon-%s (%s)", base, filepath.Base(pkg), pkg)
			}
			checkFlags(t, file, filepath.Base(bin), argv[1:])

			// Settings: the unit's Environment= under the env file.
			ef := u.get("Service", "EnvironmentFile")
			optional := strings.HasPrefix(ef, "-")
			if strings.TrimPrefix(ef, "-") != envFile {
				t.Errorf("EnvironmentFile=%s, want %s", ef, envFile)
			}
			env, err := unitEnv(u)
			if err != nil {
				t.Fatal(err)
			}
			checkEnvNames(t, file, env)
			withFile := map[string]string{}
			for k, v := range env {
				withFile[k] = v
			}
			for k, v := range example { // EnvironmentFile= wins over Environment=
				withFile[k] = v
			}
			defaultDB := ""
			if pkg == "cmd/standalone" {
				defaultDB = "srvmon.db"
			}
			cfg := loadEnv(t, file+" with srvmon.env.example", withFile, defaultDB)
			if cfg.StoreSpec().Kind != config.StorePostgres {
				t.Errorf("with srvmon.env.example: store %s, want PostgreSQL", cfg.StoreSpec().Redacted())
			}

			// Hardening every unit has.
			for k, want := range map[string]string{
				"DynamicUser":             "yes",
				"NoNewPrivileges":         "yes",
				"ProtectSystem":           "strict",
				"ProtectHome":             "yes",
				"PrivateTmp":              "yes",
				"PrivateDevices":          "yes",
				"ProtectKernelTunables":   "yes",
				"RestrictSUIDSGID":        "yes",
				"SystemCallArchitectures": "native",
			} {
				if got := u.get("Service", k); got != want {
					t.Errorf("%s=%q, want %s", k, got, want)
				}
			}
			// Raw sockets for ping where rounds run; none for the API.
			caps := u.get("Service", "CapabilityBoundingSet")
			ambient := u.get("Service", "AmbientCapabilities")
			switch pkg {
			case "cmd/api":
				if caps != "" || ambient != "" {
					t.Errorf("CapabilityBoundingSet=%q AmbientCapabilities=%q: the API needs no capability", caps, ambient)
				}
				if len(svc["CapabilityBoundingSet"]) == 0 {
					t.Error("CapabilityBoundingSet= (empty) is missing: drop every capability")
				}
			default:
				if caps != "CAP_NET_RAW" || ambient != "CAP_NET_RAW" {
					t.Errorf("CapabilityBoundingSet=%q AmbientCapabilities=%q, want CAP_NET_RAW for ping targets", caps, ambient)
				}
			}
			switch pkg {
			case "cmd/checker":
				if u.get("Service", "Type") != "oneshot" {
					t.Errorf("Type=%q, want oneshot: one round, then exit", u.get("Service", "Type"))
				}
				if len(u["Install"]) > 0 {
					t.Error("the timer starts the checker: it has no [Install]")
				}
				if optional {
					t.Error("the checker needs DATABASE_URL: its EnvironmentFile is not optional")
				}
			case "cmd/api":
				if optional {
					t.Error("the API needs DATABASE_URL: its EnvironmentFile is not optional")
				}
			case "cmd/standalone":
				// Without the env file, the store is the bolt file in the
				// unit's StateDirectory.
				state := u.get("Service", "StateDirectory")
				if state == "" {
					t.Fatal("no StateDirectory: ProtectSystem=strict leaves nothing writable")
				}
				cfg := loadEnv(t, file, env, defaultDB)
				spec := cfg.StoreSpec()
				if spec.Kind != config.StoreBolt || filepath.Dir(spec.Path) != "/var/lib/"+state {
					t.Errorf("store %s, want a bolt file in /var/lib/%s", spec.Redacted(), state)
				}
				if !optional {
					t.Error("standalone needs no settings: make its EnvironmentFile optional (-)")
				}
			}
			if pkg != "cmd/checker" && u.get("Install", "WantedBy") != "multi-user.target" {
				t.Errorf("WantedBy=%q, want multi-user.target", u.get("Install", "WantedBy"))
			}
		})
	}

	t.Run("srvmon-checker.timer", func(t *testing.T) {
		u, err := parseUnit(filepath.Join(dir, "srvmon-checker.timer"))
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{
			"OnCalendar":  "*-*-* *:*:00",
			"AccuracySec": "1s",
			"Unit":        "srvmon-checker.service",
		} {
			if got := u.get("Timer", k); got != want {
				t.Errorf("%s=%q, want %q", k, got, want)
			}
		}
		if _, ok := units[u.get("Timer", "Unit")]; !ok {
			t.Errorf("Unit=%s: no such unit here", u.get("Timer", "Unit"))
		}
		if u.get("Install", "WantedBy") != "timers.target" {
			t.Errorf("WantedBy=%q, want timers.target", u.get("Install", "WantedBy"))
		}
		// Every minute, on the minute: the checker's default interval.
		if d := time.Duration(config.DefaultInterval) * time.Second; d != time.Minute {
			t.Errorf("the default interval is %v: change OnCalendar with it", d)
		}
		checkCalendar(t, u.get("Timer", "OnCalendar"), time.Minute)
	})
}

// checkCalendar asks systemd-analyze, where it is installed, when an
// OnCalendar expression elapses, and checks that it does on every
// boundary of period.
func checkCalendar(t *testing.T, expr string, period time.Duration) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("SKIPPED LOUDLY: systemd-analyze is not installed; OnCalendar=%s was NOT checked by systemd", expr)
		return
	}
	cmd := exec.Command(sa, "calendar", "--iterations=3", expr)
	cmd.Env = append(os.Environ(), "TZ=UTC", "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze calendar %s: %v\n%s", expr, err, out)
	}
	var times []time.Time
	for _, m := range elapse.FindAllStringSubmatch(string(out), -1) {
		tm, err := time.Parse("2006-01-02 15:04:05", m[1])
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, tm)
	}
	if len(times) != 3 {
		t.Fatalf("systemd-analyze calendar %s: want 3 elapses in\n%s", expr, out)
	}
	for i, tm := range times {
		if !tm.Truncate(period).Equal(tm) {
			t.Errorf("OnCalendar=%s elapses at %v, not on a %v boundary", expr, tm, period)
		}
		if i > 0 && tm.Sub(times[i-1]) != period {
			t.Errorf("OnCalendar=%s elapses %v apart, want %v", expr, tm.Sub(times[i-1]), period)
		}
	}
}

var elapse = regexp.MustCompile(`(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)`)

// TestSystemdVerify runs systemd-analyze verify on the units, their
// ExecStart pointed at the release binaries, where systemd is installed.
func TestSystemdVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("SKIPPED LOUDLY: systemd-analyze is not installed; the units were NOT verified by systemd")
	}
	src := filepath.Join(deployDir(t), "systemd")
	tmp := t.TempDir()
	bindir := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bindir, 0o755); err != nil {
		t.Fatal(err)
	}
	for pkg, bin := range release {
		if err := os.Symlink(bin, filepath.Join(bindir, "srvmon-"+filepath.Base(pkg))); err != nil {
			t.Fatal(err)
		}
	}
	var args []string
	for file := range units {
		data, err := os.ReadFile(filepath.Join(src, file))
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.ReplaceAll(data, []byte("/usr/local/bin/"), []byte(bindir+"/"))
		dst := filepath.Join(tmp, file)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, dst)
	}
	slices.Sort(args)
	cmd := exec.Command(sa, append([]string{"verify", "--man=no"}, args...)...)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	// verify only warns (exit 0) about an unknown key: any output fails.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify (exit: %v) says:\n%s", err, out)
	}
}

// TestCron checks the crontab line of deploy/cron/srvmon-checker: every
// minute, the checker binary, flags it takes, and the example config file
// it names loading without a warning.
func TestCron(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir(t), "cron", "srvmon-checker"))
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(k, " \t") {
			continue // SHELL=, PATH=
		}
		jobs = append(jobs, line)
	}
	if len(jobs) != 1 {
		t.Fatalf("want one job, got %q", jobs)
	}
	f := strings.Fields(jobs[0])
	if len(f) < 7 {
		t.Fatalf("%q: want five time fields, a user and a command (/etc/cron.d format)", jobs[0])
	}
	if when := strings.Join(f[:5], " "); when != "* * * * *" {
		t.Errorf("schedule %q, want every minute (the default 60 s interval)", when)
	}
	if f[5] == "root" {
		t.Error("run the checker as its own user, not root (setcap grants ping)")
	}
	bin := f[6]
	if pkg, ok := binaryPackage(filepath.Base(bin)); !ok || pkg != "cmd/checker" || filepath.Dir(bin) != "/usr/local/bin" {
		t.Errorf("the job runs %s, want /usr/local/bin/srvmon-checker", bin)
	}
	var args []string
	for _, a := range f[7:] {
		if a == "2>&1" || a == "|" || strings.HasPrefix(a, ">") {
			break
		}
		args = append(args, a)
	}
	checkFlags(t, "cron", filepath.Base(bin), args)
	i := slices.Index(args, "-config")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("flags %q: want -config FILE", args)
	}
	if args[i+1] != "/etc/srvmon/srvmon.json" {
		t.Errorf("-config %s, want /etc/srvmon/srvmon.json (deploy/srvmon.json.example)", args[i+1])
	}
	cfg, err := config.Load(config.Source{File: filepath.Join(deployDir(t), "srvmon.json.example")})
	if err != nil {
		t.Fatalf("srvmon.json.example: %v", err)
	}
	if w := cfg.Warnings(); len(w) > 0 {
		t.Errorf("srvmon.json.example: %q", w)
	}
	if cfg.StoreSpec().Kind != config.StorePostgres || cfg.Interval() != time.Minute {
		t.Errorf("srvmon.json.example: store %s, interval %v; want PostgreSQL every minute", cfg.StoreSpec().Redacted(), cfg.Interval())
	}
}

// TestEnvExample checks deploy/srvmon.env.example, commented lines
// included: every name is srvmon's and the whole file, uncommented, loads.
func TestEnvExample(t *testing.T) {
	file := filepath.Join(deployDir(t), "srvmon.env.example")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	uncommented := regexp.MustCompile(`(?m)^#(SRVMON_|DATABASE_URL)`).ReplaceAll(data, []byte("$1"))
	all := filepath.Join(t.TempDir(), "all.env")
	if err := os.WriteFile(all, uncommented, 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := readEnvFile(all)
	if err != nil {
		t.Fatal(err)
	}
	if len(env) < 5 {
		t.Fatalf("only %d settings in %s", len(env), file)
	}
	checkEnvNames(t, "srvmon.env.example", env)
	cfg := loadEnv(t, "srvmon.env.example", env, "")
	if !cfg.Listen.WebAuth.Enable || cfg.Listen.WebAuth.Password != "change me" {
		t.Errorf("WebAuth %+v: the quoted password did not come through", cfg.Listen.WebAuth)
	}
}

// TestMakefileInstall runs make install and make install-systemd into a
// scratch DESTDIR, with the release binaries, and checks that every unit
// lands where systemd reads it and every ExecStart where make put it.
func TestMakefileInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is not installed and CI=true")
		}
		t.Skip("SKIPPED LOUDLY: make is not installed; make install was NOT run")
	}
	tmp := t.TempDir()
	var bins []string
	for pkg, bin := range release {
		link := filepath.Join(tmp, "srvmon-"+filepath.Base(pkg))
		if err := os.Symlink(bin, link); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, link)
	}
	slices.Sort(bins)
	dest := filepath.Join(tmp, "root")
	cmd := exec.Command("make", "install", "install-systemd", "DESTDIR="+dest, "BINARIES="+strings.Join(bins, " "))
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install install-systemd: %v\n%s", err, out)
	}
	for file, pkg := range units {
		u, err := parseUnit(filepath.Join(dest, "etc", "systemd", "system", file))
		if err != nil {
			t.Errorf("make install-systemd: %v", err)
			continue
		}
		if pkg == "" {
			continue
		}
		argv, err := shellWords(u.get("Service", "ExecStart"))
		if err != nil || len(argv) == 0 {
			t.Fatalf("%s: ExecStart %q", file, u.get("Service", "ExecStart"))
		}
		st, err := os.Stat(filepath.Join(dest, argv[0]))
		if err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("%s runs %s, which make install did not install: %v", file, argv[0], err)
		}
	}
}
