// Package api serves srvmon's HTTP API and web pages, with gosrvmon's
// endpoints, methods, parameters and JSON, from one http.Handler.
//
// The handler is stateless: everything it shows comes from the store on
// each request and nothing is kept between requests, so it runs the same
// in a plain http.Server, in the standalone binary or on AWS Lambda behind
// API Gateway. Every response sets a status.
//
// Where gosrvmon is wrong, this package is right: an unknown host is 404,
// an unknown path is 404 (not the index page), bad parameters are 400 with
// a one-line reason, a single check of a down target is 200 with
// "up":false, host names are escaped in SVG and HTML, GET never changes
// data except gosrvmon's old /api/hosts?action= form (under auth), basic
// auth is compared in constant time and also guards backups, notification
// settings and single checks, and backups stream in both directions.
// Failed logins are logged and slowed per client address (checkAuth);
// changes are refused from other sites' pages (crossSiteGET and
// http.CrossOriginProtection) and under Host names that are not allowed
// (hostAllowed, against DNS rebinding); no response may be framed.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/srvmon/srvmon/pkg/chart"
	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/promtext"
	"github.com/srvmon/srvmon/pkg/store"
)

// Defaults for zero Options fields.
const (
	DefaultInterval      = time.Minute
	DefaultRemoteTimeout = 10 * time.Second
	// DefaultMaxRemoteBytes bounds one remote's /api/checks answer: a
	// year of 1-minute checks is about 32 MiB, more with reasons.
	DefaultMaxRemoteBytes = 256 << 20
	DefaultMaxBodyBytes   = 1 << 30 // backup uploads
	// DefaultTransferIdleTimeout is how long a backup upload or download
	// may go without progress.
	DefaultTransferIdleTimeout = time.Minute
	// smallBodyBytes limits every other request body: a target, a rule,
	// a checks request.
	smallBodyBytes = 64 << 10
)

// Content security policies: pages load their stylesheet, images and
// script (the dashboard's, a file: nothing inline runs) from this server
// only; the chart, an SVG document, needs
// nothing but its own <style> element.
const (
	pageCSP = "default-src 'self'; style-src 'self'; frame-ancestors 'none'"
	svgCSP  = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
)

// Checker checks one target now, for /api/check (gosrvmon's single
// check). *probe.Prober satisfies it.
type Checker interface {
	Check(ctx context.Context, t probe.Target) probe.Result
}

// Auth is gosrvmon's WebAuth: HTTP basic authentication.
type Auth struct {
	// Enable requires the user and password for every change, for
	// backups, notification settings and single checks.
	Enable   bool
	User     string
	Password string
	// ProtectReads requires them for everything else too (pages, charts,
	// /api/hosts, /api/checks, /api/dashboard), except the stylesheet,
	// the dashboard's script and favicon.
	ProtectReads bool
}

