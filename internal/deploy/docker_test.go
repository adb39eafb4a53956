package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/srvmon/srvmon/pkg/config"
)

// Size bounds of the stripped binaries, each a little above what it
// measured, so that the bound catches it growing. Their history:
//   - issue 6's target was 15 MB;
//   - issue 11's monitors brought miekg/dns for DNS checks (about 0.8 MB:
//     it registers every record type), gopkg.in/yaml.v3 for YAML config
//     files (0.4 MB) and tidwall/gjson for JSON paths in conditions (0.1
//     MB): cmd/api 16.5 MB, cmd/checker 13.5 MB, cmd/standalone 20.0 MB;
//   - issue 12's alerts brought nicholas-fedor/shoutrrr's eleven channel
//     services (about 0.6 MB; in the checker 2.2 MB more, since its e-mail
//     service executes a text/template, which makes the linker keep every
//     exported method): api 17.5, checker 16.6, standalone 21.1 MB;
//   - issue 13's fleet pages brought prometheus/client_golang for /metrics
//     (about 2.5 MB: its protobuf data model) into api and standalone; the
//     checker serves nothing and links neither pkg/api nor client_golang
//     (internal/apiwire): api 20.2, checker 16.4, standalone 23.8 MB;
//   - issue 14 wrote /metrics with pkg/promtext instead of client_golang
//     (unshippedModules): api 18.0, checker 16.5, standalone 21.7 MB.
const (
	maxAPIBytes        = 18.6e6
	maxCheckerBytes    = 17e6
	maxStandaloneBytes = 22.4e6
)

// maxBytes is the size bound of the stripped binary of main package pkg.
func maxBytes(pkg string) float64 {
	switch pkg {
	case "cmd/standalone":
		return maxStandaloneBytes
	case "cmd/checker":
		return maxCheckerBytes
	}
	return maxAPIBytes
}

// dockerInstruction is one Dockerfile instruction, continuation lines
// joined.
type dockerInstruction struct {
	Cmd   string              // upper case: FROM, RUN, COPY, ...
	Flags map[string][]string // --from=build -> {"from": ["build"]}
	Args  string              // the rest of the line
	Line  int
}

// dockerStage is one FROM and what follows it.
type dockerStage struct {
	Name, Base string
	Insts      []dockerInstruction
}

// parseDockerfile reads the stages of a Dockerfile, with the global ARG
// defaults substituted into FROM lines.
func parseDockerfile(file string) ([]*dockerStage, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var (
		stages  []*dockerStage
		args    = map[string]string{}
		pending strings.Builder
		start   int
	)
	flush := func() error {
		line := strings.TrimSpace(pending.String())
		pending.Reset()
		if line == "" {
			return nil
		}
		cmd, rest, _ := strings.Cut(line, " ")
		in := dockerInstruction{Cmd: strings.ToUpper(cmd), Flags: map[string][]string{}, Line: start}
		rest = strings.TrimSpace(rest)
		for strings.HasPrefix(rest, "--") {
			var flag string
			flag, rest, _ = strings.Cut(rest, " ")
			rest = strings.TrimSpace(rest)
			k, v, _ := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
			in.Flags[k] = append(in.Flags[k], v)
		}
		in.Args = rest
		switch in.Cmd {
		case "ARG":
			if len(stages) == 0 {
				k, v, _ := strings.Cut(in.Args, "=")
				args[k] = v
			}
		case "FROM":
			f := strings.Fields(os.Expand(in.Args, func(k string) string { return args[k] }))
			st := &dockerStage{Base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			} else if len(f) != 1 {
				return fmt.Errorf("line %d: FROM %s", start, in.Args)
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			if in.Cmd != "ARG" {
				return fmt.Errorf("line %d: %s before FROM", start, in.Cmd)
			}
			return nil
		}
		st := stages[len(stages)-1]
		st.Insts = append(st.Insts, in)
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue // comments, and the syntax directive
		}
		if pending.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			pending.WriteString(cont + " ")
			continue
		}
		pending.WriteString(line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if pending.Len() > 0 {
		return nil, fmt.Errorf("line %d: the file ends in a continuation", start)
	}
	return stages, sc.Err()
}

// shellWords splits a shell command line into words, with single and
// double quotes (no expansions: the Dockerfile's commands need none).
func shellWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// goBuild is one `go build` in a Dockerfile RUN line.
type goBuild struct {
	Flags   []string // every flag but -o
	Output  string
	Package string
}

// goBuilds finds the go build commands of a stage's RUN lines.
func goBuilds(st *dockerStage) ([]goBuild, error) {
	var builds []goBuild
	for _, in := range st.Insts {
		if in.Cmd != "RUN" {
			continue
		}
		for _, part := range strings.Split(in.Args, "&&") {
			w, err := shellWords(strings.TrimSpace(part))
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", in.Line, err)
			}
			b, ok, err := parseGoBuild(w)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", in.Line, err)
			}
			if ok {
				builds = append(builds, b)
			}
		}
	}
	return builds, nil
}

