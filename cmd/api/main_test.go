package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/srvmon/srvmon/internal/apiwire"
	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/internal/proctest"
	"github.com/srvmon/srvmon/pkg/api"
	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

var binary string

func TestMain(m *testing.M) { proctest.Main(m, "srvmon-api", &binary) }

// The API as a service on PostgreSQL: -init creates the schema, the server
// serves, SIGTERM drains it and it exits 0.
func TestServesPostgres(t *testing.T) {
	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(t), "SRVMON_LISTEN_ADDRESS=127.0.0.1", "SRVMON_LISTEN_PORT=0"}
	dir := t.TempDir()
	initCmd := exec.Command(binary, "-init")
	initCmd.Env = proctest.Env(env...)
	if out, err := initCmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "schema ready") {
		t.Fatalf("-init: %v\n%s", err, out)
	}

	p := proctest.Start(t, binary, dir, env, "srvmon api started")
	if code, body := p.Do(t, http.MethodPost, "/api/hosts", "127.0.0.1:22"); code != http.StatusCreated {
		t.Fatalf("add: %d %s", code, body)
	}
	code, body := p.Do(t, http.MethodGet, "/api/hosts", "")
	if code != http.StatusOK || strings.TrimSpace(body) != `["127.0.0.1:22"]` {
		t.Fatalf("hosts: %d %s", code, body)
	}
	if code, _ := p.Do(t, http.MethodGet, "/no/such/page", ""); code != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", code)
	}
	p.Stop(t)
}

func TestNeedsAStore(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run(context.Background(), nil, []string{}, &stdout, &stderr)
	if code == 0 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "DATABASE_URL") {
		t.Errorf("exit %d, stderr %q: want non-zero and one line naming DATABASE_URL", code, stderr.String())
	}
}

// gatewayHost is the Host that API Gateway sends to the API function.
const gatewayHost = "abc123.execute-api.eu-west-1.amazonaws.com"

// The handler through the Lambda adapters, payload 2.0 and 1.0: every
// response has a status, bodies and headers come through, and a change
// under the gateway's name is allowed (not refused as DNS rebinding).
func TestLambdaAdapters(t *testing.T) {
	cfg, err := config.Load(config.Source{JSON: `{"DB":{"Type":"memory"}}`})
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(apiwire.APIOptions(cfg, true, memory.New(), nil, app.NewLogger(os.Stderr, true)))
	ctx := context.Background()

	v2 := httpadapter.NewV2(h)
	post := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: "/api/hosts", Body: "http://127.0.0.1:8000/",
		Headers: map[string]string{"host": gatewayHost}, // allowed on Lambda only
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: gatewayHost,
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodPost, Path: "/api/hosts", SourceIP: "127.0.0.1"},
		},
	}
	resp, err := v2.ProxyWithContext(ctx, post)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("v2 POST /api/hosts: %d %q %v", resp.StatusCode, resp.Body, err)
	}
	get := post
	get.Body = ""
	get.RequestContext.HTTP.Method = http.MethodGet
	resp, err = v2.ProxyWithContext(ctx, get)
	var hosts []string
	if err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &hosts) != nil || len(hosts) != 1 {
		t.Fatalf("v2 GET /api/hosts: %d %q %v", resp.StatusCode, resp.Body, err)
	}

	v1 := httpadapter.New(h)
	resp1, err := v1.ProxyWithContext(ctx, events.APIGatewayProxyRequest{
		HTTPMethod: http.MethodGet, Path: "/api/checks/last", QueryStringParameters: map[string]string{"host": "127.0.0.1:9"},
		RequestContext: events.APIGatewayProxyRequestContext{Identity: events.APIGatewayRequestIdentity{SourceIP: "127.0.0.1"}},
	})
	if err != nil || resp1.StatusCode != http.StatusNotFound {
		t.Fatalf("v1 GET /api/checks/last of an unknown host: %d %q %v", resp1.StatusCode, resp1.Body, err)
	}
}

// The API and the checker share a PostgreSQL database: a bolt or ql file,
// which one process locks, is refused at start with one line.
func TestRefusesFileStores(t *testing.T) {
	for _, kind := range []string{"bolt", "ql"} {
		cmd := exec.Command(binary, "-confstr", `{"DB":{"Type":"`+kind+`","Database":"srvmon.db"}}`)
		cmd.Dir = t.TempDir()
		cmd.Env = proctest.Env()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil {
			t.Fatalf("%s: exited 0", kind)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "not available") || !strings.Contains(lines[0], "srvmon-standalone") {
			t.Errorf("%s: stderr %q, want one line that points to srvmon-standalone", kind, stderr.String())
		}
	}
}
