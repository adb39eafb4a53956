package api

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/bolt"
	"github.com/srvmon/srvmon/pkg/store/memory"
	"github.com/srvmon/srvmon/pkg/store/ql"
)

// backend opens a fresh, empty store for one test.
type backend struct {
	name string
	open func(t testing.TB) store.Store
}

// backends are the stores every handler test runs on.
func backends() []backend {
	return append([]backend{
		{"memory", func(t testing.TB) store.Store { return memory.New() }},
		{"bolt", func(t testing.TB) store.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "srvmon.db"), bolt.WithNoSync())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"ql", func(t testing.TB) store.Store {
			// Not under t.TempDir(): a second subtest's name holds '#'
			// ("ql#01"), and ql's driver cuts a file name at '#', so two
			// tests would share /tmp/TestNameql.
			dir, err := os.MkdirTemp("", "srvmon-api-ql")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			s, err := ql.Open(t.Context(), filepath.Join(dir, "srvmon.ql"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}, extraBackends()...)
}

// forEachBackend runs test once per backend, as a subtest.
func forEachBackend(t *testing.T, test func(t *testing.T, st store.Store)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			t.Cleanup(func() {
				if err := st.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			test(t, st)
		})
	}
}

// now is the tests' clock: a little after a slot.
var now = time.Date(2021, 3, 2, 12, 0, 30, 0, time.UTC)

// testLog collects log lines, for tests that expect a warning.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is one handler under test.
type env struct {
	t   testing.TB
	st  store.Store
	h   http.Handler
	log *testLog
}

// newEnv makes a handler over st; opts.Store, Now and Logger are filled in.
func newEnv(t testing.TB, st store.Store, opts Options) *env {
	e := &env{t: t, st: st, log: &testLog{}}
	opts.Store = st
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(e.log, nil))
	}
	e.h = New(opts)
	return e
}

// strictWriter fails the test when a handler writes a body without
// having set a status: the Lambda adapter needs the status.
type strictWriter struct {
	*httptest.ResponseRecorder
	t           testing.TB
	wroteHeader bool
}

func (w *strictWriter) WriteHeader(code int) {
	w.wroteHeader = true
	w.ResponseRecorder.WriteHeader(code)
}

func (w *strictWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.t.Errorf("body written before a status was set")
	}
	return w.ResponseRecorder.Write(b)
}

// request is one request to send.
type request struct {
	method, target, body string
	header               http.Header
	user, pass           string // basic auth when user is set
	host                 string // the Host header; empty means 127.0.0.1:8000
	remote               string // RemoteAddr; empty means httptest's 192.0.2.1:1234
}

func (e *env) serve(r request) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.target, body)
	req.Host = "127.0.0.1:8000" // as a browser on the server's address sends it
	if r.host != "" {
		req.Host = r.host
	}
	if r.remote != "" {
		req.RemoteAddr = r.remote
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	w := &strictWriter{ResponseRecorder: httptest.NewRecorder(), t: e.t}
	e.h.ServeHTTP(w, req)
	if !w.wroteHeader {
		e.t.Errorf("%s %s: no status set", r.method, r.target)
	}
	return w.ResponseRecorder
}

func (e *env) get(target string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request{method: "GET", target: target})
}

// expect checks a response's status and, for errors, that the body is one
// line holding want.
func expect(t testing.TB, w *httptest.ResponseRecorder, code int, want string) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d; body %q", w.Code, code, w.Body.String())
	}
	body := w.Body.String()
	if !strings.Contains(body, want) {
		t.Fatalf("body %q does not hold %q", body, want)
	}
	if code >= 400 && strings.Count(strings.TrimSuffix(body, "\n"), "\n") > 0 {
		t.Fatalf("error reason is not one line: %q", body)
	}
}

// slot is the i-th minute slot before now's slot (0 is now's).
func slot(i int) time.Time { return now.Truncate(time.Minute).Add(-time.Duration(i) * time.Minute) }

