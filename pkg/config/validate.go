package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// normalize applies gosrvmon's "zero means default" rules, resolves the
// store and the time zone, and validates every field, in the order that
// decides which of two mistakes is reported. It returns warnings for
// settings that work but deserve a look.
func (c *Config) normalize(defaultDatabase string, storeUnused bool) (warnings []string, err error) {
	warnings, err = c.resolveDB(defaultDatabase, storeUnused)
	if err != nil {
		return nil, err
	}
	for _, step := range []func() error{
		c.applySettings,
		c.checkRemoteChecksURLs,
		c.checkLocation,
		c.loadTimeZone,
		c.checkWebAuth,
		c.checkAllowedHosts,
		c.checkMonitors,
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return append(warnings, c.advice()...), nil
}

// advice lists the settings that work but deserve a look.
func (c *Config) advice() (warnings []string) {
	if c.Checks.Timeout >= c.Checks.Interval {
		warnings = append(warnings, fmt.Sprintf("Checks.Timeout (%d s) is not shorter than Checks.Interval (%d s): rounds may overlap", c.Checks.Timeout.count(), c.Checks.Interval.count()))
	}
	if c.Checks.UseRemoteChecks && len(c.Checks.RemoteChecksURLs) == 0 {
		warnings = append(warnings, "Checks.UseRemoteChecks is true but Checks.RemoteChecksURLs is empty")
	}
	if c.Listen.WebAuth.ProtectReads && !c.Listen.WebAuth.Enable {
		warnings = append(warnings, "Listen.WebAuth.ProtectReads is true but Listen.WebAuth.Enable is false: reads stay open")
	}
	return warnings
}

// checkHTTPMethod accepts GET and HEAD in any case, stored upper case;
// blank means the default.
func checkHTTPMethod(c *Config) error {
	switch m := strings.ToUpper(strings.TrimSpace(c.Checks.HTTPMethod)); m {
	case "":
		c.Checks.HTTPMethod = probe.DefaultHTTPMethod
	case "GET", "HEAD":
		c.Checks.HTTPMethod = m
	default:
		return fmt.Errorf("Checks.HTTPMethod %q: want GET or HEAD", c.Checks.HTTPMethod)
	}
	return nil
}

// checkRemoteChecksURLs accepts http:// and https:// URLs.
func (c *Config) checkRemoteChecksURLs() error {
	if c.Checks.RemoteChecksURLs == nil {
		c.Checks.RemoteChecksURLs = []string{}
	}
	for _, raw := range c.Checks.RemoteChecksURLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("Checks.RemoteChecksURLs: %q is not an http:// or https:// URL", raw)
		}
	}
	return nil
}

// checkLocation holds Checks.Location to what the store keeps.
func (c *Config) checkLocation() error {
	if strings.ContainsFunc(c.Checks.Location, isControl) {
		return fmt.Errorf("Checks.Location %q: control characters are not allowed", c.Checks.Location)
	}
	if len(c.Checks.Location) > store.MaxLocationLen {
		return fmt.Errorf("Checks.Location is %d bytes long, the limit is %d", len(c.Checks.Location), store.MaxLocationLen)
	}
	return nil
}

// loadTimeZone loads Chart.TimeZone once, for Location.
func (c *Config) loadTimeZone() error {
	loc, err := time.LoadLocation(c.Chart.TimeZone)
	if err != nil {
		return fmt.Errorf("Chart.TimeZone %q: unknown time zone (want an IANA name such as UTC or Europe/Berlin)", c.Chart.TimeZone)
	}
	c.loc = loc
	return nil
}

// checkWebAuth refuses WebAuth without a password, which would else be
// the admin's.
func (c *Config) checkWebAuth() error {
	if c.Listen.WebAuth.Enable && c.Listen.WebAuth.Password == "" {
		return errors.New("Listen.WebAuth.Enable is true but Listen.WebAuth.Password is empty: set it (SRVMON_LISTEN_WEBAUTH_PASSWORD) or disable WebAuth")
	}
	return nil
}

