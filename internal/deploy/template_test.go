package deploy

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srvmon/srvmon/internal/app"
)

// The functions of template.yaml and the main package each one runs.
var lambdaFunctions = map[string]string{
	"CheckerFunction": "cmd/checker",
	"ApiFunction":     "cmd/api",
}

func templatePath(t *testing.T) string { return filepath.Join(repoRoot(t), "template.yaml") }

// ref and friends spell intrinsics in the long form the tests compare with.
func ref(name string) map[string]any { return map[string]any{"Ref": name} }

func fn(name string, args ...any) map[string]any {
	if len(args) == 1 {
		return map[string]any{"Fn::" + name: args[0]}
	}
	return map[string]any{"Fn::" + name: args}
}

func assertEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestTemplateFunctions(t *testing.T) {
	tpl := typedTemplate(t, templatePath(t))
	if tpl.Transform == nil || tpl.Transform.String == nil || *tpl.Transform.String != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform: want AWS::Serverless-2016-10-31")
	}
	fns := tpl.GetAllServerlessFunctionResources()
	var names []string
	for name := range fns {
		names = append(names, name)
	}
	slices.Sort(names)
	assertEqual(t, "functions", names, []string{"ApiFunction", "CheckerFunction"})

	for name, pkg := range lambdaFunctions {
		f, ok := fns[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			assertEqual(t, "Runtime", decodeIntrinsics(f.Runtime), "provided.al2023")
			assertEqual(t, "Architectures", f.Architectures, []string{"arm64"})
			assertEqual(t, "Handler", decodeIntrinsics(f.Handler), "bootstrap")
			if f.CodeUri == nil || f.CodeUri.String == nil || *f.CodeUri.String != "." {
				t.Errorf("CodeUri: want . (the repository root, where the Makefile is)")
			}
			assertEqual(t, "Metadata", f.AWSCloudFormationMetadata, map[string]any{"BuildMethod": "makefile"})
			if _, ok := release[pkg]; !ok {
				t.Errorf("%s runs %s, which is not a main package", name, pkg)
			}
			if f.MemorySize == nil || *f.MemorySize < 128 {
				t.Errorf("MemorySize %s: want at least 128", intOrNone(f.MemorySize))
			}
			if f.Environment == nil {
				t.Fatal("no Environment")
			}
			env := map[string]any{}
			for k, v := range f.Environment.Variables {
				env[k] = decodeIntrinsics(v)
			}
			assertEqual(t, "DATABASE_URL", env["DATABASE_URL"], fn("If", "UseSecret",
				fn("If", "SecretVersionPinned",
					fn("Sub", "{{resolve:secretsmanager:${DatabaseSecretArn}:SecretString:::${DatabaseSecretVersionId}}}"),
					fn("Sub", "{{resolve:secretsmanager:${DatabaseSecretArn}}}")),
				ref("DatabaseUrl")))
			assertEqual(t, "SRVMON_CHECKS_INTERVAL", env["SRVMON_CHECKS_INTERVAL"], ref("Interval"))
			assertEqual(t, "SRVMON_CHECKS_TIMEOUT", env["SRVMON_CHECKS_TIMEOUT"], ref("ProbeTimeout"))
			// The Fn::If is kept by the raw template (TestTemplateVPC);
			// here is its branch that sets the VPC.
			if f.VpcConfig == nil {
				t.Fatal("no VpcConfig")
			}
			assertEqual(t, "VpcConfig.SubnetIds", decodeIntrinsics(f.VpcConfig.SubnetIds), []any{ref("SubnetIds")})
			assertEqual(t, "VpcConfig.SecurityGroupIds", decodeIntrinsics(f.VpcConfig.SecurityGroupIds), []any{ref("SecurityGroupIds")})
		})
	}

	checker := fns["CheckerFunction"]
	if checker != nil {
		t.Run("CheckerFunction/timeout", func(t *testing.T) {
			// A round takes at most 2 x the probe timeout + 30 s
			// (pkg/round.Runner.Run); the function must outlast it.
			max := tpl.Parameters["ProbeTimeout"].MaxValue
			if max == nil {
				t.Fatal("ProbeTimeout has no MaxValue: the checker's timeout cannot be checked against it")
			}
			worst := 2*int(*max) + 30
			if checker.Timeout == nil || *checker.Timeout <= worst || *checker.Timeout > 900 {
				t.Errorf("Timeout %s: want above %d s (2 x ProbeTimeout's max + 30 s) and at most 900 s", intOrNone(checker.Timeout), worst)
			}
		})
		t.Run("CheckerFunction/retries", func(t *testing.T) {
			c := checker.EventInvokeConfig
			if c == nil || c.MaximumRetryAttempts == nil || *c.MaximumRetryAttempts < 1 {
				t.Errorf("EventInvokeConfig: a failed round (results not stored) must be retried")
			}
		})
		t.Run("CheckerFunction/events", func(t *testing.T) {
			assertEqual(t, "events", len(checker.Events), 1)
			for name, ev := range checker.Events {
				if ev.Type != "ScheduleV2" {
					t.Errorf("event %s: Type %q, want ScheduleV2", name, ev.Type)
				}
				// goformation v7.14.9 has no ScheduleV2 type: its
				// properties decode to nil; TestTemplateSchedule reads them
				// from the raw template. Should a later goformation decode
				// them, this says so.
				if ev.Properties != nil && ev.Properties.ScheduleEvent != nil {
					t.Logf("goformation now decodes ScheduleV2 properties: %+v", ev.Properties)
				}
			}
		})
	}

	api := fns["ApiFunction"]
	if api != nil {
		t.Run("ApiFunction/events", func(t *testing.T) {
			assertEqual(t, "events", len(api.Events), 1)
			for name, ev := range api.Events {
				if ev.Type != "HttpApi" {
					t.Fatalf("event %s: Type %q, want HttpApi", name, ev.Type)
				}
				if ev.Properties == nil || ev.Properties.HttpApiEvent == nil {
					t.Fatalf("event %s: no HttpApi properties", name)
				}
				p := ev.Properties.HttpApiEvent
				assertEqual(t, "ApiId", decodeIntrinsics(p.ApiId), ref("HttpApi"))
				assertEqual(t, "PayloadFormatVersion", decodeIntrinsics(p.PayloadFormatVersion), "2.0")
				// No Path and no Method is SAM's $default route: every
				// request, "/" included ({proxy+} would miss "/").
				if p.Path != nil || p.Method != nil {
					t.Errorf("Path %v, Method %v: want neither, for the $default (catch-all) route", p.Path, p.Method)
				}
			}
			if api.Timeout == nil || *api.Timeout > 30 {
				t.Errorf("Timeout %s: API Gateway waits 30 s at most", intOrNone(api.Timeout))
			}
			env := api.Environment.Variables
			assertEqual(t, "SRVMON_LISTEN_LAMBDAPAYLOAD", env["SRVMON_LISTEN_LAMBDAPAYLOAD"], "2.0")
			assertEqual(t, "SRVMON_LISTEN_WEBAUTH_ENABLE", decodeIntrinsics(env["SRVMON_LISTEN_WEBAUTH_ENABLE"]), fn("If", "WebAuth", "true", "false"))
			assertEqual(t, "SRVMON_LISTEN_WEBAUTH_USER", decodeIntrinsics(env["SRVMON_LISTEN_WEBAUTH_USER"]), ref("WebAuthUser"))
			assertEqual(t, "SRVMON_LISTEN_WEBAUTH_PASSWORD", decodeIntrinsics(env["SRVMON_LISTEN_WEBAUTH_PASSWORD"]), ref("WebAuthPassword"))
		})
	}

	t.Run("HttpApi", func(t *testing.T) {
		h, err := tpl.GetServerlessHttpApiWithName("HttpApi")
		if err != nil {
			t.Fatal(err)
		}
		assertEqual(t, "StageName", decodeIntrinsics(h.StageName), "$default")
	})

	t.Run("Outputs", func(t *testing.T) {
		out, ok := tpl.Outputs["ApiUrl"]
		if !ok {
			t.Fatal("no ApiUrl output")
		}
		assertEqual(t, "ApiUrl", decodeIntrinsics(out.Value),
			fn("Sub", "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"))
	})

	t.Run("Parameters", func(t *testing.T) {
		for name, typ := range map[string]string{
			"DatabaseUrl": "String", "DatabaseSecretArn": "String", "DatabaseSecretVersionId": "String",
			"Interval": "Number", "ProbeTimeout": "Number",
			"WebAuthUser": "String", "WebAuthPassword": "String",
			"SubnetIds": "CommaDelimitedList", "SecurityGroupIds": "CommaDelimitedList",
		} {
			p, ok := tpl.Parameters[name]
			if !ok {
				t.Errorf("no parameter %s", name)
				continue
			}
			if p.Type != typ {
				t.Errorf("parameter %s: Type %s, want %s", name, p.Type, typ)
			}
		}
		for _, secret := range []string{"DatabaseUrl", "WebAuthPassword"} {
			if p := tpl.Parameters[secret]; p.NoEcho == nil || !*p.NoEcho {
				t.Errorf("parameter %s must be NoEcho", secret)
			}
		}
		// NoEcho hides a value in CloudFormation only: in the functions'
		// environment it is plain text, and the description must say so.
		for _, secret := range []string{"DatabaseUrl", "DatabaseSecretArn", "WebAuthPassword"} {
			d := tpl.Parameters[secret].Description
			if d == nil || !strings.Contains(*d, "plain text") || !strings.Contains(*d, "lambda:GetFunctionConfiguration") {
				t.Errorf("parameter %s: the description must say that the value is readable in plain text with lambda:GetFunctionConfiguration", secret)
			}
		}
	})
}

