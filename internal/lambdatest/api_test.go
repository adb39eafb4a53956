package lambdatest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/postgres/pgtest"
)

// The API function with the environment template.yaml gives it when
// WebAuthUser and WebAuthPassword are set: reads stay open; a change or a
// backup without the credentials, or with wrong ones, gets 401 with a
// Basic challenge and changes nothing; with them it is made.
func TestAPIWebAuth(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	const user, password = "admin", "pass word"
	e := startEmulator(t, apiBoot, templateEnv(t, "ApiFunction", map[string]string{
		"DatabaseUrl": db, "WebAuthUser": user, "WebAuthPassword": password,
	})...)
	st := openStore(t, db)
	const host = "127.0.0.1:5432"
	var stored []string // the hosts the database must hold after each step
	for _, tc := range []struct {
		name, method, target, body string
		auth                       []string // the Authorization header, if any
		status                     int
	}{
		{"list, no credentials", http.MethodGet, "/api/hosts", "", nil, http.StatusOK},
		{"add, no credentials", http.MethodPost, "/api/hosts", host, nil, http.StatusUnauthorized},
		{"add, wrong password", http.MethodPost, "/api/hosts", host, basicAuth(user, password+"x"), http.StatusUnauthorized},
		{"add, wrong user", http.MethodPost, "/api/hosts", host, basicAuth("root", password), http.StatusUnauthorized},
		{"add, not basic", http.MethodPost, "/api/hosts", host, []string{"Authorization", "Bearer " + password}, http.StatusUnauthorized},
		{"backup, no credentials", http.MethodGet, "/api/backup_full", "", nil, http.StatusUnauthorized},
		{"add, credentials", http.MethodPost, "/api/hosts", host, basicAuth(user, password), http.StatusCreated},
		{"list after adding, no credentials", http.MethodGet, "/api/hosts", "", nil, http.StatusOK},
		{"backup, credentials", http.MethodGet, "/api/backup_full", "", basicAuth(user, password), http.StatusOK},
	} {
		resp := e.Request(t, tc.method, tc.target, tc.body, tc.auth...)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s %s: %d %q, want %d", tc.name, tc.method, tc.target, resp.StatusCode, resp.Body, tc.status)
		}
		if challenge := header(resp, "WWW-Authenticate"); (resp.StatusCode == http.StatusUnauthorized) != strings.HasPrefix(challenge, "Basic ") {
			t.Errorf("%s: %d with WWW-Authenticate %q; want a Basic challenge with a 401 only", tc.name, resp.StatusCode, challenge)
		}
		if tc.status == http.StatusCreated {
			stored = append(stored, host)
		}
		if hosts, err := st.Hosts(context.Background()); err != nil || !slices.Equal(hosts, stored) {
			t.Fatalf("%s: stored hosts %q (%v), want %q", tc.name, hosts, err, stored)
		}
		switch tc.target {
		case "/api/hosts":
			var listed []string
			if tc.method == http.MethodGet && (json.Unmarshal([]byte(resp.Body), &listed) != nil || !slices.Equal(listed, stored)) {
				t.Errorf("%s: listed %q, want %q", tc.name, resp.Body, stored)
			}
		case "/api/backup_full":
			var backup struct{ Hosts []string }
			if resp.StatusCode == http.StatusOK && (json.Unmarshal([]byte(resp.Body), &backup) != nil || !slices.Equal(backup.Hosts, stored)) {
				t.Errorf("%s: backup %q, want the hosts %q", tc.name, resp.Body, stored)
			}
		}
	}
}

// basicAuth is the Authorization header of HTTP basic authentication, as
// Request's header arguments.
func basicAuth(user, password string) []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}
}