// parseGoBuild reads the words of a `go build` command; ok is false for
// another command.
func parseGoBuild(w []string) (b goBuild, ok bool, err error) {
	if len(w) < 2 || w[0] != "go" || w[1] != "build" {
		return b, false, nil
	}
	for i := 2; i < len(w); i++ {
		switch {
		case w[i] == "-o" && i+1 < len(w):
			b.Output = w[i+1]
			i++
		case strings.HasPrefix(w[i], "-"):
			b.Flags = append(b.Flags, w[i])
		case b.Package == "":
			b.Package = w[i]
		default:
			return b, false, fmt.Errorf("one package per go build, please: %q", w)
		}
	}
	return b, true, nil
}

// stageEnv is a stage's ENV settings (KEY=value form).
func stageEnv(st *dockerStage) (map[string]string, error) {
	env := map[string]string{}
	for _, in := range st.Insts {
		if in.Cmd != "ENV" {
			continue
		}
		w, err := shellWords(in.Args)
		if err != nil {
			return nil, err
		}
		for _, kv := range w {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: ENV %s: use KEY=value", in.Line, in.Args)
			}
			env[k] = v
		}
	}
	return env, nil
}

func lastArg(st *dockerStage, cmd string) (dockerInstruction, bool) {
	for i := len(st.Insts) - 1; i >= 0; i-- {
		if st.Insts[i].Cmd == cmd {
			return st.Insts[i], true
		}
	}
	return dockerInstruction{}, false
}

func dockerfile(t *testing.T) (build *dockerStage, final []*dockerStage) {
	t.Helper()
	stages, err := parseDockerfile(filepath.Join(repoRoot(t), "docker", "Dockerfile"))
	if err != nil {
		t.Fatalf("docker/Dockerfile: %v", err)
	}
	for _, st := range stages {
		if st.Name == "build" {
			build = st
		} else {
			final = append(final, st)
		}
	}
	if build == nil {
		t.Fatal("docker/Dockerfile: no stage named build")
	}
	return build, final
}