func TestTemplateEnvironmentNames(t *testing.T) {
	tpl := rawTemplate(t, templatePath(t))
	mergeFunctionGlobals(tpl)
	for name := range lambdaFunctions {
		vars, _ := path(tpl, "Resources", name, "Properties", "Environment", "Variables").(map[string]any)
		if len(vars) == 0 {
			t.Errorf("%s: no environment", name)
		}
		env := map[string]string{}
		for k := range vars {
			env[k] = ""
		}
		checkEnvNames(t, name, env)
	}
}

// TestTemplateStacks evaluates the template for sets of parameters as
// CloudFormation would, and loads each function's configuration from the
// environment it gets, as the binary does on Lambda.
func TestTemplateStacks(t *testing.T) {
	tpl := rawTemplate(t, templatePath(t))
	const (
		dbURL     = "postgres://srvmon:secret@localhost:5432/srvmon?sslmode=disable"
		secretARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:srvmon-db-AbCdEf"
		version1  = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
		version2  = "a1b2c3d4-5678-90ab-cdef-EXAMPLE22222"
	)

	for _, tc := range []struct {
		name     string
		params   map[string]string
		database string // DATABASE_URL both functions get
		secret   string // the version id its secret reference names ("" for none)
		interval time.Duration
		timeout  time.Duration
		auth     bool
		vpc      bool
		location string
	}{
		{
			name:     "defaults",
			params:   map[string]string{"DatabaseUrl": dbURL},
			database: dbURL, interval: time.Minute, timeout: 10 * time.Second,
		},
		{
			name: "every parameter",
			params: map[string]string{
				"DatabaseUrl": dbURL, "Interval": "300", "ProbeTimeout": "5",
				"WebAuthUser": "admin", "WebAuthPassword": "pass word",
				"Location":  "aws-eu-central-1",
				"SubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1", "SecurityGroupIds": "sg-0123456789abcdef0",
			},
			database: dbURL, interval: 5 * time.Minute, timeout: 5 * time.Second,
			auth: true, vpc: true, location: "aws-eu-central-1",
		},
		{
			name:     "secret",
			params:   map[string]string{"DatabaseUrl": dbURL, "DatabaseSecretArn": secretARN},
			database: "{{resolve:secretsmanager:" + secretARN + "}}",
			interval: time.Minute, timeout: 10 * time.Second,
		},
		{
			name:     "secret version",
			params:   map[string]string{"DatabaseSecretArn": secretARN, "DatabaseSecretVersionId": version1},
			database: "{{resolve:secretsmanager:" + secretARN + ":SecretString:::" + version1 + "}}", secret: version1,
			interval: time.Minute, timeout: 10 * time.Second,
		},
		{
			name:     "secret rotated",
			params:   map[string]string{"DatabaseSecretArn": secretARN, "DatabaseSecretVersionId": version2},
			database: "{{resolve:secretsmanager:" + secretARN + ":SecretString:::" + version2 + "}}", secret: version2,
			interval: time.Minute, timeout: 10 * time.Second,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewStack(tpl, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CheckRules(); err != nil {
				t.Fatal(err)
			}
			for name := range lambdaFunctions {
				props, err := s.Function(name)
				if err != nil {
					t.Fatal(err)
				}
				env, err := s.FunctionEnvironment(name)
				if err != nil {
					t.Fatal(err)
				}
				if env["DATABASE_URL"] != tc.database {
					t.Errorf("%s: DATABASE_URL %q, want %q", name, env["DATABASE_URL"], tc.database)
				}
				vpc, hasVPC := props["VpcConfig"]
				if hasVPC != tc.vpc {
					t.Errorf("%s: VpcConfig %v, want it set: %v", name, vpc, tc.vpc)
				}
				if tc.vpc {
					want := map[string]any{
						"SubnetIds":        strings.Split(tc.params["SubnetIds"], ","),
						"SecurityGroupIds": strings.Split(tc.params["SecurityGroupIds"], ","),
					}
					assertEqual(t, name+" VpcConfig", vpc, want)
				}
				if ref, ok := strings.CutPrefix(env["DATABASE_URL"], "{{resolve:"); ok {
					// CloudFormation resolves the reference; here its form
					// is checked instead.
					if err := checkSecretReference("{{resolve:"+ref, secretARN, tc.secret); err != nil {
						t.Errorf("%s: DATABASE_URL: %v", name, err)
					}
					continue
				}
				env["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:9001" // as on Lambda; config ignores it
				cfg := loadEnv(t, name, env, "")
				if cfg.Interval() != tc.interval || cfg.Timeout() != tc.timeout {
					t.Errorf("%s: interval %v, timeout %v; want %v, %v", name, cfg.Interval(), cfg.Timeout(), tc.interval, tc.timeout)
				}
				if spec := cfg.StoreSpec(); spec.URL != dbURL {
					t.Errorf("%s: store %s, want PostgreSQL at DATABASE_URL", name, spec.Redacted())
				}
				switch name {
				case "ApiFunction":
					a := cfg.Listen.WebAuth
					if a.Enable != tc.auth {
						t.Errorf("WebAuth.Enable %v, want %v", a.Enable, tc.auth)
					}
					if tc.auth && (a.User != tc.params["WebAuthUser"] || a.Password != tc.params["WebAuthPassword"]) {
						t.Errorf("WebAuth %q:%q, want the parameters' %q:%q", a.User, a.Password, tc.params["WebAuthUser"], tc.params["WebAuthPassword"])
					}
					if cfg.LambdaPayload() != "2.0" {
						t.Errorf("LambdaPayload %q, want 2.0 (HTTP API)", cfg.LambdaPayload())
					}
				case "CheckerFunction":
					if cfg.Checks.Location != tc.location {
						t.Errorf("Location %q, want %q", cfg.Checks.Location, tc.location)
					}
				}
			}
		})
	}

	// The Rules refuse a stack that cannot work, before anything is made.
	for _, bad := range []map[string]string{
		{}, // no database
		{"DatabaseUrl": dbURL, "WebAuthUser": "admin"},                  // user without password
		{"DatabaseUrl": dbURL, "DatabaseSecretVersionId": version1},     // version of no secret
		{"DatabaseUrl": dbURL, "SubnetIds": "subnet-0123456789abcdef0"}, // subnets without security groups
		{"DatabaseUrl": dbURL, "SecurityGroupIds": "sg-0123456789abcdef0"},
	} {
		s, err := NewStack(tpl, bad)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CheckRules(); err == nil {
			t.Errorf("parameters %v: the Rules accept them", bad)
		}
	}
	// Parameter constraints.
	for _, bad := range []map[string]string{
		{"Interval": "45"},
		{"ProbeTimeout": "31"},
		{"DatabaseSecretArn": "srvmon-db"},
		{"DatabaseSecretArn": secretARN + ":SecretString"},
		{"DatabaseSecretVersionId": "AWSCURRENT"},
		{"DatabaseSecretVersionId": version1 + ":x"},
	} {
		if _, err := NewStack(tpl, bad); err == nil {
			t.Errorf("parameters %v: accepted", bad)
		}
	}
}

// checkSecretReference checks a Secrets Manager dynamic reference as
// CloudFormation reads it,
// {{resolve:secretsmanager:secret-id:SecretString:json-key:version-stage:version-id}}
// with an ARN as the secret-id: the secret arn, its whole SecretString
// (srvmon's secret is the URL as plain text, not JSON), no version stage,
// and version as the version id ("": the current version, every trailing
// segment left out).
func checkSecretReference(ref, arn, version string) error {
	inner, ok := strings.CutPrefix(ref, "{{resolve:secretsmanager:")
	if !ok || !strings.HasSuffix(inner, "}}") {
		return fmt.Errorf("%q is not a secretsmanager dynamic reference", ref)
	}
	inner = strings.TrimSuffix(inner, "}}")
	parts := strings.Split(inner, ":")
	// An ARN is 7 segments: arn:partition:secretsmanager:region:account:secret:name.
	const arnParts = 7
	if len(parts) < arnParts || strings.Join(parts[:arnParts], ":") != arn {
		return fmt.Errorf("%q: the secret-id is not %s", ref, arn)
	}
	rest := parts[arnParts:]
	if version == "" {
		if len(rest) != 0 {
			return fmt.Errorf("%q: want the versionless reference to the whole secret", ref)
		}
		return nil
	}
	want := []string{"SecretString", "", "", version}
	if !slices.Equal(rest, want) {
		return fmt.Errorf("%q: want SecretString, no JSON key, no version stage and version id %s; got %q", ref, version, rest)
	}
	return nil
}

func intOrNone(p *int) string {
	if p == nil {
		return "(none)"
	}
	return strconv.Itoa(*p)
}

// TestTemplateSchedule checks the checker's ScheduleV2 event on the raw
// template (goformation cannot decode it): one round per Interval, on the
// interval's boundaries, with the scheduled time as the event's "time" from
// which the checker takes its slot.
func TestTemplateSchedule(t *testing.T) {
	tpl := rawTemplate(t, templatePath(t))
	events, _ := path(tpl, "Resources", "CheckerFunction", "Properties", "Events").(map[string]any)
	if len(events) != 1 {
		t.Fatalf("CheckerFunction events: %v, want one ScheduleV2", events)
	}
	var props map[string]any
	for _, ev := range events {
		if path(ev, "Type") != "ScheduleV2" {
			t.Fatalf("event type %v, want ScheduleV2", path(ev, "Type"))
		}
		props, _ = path(ev, "Properties").(map[string]any)
	}
	assertEqual(t, "ScheduleExpression", props["ScheduleExpression"],
		fn("FindInMap", "IntervalSchedule", ref("Interval"), "Expression"))
	assertEqual(t, "ScheduleExpressionTimezone", props["ScheduleExpressionTimezone"], "UTC")
	assertEqual(t, "FlexibleTimeWindow", props["FlexibleTimeWindow"], map[string]any{"Mode": "OFF"})
	if path(props, "RetryPolicy", "MaximumRetryAttempts") == nil {
		t.Errorf("RetryPolicy: want the scheduler to retry a failed invocation")
	}

	// Input: the scheduled time, which the checker reads (app.EventTime).
	input, ok := props["Input"].(string)
	if !ok {
		t.Fatalf("Input %v: want a JSON string", props["Input"])
	}
	var in map[string]any
	if err := json.Unmarshal([]byte(input), &in); err != nil {
		t.Fatalf("Input %q: %v", input, err)
	}
	assertEqual(t, "Input", in, map[string]any{"time": "<aws.scheduler.scheduled-time>"})
	due := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	event := strings.ReplaceAll(input, "<aws.scheduler.scheduled-time>", due.Format(time.RFC3339))
	got, err := app.EventTime(json.RawMessage(event), due.Add(42*time.Second))
	if err != nil || !got.Equal(due) {
		t.Errorf("app.EventTime(%s) = %v, %v; want %v", event, got, err, due)
	}

	// Every allowed Interval has an expression firing exactly on its
	// boundaries.
	allowed, _ := path(tpl, "Parameters", "Interval", "AllowedValues").([]any)
	if len(allowed) == 0 {
		t.Fatal("Interval has no AllowedValues: the schedule cannot follow it")
	}
	mapping, _ := path(tpl, "Mappings", "IntervalSchedule").(map[string]any)
	if len(mapping) != len(allowed) {
		t.Errorf("IntervalSchedule has %d entries for %d allowed intervals", len(mapping), len(allowed))
	}
	for _, a := range allowed {
		seconds, _ := a.(int)
		expr, _ := path(mapping, fmt.Sprint(a), "Expression").(string)
		period, err := cronPeriod(expr)
		if err != nil {
			t.Errorf("Interval %v: %v", a, err)
			continue
		}
		if period != time.Duration(seconds)*time.Second {
			t.Errorf("Interval %v: %q fires every %v", a, expr, period)
		}
	}
}

// cronPeriod is the period of an EventBridge Scheduler cron expression
// that fires on the boundaries of a period of whole minutes or one hour:
// cron(* * * * ? *), cron(0/N * * * ? *), cron(0 * * * ? *).
func cronPeriod(expr string) (time.Duration, error) {
	inner, ok := strings.CutPrefix(expr, "cron(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return 0, fmt.Errorf("%q is not a cron expression", expr)
	}
	f := strings.Fields(strings.TrimSuffix(inner, ")"))
	if len(f) != 6 || f[2] != "*" || f[3] != "*" || f[4] != "?" || f[5] != "*" {
		return 0, fmt.Errorf("%q: want minutes and hours only, every day", expr)
	}
	switch {
	case f[0] == "*" && f[1] == "*":
		return time.Minute, nil
	case f[0] == "0" && f[1] == "*":
		return time.Hour, nil
	case strings.HasPrefix(f[0], "0/") && f[1] == "*":
		n, err := strconv.Atoi(f[0][2:])
		if err != nil || n < 1 || 60%n != 0 {
			return 0, fmt.Errorf("%q: minute step must divide 60", expr)
		}
		return time.Duration(n) * time.Minute, nil
	}
	return 0, fmt.Errorf("%q: not a fixed period", expr)
}

func TestTemplateVPC(t *testing.T) {
	tpl := rawTemplate(t, templatePath(t))
	assertEqual(t, "Globals.Function.VpcConfig", path(tpl, "Globals", "Function", "VpcConfig"),
		fn("If", "InVpc",
			map[string]any{"SubnetIds": ref("SubnetIds"), "SecurityGroupIds": ref("SecurityGroupIds")},
			ref("AWS::NoValue")))
	assertEqual(t, "Conditions.InVpc", path(tpl, "Conditions", "InVpc"),
		fn("Not", []any{fn("Equals", []any{fn("Join", []any{"", ref("SubnetIds")}), ""})}))
}

// TestTemplateLint runs cfn-lint, which also translates the SAM template
// the way AWS will. In CI it must run; elsewhere it may be missing, and
// then the test says so loudly.
func TestTemplateLint(t *testing.T) {
	lint := findTool("cfn-lint")
	if lint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("cfn-lint is not installed (pip install cfn-lint) and CI=true: template.yaml must be linted in CI")
		}
		t.Skip("SKIPPED LOUDLY: cfn-lint is not installed (pip install cfn-lint); template.yaml was NOT linted")
	}
	cmd := exec.Command(lint, "template.yaml")
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint template.yaml: %v\n%s", err, out)
	}
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("cfn-lint template.yaml passed with output:\n%s", out)
	}
	ver, _ := exec.Command(lint, "--version").Output()
	t.Logf("%s: template.yaml is clean", strings.TrimSpace(string(ver)))
}