// seed stores hosts and results.
func seed(t testing.TB, st store.Store, hosts []string, results []store.Result) {
	t.Helper()
	ctx := context.Background()
	for _, h := range hosts {
		if err := st.AddHost(ctx, h); err != nil {
			t.Fatalf("AddHost(%q): %v", h, err)
		}
	}
	if len(results) > 0 {
		if err := st.SaveRound(ctx, results, nil); err != nil {
			t.Fatalf("SaveRound: %v", err)
		}
	}
}

// parseSVG decodes every token of an SVG document and returns the text of
// its header line; the test fails if it is not well-formed XML.
func parseSVG(t testing.TB, b []byte) (header string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var inStat, root bool
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if root || tok.Name.Local != "svg" {
					t.Fatalf("unexpected root %v", tok.Name)
				}
				root = true
			}
			depth++
			for _, a := range tok.Attr {
				if a.Name.Local == "class" && a.Value == "stat" {
					inStat = true
				}
			}
		case xml.EndElement:
			depth--
			inStat = false
		case xml.CharData:
			if inStat {
				header += string(tok)
			}
		}
	}
	if !root {
		t.Fatal("no svg element")
	}
	return header
}

// voidElements have no end tag.
var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true,
}

// parsePage checks that an HTML page is well-formed (a doctype, every
// element closed in order) and refers to nothing outside the server (no
// CDN, no inline script), and returns its tree.
func parsePage(t testing.TB, body []byte) *html.Node {
	t.Helper()
	if !bytes.HasPrefix(body, []byte("<!DOCTYPE html>")) {
		t.Fatalf("page does not start with a doctype: %.80q", body)
	}
	z := html.NewTokenizer(bytes.NewReader(body))
	var stack []string
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatalf("bad HTML: %v", z.Err())
			}
			if len(stack) > 0 {
				t.Fatalf("unclosed elements %v", stack)
			}
			doc, err := html.Parse(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			return doc
		case html.StartTagToken:
			tok := z.Token()
			// A script only from a file of this server (the
			// dashboard's): nothing inline, which the pages' CSP would
			// not run anyway.
			if src := attrOfToken(tok, "src"); tok.Data == "script" && (src == "" || strings.Contains(src, "//") || z.Next() != html.EndTagToken) {
				t.Fatal("page has an inline script")
			} else if tok.Data == "script" {
				continue // its end tag was read
			}
			for _, a := range tok.Attr {
				if (a.Key == "src" || a.Key == "href" || a.Key == "action") && strings.Contains(a.Val, "//") {
					t.Fatalf("page refers outside the server: %s=%q", a.Key, a.Val)
				}
			}
			if !voidElements[tok.Data] {
				stack = append(stack, tok.Data)
			}
		case html.EndTagToken:
			tok := z.Token()
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				t.Fatalf("</%s> does not close %v", tok.Data, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// attrOfToken is tok's attribute key, "" when it has none.
func attrOfToken(tok html.Token, key string) string {
	for _, a := range tok.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// findAll returns the elements of type a under n.
func findAll(n *html.Node, a atom.Atom) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.DataAtom == a {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// hasAttr reports whether n has the attribute key (a boolean one, such as
// checked, has no value).
func hasAttr(n *html.Node, key string) bool {
	return slices.ContainsFunc(n.Attr, func(a html.Attribute) bool { return a.Key == key })
}

// textOf is the text under n, spaces collapsed.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if n.Type == html.ElementNode && n.DataAtom != atom.A && n.DataAtom != atom.B {
			b.WriteString(" ") // cells and blocks are apart
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// fakeChecker is a Checker for unit tests: it reports what it is told.
type fakeChecker struct {
	up     bool
	rtt    time.Duration
	reason string
}

func (c fakeChecker) Check(ctx context.Context, t probe.Target) probe.Result {
	return probe.Result{Target: t, Up: c.up, RTT: c.rtt, Reason: c.reason}
}