// TestDockerfile checks that the Dockerfile builds every main package under
// cmd/ as the release binaries are built (static, stripped, -trimpath),
// and that each image runs one of them as a non-root user.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	build, final := dockerfile(t)

	env, err := stageEnv(build)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range ReleaseEnv() {
		k, v, _ := strings.Cut(kv, "=")
		if env[k] != v {
			t.Errorf("build stage: ENV %s=%q, want %q (ReleaseEnv: static binaries)", k, env[k], v)
		}
	}
	builds, err := goBuilds(build)
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]string{} // output path -> cmd/NAME
	var pkgs []string
	for _, b := range builds {
		pkg := strings.TrimPrefix(b.Package, "./")
		pkgs = append(pkgs, pkg)
		if !slices.Equal(b.Flags, ReleaseFlags()) {
			t.Errorf("go build %s: flags %q, want %q", b.Package, b.Flags, ReleaseFlags())
		}
		if want := "/out/srvmon-" + filepath.Base(pkg); b.Output != want {
			t.Errorf("go build %s: -o %s, want %s", b.Package, b.Output, want)
		}
		built[b.Output] = pkg
	}
	slices.Sort(pkgs)
	want, err := mainPackages()
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "packages the Dockerfile builds (the main packages under cmd/)", pkgs, want)

	runs := map[string]bool{} // cmd/NAME run by some image
	for _, st := range final {
		t.Run(st.Name, func(t *testing.T) {
			if st.Name == "" {
				t.Fatal("every stage needs a name (a --target)")
			}
			user, ok := lastArg(st, "USER")
			if !ok || (user.Args != "65532:65532" && user.Args != "nonroot" && user.Args != "nonroot:nonroot") {
				t.Errorf("USER %q: want the non-root 65532:65532", user.Args)
			}
			copied := map[string]string{} // destination -> source
			for _, in := range st.Insts {
				if in.Cmd != "COPY" {
					continue
				}
				f := strings.Fields(in.Args)
				if len(f) != 2 {
					t.Errorf("line %d: COPY %s: want one source and one destination", in.Line, in.Args)
					continue
				}
				from := in.Flags["from"]
				switch {
				case len(from) == 0:
					if _, err := os.Stat(filepath.Join(root, f[0])); err != nil {
						t.Errorf("line %d: COPY %s: %v", in.Line, f[0], err)
					}
				case from[0] == "build" && strings.HasPrefix(f[0], "/out/srvmon-"):
					if _, ok := built[f[0]]; !ok {
						t.Errorf("line %d: COPY --from=build %s: the build stage does not build it", in.Line, f[0])
					}
				}
				copied[f[1]] = f[0]
			}
			ep, ok := lastArg(st, "ENTRYPOINT")
			if !ok {
				t.Fatal("no ENTRYPOINT")
			}
			var argv []string
			if err := json.Unmarshal([]byte(ep.Args), &argv); err != nil || len(argv) == 0 {
				t.Fatalf("ENTRYPOINT %s: want the exec form, a JSON array (no shell in distroless)", ep.Args)
			}
			var pkg string
			for _, a := range argv {
				src, ok := copied[a]
				if !ok {
					continue
				}
				if p, ok := built[src]; ok {
					pkg = p
				}
			}
			if _, ok := copied[argv[0]]; !ok {
				t.Errorf("ENTRYPOINT runs %s, which no COPY puts there", argv[0])
			}
			if pkg == "" {
				t.Errorf("ENTRYPOINT %s runs no binary of the build stage", ep.Args)
			}
			runs[pkg] = true

			if !strings.HasPrefix(st.Base, "gcr.io/distroless/static") {
				if copied["/etc/ssl/certs/ca-certificates.crt"] == "" {
					t.Errorf("base %s: copy the CA certificates (https checks, PostgreSQL over TLS)", st.Base)
				}
			}
			senv, err := stageEnv(st)
			if err != nil {
				t.Fatal(err)
			}
			checkEnvNames(t, st.Name, senv)
			if exp, ok := lastArg(st, "EXPOSE"); ok && exp.Args != config.DefaultListenPort {
				t.Errorf("EXPOSE %s, but srvmon listens on %s by default", exp.Args, config.DefaultListenPort)
			}
			if vol, ok := lastArg(st, "VOLUME"); ok {
				// The data volume holds the bolt file and is the
				// non-root user's.
				if db := senv["SRVMON_DB_DATABASE"]; filepath.Dir(db) != vol.Args {
					t.Errorf("VOLUME %s, but SRVMON_DB_DATABASE is %q", vol.Args, db)
				}
				owned := false
				for _, in := range st.Insts {
					if in.Cmd == "COPY" && strings.HasSuffix(in.Args, " "+vol.Args) && slices.Contains(in.Flags["chown"], "65532:65532") {
						owned = true
					}
				}
				if !owned {
					t.Errorf("VOLUME %s: COPY an empty directory there with --chown=65532:65532, or the non-root user cannot write it", vol.Args)
				}
				cfg := loadEnv(t, st.Name, senv, "srvmon.db")
				if spec := cfg.StoreSpec(); spec.Kind != config.StoreBolt || spec.Path != senv["SRVMON_DB_DATABASE"] {
					t.Errorf("the image's store is %s, want bolt at %s", spec.Redacted(), senv["SRVMON_DB_DATABASE"])
				}
			}
		})
	}
	for _, p := range want {
		if !runs[p] {
			t.Errorf("no image runs %s", p)
		}
	}
}