// Options configure the handler. Only Store is required; every other zero
// value works.
type Options struct {
	Store store.Store
	// Checker runs single checks (/api/check and the index page's form);
	// nil disables them, as gosrvmon's AllowSingleChecks=false does:
	// /api/check is then 404.
	Checker Checker
	Auth    Auth
	// Interval is the time between checks (default 1 minute). Charts use
	// it to count missing checks; a chart range shorter than one interval
	// is a valid, empty chart.
	Interval time.Duration
	Chart    chart.Options
	// RemoteChecksURLs are other instances' /api/checks URLs (gosrvmon's
	// Checks.RemoteChecksURLs, when UseRemoteChecks is on). Their checks
	// are merged into charts and the checks page: up if any location saw
	// the host up, the lowest rtt among those. /api/checks itself serves
	// only local data, so instances may point at each other. Remote
	// answers are decoded as they arrive and merged with the local stream,
	// so memory does not grow with the range.
	RemoteChecksURLs []string
	// RemoteTimeout bounds each remote request (default 10 s): the wait
	// for its status and headers, and then every read of its answer, so
	// that a remote that stops sending is cut off while a long answer
	// that keeps coming is not.
	RemoteTimeout time.Duration
	// MaxRemoteBytes limits each remote's answer (default 256 MiB); a
	// larger one is logged and cut off there.
	MaxRemoteBytes int64
	// RemoteClient makes the remote requests; nil means a plain client.
	RemoteClient *http.Client
	// MaxBodyBytes limits backup uploads (default 1 GiB); other request
	// bodies are limited to 64 KiB.
	MaxBodyBytes int64
	// TransferIdleTimeout is how long a backup upload or download may go
	// without progress (default 1 minute). Backups lift the server's
	// ReadTimeout and WriteTimeout, which would cut a long restore or
	// export: instead, each read of the upload and each write of the
	// download must finish within this time, however long the whole
	// transfer takes.
	TransferIdleTimeout time.Duration
	// AllowedHosts are the names, besides localhost and IP literals, that
	// a request's Host header may carry on the routes that change data,
	// read backups or notification settings, or run single checks; "*"
	// allows any. Other names are refused (403) there, against DNS
	// rebinding (see hostAllowed); reads are served under any name. Nil
	// allows only localhost and IP literals.
	AllowedHosts []string
	// StatusPublic (config Status.Public) serves, with Auth.ProtectReads
	// on, the status page and the badges of the monitors on it (those
	// whose status setting is not false) without credentials. With
	// ProtectReads off every read is open anyway.
	StatusPublic bool
	// MetricsToken (config Metrics.Token), when set, is the bearer token
	// that /metrics requires instead of basic auth; empty, /metrics is a
	// read like the others.
	MetricsToken string
	// Metrics holds the process's own metrics for /metrics, written after
	// the monitors' (which are read from the store on each scrape); nil
	// means promtext.NewProcessRegistry (the Go runtime's and the
	// process's). A process that runs rounds may pass a registry holding
	// those too.
	Metrics *promtext.Registry
	// ProbeTimeout is the round's probe timeout (Checks.Timeout): a
	// monitor's timeout may not be longer. Zero: no bound.
	ProbeTimeout time.Duration
	// LocationTimeout is notify.Options.LocationTimeout, for the pushes'
	// notifications and the notifications page; zero means
	// notify.DefaultLocationTimeout.
	LocationTimeout time.Duration
	// Sender sends the test messages of POST
	// /api/notifications_params/test; nil means a notify.Sender with
	// its defaults and a timeout of 10 s.
	Sender *notify.Sender
	// Logger gets errors and skipped remotes; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Sleep delays the answer to a repeated failed login (tests); nil
	// waits on a timer, cut short when the request ends.
	Sleep func(ctx context.Context, d time.Duration)
}

// server holds the options of one handler, which never change after New,
// and its failed logins.
type server struct {
	Options
	userHash, passHash [sha256.Size]byte
	allowedHosts       map[string]struct{} // normalHost of each AllowedHosts entry
	jsonType           []string            // the Content-Type of JSON answers (sharedValue)
	// checkBufs are the buffers /api/checks/last writes its answer from
	// (*[]byte): the answer is copied into the server's own buffer by
	// Write, which may not keep it, so one buffer serves request after
	// request instead of an allocation each.
	checkBufs sync.Pool
	failures  authFailures
	pushes    pushLimiter
}

// New returns the handler serving every endpoint (see the package
// documentation and README for the list). It panics if opts.Store is nil.
func New(opts Options) http.Handler {
	return newServer(opts).handler()
}

// handler is s's http.Handler.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, rt.handler)
	}
	// Browsers send basic auth credentials with cross-site form posts:
	// refuse cross-origin unsafe requests (scripts send no Origin). A
	// push needs no credentials (its token is the secret), so it is
	// exempt.
	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern("POST " + pushPathPrefix + "{token}")
	return ensureStatus(s.Logger, withFrameDenial(withCSP(pageCSP, withPrefixSlash(cop.Handler(mux)))))
}

