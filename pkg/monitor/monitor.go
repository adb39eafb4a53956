// Package monitor is srvmon's model of what it checks. A monitor is a host
// (the target string as the user added it, in gosrvmon's syntax, and the
// monitor's identity) plus optional settings: a display name, a group,
// conditions that say what "up" means, HTTP options, a heartbeat's grace
// and token. A monitor without settings is gosrvmon's check of its host,
// exactly, and a gosrvmon backup restores as monitors without settings.
//
// This package owns the monitor's JSON (the API's, the config file's and
// the backup's, one form), its validation, and its compilation into the
// probe.Target that pkg/probe runs. Stores keep monitors as they are given;
// they do not validate settings.
package monitor

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Source values: who manages a monitor.
const (
	// SourceAPI (the zero value): made through the API or the web UI,
	// changed there, and left alone by the config file's reconciliation.
	SourceAPI = ""
	// SourceConfig: declared in the config file's Monitors; reconciled
	// into the store on start and every round, read-only in the UI and
	// the API.
	SourceConfig = "config"
)

// Monitor is a host with its settings.
type Monitor struct {
	Host string `json:"host"`
	Settings
	// Source says who manages the monitor: SourceAPI or SourceConfig.
	Source string `json:"source,omitempty"`
}

// Settings are a monitor's optional settings; the zero value is
// gosrvmon's check. Which settings apply to which kind of target is in
// Validate.
type Settings struct {
	// Name is the display name; the host when empty.
	Name string `json:"name,omitempty"`
	// Group gathers monitors on the dashboard and the status page.
	Group string `json:"group,omitempty"`
	// Conditions must all hold for a check to be up (pkg/probe/condition).
	Conditions []string `json:"conditions,omitempty"`
	// Parent is the host this monitor depends on (its router, its
	// database): while the parent is down, this monitor's down alert is
	// held back and listed in the parent's.
	Parent string `json:"parent,omitempty"`
	// Status says whether the public status page (and, when reads are
	// protected, its public badges) shows the monitor: true when nil;
	// false hides it. A monitor is shown unless hidden, so that a fleet
	// restored from gosrvmon has a complete status page.
	Status *bool `json:"status,omitempty"`

	// HTTP(S) only.
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// FollowRedirects is true when nil.
	FollowRedirects *bool `json:"follow_redirects,omitempty"`

	// Timeout bounds the check; the round's probe timeout when zero, and
	// never longer than it. Not for push:// monitors.
	Timeout Duration `json:"timeout,omitzero"`
	// InsecureSkipVerify skips certificate verification of https:// and
	// tls:// checks (the UI shows it as a warning); the expiry is still
	// read.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`

	// push:// only. Grace is how long a push keeps the monitor up; one
	// interval when zero. PushToken is the secret in the push URL
	// (/api/push/TOKEN), generated when the monitor is made without one.
	Grace     Duration `json:"grace,omitzero"`
	PushToken string   `json:"push_token,omitempty"`
}

// IsZero reports whether s has no setting at all: gosrvmon's check.
func (s Settings) IsZero() bool {
	return s.Name == "" && s.Group == "" && len(s.Conditions) == 0 && s.Parent == "" && s.Status == nil && s.Method == "" &&
		len(s.Headers) == 0 && s.Body == "" && s.FollowRedirects == nil && s.Timeout == 0 &&
		!s.InsecureSkipVerify && s.Grace == 0 && s.PushToken == ""
}

// OnStatusPage reports whether the public status page shows the monitor:
// unless its Status setting is false.
func (s Settings) OnStatusPage() bool { return s.Status == nil || *s.Status }

// DisplayName is the name to show: Name, or the host when it has none.
func (m Monitor) DisplayName() string {
	if m.Name != "" {
		return m.Name
	}
	return m.Host
}

// Duration is a duration in a monitor's JSON: a string in Go's syntax
// ("10s", "1m30s") or a number of seconds (as gosrvmon's config spells
// durations). It is written as a string.
type Duration time.Duration

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string or a number of seconds; null
// leaves d as it is.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if inner, ok := plainJSONString(b); ok {
			s = string(inner)
		} else if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. \"10s\", \"1m30s\")", s)
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f != f || f > maxDurationSeconds || f < -maxDurationSeconds {
		return fmt.Errorf("%s is not a duration: give a string (\"10s\") or a number of seconds", b)
	}
	*d = Duration(time.Duration(f * float64(time.Second)))
	return nil
}

// plainJSONString returns the content of b when b is a JSON string
// without escapes, quotes or invalid UTF-8 inside (what MarshalJSON
// writes): its content is then its value, and decoding it costs no call
// of encoding/json, which a store reading thousands of monitors notices.
func plainJSONString(b []byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, false
	}
	inner := b[1 : len(b)-1]
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 || c >= utf8.RuneSelf {
			return nil, false
		}
	}
	return inner, true
}

// maxDurationSeconds keeps a number of seconds within time.Duration.
const maxDurationSeconds = float64(1<<63-1) / float64(time.Second)

// NewPushToken returns a new random push token: 128 bits, hex.
func NewPushToken() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