// TestDockerIgnore checks that the build context keeps what the build
// needs.
func TestDockerIgnore(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", "Dockerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, need := range []string{"go.mod", "go.sum", "cmd", "pkg", "internal", "docker/checker-loop.sh"} {
		for _, p := range patterns {
			first, _, _ := strings.Cut(need, "/")
			if m, _ := filepath.Match(p, need); m || p == first {
				t.Errorf("Dockerfile.dockerignore: %q leaves %s out of the build context", p, need)
			}
		}
	}
	if !slices.Contains(patterns, ".git") {
		t.Errorf("Dockerfile.dockerignore: leave .git out of the build context")
	}
}

// TestReleaseBinaries checks the binaries the Dockerfile, the Makefile and
// the units ship, as TestMain built them for this machine: static,
// stripped, with the release settings, within maxBytes
// (BenchmarkBinarySize reports the sizes).
func TestReleaseBinaries(t *testing.T) {
	for pkg, bin := range release {
		t.Run(pkg, func(t *testing.T) {
			checkShipped(t, bin, pkg, runtime.GOOS, runtime.GOARCH)
		})
	}
}

// composeFile is the part of the Compose specification srvmon's file
// uses; decoding with KnownFields catches a misspelt key.
type composeFile struct {
	Name      string                    `yaml:"name"`
	SrvmonEnv map[string]string         `yaml:"x-srvmon-env"`
	WebAuth   map[string]string         `yaml:"x-srvmon-webauth"`
	Services  map[string]composeService `yaml:"services"`
	Volumes   map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
		Target     string `yaml:"target"`
	} `yaml:"build"`
	Restart     string            `yaml:"restart"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
	Profiles        []string          `yaml:"profiles"`
	Sysctls         map[string]string `yaml:"sysctls"`
	ReadOnly        bool              `yaml:"read_only"`
	CapDrop         []string          `yaml:"cap_drop"`
	CapAdd          []string          `yaml:"cap_add"`
	SecurityOpt     []string          `yaml:"security_opt"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Privileged      bool              `yaml:"privileged"`
	User            string            `yaml:"user"`
}

// interpolate expands Compose's ${VAR:-default} and ${VAR} with nothing
// set in the environment, as `docker compose up` does on a fresh machine.
// It fails for ${VAR?err} and ${VAR:?err}, which would stop compose.
func interpolate(s string) (string, error) {
	var err error
	out := composeVar.ReplaceAllStringFunc(s, func(m string) string {
		inner := m[2 : len(m)-1]
		if _, def, ok := strings.Cut(inner, ":-"); ok {
			return def
		}
		if strings.Contains(inner, "?") {
			err = fmt.Errorf("%s must be set", m)
		}
		return ""
	})
	return out, err
}

var composeVar = regexp.MustCompile(`\$\{[^}]*\}`)

