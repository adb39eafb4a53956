package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/srvmon/srvmon/pkg/store"
)

// prefixForm is a form found on a page, ready to submit.
type prefixForm struct {
	page, method, action string
	values               url.Values
}

// formOf reads a form's action, method and fields, filling required empty
// fields as a user would.
func formOf(page *url.URL, f *html.Node) (prefixForm, error) {
	action, err := page.Parse(attrOf(f, "action"))
	if err != nil {
		return prefixForm{}, err
	}
	v := url.Values{}
	for _, in := range append(findAll(f, atom.Input), findAll(f, atom.Select)...) {
		name, val := attrOf(in, "name"), attrOf(in, "value")
		if (attrOf(in, "type") == "checkbox" || attrOf(in, "type") == "radio") && !hasAttr(in, "checked") {
			continue // a browser sends only the boxes that are ticked
		}
		if in.DataAtom == atom.Select {
			// As a browser: the selected option, else the first; its
			// value, else its text.
			if opts := findAll(in, atom.Option); len(opts) > 0 {
				o := opts[0]
				for _, c := range opts {
					if hasAttr(c, "selected") {
						o = c
						break
					}
				}
				val = strings.TrimSpace(textOf(o))
				if hasAttr(o, "value") {
					val = attrOf(o, "value")
				}
			}
		}
		if val == "" && name == "host" && in.DataAtom == atom.Input {
			val = "added.example:22"
		}
		v.Set(name, val)
	}
	method := strings.ToUpper(attrOf(f, "method"))
	if method == "" {
		method = "GET"
	}
	return prefixForm{page: page.String(), method: method, action: action.String(), values: v}, nil
}

// TestUnderPathPrefix serves the handler under /prod (an API Gateway
// stage, a reverse proxy's sub-path) on a real server, follows every link,
// image, stylesheet and form from the index, and expects each to answer
// 200 under the prefix, form posts after their redirect too.
func TestUnderPathPrefix(t *testing.T) {
	st := backends()[0].open(t)
	seed(t, st, []string{"example.org", ampHost}, []store.Result{
		{Host: "example.org", Slot: slot(2), RTT: time.Millisecond, Up: true},
		{Host: ampHost, Slot: slot(1), RTT: time.Second, Up: false, Reason: "refused"},
	})
	if err := st.SetRule(t.Context(), store.Rule{Host: ampHost, Threshold: 2}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, st, Options{Checker: fakeChecker{up: true, rtt: time.Millisecond}})
	srv := httptest.NewServer(http.StripPrefix("/prod", e.h))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)

	// get fetches u, expects 200 under the prefix after any redirects, and
	// returns the final URL and, for a page, its links and forms.
	get := func(method, u string, form url.Values) (final *url.URL, refs []string, forms []prefixForm) {
		t.Helper()
		var resp *http.Response
		var err error
		if method == "POST" {
			resp, err = srv.Client().PostForm(u, form)
		} else {
			if form != nil {
				u += "?" + form.Encode()
			}
			resp, err = srv.Client().Get(u)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		final = resp.Request.URL
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(final.Path, "/prod/") {
			t.Fatalf("%s %s: %d at %s: %.200q", method, u, resp.StatusCode, final, body)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			return final, nil, nil
		}
		doc := parsePage(t, body)
		for _, a := range []struct {
			tag  atom.Atom
			attr string
		}{{atom.A, "href"}, {atom.Link, "href"}, {atom.Img, "src"}} {
			for _, n := range findAll(doc, a.tag) {
				refs = append(refs, attrOf(n, a.attr))
			}
		}
		for _, f := range findAll(doc, atom.Form) {
			pf, err := formOf(final, f)
			if err != nil {
				t.Fatalf("%s: form: %v", final, err)
			}
			forms = append(forms, pf)
		}
		return final, refs, forms
	}

	// Every URL is fetched once; the links and forms of a page are
	// followed once per path and host (not along every earlier range).
	seen, expanded := map[string]bool{}, map[string]bool{}
	var posts []prefixForm
	queue := []string{base.JoinPath("/prod").String() + "?tab=1"} // without the slash: redirected to /prod/?tab=1
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if seen[u] {
			continue
		}
		seen[u] = true
		final, refs, forms := get("GET", u, nil)
		if key := final.Path + " " + final.Query().Get("host"); expanded[key] {
			continue
		} else {
			expanded[key] = true
		}
		for _, ref := range refs {
			r, err := final.Parse(ref)
			if err != nil {
				t.Fatalf("%s: link %q: %v", final, ref, err)
			}
			if r.Host != base.Host || !strings.HasPrefix(r.Path, "/prod/") {
				t.Errorf("%s: link %q leaves the prefix: %s", final, ref, r)
				continue
			}
			queue = append(queue, r.String())
		}
		for _, f := range forms {
			if f.method == "GET" {
				key := f.action + "?" + f.values.Encode()
				if !seen[key] {
					seen[key] = true
					get("GET", f.action, f.values)
				}
				continue
			}
			posts = append(posts, f)
		}
	}
	for _, want := range []string{"/prod/web/hosts", "/prod/web/view", "/prod/web/checks", "/prod/web/notifications_params", "/prod/web/style.css", "/prod/api/hosts"} {
		if !expanded[want+" "] {
			t.Errorf("%s was never linked", want)
		}
	}
	// Every form that posts, the hosts' and the rules' (adding and
	// deleting), lands on its page under the prefix after the redirect.
	// Adding first and deleting hosts last, so each form's host is there.
	order := func(f prefixForm) int {
		switch {
		case f.values.Get("action") != "del":
			return 0
		case strings.HasSuffix(f.action, "/web/hosts"):
			return 2
		}
		return 1
	}
	slices.SortStableFunc(posts, func(a, b prefixForm) int { return order(a) - order(b) })
	submitted := map[string]bool{}
	for _, f := range posts {
		key := f.action + " " + f.values.Encode()
		if submitted[key] {
			continue
		}
		submitted[key] = true
		final, _, _ := get("POST", f.action, f.values)
		if f.values.Get("action") == "test" {
			// A test's outcomes are shown on the page, not redirected to.
			if page, _ := url.Parse(f.page); final.Path != page.Path {
				t.Errorf("test form on %s posted to %s landed on %s", f.page, f.action, final)
			}
			continue
		}
		if !strings.HasPrefix(final.RawQuery, "action=") {
			t.Errorf("form on %s posted to %s landed on %s", f.page, f.action, final)
		}
	}
	if len(submitted) < 4 {
		t.Errorf("only %d forms posted: %v", len(submitted), submitted)
	}
}