// findTool looks a command up in PATH, then in pyenv's shims, where
// Python tools such as cfn-lint are found on this project's machines.
func findTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	var dirs []string
	if root := os.Getenv("PYENV_ROOT"); root != "" {
		dirs = append(dirs, filepath.Join(root, "shims"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".pyenv", "shims"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// TestMakefileLambdaBuild runs the Makefile targets that `sam build` runs
// (BuildMethod: makefile): make build-<Function> with ARTIFACTS_DIR in the
// environment. Its command must be go build with LambdaEnv and
// ReleaseFlags, of the function's main package, into the artifact's
// bootstrap; and what it builds is checked as the bootstrap that ships: a
// static, stripped linux/arm64 binary of that main package, built with
// those settings, within maxBytes.
func TestMakefileLambdaBuild(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is not installed and CI=true")
		}
		t.Skip("SKIPPED LOUDLY: make is not installed; the Makefile's Lambda targets were NOT built")
	}
	root := repoRoot(t)
	for name, pkg := range lambdaFunctions {
		t.Run(name, func(t *testing.T) {
			artifacts := t.TempDir()
			target := "build-" + name
			env := append(os.Environ(), "ARTIFACTS_DIR="+artifacts)

			dry := exec.Command("make", "-n", target)
			dry.Dir = root
			dry.Env = env
			out, err := dry.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n %s: %v\n%s", target, err, out)
			}
			var builds int
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				w, err := shellWords(line)
				if err != nil {
					t.Fatal(err)
				}
				n := len(LambdaEnv())
				if len(w) < n || !slices.Equal(w[:n], LambdaEnv()) {
					if slices.Contains(w, "build") {
						t.Errorf("make %s runs %q: want %q first", target, line, LambdaEnv())
					}
					continue
				}
				b, ok, err := parseGoBuild(w[n:])
				if err != nil || !ok {
					t.Fatalf("make %s runs %q: not one go build (%v)", target, line, err)
				}
				builds++
				if !slices.Equal(b.Flags, ReleaseFlags()) {
					t.Errorf("make %s: go build flags %q, want %q", target, b.Flags, ReleaseFlags())
				}
				if want := artifacts + "/bootstrap"; b.Output != want {
					t.Errorf("make %s: -o %s, want %s", target, b.Output, want)
				}
				if b.Package != "./"+pkg {
					t.Errorf("make %s builds %s, want ./%s", target, b.Package, pkg)
				}
			}
			if builds != 1 {
				t.Fatalf("make %s runs %d go builds with LambdaEnv, want 1:\n%s", target, builds, out)
			}

			build := exec.Command("make", target)
			build.Dir = root
			build.Env = env
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("make %s: %v\n%s", target, err, out)
			}
			goos, goarch := "", ""
			for _, kv := range LambdaEnv() {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "GOOS":
					goos = v
				case "GOARCH":
					goarch = v
				}
			}
			checkShipped(t, filepath.Join(artifacts, "bootstrap"), pkg, goos, goarch)
		})
	}
}