func TestCompose(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, "docker")
	data, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c composeFile
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var names []string
	for n := range c.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	assertEqual(t, "services", names, []string{"api", "checker", "postgres", "standalone"})

	_, final := dockerfile(t)
	stages := map[string]bool{}
	for _, st := range final {
		stages[st.Name] = true
	}

	pg := c.Services["postgres"]
	for name, svc := range c.Services {
		t.Run(name, func(t *testing.T) {
			for dep, d := range svc.DependsOn {
				if _, ok := c.Services[dep]; !ok {
					t.Errorf("depends_on %s: no such service", dep)
				}
				if dep == "postgres" && d.Condition != "service_healthy" {
					t.Errorf("depends_on postgres: condition %q, want service_healthy (it has a healthcheck)", d.Condition)
				}
			}
			for _, p := range svc.Ports {
				if !strings.HasPrefix(p, "127.0.0.1:") {
					t.Errorf("port %q: publish on 127.0.0.1 only", p)
				}
			}
			for _, v := range svc.Volumes {
				vol, _, _ := strings.Cut(v, ":")
				if _, ok := c.Volumes[vol]; !ok {
					t.Errorf("volume %s is not declared", vol)
				}
			}
			if svc.Privileged {
				t.Error("privileged: no service needs it")
			}
			if name == "postgres" {
				if svc.Healthcheck == nil {
					t.Error("postgres: no healthcheck")
				}
				return
			}

			// srvmon's own services.
			if svc.Build == nil {
				t.Fatal("no build section")
			}
			ctx := filepath.Join(dir, svc.Build.Context)
			if ctx != root {
				t.Errorf("build.context %s is not the repository root", svc.Build.Context)
			}
			if _, err := os.Stat(filepath.Join(ctx, svc.Build.Dockerfile)); err != nil {
				t.Errorf("build.dockerfile: %v", err)
			}
			if !stages[svc.Build.Target] {
				t.Errorf("build.target %q is not a stage of docker/Dockerfile", svc.Build.Target)
			}
			if !svc.ReadOnly || !slices.Equal(svc.CapDrop, []string{"ALL"}) || !slices.Contains(svc.SecurityOpt, "no-new-privileges:true") {
				t.Errorf("want read_only, cap_drop [ALL] and no-new-privileges")
			}
			env := map[string]string{}
			for k, v := range svc.Environment {
				if env[k], err = interpolate(v); err != nil {
					t.Errorf("environment %s: %v", k, err)
				}
			}
			checkEnvNames(t, name, env)
			defaultDB := ""
			if name == "standalone" {
				defaultDB = "srvmon.db"
			}
			cfg := loadEnv(t, name, env, defaultDB)

			switch name {
			case "api", "checker":
				// DATABASE_URL reaches the postgres service as its user,
				// with its password, in its database.
				spec := cfg.StoreSpec()
				user, _ := interpolate(pg.Environment["POSTGRES_USER"])
				pass, _ := interpolate(pg.Environment["POSTGRES_PASSWORD"])
				db, _ := interpolate(pg.Environment["POSTGRES_DB"])
				want := fmt.Sprintf("postgres://%s:%s@postgres:5432/%s?sslmode=disable", user, pass, db)
				if spec.Kind != config.StorePostgres || spec.URL != want {
					t.Errorf("store %s, want %s", spec.Redacted(), want)
				}
				if raw := svc.Environment["DATABASE_URL"]; !strings.Contains(raw, pg.Environment["POSTGRES_PASSWORD"]) {
					t.Errorf("DATABASE_URL %q does not follow POSTGRES_PASSWORD %q", raw, pg.Environment["POSTGRES_PASSWORD"])
				}
				if _, ok := svc.DependsOn["postgres"]; !ok {
					t.Error("no depends_on postgres")
				}
			case "standalone":
				if !slices.Equal(svc.Profiles, []string{"standalone"}) {
					t.Errorf("profiles %q, want [standalone]", svc.Profiles)
				}
			}
			if name != "standalone" && len(svc.Profiles) > 0 {
				t.Errorf("profiles %q: only standalone is optional", svc.Profiles)
			}
			switch svc.Build.Target {
			case "api", "standalone":
				// They serve the web UI and API: basic auth comes from
				// the shell, as the README says.
				for _, k := range []string{"SRVMON_LISTEN_WEBAUTH_ENABLE", "SRVMON_LISTEN_WEBAUTH_USER", "SRVMON_LISTEN_WEBAUTH_PASSWORD"} {
					if !strings.HasPrefix(svc.Environment[k], "${"+k+":-") {
						t.Errorf("environment %s = %q: want it from the shell, ${%s:-default}", k, svc.Environment[k], k)
					}
				}
				if cfg.Listen.WebAuth.Enable {
					t.Error("basic auth is on with nothing set in the shell: the defaults must leave it off")
				}
			}
			switch svc.Build.Target {
			case "checker-loop", "standalone":
				// Both ping: unprivileged ICMP for the non-root user.
				if svc.Sysctls["net.ipv4.ping_group_range"] != "0 2147483647" {
					t.Errorf("sysctls: want net.ipv4.ping_group_range \"0 2147483647\" for ping targets")
				}
				// docker stop waits for the round in flight.
				if d, err := time.ParseDuration(svc.StopGracePeriod); err != nil || d < 2*cfg.Timeout()+30*time.Second {
					t.Errorf("stop_grace_period %q: want at least 2 x the probe timeout + 30 s", svc.StopGracePeriod)
				}
			}
		})
	}
	if c.Services["checker"].Build == nil || c.Services["checker"].Build.Target != "checker-loop" {
		t.Error("checker: want the checker-loop target, which runs a round every interval")
	}
	if c.Services["api"].Build == nil || c.Services["api"].Build.Target != "api" {
		t.Error("api: want the api target")
	}
}