// withPrefixSlash sends a request for a path prefix without its slash
// (what http.StripPrefix leaves as the empty path) to the prefix with it,
// by a relative Location, so that the pages' relative links resolve
// under the prefix: http.ServeMux would send it to "/", outside the
// prefix.
func withPrefixSlash(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" {
			if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
				if last := path.Base(u.Path); last != "/" && last != "." {
					loc := url.URL{Path: last + "/", RawQuery: u.RawQuery}
					w.Header().Set("Location", "./"+loc.String())
					w.WriteHeader(http.StatusTemporaryRedirect)
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// newServer fills in the defaults of opts.
func newServer(opts Options) *server {
	if opts.Store == nil {
		panic("api.New: Options.Store is nil")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.RemoteTimeout <= 0 {
		opts.RemoteTimeout = DefaultRemoteTimeout
	}
	if opts.RemoteClient == nil {
		opts.RemoteClient = &http.Client{}
	}
	if opts.MaxRemoteBytes <= 0 {
		opts.MaxRemoteBytes = DefaultMaxRemoteBytes
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.TransferIdleTimeout <= 0 {
		opts.TransferIdleTimeout = DefaultTransferIdleTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Metrics == nil {
		opts.Metrics = promtext.NewProcessRegistry()
	}
	if opts.Chart.TimeZone == nil {
		opts.Chart.TimeZone = time.UTC
	}
	allowed := make(map[string]struct{}, len(opts.AllowedHosts))
	for _, h := range opts.AllowedHosts {
		allowed[normalHost(h)] = struct{}{}
	}
	return &server{
		Options:      opts,
		userHash:     sha256.Sum256([]byte(opts.Auth.User)),
		passHash:     sha256.Sum256([]byte(opts.Auth.Password)),
		allowedHosts: allowed,
		jsonType:     sharedValue("application/json"),
	}
}

// route is one pattern of the handler's http.ServeMux.
type route struct {
	pattern string
	handler http.Handler
}

// routes is every route the handler serves.
func (s *server) routes() []route {
	var rs []route
	add := func(pattern string, h http.Handler) { rs = append(rs, route{pattern, h}) }
	// read: open unless Auth.ProtectReads; write: under auth whenever
	// Auth.Enable.
	read, write := s.guard(false), s.guard(true)

	add("GET /{$}", read(s.index))
	add("GET /index.html", read(s.index))
	add("GET /favicon.ico", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	add("GET /web/style.css", serveAsset("style.css", "text/css; charset=utf-8"))
	// The dashboard's script, which reloads its table in place (see
	// web/dashboard.js).
	add("GET /web/dashboard.js", serveAsset("dashboard.js", "text/javascript; charset=utf-8"))
	add("GET /api/dashboard", read(s.dashboardJSON))

	add("GET /api/hosts", read(s.hostsGet))
	add("POST /api/hosts", write(s.hostsAdd))
	add("DELETE /api/hosts", write(s.hostsDelete))

	for _, m := range []string{"GET", "POST"} {
		add(m+" /api/checks", read(s.checks))
		add(m+" /api/checks/last", read(s.checksLast))
		add(m+" /web/checks", read(s.checksPage))
		add(m+" /web/checks/svg", withCSP(svgCSP, read(s.chart)))
		if s.Checker != nil {
			add(m+" /api/check", write(s.check))
		}
	}

	// gosrvmon's notification settings, under their current and their
	// older (state_change_params) names. Rules hold webhook URLs with
	// tokens: reading them needs auth too.
	for _, p := range []string{"/api/notifications_params", "/api/state_change_params"} {
		add("GET "+p, write(s.rulesList))
		add("POST "+p, write(s.rulesSet))
		add("DELETE "+p, write(s.rulesDelete))
	}
	// srvmon's: sends a test message through a rule's channels.
	add("POST /api/notifications_params/test", write(s.rulesTest))
	for _, p := range []string{"/web/notifications_params", "/web/state_change_params"} {
		add("GET "+p, write(s.rulesPage))
		add("POST "+p, write(s.rulesForm))
	}

	for _, full := range []bool{false, true} {
		p := "/api/backup"
		if full {
			p = "/api/backup_full"
		}
		add("GET "+p, write(s.backupExport(full)))
		add("POST "+p, write(s.backupImport(full)))
		add("PUT "+p, write(s.backupImport(full))) // gosrvmon accepts PUT too
	}

	add("GET /api/monitors", read(s.monitorsList))
	add("GET /api/monitor", read(s.monitorGet))
	add("PUT /api/monitor", write(s.monitorPut))
	add("DELETE /api/monitor", write(s.monitorDelete))
	// No guard: the token is the secret, and a cron job's curl sends no
	// credentials (rate-limited per token instead).
	add("GET "+pushPathPrefix+"{token}", http.HandlerFunc(s.push))
	add("POST "+pushPathPrefix+"{token}", http.HandlerFunc(s.push))

	// Maintenance windows: reads are open like the charts (a status
	// page shows upcoming ones), changes under auth.
	add("GET /api/maintenance", read(s.maintenanceList))
	add("POST /api/maintenance", write(s.maintenanceAdd))
	add("PUT /api/maintenance", write(s.maintenancePut))
	add("DELETE /api/maintenance", write(s.maintenanceDelete))
	add("GET /web/maintenance", read(s.maintenancePage))
	add("POST /web/maintenance", write(s.maintenanceFormPost))

	// The status page is for the services' users: open with
	// Status.Public even when reads are protected.
	status := read
	if s.StatusPublic {
		status = func(h http.HandlerFunc) http.Handler { return h }
	}
	add("GET /status", status(s.statusPage))
	add("GET /status/{group}", status(s.statusPage))
	add("GET /api/report", read(s.report))
	add("GET /web/report", read(s.reportPage))

	add("GET /web/hosts", read(s.hostsPage))
	add("POST /web/hosts", write(s.hostsForm))
	add("GET /web/monitor", read(s.monitorPage(false)))
	add("GET /web/monitor/edit", write(s.monitorPage(true)))
	add("POST /web/monitor", write(s.monitorForm))
	add("GET /web/view", read(s.viewPage))

	// Badges decide their own auth (a monitor on the status page may be
	// public: see badge); /metrics may have its own token.
	add("GET /api/badge/status", withCSP(svgCSP, s.badgeSVG(badgeStatus)))
	add("GET /api/badge/uptime", withCSP(svgCSP, s.badgeSVG(badgeUptime)))
	add("GET /api/badge/response-time", withCSP(svgCSP, s.badgeSVG(badgeResponseTime)))
	add("GET /api/badge/shields", http.HandlerFunc(s.badgeShields))
	add("GET /metrics", s.metricsGuard(read))
	return rs
}

// withCSP sets the response's Content-Security-Policy (replacing an outer
// one) before h runs.
func withCSP(policy string, h http.Handler) http.Handler {
	value := sharedValue(policy)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Security-Policy"] = value
		h.ServeHTTP(w, r)
	})
}

// sharedValue is the value of a header that every response sets, made
// once and assigned to each response's header map under its canonical
// key, instead of Header.Set's allocation per response (three of the
// eight of /api/checks/last). Sharing it is safe: nothing changes a
// header's values in place (Set and Del replace them, Add appends to a
// slice that has no room, so it copies), and net/http copies them before
// it writes them.
func sharedValue(v string) []string { return []string{v} }

// guard returns a wrapper that requires basic auth when Auth.Enable is set
// and the route is protected: always for write routes, with
// Auth.ProtectReads for read routes. Write routes also refuse a Host that
// is not allowed (hostAllowed: without auth).
func (s *server) guard(write bool) func(http.HandlerFunc) http.Handler {
	protect := s.Auth.Enable && (write || s.Auth.ProtectReads)
	return func(h http.HandlerFunc) http.Handler {
		if !protect && !write {
			return h
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if write && !s.hostAllowed(r) {
				refuseHost(w, r, "change data, read settings or run checks")
				return
			}
			if protect && !s.checkAuth(w, r) {
				return
			}
			h(w, r)
		})
	}
}

// authorized compares the request's basic auth credentials in constant
// time (over fixed-length hashes, so lengths do not leak either).
func (s *server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	uok := subtle.ConstantTimeCompare(u[:], s.userHash[:])
	pok := subtle.ConstantTimeCompare(p[:], s.passHash[:])
	return uok&pok == 1
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="srvmon", charset="UTF-8"`)
	http.Error(w, "unauthorized: this needs the configured user and password (basic auth)", http.StatusUnauthorized)
}

// mayAct guards a request that changes data or runs a probe, including
// the GETs that do (gosrvmon's ?action= and single checks): HEAD is 405
// (allow lists the methods that may), a Host that is not allowed is 403
// (hostAllowed), auth is required when enabled, and a GET from another
// site's page is 403 (crossSiteGET: an <img> there sends a GET with the
// browser's cached credentials; http.CrossOriginProtection covers the
// other methods). does says what is refused. It reports whether the
// request may go on; if not, it has answered.
func (s *server) mayAct(w http.ResponseWriter, r *http.Request, allow, does string) bool {
	if r.Method == http.MethodHead {
		w.Header().Set("Allow", allow)
		http.Error(w, "HEAD may not "+does+": use "+allow, http.StatusMethodNotAllowed)
		return false
	}
	if !s.hostAllowed(r) {
		refuseHost(w, r, does)
		return false
	}
	if s.Auth.Enable && !s.checkAuth(w, r) {
		return false
	}
	if r.Method == http.MethodGet && crossSiteGET(r) {
		http.Error(w, "refused: a cross-site GET (from another site's page, or from a browser that does not say where it comes from) may not "+
			does+": use the page's form or POST", http.StatusForbidden)
		return false
	}
	return true
}

// ensureStatus makes sure every response has a status: the Lambda adapter
// fails on a handler that writes nothing. A handler that does is a bug,
// logged and answered with 500.
func ensureStatus(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if !sw.wrote {
			log.Error("handler wrote no response", "method", r.Method, "path", logPath(r))
			http.Error(w, "internal server error: no response", http.StatusInternalServerError)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpError is an error with the status and one-line reason to answer.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// badRequest returns a 400 error whose reason is msg.
func badRequest(msg string) error { return &httpError{http.StatusBadRequest, msg} }

// fail answers err: its own status and reason for an *httpError (also
// wrapped), 413 for an oversized body, 408 for a body that stopped
// arriving and 400 for one that broke off, otherwise 500 with the error
// logged and not shown (it may name internals).
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var mbe *http.MaxBytesError
	var bre *bodyReadError
	switch {
	case errors.As(err, &he):
		http.Error(w, oneLine(he.msg), he.code)
	case errors.As(err, &mbe):
		http.Error(w, "request body is larger than the limit of "+formatBytes(mbe.Limit), http.StatusRequestEntityTooLarge)
	case errors.As(err, &bre):
		s.Logger.Warn("request body not received", "method", r.Method, "path", logPath(r), "error", err)
		code := http.StatusBadRequest
		if bre.timeout() {
			code = http.StatusRequestTimeout
		}
		http.Error(w, oneLine(err.Error()), code)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away: nobody reads the answer.
		http.Error(w, "request canceled", http.StatusServiceUnavailable)
	default:
		s.Logger.Error("request failed", "method", r.Method, "path", logPath(r), "error", err)
		http.Error(w, "internal server error (logged)", http.StatusInternalServerError)
	}
}

// oneLine keeps a reason on one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return itoa(n>>30) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}
