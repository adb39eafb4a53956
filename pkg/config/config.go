// Package config loads srvmon's configuration: gosrvmon's JSON config,
// accepted as is from a file (-config) and a string (-confstr), srvmon's
// additions to it, and an environment variable for every field.
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

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store/postgres/connstr"

	// The IANA time zone database, built in: Chart.TimeZone must load on
	// hosts without /usr/share/zoneinfo (AWS Lambda, scratch images).
	_ "time/tzdata"
)

// Defaults of gosrvmon's fields (its README and options.go) and of
// srvmon's additions. A field set to zero (or "") gets its default, as in
// gosrvmon.
const (
	DefaultListenPort      = "8000"
	DefaultReadTimeout     = 30 // seconds
	DefaultWriteTimeout    = 60 // seconds
	DefaultMaxBodyBytes    = 1 << 30
	DefaultTimeout         = int64(probe.DefaultTimeout / time.Second) // seconds
	DefaultInterval        = 60                                        // seconds
	DefaultPingRetryCount  = probe.DefaultPingCount
	DefaultHTTPMethod      = probe.DefaultHTTPMethod
	DefaultConcurrency     = probe.DefaultConcurrency
	DefaultICMPConcurrency = probe.DefaultICMPConcurrency
	DefaultMaxRTTScale     = 200 // milliseconds
	DefaultTimeZone        = "UTC"
	DefaultNotifyTimeout   = 10    // seconds
	DefaultNotifyMaxAge    = 86400 // seconds
	DefaultNotifyRetry     = 30    // seconds
	DefaultShutdownTimeout = 60    // seconds
)

// Store kinds returned by Config.StoreSpec.
const (
	StoreMemory   = "memory"
	StoreBolt     = "bolt"
	StoreQL       = "ql"
	StorePostgres = "postgres"
)

// Config is srvmon's whole configuration. Its JSON field names are
// gosrvmon's. Durations are whole seconds (MaxRttScale milliseconds), as in
// gosrvmon; use the accessors (Interval, Timeout, ...) for time.Duration
// values. The zero Config is usable: every accessor falls back to the
// default of a field left at zero.
type Config struct {
	DB     DB
	Listen Listen
	Checks Checks
	Chart  Chart
	Notify Notify

	loc      *time.Location // Chart.TimeZone, loaded by Load
	warnings []string
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
	ReadTimeout  int64   `doc:"HTTP read timeout, seconds; a backup import is exempt: each of its reads may wait up to a minute"`
	WriteTimeout int64   `doc:"HTTP write timeout, seconds; a backup export is exempt: each of its writes may wait up to a minute"`
	WebAuth      WebAuth ``
	MaxBodyBytes int64   `doc:"largest request body the API accepts (backup imports included), bytes"`
	// LambdaPayload is srvmon's: the API Gateway payload version cmd/api
	// speaks on AWS Lambda.
	LambdaPayload string `doc:"API Gateway payload version of cmd/api on AWS Lambda: 2.0 (HTTP API, Function URL) or 1.0 (REST API)"`
	// ShutdownTimeout is srvmon's: how long SIGTERM waits for the requests
	// in flight, restores included.
	ShutdownTimeout int64 `doc:"on SIGTERM, how long the requests in flight (a backup restore included) may take to finish, seconds; then they are cut off and a restore cut off stores nothing"`
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
	Timeout           int64    `doc:"probe timeout, seconds; a target not answering within it is down"`
	Interval          int64    `doc:"seconds between rounds; slots are multiples of it"`
	PingRetryCount    uint32   `doc:"ICMP echo requests per ping check; up if any is answered"`
	HTTPMethod        string   `doc:"HTTP check method: GET or HEAD"`
	PerformChecks     bool     `doc:"run check rounds; false only serves stored data"`
	UseRemoteChecks   bool     `doc:"merge /api/checks of the RemoteChecksURLs into charts and data"`
	RemoteChecksURLs  []string `doc:"other instances' /api/checks URLs (environment: comma-separated)"`
	AllowSingleChecks bool     `doc:"enable /api/check, a check of any target on request (under auth when WebAuth is enabled)"`
	Retention         int64    `doc:"delete results older than this, seconds; 0 keeps everything"`
	Location          string   `doc:"this checker's location, stored with its results; readers merge locations; at most 64 bytes, no control characters"`
	Shard             Shard    `doc:"\"i/n\" (or [i, n] in JSON): check only the targets whose stable hash mod n is i, 0 <= i < n; empty checks every target"`
	Concurrency       int      `doc:"probes in flight at once in a round"`
	ICMPConcurrency   int      `doc:"pings in flight at once; up to this many silent targets finish within one timeout (each costs CPU while it waits)"`
	RemoteTimeout     int64    `doc:"how long a remote /api/checks may take to answer, and then each read of its answer, seconds; 0 means Checks.Timeout"`
}