// TestCheckerLoop runs docker/checker-loop.sh, with a stand-in for
// srvmon-checker that records its runs, and checks that it runs it once
// per interval, never before a boundary, and that SIGTERM reaches the run
// in flight and lets it finish before the loop exits 0.
func TestCheckerLoop(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repoRoot(t), "docker", "checker-loop.sh")
	if out, err := exec.Command(sh, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("sh -n checker-loop.sh: %v\n%s", err, out)
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	release := filepath.Join(dir, "release")
	fake := filepath.Join(dir, "srvmon-checker")
	// Each run logs its start (seconds.nanoseconds) and its argument;
	// from the third run on it waits for the test to release it, and logs
	// a SIGTERM it receives.
	err = os.WriteFile(fake, []byte(`#!/bin/sh
trap 'echo term >> "`+log+`"' TERM
echo "start $(date +%s.%N) $1" >> "`+log+`"
if [ "$(grep -c start "`+log+`")" -ge 3 ]; then
	while [ ! -e "`+release+`" ]; do sleep 0.05; done
fi
echo end >> "`+log+`"
`), 0o755)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(sh, script, fake, "-config=x")
	cmd.Env = append(os.Environ(), "SRVMON_CHECKS_INTERVAL=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		os.WriteFile(release, nil, 0o644)
	})

	lines := func() []string {
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(strings.Join(lines(), "\n"), "start") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 runs in 30 s; log %q; stderr %s", lines(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The third run is in flight: stop the loop as docker stop does.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !slices.Contains(lines(), "term") {
		if time.Now().After(deadline) {
			t.Fatalf("SIGTERM did not reach the run in flight; log %q", lines())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the loop exited (%v) before its run finished; log %q", err, lines())
	case <-time.After(200 * time.Millisecond):
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the loop exited with %v after SIGTERM, want 0; stderr %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the loop did not exit within 30 s of its run finishing")
	}

	var starts []float64
	for _, l := range lines() {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "start" {
			var s float64
			if _, err := fmt.Sscan(f[1], &s); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			if f[2] != "-config=x" {
				t.Errorf("run %d got argument %q, want -config=x", len(starts)+1, f[2])
			}
			starts = append(starts, s)
		}
	}
	assertEqual(t, "log", lines()[len(lines())-2:], []string{"term", "end"})
	if len(starts) != 3 {
		t.Fatalf("%d runs, want 3; log %q", len(starts), lines())
	}
	// One run per 1 s interval: each in a later second than the one
	// before, so each lands in a slot of its own.
	for i := 1; i < len(starts); i++ {
		if int64(starts[i]) <= int64(starts[i-1]) {
			t.Errorf("runs %d and %d started in the same second: %.3f, %.3f", i, i+1, starts[i-1], starts[i])
		}
	}
	if strings.Contains(stderr.String(), "exited with status") {
		t.Errorf("stderr: %s", stderr.String())
	}

	// A bad interval fails at once with one line.
	bad := exec.Command(sh, script, fake)
	bad.Env = append(os.Environ(), "SRVMON_CHECKS_INTERVAL=1m")
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "SRVMON_CHECKS_INTERVAL") {
		t.Errorf("SRVMON_CHECKS_INTERVAL=1m: %v, %q; want a failure that names it", err, out)
	}
	if !envNames()["SRVMON_CHECKS_INTERVAL"] {
		t.Error("checker-loop reads SRVMON_CHECKS_INTERVAL, which is no longer srvmon's interval")
	}
}