// checkShipped fails the test unless bin is a binary as srvmon ships it:
// of the main package pkg, for goos/goarch (its ELF machine too), built
// with ReleaseFlags and ReleaseEnv (as its build info records them),
// static, stripped (no symbol table, no DWARF), at most maxBytes, and
// without any of unshippedModules.
func checkShipped(t *testing.T, bin, pkg, goos, goarch string) {
	t.Helper()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != "github.com/srvmon/srvmon/"+pkg {
		t.Errorf("%s is %s, want %s", filepath.Base(bin), info.Path, pkg)
	}
	got := map[string]string{}
	for _, s := range info.Settings {
		got[s.Key] = s.Value
	}
	for _, dep := range info.Deps {
		if slices.Contains(unshippedModules, dep.Path) {
			t.Errorf("%s links %s", pkg, dep.Path)
		}
	}
	want := map[string]string{"GOOS": goos, "GOARCH": goarch}
	for _, kv := range ReleaseEnv() {
		k, v, _ := strings.Cut(kv, "=")
		want[k] = v
	}
	for _, f := range ReleaseFlags() {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			v = "true" // a boolean flag: -trimpath
		}
		if k == "-ldflags" {
			// Not recorded with -trimpath; -s -w is checked on the ELF
			// file below.
			continue
		}
		want[k] = v
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s built with %s=%q, want %q", pkg, k, got[k], v)
		}
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if m, ok := elfMachine(goarch); !ok || f.Machine != m {
		t.Errorf("%s: ELF machine %v, want %s's", pkg, f.Machine, goarch)
	}
	if syms, err := f.Symbols(); len(syms) > 0 || !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("%s has a symbol table (%d symbols): not stripped", pkg, len(syms))
	}
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("%s has DWARF (%s): not stripped", pkg, s.Name)
		}
	}
	checkStatic(t, bin)

	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if limit := maxBytes(pkg); float64(st.Size()) > limit {
		t.Errorf("%s (%s/%s) is %.2f MB stripped, over its bound of %.1f MB", pkg, goos, goarch, float64(st.Size())/1e6, limit/1e6)
	} else {
		t.Logf("%s (%s/%s): %.2f MB stripped", pkg, goos, goarch, float64(st.Size())/1e6)
	}
}