// Chart configures the SVG chart and the times shown to people.
type Chart struct {
	MaxRttScale     int64  `doc:"top of the chart's rtt axis, milliseconds"`
	DynamicRttScale bool   `doc:"scale the rtt axis to the data, up to MaxRttScale"`
	TimeZone        string `doc:"IANA time zone for chart axes and the {TIME} placeholder, e.g. Europe/Berlin"`
}

// Notify configures webhook delivery of state changes.
type Notify struct {
	Timeout    int64 `doc:"timeout of each webhook GET, seconds"`
	MaxAge     int64 `doc:"give a delivery up (logged) when it is older than this, seconds"`
	RetryDelay int64 `doc:"delay before the first retry of a failed delivery, seconds; it doubles per attempt up to an hour"`
}

// Defaults returns the configuration used when nothing is configured,
// except for the database, whose default Load takes from its caller.
func Defaults() Config {
	var c Config
	c.Listen.Port = DefaultListenPort
	c.Listen.ReadTimeout = DefaultReadTimeout
	c.Listen.WriteTimeout = DefaultWriteTimeout
	c.Listen.MaxBodyBytes = DefaultMaxBodyBytes
	c.Listen.LambdaPayload = LambdaPayloadV2
	c.Listen.ShutdownTimeout = DefaultShutdownTimeout
	c.Checks.Timeout = DefaultTimeout
	c.Checks.Interval = DefaultInterval
	c.Checks.PingRetryCount = DefaultPingRetryCount
	c.Checks.HTTPMethod = DefaultHTTPMethod
	c.Checks.PerformChecks = true
	c.Checks.RemoteChecksURLs = []string{}
	c.Listen.AllowedHosts = []string{}
	c.Checks.Concurrency = DefaultConcurrency
	c.Checks.ICMPConcurrency = DefaultICMPConcurrency
	c.Chart.MaxRttScale = DefaultMaxRTTScale
	c.Chart.TimeZone = DefaultTimeZone
	c.Notify.Timeout = DefaultNotifyTimeout
	c.Notify.MaxAge = DefaultNotifyMaxAge
	c.Notify.RetryDelay = DefaultNotifyRetry
	return c
}

// seconds converts a count of seconds, falling back to def when it is not
// positive.
func seconds(n, def int64) time.Duration {
	if n <= 0 {
		n = def
	}
	return time.Duration(n) * time.Second
}

// Interval is the time between rounds (Checks.Interval).
func (c Config) Interval() time.Duration { return seconds(c.Checks.Interval, DefaultInterval) }

// Timeout is the probe timeout (Checks.Timeout).
func (c Config) Timeout() time.Duration { return seconds(c.Checks.Timeout, DefaultTimeout) }

// Retention is how long results are kept (Checks.Retention); zero keeps
// them forever.
func (c Config) Retention() time.Duration {
	return time.Duration(max(c.Checks.Retention, 0)) * time.Second
}

// RemoteTimeout is the timeout of one remote /api/checks request
// (Checks.RemoteTimeout, else Checks.Timeout as in gosrvmon).
func (c Config) RemoteTimeout() time.Duration {
	if c.Checks.RemoteTimeout > 0 {
		return time.Duration(c.Checks.RemoteTimeout) * time.Second
	}
	return c.Timeout()
}

// ReadTimeout is the HTTP server's read timeout (Listen.ReadTimeout).
func (c Config) ReadTimeout() time.Duration {
	return seconds(c.Listen.ReadTimeout, DefaultReadTimeout)
}

// WriteTimeout is the HTTP server's write timeout (Listen.WriteTimeout).
func (c Config) WriteTimeout() time.Duration {
	return seconds(c.Listen.WriteTimeout, DefaultWriteTimeout)
}