// checkAllowedHosts accepts host names, optionally with a port, and "*".
func (c *Config) checkAllowedHosts() error {
	if c.Listen.AllowedHosts == nil {
		c.Listen.AllowedHosts = []string{}
	}
	for _, h := range c.Listen.AllowedHosts {
		if h == "*" {
			continue
		}
		host, port := h, "1"
		if hh, pp, err := net.SplitHostPort(h); err == nil {
			host, port = hh, pp
		}
		if host == "" || strings.ContainsAny(h, "/*@ ?#") || strings.ContainsFunc(h, isControl) || checkPort("", port, false) != nil {
			return fmt.Errorf("Listen.AllowedHosts: %q is not a host name (want e.g. monitor.example.com, without scheme or path, or *)", h)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkPort accepts a decimal TCP port; zero only when allowZero.
func checkPort(name, port string, allowZero bool) error {
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (n == 0 && !allowZero) {
		lo := 1
		if allowZero {
			lo = 0
		}
		return fmt.Errorf("%s %q: want a port number from %d to 65535", name, port, lo)
	}
	return nil
}

// resolveDB sets DB.Type to one of the Store kinds, as gosrvmon reads its
// DB section, with srvmon's default when nothing is configured.
func (c *Config) resolveDB(defaultDatabase string, storeUnused bool) (warnings []string, err error) {
	db := &c.DB
	switch t := strings.ToLower(strings.TrimSpace(db.Type)); t {
	case "":
		db.Type = ""
	case "bolt", "bbolt":
		db.Type = StoreBolt
	case "ql":
		db.Type = StoreQL
	case "pg", "pq", "postgres", "postgresql":
		db.Type = StorePostgres
	case "memory", "mem":
		db.Type = StoreMemory
	default:
		return nil, fmt.Errorf("DB.Type %q: unknown database type (want bolt, ql, pg or memory)", db.Type)
	}
	if db.URL != "" {
		if db.Type != "" && db.Type != StorePostgres {
			return nil, fmt.Errorf("DB.URL is set (a PostgreSQL URL) but DB.Type is %q", db.Type)
		}
		u, err := url.Parse(db.URL)
		if !isKeywordValue(db.URL) && (err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql")) {
			// Never echo the URL: it may hold a password.
			return nil, errors.New("DB.URL (DATABASE_URL): want a postgres:// or postgresql:// URL")
		}
		db.Type = StorePostgres
	}
	if db.Type == "" {
		switch {
		case db.Database != "" || db.Host != "":
			db.Type = StoreBolt // gosrvmon's default type
		case defaultDatabase != "":
			db.Database = defaultDatabase
			db.Type = StoreBolt
		case storeUnused:
			db.Type = StoreMemory
		default:
			return nil, errors.New("no database configured: set DATABASE_URL, or DB in the config (-config, -confstr or SRVMON_DB_*)")
		}
	}
	if (db.Type == StoreBolt || db.Type == StoreQL) && db.Database == "" {
		// gosrvmon keeps everything in memory when Database is empty.
		db.Type = StoreMemory
	}
	if db.Type == StoreMemory && !storeUnused {
		warnings = append(warnings, "DB: results are kept in memory and lost on exit (set DB.Database to keep them)")
	}
	return warnings, nil
}

// isKeywordValue reports whether s looks like libpq's keyword/value
// connection settings ("host=db user=srvmon password='…'"): it begins
// with a keyword and "=". The driver parses the rest.
func isKeywordValue(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n\v\f")
	n := 0
	for n < len(s) && (s[n] == '_' || 'a' <= s[n] && s[n] <= 'z' || 'A' <= s[n] && s[n] <= 'Z' || n > 0 && '0' <= s[n] && s[n] <= '9') {
		n++
	}
	return n > 0 && strings.HasPrefix(strings.TrimLeft(s[n:], " \t\r\n\v\f"), "=")
}
