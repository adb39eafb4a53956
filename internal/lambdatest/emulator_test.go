package lambdatest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/srvmon/srvmon/internal/deploy"
	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/round"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres"
)

// The binaries TestMain builds: the emulator and one bootstrap per
// function, each named bootstrap in a directory of its own, as in a
// Lambda deployment package. Set once, before the tests run.
var emulatorBin, checkerBoot, apiBoot string

const (
	emulatorPkg = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	checkerPkg  = "github.com/srvmon/srvmon/cmd/checker"
	apiPkg      = "github.com/srvmon/srvmon/cmd/api"
	// functionTimeout is AWS_LAMBDA_FUNCTION_TIMEOUT, seconds, of every
	// function here.
	functionTimeout = 30
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "srvmon-lambdatest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := buildAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildAll builds the emulator and both bootstraps into dir, at once (the
// emulator takes about 25 s when it is not cached yet).
func buildAll(dir string) error {
	builds := []struct {
		dst        *string
		sub, pkg   string
		env, flags []string
	}{
		{&emulatorBin, "emulator", emulatorPkg, nil, nil},
		// As they ship (the Makefile's build-<Function> targets, which
		// sam build runs), but for this machine: Lambda runs them on
		// arm64.
		{&checkerBoot, "checker", checkerPkg, deploy.ReleaseEnv(), deploy.ReleaseFlags()},
		{&apiBoot, "api", apiPkg, deploy.ReleaseEnv(), deploy.ReleaseFlags()},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Go(func() {
			sub := filepath.Join(dir, b.sub)
			if err := os.Mkdir(sub, 0o755); err != nil {
				errs[i] = err
				return
			}
			name := "bootstrap"
			if b.sub == "emulator" {
				name = "aws-lambda-rie"
			}
			*b.dst, errs[i] = proctest.BuildPackage(sub, name, b.pkg, b.env, b.flags...)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// emulator is one bootstrap running under the Runtime Interface Emulator.
type emulator struct {
	proc *proctest.Process
	// url is where the emulator takes invocations.
	url    string
	client *http.Client
	// mu serialises invocations: the emulator serves one at a time, and a
	// second one in flight crashes it.
	mu       sync.Mutex
	requests atomic.Int64 // API requests sent, for their ids
	stop     sync.Once
}

// Stop stops the emulator, if it runs still: on SIGTERM it kills the
// function, then exits 0.
func (e *emulator) Stop(tb testing.TB) {
	tb.Helper()
	e.stop.Do(func() { e.proc.Stop(tb) })
}

// startEmulator runs bootstrap under the emulator, both of its servers on
// loopback ports of their own, with env as the function's own variables,
// and returns once the emulator listens (the bootstrap itself starts with
// the first invocation, as on Lambda). The emulator, and with it the
// function, is stopped when the test ends.
//
// The function sees the variables Lambda sets and env, and nothing of the
// test's environment but PATH, so that a developer's SRVMON_* settings
// cannot change what is tested.
func startEmulator(tb testing.TB, bootstrap string, env ...string) *emulator {
	tb.Helper()
	addr, runtimeAddr := freeAddr(tb), freeAddr(tb)
	dir := filepath.Dir(bootstrap)
	cmd := exec.Command(emulatorBin,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", runtimeAddr,
		"./"+filepath.Base(bootstrap))
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_FUNCTION_NAME=srvmon-" + filepath.Base(dir),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(functionTimeout),
		"AWS_REGION=us-east-1",
		"LAMBDA_TASK_ROOT=" + dir,
		"TZ=:UTC",
		"_HANDLER=bootstrap",
	}, env...)
	p := proctest.StartCmd(tb, cmd, "exec './bootstrap'")
	e := &emulator{
		proc:   p,
		url:    "http://" + addr + "/2015-03-31/functions/function/invocations",
		client: &http.Client{Timeout: time.Duration(functionTimeout+15) * time.Second},
	}
	tb.Cleanup(func() { e.Stop(tb) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return e
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the emulator does not listen on %s after 30 s: %v; its log:\n%s", addr, err, p.Drain())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// answer is the emulator's answer to an invocation.
type answer struct {
	Status int
	Body   []byte
}

// Invoke sends one event as a synchronous invocation and returns the
// emulator's answer: the function's response; for an error the function
// returned, {"errorMessage","errorType"} (also with status 200); 502 with
// an empty body when the function's process exited. A timed-out
// invocation (200 with plain text) fails the test.
func (e *emulator) Invoke(tb testing.TB, event any) answer {
	tb.Helper()
	payload, err := json.Marshal(event)
	if err != nil {
		tb.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	resp, err := e.client.Post(e.url, "application/json", bytes.NewReader(payload))
	if err != nil {
		tb.Fatalf("invoke: %v; the emulator's log:\n%s", err, e.proc.Drain())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("invoke: read the answer: %v", err)
	}
	e.proc.Drain() // keep the emulator's output flowing
	if bytes.HasPrefix(body, []byte("Task timed out")) {
		tb.Fatalf("invocation timed out: %s; the emulator's log:\n%s", body, e.proc.Log())
	}
	return answer{resp.StatusCode, body}
}

// Log is everything the emulator and the function wrote so far.
func (e *emulator) Log() string { return e.proc.Drain() }

// WaitLog waits until the emulator or the function has written s (at
// most 10 s): an answer can come back before the output written until
// then has been read.
func (e *emulator) WaitLog(tb testing.TB, s string) {
	tb.Helper()
	if !strings.Contains(e.Log(), s) {
		e.proc.WaitFor(tb, s, 10*time.Second)
	}
}

// emulatorLine matches what the emulator itself writes, as opposed to what
// the function writes: its own log and its per-invocation report lines.
var emulatorLine = regexp.MustCompile(`^(\d\d \w{3} \d{4} \d\d:\d\d:\d\d,\d+ \[\w+\] |(START|END|REPORT) RequestId: )`)

// FunctionLog is the lines the function wrote so far (stdout and stderr).
func (e *emulator) FunctionLog() []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(e.Log()))
	for sc.Scan() {
		if !emulatorLine.MatchString(sc.Text()) {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

// functionError decodes the answer to an invocation whose handler
// returned an error; it fails the test for any other answer.
func functionError(tb testing.TB, a answer) messages.InvokeResponse_Error {
	tb.Helper()
	var fe messages.InvokeResponse_Error
	if a.Status != http.StatusOK || json.Unmarshal(a.Body, &fe) != nil || fe.Message == "" {
		tb.Fatalf("want a function error, got %d %s", a.Status, a.Body)
	}
	return fe
}

// gatewayDomain is the name API Gateway gives an API.
const gatewayDomain = "abc123.execute-api.eu-west-1.amazonaws.com"

// Request sends one HTTP request to the API function as API Gateway's
// HTTP API does (payload 2.0, $default stage, catch-all route) and
// returns its response with the body decoded.
func (e *emulator) Request(tb testing.TB, method, target, body string, headers ...string) events.APIGatewayV2HTTPResponse {
	tb.Helper()
	id := e.requests.Add(1)
	path, query, _ := strings.Cut(target, "?")
	h := map[string]string{"host": gatewayDomain, "user-agent": "srvmon-lambdatest", "accept": "*/*"}
	if body != "" {
		h["content-length"] = strconv.Itoa(len(body))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		h[strings.ToLower(headers[i])] = headers[i+1]
	}
	var params map[string]string
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			tb.Fatal(err)
		}
		params = map[string]string{}
		for k, v := range q {
			params[k] = strings.Join(v, ",") // as API Gateway joins repeated parameters
		}
	}
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              "$default",
		RawPath:               path,
		RawQueryString:        query,
		Headers:               h,
		QueryStringParameters: params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "$default",
			AccountID:    "123456789012",
			Stage:        "$default",
			RequestID:    fmt.Sprintf("lambdatest-%d", id),
			APIID:        "lambdatest",
			DomainName:   gatewayDomain, // the Host the API sees, as on AWS
			DomainPrefix: "abc123",
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    method,
				Path:      path,
				Protocol:  "HTTP/1.1",
				SourceIP:  "127.0.0.1",
				UserAgent: "srvmon-lambdatest",
			},
		},
		Body: body,
	}
	a := e.Invoke(tb, ev)
	var resp events.APIGatewayV2HTTPResponse
	if a.Status != http.StatusOK || json.Unmarshal(a.Body, &resp) != nil || resp.StatusCode == 0 {
		tb.Fatalf("%s %s: the emulator answered %d %s; its log:\n%s", method, target, a.Status, a.Body, e.Log())
	}
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			tb.Fatalf("%s %s: base64 body: %v", method, target, err)
		}
		resp.Body, resp.IsBase64Encoded = string(b), false
	}
	return resp
}

// templateEnv is the environment template.yaml gives the function name
// (CheckerFunction, ApiFunction) in a stack with params, as
// internal/deploy evaluates it; the test fails if the template's Rules
// refuse params.
func templateEnv(tb testing.TB, name string, params map[string]string) []string {
	tb.Helper()
	tpl, err := deploy.ReadTemplate(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := deploy.NewStack(tpl, params)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.CheckRules(); err != nil {
		tb.Fatalf("template.yaml with %v: %v", params, err)
	}
	vars, err := s.FunctionEnvironment(name)
	if err != nil {
		tb.Fatal(err)
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// scheduledEvent is what an EventBridge rule sends on schedule.
func scheduledEvent(at time.Time) events.EventBridgeEvent {
	return events.EventBridgeEvent{
		Version:    "0",
		ID:         "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
		DetailType: "Scheduled Event",
		Source:     "aws.events",
		AccountID:  "123456789012",
		Time:       at,
		Region:     "us-east-1",
		Resources:  []string{"arn:aws:events:us-east-1:123456789012:rule/srvmon-checker"},
		Detail:     json.RawMessage(`{}`),
	}
}

// roundSummary decodes a successful checker invocation's answer.
func roundSummary(tb testing.TB, a answer) round.Summary {
	tb.Helper()
	var sum round.Summary
	if a.Status != http.StatusOK || json.Unmarshal(a.Body, &sum) != nil || sum.Slot.IsZero() {
		tb.Fatalf("want a round summary, got %d %s", a.Status, a.Body)
	}
	return sum
}

// openStore opens the database at url as a store, for the test to look
// into what the functions stored.
func openStore(tb testing.TB, url string) store.Store {
	tb.Helper()
	st, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// results returns every stored result of host.
func results(tb testing.TB, st store.Store, host string) []store.Result {
	tb.Helper()
	var rs []store.Result
	err := st.Results(context.Background(), host, time.Unix(0, 0), time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC), func(r store.Result) error {
		rs = append(rs, r)
		return nil
	})
	if err != nil {
		tb.Fatalf("results of %s: %v", host, err)
	}
	return rs
}

// jsonLogLine returns the first line of lines that is a JSON object whose
// "msg" is msg, decoded.
func jsonLogLine(lines []string, msg string) (map[string]any, bool) {
	for _, l := range lines {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			return m, true
		}
	}
	return nil, false
}