// header is a response header, its name in any case.
func header(resp events.APIGatewayV2HTTPResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// wantResponse fails the test unless resp has the status and a
// Content-Type that starts with contentType.
func wantResponse(t *testing.T, what string, resp events.APIGatewayV2HTTPResponse, status int, contentType string) {
	t.Helper()
	if resp.StatusCode != status || !strings.HasPrefix(resp.Headers["Content-Type"], contentType) {
		t.Fatalf("%s: %d %q %q; want %d %s", what, resp.StatusCode, resp.Headers["Content-Type"], resp.Body, status, contentType)
	}
}

// The API function under the emulator, with the environment template.yaml
// gives it (no basic auth), on PostgreSQL, through HTTP API payload 2.0
// events: hosts listed and added, a gosrvmon backup restored, its checks
// read back as JSON and as a chart, the full backup exported; bad requests
// get their 4xx; every change is in the database.
func TestAPI(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	e := startEmulator(t, apiBoot, templateEnv(t, "ApiFunction", map[string]string{"DatabaseUrl": db})...)

	// The first request starts the bootstrap, whose init creates the schema.
	resp := e.Request(t, http.MethodGet, "/api/hosts", "")
	wantResponse(t, "GET /api/hosts", resp, http.StatusOK, "application/json")
	if strings.TrimSpace(resp.Body) != "[]" {
		t.Fatalf("hosts of a new database: %q, want []", resp.Body)
	}
	st := openStore(t, db)
	ctx := context.Background()

	const added = "http://127.0.0.1:8080/health"
	resp = e.Request(t, http.MethodPost, "/api/hosts", added, "Content-Type", "text/plain")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/hosts: %d %q, want 201", resp.StatusCode, resp.Body)
	}
	if hosts, err := st.Hosts(ctx); err != nil || !slices.Equal(hosts, []string{added}) {
		t.Fatalf("stored hosts after adding %s: %q, %v", added, hosts, err)
	}

	for _, tc := range []struct {
		name, method, target, body string
		headers                    []string
		status                     int
		reason                     string // in the one-line body
	}{
		{"existing host", http.MethodPost, "/api/hosts", added, nil, http.StatusConflict, "already exists"},
		{"bad target", http.MethodPost, "/api/hosts", "foo bar", nil, http.StatusBadRequest, "white space"},
		{"cross-site form post", http.MethodPost, "/api/hosts", "127.0.0.1:22",
			[]string{"Origin", "https://127.0.0.2", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, ""},
		{"unknown host", http.MethodGet, "/api/checks?host=127.0.0.1:9", "", nil, http.StatusNotFound, "unknown host"},
		{"bad range", http.MethodGet, "/api/checks?host=" + url.QueryEscape(added) + "&start=soon", "", nil, http.StatusBadRequest, "not a time"},
		{"unknown path", http.MethodGet, "/no/such/page", "", nil, http.StatusNotFound, ""},
	} {
		resp := e.Request(t, tc.method, tc.target, tc.body, tc.headers...)
		reason := strings.TrimSuffix(resp.Body, "\n")
		if resp.StatusCode != tc.status || !strings.Contains(reason, tc.reason) || strings.Contains(reason, "\n") {
			t.Errorf("%s: %s %s: %d %q; want %d and one line with %q", tc.name, tc.method, tc.target, resp.StatusCode, resp.Body, tc.status, tc.reason)
		}
	}
	if hosts, err := st.Hosts(ctx); err != nil || !slices.Equal(hosts, []string{added}) {
		t.Fatalf("stored hosts after refused requests: %q, %v", hosts, err)
	}

	// A backup as gosrvmon writes it: checks a minute apart, one time with
	// a zone offset as bolt-backed gosrvmon writes them, a host without
	// checks (null) and a notification rule.
	const (
		restored  = "127.0.0.1:5432"
		quiet     = "http://127.0.0.1:9/"
		action    = "http://127.0.0.1:9/notify?host={HOST}&state={STATE}"
		backupDoc = `{"hosts":["127.0.0.1:5432","http://127.0.0.1:9/"],` +
			`"notifications":[{"host":"127.0.0.1:5432","threshold":2,"action":"http://127.0.0.1:9/notify?host={HOST}\u0026state={STATE}"}],` +
			`"checks":{"127.0.0.1:5432":[` +
			`{"time":"2025-03-14T15:00:00Z","rtt":1500000,"up":true},` +
			`{"time":"2025-03-14T15:01:00Z","rtt":0,"up":false},` +
			`{"time":"2025-03-14T16:02:00+01:00","rtt":2500000,"up":true},` +
			`{"time":"2025-03-14T15:03:00Z","rtt":3500000,"up":true}],` +
			`"http://127.0.0.1:9/":null}}`
	)
	t0 := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	want := []store.Check{
		{Time: t0, RTT: 1500 * time.Microsecond, Up: true},
		{Time: t0.Add(time.Minute), Up: false},
		{Time: t0.Add(2 * time.Minute), RTT: 2500 * time.Microsecond, Up: true},
		{Time: t0.Add(3 * time.Minute), RTT: 3500 * time.Microsecond, Up: true},
	}
	resp = e.Request(t, http.MethodPost, "/api/backup_full", backupDoc, "Content-Type", "application/json")
	wantResponse(t, "POST /api/backup_full", resp, http.StatusOK, "application/json")
	var counts struct{ Hosts, Notifications, Checks int }
	if err := json.Unmarshal([]byte(resp.Body), &counts); err != nil || counts.Hosts != 2 || counts.Notifications != 1 || counts.Checks != len(want) {
		t.Errorf("restore answered %q (%v), want 2 hosts, 1 notification, %d checks", resp.Body, err, len(want))
	}

	// What the restore stored, read through the store.
	hosts, err := st.Hosts(ctx)
	if err != nil || !slices.Equal(hosts, []string{restored, added, quiet}) {
		t.Errorf("stored hosts after the restore: %q, %v", hosts, err)
	}
	if rules, err := st.Rules(ctx); err != nil || !reflect.DeepEqual(rules, []store.Rule{{Host: restored, Threshold: 2, Action: action}}) {
		t.Errorf("stored rules after the restore: %+v, %v", rules, err)
	}
	var stored []store.Check
	for _, r := range results(t, st, restored) {
		if r.Location != "" || r.Reason != "" {
			t.Errorf("restored result %+v: want no location and no reason", r)
		}
		stored = append(stored, store.Check{Time: r.Slot, RTT: r.RTT, Up: r.Up})
	}
	if !checksEqual(stored, want) {
		t.Errorf("stored results of %s:\n got %+v\nwant %+v", restored, stored, want)
	}
	if rs := results(t, st, quiet); len(rs) != 0 {
		t.Errorf("%s has no checks in the backup, stored %+v", quiet, rs)
	}

	// The checks and the chart of the restored host.
	span := "host=" + url.QueryEscape(restored) + "&start=" + strconv.FormatInt(t0.Unix(), 10) + "&end=" + strconv.FormatInt(t0.Add(4*time.Minute).Unix(), 10)
	resp = e.Request(t, http.MethodGet, "/api/checks?"+span, "")
	wantResponse(t, "GET /api/checks", resp, http.StatusOK, "application/json")
	var got []store.Check
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || !checksEqual(got, want) {
		t.Errorf("GET /api/checks: %q (%v)\nwant %+v", resp.Body, err, want)
	}

	resp = e.Request(t, http.MethodGet, "/web/checks/svg?"+span, "")
	wantResponse(t, "GET /web/checks/svg", resp, http.StatusOK, "image/svg+xml")
	root, stat, err := parseSVG(resp.Body)
	if err != nil || root != "svg" {
		t.Fatalf("chart: root <%s>, %v; body:\n%s", root, err, resp.Body)
	}
	// Three checks up of four, the whole range covered.
	if wantStat := regexp.MustCompile(`^Host: ` + regexp.QuoteMeta(restored) + ` Up 75\.00% Down 25\.00% Unknown 0\.00%`); !wantStat.MatchString(stat) {
		t.Errorf("chart statistics %q, want them to match %s", stat, wantStat)
	}

	// The full backup, streamed through the adapter, has everything.
	resp = e.Request(t, http.MethodGet, "/api/backup_full", "")
	wantResponse(t, "GET /api/backup_full", resp, http.StatusOK, "application/json")
	var backup struct {
		Hosts         []string
		Notifications []store.Rule
		Checks        map[string][]store.Check
	}
	if err := json.Unmarshal([]byte(resp.Body), &backup); err != nil ||
		!slices.Equal(backup.Hosts, []string{restored, added, quiet}) || len(backup.Notifications) != 1 ||
		!checksEqual(backup.Checks[restored], want) || len(backup.Checks[added]) != 0 {
		t.Errorf("GET /api/backup_full: %v\n%s", err, resp.Body)
	}

	// On Lambda the function logs JSON; its init says so.
	if _, ok := jsonLogLine(e.FunctionLog(), "srvmon api on Lambda"); !ok {
		t.Errorf("no JSON log line \"srvmon api on Lambda\" from the function; its log:\n%s", strings.Join(e.FunctionLog(), "\n"))
	}
}

// checksEqual compares checks by value, times as instants.
func checksEqual(a, b []store.Check) bool {
	return slices.EqualFunc(a, b, func(x, y store.Check) bool {
		return x.Time.Equal(y.Time) && x.RTT == y.RTT && x.Up == y.Up && x.Error == y.Error
	})
}

// parseSVG parses doc as XML and returns its root element's name and the
// text of its <text class="stat"> element.
func parseSVG(doc string) (root, stat string, err error) {
	dec := xml.NewDecoder(strings.NewReader(doc))
	depth, inStat := 0, false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if root == "" {
				return "", "", errors.New("no element")
			}
			return root, stat, nil
		}
		if err != nil {
			return root, stat, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if root != "" {
					return root, stat, errors.New("a second root element")
				}
				root = tok.Name.Local
			}
			depth++
			for _, a := range tok.Attr {
				if tok.Name.Local == "text" && a.Name.Local == "class" && a.Value == "stat" {
					inStat = true
				}
			}
		case xml.EndElement:
			depth--
			inStat = false
		case xml.CharData:
			if inStat {
				stat += string(tok)
			}
		}
	}
}
