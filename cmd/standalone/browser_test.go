package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/srvmon/srvmon/internal/proctest"
)

// chromiumPath finds Debian's chromium. Without it the browser tests
// skip, except with CI=true, where they fail: scripts/test installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed and CI=true: the browser tests may not skip (scripts/test installs it with apt-get)")
	}
	t.Skip("chromium is not installed: apt-get install chromium (scripts/test does) to run the browser tests")
	return ""
}

// browser starts one headless chromium for a test and returns its first
// tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", "new"),
		// root (CI, the containers) cannot use chromium's sandbox.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if _, err := chromedp.Run(ctx, chromedp.Location()); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// dashRow is a row of the dashboard as the browser shows it.
type dashRow struct{ Name, State, Section string }

// rowsJS reads the dashboard's rows: each monitor's display name, state
// (data-state) and section (its <details> id).
const rowsJS = `Array.from(document.querySelectorAll("#dash-body tbody tr")).map(tr => ({
	Name: tr.querySelector("th a").textContent.trim(),
	State: tr.getAttribute("data-state"),
	Section: tr.closest("details").id,
}))`

// inBrowser runs actions in the browser, failing the test on an error.
func inBrowser(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// evaluate returns a JavaScript expression's value in the page.
func evaluate[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// rowsAre waits (the page reloads its table by itself) until the
// dashboard's rows are want, in order.
func rowsAre(t *testing.T, ctx context.Context, what string, want []dashRow) {
	t.Helper()
	wantJSON, _ := json.Marshal(want)
	// Poll re-evaluates until the rows are want; on timeout the test
	// fails with the rows last seen.
	js := fmt.Sprintf(`JSON.stringify(%s) === %q`, rowsJS, wantJSON)
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](js,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		got := evaluate[[]dashRow](t, ctx, rowsJS)
		t.Fatalf("%s: rows %+v, want %+v (%v)", what, got, want, err)
	}
}

// TestDashboardInBrowser drives headless chromium against the standalone
// binary (1 s rounds, loopback targets): the dashboard lists monitors
// with their states, down first; the filter narrows them as one types; a
// monitor added through the hosts page's form appears; a monitor that
// goes down moves into the Down section at the top when the page reloads
// its table by itself (refresh=1, the same page: no navigation); a
// 390 px wide viewport has no horizontal scroll. Screenshots at 1280 and
// 390 px are saved in a temp dir named in the log.
func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	var failing atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && r.URL.Path == "/beta" {
			http.Error(w, "failing on purpose", http.StatusInternalServerError)
		}
	}))
	defer target.Close()
	closed := proctest.ClosedAddr(t)
	conf := `{"DB":{"Type":"bolt","Database":"srvmon.db"},"Listen":{"Address":"127.0.0.1","Port":"0"},"Checks":{"Interval":1,"Timeout":1},
		"Monitors":[
		{"host":"` + target.URL + `/alpha","name":"Alpha","group":"web"},
		{"host":"` + target.URL + `/beta","name":"Beta","group":"web","conditions":["[STATUS] == 200"]},
		{"host":"http://` + closed + `/","name":"Gamma","group":"db"},
		{"host":"` + target.URL + `/delta","name":"Delta","group":"db"}]}`
	p := proctest.Start(t, binary, t.TempDir(), nil, `msg="srvmon started"`, "-confstr", conf)
	defer p.Stop(t)
	now := time.Now().UTC()
	window := fmt.Sprintf(`{"hosts":[%q],"start":%q,"end":%q,"reason":"browser test"}`,
		target.URL+"/delta", now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
	if code, body := p.Do(t, http.MethodPost, "/api/maintenance", window); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("maintenance window: %d %s", code, body)
	}

	// Kept after the test, for people to look at.
	shots, err := os.MkdirTemp("", "srvmon-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	// refresh=1: the page reloads its table every second.
	inBrowser(t, ctx, "open the dashboard",
		chromedp.Navigate(p.Base+"/?refresh=1"),
		chromedp.WaitVisible(chromedp.CSS(`#dashboard[data-script="on"]`)),
		// A mark that a navigation would lose: the updates below are
		// the script's, in place.
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[int](`window.srvmonMark = 1`)(ctx, tg)
			return err
		}),
	)
	rowsAre(t, ctx, "states", []dashRow{
		{"Gamma", "down", "sec-down"},
		{"Delta", "maintenance", "sec-group-db"},
		{"Alpha", "up", "sec-group-web"},
		{"Beta", "up", "sec-group-web"},
	})
	screenshot(t, ctx, filepath.Join(shots, "dashboard-1280.png"))

	inBrowser(t, ctx, "type in the filter", chromedp.SendKeys(chromedp.CSS(`input[name=q]`), "alp"))
	rowsAre(t, ctx, "filtered", []dashRow{{"Alpha", "up", "sec-group-web"}})
	inBrowser(t, ctx, "pick a state", setFilter("", "down"))
	rowsAre(t, ctx, "state filter", []dashRow{{"Gamma", "down", "sec-down"}})
	inBrowser(t, ctx, "clear the filter", setFilter("", "all"))

	failing.Store(true)
	rowsAre(t, ctx, "Beta down", []dashRow{
		{"Gamma", "down", "sec-down"},
		{"Beta", "down", "sec-down"},
		{"Delta", "maintenance", "sec-group-db"},
		{"Alpha", "up", "sec-group-web"},
	})
	if mark := evaluate[int](t, ctx, `window.srvmonMark || 0`); mark != 1 {
		t.Error("the page was navigated: the table was not reloaded in place by its script")
	}

	inBrowser(t, ctx, "add a monitor through the hosts page",
		chromedp.Navigate(p.Base+"/web/hosts"),
		chromedp.SetValue(chromedp.CSS(`form.monitor input[name=host]`), target.URL+"/echo"),
		chromedp.SetValue(chromedp.CSS(`form.monitor input[name=name]`), "Echo"),
		chromedp.SetValue(chromedp.CSS(`form.monitor input[name=group]`), "web"),
		chromedp.Click(chromedp.CSS(`form.monitor button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#monitor`)),
		chromedp.Navigate(p.Base+"/?refresh=1"),
		chromedp.WaitVisible(chromedp.CSS(`#dashboard[data-script="on"]`)),
	)
	rowsAre(t, ctx, "Echo added", []dashRow{
		{"Gamma", "down", "sec-down"},
		{"Beta", "down", "sec-down"},
		{"Delta", "maintenance", "sec-group-db"},
		{"Alpha", "up", "sec-group-web"},
		{"Echo", "up", "sec-group-web"},
	})

	inBrowser(t, ctx, "phone width",
		chromedp.EmulateViewport(390, 844),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#dashboard[data-script="on"]`)),
	)
	scrollWidth := evaluate[int](t, ctx, `document.documentElement.scrollWidth`)
	innerWidth := evaluate[int](t, ctx, `window.innerWidth`)
	if innerWidth != 390 || scrollWidth > innerWidth {
		t.Errorf("at %d px wide the page is %d px wide: it scrolls sideways", innerWidth, scrollWidth)
	}
	screenshot(t, ctx, filepath.Join(shots, "dashboard-390.png"))

	// The public status page: a 90-day bar per monitor, and the outages
	// (Gamma's and Beta's) as ongoing incidents; at phone width too.
	inBrowser(t, ctx, "open the status page",
		chromedp.Navigate(p.Base+"/status"),
		chromedp.WaitVisible(chromedp.CSS(`.bar`)),
	)
	if n := evaluate[int](t, ctx, `document.querySelectorAll('.bar').length`); n != 5 {
		t.Errorf("%d bars on the status page, want one per named monitor (5)", n)
	}
	if n := evaluate[int](t, ctx, `Math.min(...[...document.querySelectorAll('.bar')].map(b => b.querySelectorAll('.day').length))`); n != 90 {
		t.Errorf("a bar of %d days, want 90", n)
	}
	incidents := evaluate[string](t, ctx, `(document.querySelector('.incidents') || {innerText: ""}).innerText`)
	for _, name := range []string{"Gamma", "Beta"} {
		if !strings.Contains(incidents, "ongoing: "+name) {
			t.Errorf("the status page's incidents %q do not show %s's ongoing outage", incidents, name)
		}
	}
	if scroll, inner := evaluate[int](t, ctx, `document.documentElement.scrollWidth`), evaluate[int](t, ctx, `window.innerWidth`); scroll > inner {
		t.Errorf("at %d px wide the status page is %d px wide: it scrolls sideways", inner, scroll)
	}
	screenshot(t, ctx, filepath.Join(shots, "status-390.png"))
	inBrowser(t, ctx, "status page, wide", chromedp.EmulateViewport(1280, 900), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.bar`)))
	screenshot(t, ctx, filepath.Join(shots, "status-1280.png"))
	t.Logf("screenshots of the dashboard and the status page (1280 and 390 px wide) in %s", shots)
}

// setFilter sets the filter form's text and state as a person would:
// the values, then the input event a person's typing or choice fires.
func setFilter(text, state string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
			const f = document.getElementById("dash-filter");
			f.elements.q.value = %q;
			f.elements.state.value = %q;
			return f.elements.state.dispatchEvent(new Event("input", {bubbles: true}));
		})()`, text, state))(ctx, tg)
		return err
	})
}

// screenshot saves the whole page as a PNG (quality 100: PNG, not JPEG).
func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, ".png") || len(png) == 0 {
		t.Fatalf("screenshot %s is empty", path)
	}
}
