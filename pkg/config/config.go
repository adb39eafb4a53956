// Package config loads srvmon's configuration: gosrvmon's JSON config,
// accepted as is from a file (-config) and a string (-confstr), srvmon's
// additions to it (Monitors: monitors as code), and an environment
// variable for every field. A file named *.yaml or *.yml is YAML with the
// same fields, converted to JSON and decoded as JSON (see yamlToJSON).
//
// Layers apply in this order, each overriding the one before:
// defaults, the file, the -confstr string, the environment. The
// environment names are derived from the struct (see EnvNames), so every
// field has one: SRVMON_<SECTION>_<FIELD>, e.g. SRVMON_CHECKS_INTERVAL or
// SRVMON_LISTEN_WEBAUTH_ENABLE, plus DATABASE_URL for DB.URL.
//
// Load validates everything and fails with one line that names the field,
// so a bad config stops a binary at start, never at its first tick.
package config

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/store/postgres/connstr"

	// The IANA time zone database, built in: Chart.TimeZone must load on
	// hosts without /usr/share/zoneinfo (AWS Lambda, scratch images).
	_ "time/tzdata"
)

// Defaults that other code and tests name. Every default is in the
// settings table (defaults.go); these two are exported because deployment
// files must agree with them.
const (
	DefaultListenPort = "8000"
	DefaultInterval   = 60 // seconds
)

// Store kinds returned by Config.StoreSpec.
const (
	StoreMemory   = "memory"
	StoreBolt     = "bolt"
	StoreQL       = "ql"
	StorePostgres = "postgres"
)

// Payload versions of API Gateway events (Listen.LambdaPayload).
const (
	LambdaPayloadV2 = "2.0"
	LambdaPayloadV1 = "1.0"
)

// Config is srvmon's whole configuration. Its JSON field names are
// gosrvmon's. Durations are gosrvmon's whole seconds in JSON and the
// environment, held as Seconds; Chart.MaxRTTScale is milliseconds. Load
// fills every default, so a loaded Config holds the values in effect;
// Defaults is the Config that nothing configures.
type Config struct {
	DB     DB
	Listen Listen
	Checks Checks
	Chart  Chart
	Notify Notify
	// Status and Metrics are srvmon's: the public status page and badges,
	// and Prometheus's /metrics.
	Status  Status
	Metrics Metrics
	// Monitors is srvmon's: monitors as code (see MonitorList). Nil when
	// no layer sets it: this process does not manage monitors.
	Monitors MonitorList `doc:"monitors as code: a list of monitor objects, the API's JSON without source (host, name, group, conditions, parent, status, method, headers, body, follow_redirects, timeout, insecure_skip_verify, grace, push_token), reconciled into the store at start and before every round: added, updated, and deleted when no longer listed; monitors made in the API or UI are left alone. Absent: this process manages no monitors; [] deletes every monitor the list made (environment: the JSON array)"`

	loc          *time.Location // Chart.TimeZone, loaded by Load
	monitorsFrom string         // the layer that set Monitors, as a message prefix
	warnings     []string
}

// DB says where results are stored.
type DB struct {
	Type     string `doc:"store: bolt (or bbolt), ql, pg (or pq, postgres), memory; empty means bolt, or postgres when URL is set"`
	Host     string `doc:"PostgreSQL host, when URL is empty"`
	Port     string `doc:"PostgreSQL port, when URL is empty"`
	User     string `doc:"PostgreSQL user, when URL is empty"`
	Password string `doc:"PostgreSQL password, when URL is empty"`
	Database string `doc:"PostgreSQL database name, or the bolt/ql file; empty with bolt or ql keeps everything in memory. With no DB setting at all the standalone binary uses srvmon.db"`
	URL      string `doc:"PostgreSQL URL (postgres://user:pass@host:port/db?sslmode=...) or keyword/value settings (host=... user=... password='...'); overrides Host, Port, User, Password and Database"`
}