// ShutdownTimeout is how long the HTTP server waits for the requests in
// flight once told to stop (Listen.ShutdownTimeout).
func (c Config) ShutdownTimeout() time.Duration {
	return seconds(c.Listen.ShutdownTimeout, DefaultShutdownTimeout)
}

// MaxBodyBytes is the largest request body the API accepts.
func (c Config) MaxBodyBytes() int64 {
	if c.Listen.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return c.Listen.MaxBodyBytes
}

// Payload versions of API Gateway events (Listen.LambdaPayload).
const (
	LambdaPayloadV2 = "2.0"
	LambdaPayloadV1 = "1.0"
)

// LambdaPayload is the API Gateway payload version cmd/api speaks on AWS
// Lambda (Listen.LambdaPayload), LambdaPayloadV2 by default.
func (c Config) LambdaPayload() string {
	if c.Listen.LambdaPayload == LambdaPayloadV1 {
		return LambdaPayloadV1
	}
	return LambdaPayloadV2
}

// ListenAddr is the address for net.Listen: Listen.Address and
// Listen.Port joined (IPv6 addresses bracketed).
func (c Config) ListenAddr() string {
	host := strings.TrimSuffix(strings.TrimPrefix(c.Listen.Address, "["), "]")
	port := c.Listen.Port
	if port == "" {
		port = DefaultListenPort
	}
	return net.JoinHostPort(host, port)
}

// MaxRTTScale is the top of the chart's rtt axis (Chart.MaxRttScale).
func (c Config) MaxRTTScale() time.Duration {
	n := c.Chart.MaxRttScale
	if n <= 0 {
		n = DefaultMaxRTTScale
	}
	return time.Duration(n) * time.Millisecond
}

// Location is Chart.TimeZone, loaded once by Load; UTC for a Config that
// Load did not make.
func (c Config) Location() *time.Location {
	if c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// NotifyTimeout is the timeout of one webhook GET (Notify.Timeout).
func (c Config) NotifyTimeout() time.Duration {
	return seconds(c.Notify.Timeout, DefaultNotifyTimeout)
}

// NotifyMaxAge is the age after which an undelivered notification is
// given up (Notify.MaxAge).
func (c Config) NotifyMaxAge() time.Duration {
	return seconds(c.Notify.MaxAge, DefaultNotifyMaxAge)
}

// NotifyRetryDelay is the delay before the first retry of a failed
// delivery (Notify.RetryDelay).
func (c Config) NotifyRetryDelay() time.Duration {
	return seconds(c.Notify.RetryDelay, DefaultNotifyRetry)
}

// Warnings lists what Load accepted but a person should look at: unknown
// JSON fields and SRVMON_ variables (ignored, as gosrvmon ignores unknown
// fields), or a store that keeps everything in memory.
func (c Config) Warnings() []string { return append([]string(nil), c.warnings...) }

// ProbeOptions are the settings of a check round's probes, as plain values.
type ProbeOptions struct {
	Timeout         time.Duration
	PingCount       int    // ICMP echo requests per ping check
	HTTPMethod      string // GET or HEAD
	Concurrency     int    // probes in flight at once
	ICMPConcurrency int    // pings in flight at once
}

// Probe returns the probe settings (Checks.Timeout, PingRetryCount,
// HTTPMethod, Concurrency, ICMPConcurrency) with defaults for zeros.
func (c Config) Probe() ProbeOptions {
	p := ProbeOptions{
		Timeout:         c.Timeout(),
		PingCount:       int(c.Checks.PingRetryCount),
		HTTPMethod:      strings.ToUpper(c.Checks.HTTPMethod),
		Concurrency:     c.Checks.Concurrency,
		ICMPConcurrency: c.Checks.ICMPConcurrency,
	}
	if p.PingCount < 1 {
		p.PingCount = DefaultPingRetryCount
	}
	if p.HTTPMethod == "" {
		p.HTTPMethod = DefaultHTTPMethod
	}
	if p.Concurrency < 1 {
		p.Concurrency = DefaultConcurrency
	}
	if p.ICMPConcurrency < 1 {
		p.ICMPConcurrency = DefaultICMPConcurrency
	}
	return p
}

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