// unshippedModules are modules that no binary may link (the build info's
// Deps: the modules of the packages linked in, as go list -deps lists
// them). client_golang and what it brings cost every binary about 2 MiB
// of idle memory, mostly pages of the binary that their package inits
// touch: pkg/promtext writes /metrics instead, and only tests read the
// text format back with prometheus/common (promtexttest).
var unshippedModules = []string{
	"github.com/prometheus/client_golang",
	"github.com/prometheus/client_model",
	"github.com/prometheus/common",
	"github.com/prometheus/procfs",
	"google.golang.org/protobuf",
}

// elfMachine is the ELF machine of a GOARCH srvmon is built for.
func elfMachine(goarch string) (elf.Machine, bool) {
	switch goarch {
	case "amd64":
		return elf.EM_X86_64, true
	case "arm64":
		return elf.EM_AARCH64, true
	}
	return 0, false
}

// checkStatic fails the test unless bin is a statically linked ELF binary
// (no interpreter, no shared libraries): it runs on distroless, scratch
// and provided.al2023 alike.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (it has an ELF interpreter)", filepath.Base(bin))
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", filepath.Base(bin), libs)
	}
}

// TestMakefileBuild checks that make build builds every main package under
// cmd/ with the release flags (those of the Dockerfile and of TestMain) into
// bin/srvmon-NAME, which the units and the crontab line run.
func TestMakefileBuild(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is not installed and CI=true")
		}
		t.Skip("SKIPPED LOUDLY: make is not installed; the Makefile was NOT checked")
	}
	cmd := exec.Command("make", "-n", "build")
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	var pkgs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		w, err := shellWords(line)
		if err != nil {
			t.Fatal(err)
		}
		n := len(ReleaseEnv())
		if len(w) < n || !slices.Equal(w[:n], ReleaseEnv()) {
			t.Errorf("make build runs %q: want %q go build ...", line, ReleaseEnv())
			continue
		}
		b, ok, err := parseGoBuild(w[n:])
		if err != nil || !ok {
			t.Fatalf("make build runs %q: %v", line, err)
		}
		pkg := strings.TrimPrefix(b.Package, "./")
		pkgs = append(pkgs, pkg)
		if !slices.Equal(b.Flags, ReleaseFlags()) {
			t.Errorf("make build: %s with %q, want %q", pkg, b.Flags, ReleaseFlags())
		}
		if want := "bin/srvmon-" + filepath.Base(pkg); b.Output != want {
			t.Errorf("make build: %s into %s, want %s", pkg, b.Output, want)
		}
	}
	slices.Sort(pkgs)
	want, err := mainPackages()
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "packages make build builds", pkgs, want)
}