// Listen configures the HTTP server.
type Listen struct {
	Address      string  `doc:"address to listen on; empty means every interface"`
	Port         string  `doc:"port to listen on (a string, as in gosrvmon); 0 picks a free one"`
	ReadTimeout  Seconds `doc:"HTTP read timeout, seconds; a backup import is exempt: each of its reads may wait up to a minute"`
	WriteTimeout Seconds `doc:"HTTP write timeout, seconds; a backup export is exempt: each of its writes may wait up to a minute"`
	WebAuth      WebAuth ``
	MaxBodyBytes int64   `doc:"largest request body the API accepts (backup imports included), bytes"`
	// LambdaPayload is srvmon's: the API Gateway payload version cmd/api
	// speaks on AWS Lambda.
	LambdaPayload string `doc:"API Gateway payload version of cmd/api on AWS Lambda: 2.0 (HTTP API, Function URL) or 1.0 (REST API)"`
	// ShutdownTimeout is srvmon's: how long SIGTERM waits for the requests
	// in flight, restores included.
	ShutdownTimeout Seconds `doc:"on SIGTERM, how long the requests in flight (a backup restore included) may take to finish, seconds; then they are cut off and a restore cut off stores nothing"`
	// AllowedHosts is srvmon's: the guard against DNS rebinding.
	AllowedHosts []string `doc:"host names (the Host header, port ignored) under which changes, backups, notification settings and single checks are served without WebAuth, besides localhost, IP literals and Listen.Address (with WebAuth on, any); * allows any (any is allowed on AWS Lambda); reads work under any name (environment: comma-separated)"`
}

// WebAuth is gosrvmon's basic authentication for changes.
type WebAuth struct {
	Enable       bool   `doc:"require basic auth for every change, backups, notification settings and single checks"`
	User         string `doc:"basic auth user"`
	Password     string `doc:"basic auth password"`
	ProtectReads bool   `doc:"require basic auth for reads (pages, charts, /api/checks) too"`
}

// Checks configures check rounds.
type Checks struct {
	Timeout           Seconds  `doc:"probe timeout, seconds; a target not answering within it is down"`
	Interval          Seconds  `doc:"seconds between rounds; slots are multiples of it"`
	PingRetryCount    uint32   `doc:"ICMP echo requests per ping check; up if any is answered"`
	HTTPMethod        string   `doc:"HTTP check method: GET or HEAD"`
	PerformChecks     bool     `doc:"run check rounds; false only serves stored data"`
	UseRemoteChecks   bool     `doc:"merge /api/checks of the RemoteChecksURLs into charts and data"`
	RemoteChecksURLs  []string `doc:"other instances' /api/checks URLs (environment: comma-separated)"`
	AllowSingleChecks bool     `doc:"enable /api/check, a check of any target on request (under auth when WebAuth is enabled)"`
	Retention         Seconds  `doc:"delete results older than this, seconds; 0 keeps everything"`
	Location          string   `doc:"this checker's location, stored with its results; readers merge locations; at most 64 bytes, no control characters"`
	Shard             Shard    `doc:"\"i/n\" (or [i, n] in JSON): check only the targets whose stable hash mod n is i, 0 <= i < n; empty checks every target"`
	Concurrency       int      `doc:"probes in flight at once in a round"`
	ICMPConcurrency   int      `doc:"pings in flight at once; up to this many silent targets finish within one timeout (each costs CPU while it waits)"`
	// RemoteTimeout is srvmon's; zero means Timeout, gosrvmon's timeout
	// of remote requests.
	RemoteTimeout Seconds `doc:"how long a remote /api/checks may take to answer, and then each read of its answer, seconds; 0 means Checks.Timeout"`
}

// Chart configures the SVG chart and the times shown to people.
type Chart struct {
	// MaxRTTScale is gosrvmon's MaxRttScale, in milliseconds.
	MaxRTTScale     int64  `json:"MaxRttScale" doc:"top of the chart's rtt axis, milliseconds"`
	DynamicRTTScale bool   `json:"DynamicRttScale" doc:"scale the rtt axis to the data, up to MaxRttScale"`
	TimeZone        string `doc:"IANA time zone for chart axes and the {TIME} placeholder, e.g. Europe/Berlin"`
}

// Notify configures webhook delivery of state changes.
type Notify struct {
	Timeout    Seconds `doc:"timeout of each webhook GET, seconds"`
	MaxAge     Seconds `doc:"give a delivery up (logged) when it is older than this, seconds"`
	RetryDelay Seconds `doc:"delay before the first retry of a failed delivery, seconds; it doubles per attempt up to an hour"`
	// LocationTimeout is srvmon's: quorum across checker locations.
	LocationTimeout Seconds `doc:"with checkers at several locations on one database: a location that has stored no result for this long no longer counts towards a rule's quorum (nor is waited for), seconds"`
}

// Status configures the public status page and the badges.
type Status struct {
	Public bool `doc:"with Listen.WebAuth.ProtectReads on, serve the status page and the badges of the monitors shown on it (every monitor whose status setting is not false) without basic auth; off, they need it like every other read"`
}

// Metrics configures Prometheus's /metrics.
type Metrics struct {
	Token string `doc:"bearer token that /metrics requires (Authorization: Bearer TOKEN), instead of basic auth; empty: /metrics is a read like the others (open unless Listen.WebAuth.ProtectReads)"`
}

// Interval is the time between rounds (Checks.Interval).
func (c Config) Interval() time.Duration { return c.Checks.Interval.Duration() }

// Timeout is the probe timeout (Checks.Timeout).
func (c Config) Timeout() time.Duration { return c.Checks.Timeout.Duration() }

// LambdaPayload is the API Gateway payload version cmd/api speaks on AWS
// Lambda (Listen.LambdaPayload): LambdaPayloadV1 or LambdaPayloadV2.
func (c Config) LambdaPayload() string { return c.Listen.LambdaPayload }

// ListenAddr is the address for net.Listen: Listen.Address and
// Listen.Port joined (IPv6 addresses bracketed).
func (c Config) ListenAddr() string {
	host := strings.TrimSuffix(strings.TrimPrefix(c.Listen.Address, "["), "]")
	return net.JoinHostPort(host, c.Listen.Port)
}

// Location is Chart.TimeZone, loaded once by Load; UTC for a Config that
// Load did not make.
func (c Config) Location() *time.Location {
	if c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// Warnings lists what Load accepted but a person should look at: unknown
// JSON fields and SRVMON_ variables (ignored, as gosrvmon ignores unknown
// fields), or a store that keeps everything in memory.
func (c Config) Warnings() []string { return append([]string(nil), c.warnings...) }

// StoreSpec says which store to open, as plain data: the caller maps Kind
// to a backend. For postgres, URL, Host, Port, User, Password and Database
// map one to one onto postgres.Config (URL wins when set; the backend
// builds a connection string from the others).
type StoreSpec struct {
	Kind string // StoreMemory, StoreBolt, StoreQL or StorePostgres
	Path string // the database file, for bolt and ql

	// URL and Password may hold secrets: log Redacted, not these.
	URL, Host, Port, User, Password, Database string
}

// Redacted describes the store for a log line, with every password of the
// URL masked (connstr.Redact): in its userinfo, in a password or
// sslpassword parameter, or in keyword/value settings.
func (s StoreSpec) Redacted() string {
	switch s.Kind {
	case StoreMemory:
		return "memory (nothing is kept after exit)"
	case StorePostgres:
		if s.URL != "" {
			return "postgres " + connstr.Redact(s.URL, s.URL)
		}
		return fmt.Sprintf("postgres host=%q port=%q user=%q database=%q", s.Host, s.Port, s.User, s.Database)
	}
	return s.Kind + " " + s.Path
}

// StoreSpec returns the store Load resolved from the DB section.
func (c Config) StoreSpec() StoreSpec {
	switch c.DB.Type {
	case StorePostgres:
		db := c.DB
		return StoreSpec{Kind: StorePostgres, URL: db.URL, Host: db.Host, Port: db.Port,
			User: db.User, Password: db.Password, Database: db.Database}
	case StoreBolt, StoreQL:
		if c.DB.Database != "" {
			return StoreSpec{Kind: c.DB.Type, Path: c.DB.Database}
		}
	}
	return StoreSpec{Kind: StoreMemory}
}
