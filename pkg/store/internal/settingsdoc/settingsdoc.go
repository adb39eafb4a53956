// Package settingsdoc encodes a monitor's settings and source as the one
// JSON document per host that the bolt, ql and postgres backends store.
// One document, rather than a column or a key per setting, so that a
// later setting needs no schema change: a document written before it
// simply reads with the setting zero.
package settingsdoc

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/srvmon/srvmon/pkg/monitor"
)

// doc is what is stored: the settings (promoted to the top level, as in
// the monitor's own JSON) and the source. The host is the document's key.
type doc struct {
	monitor.Settings
	Source string `json:"source,omitempty"`
}

// Stored reports whether m has anything to store: a monitor without
// settings and with the API's source has no document.
func Stored(m monitor.Monitor) bool {
	return !m.Settings.IsZero() || m.Source != monitor.SourceAPI
}

// Encode returns m's document (its settings and source, not its host).
func Encode(m monitor.Monitor) ([]byte, error) {
	b, err := json.Marshal(doc{Settings: m.Settings, Source: m.Source})
	if err != nil {
		return nil, fmt.Errorf("settings of %q: %w", m.Host, err)
	}
	return b, nil
}

// Decode returns the monitor of host whose document is b; an empty b is
// a monitor without settings. The result shares nothing with b.
//
// A round lists every monitor, so Decode is on its path once per stored
// document: documents as Encode writes them take a fast path
// (decodeFast); any other reads with encoding/json, which says what is
// wrong with it.
func Decode(host string, b []byte) (monitor.Monitor, error) {
	m := monitor.Monitor{Host: host}
	if len(b) == 0 {
		return m, nil
	}
	if decodeFast(b, &m) {
		return m, nil
	}
	m = monitor.Monitor{Host: host}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		return m, fmt.Errorf("settings of %q: %w", host, err)
	}
	m.Settings, m.Source = d.Settings, d.Source
	return m, nil
}

// decodeFast decodes into m a document made only of what Encode writes:
// an object of the settings' own keys, each with a value of its type,
// whose strings hold no escape and are valid UTF-8. It reads it with gjson,
// with no reflection: about 5 times faster than encoding/json on a push
// monitor's document. It returns false, m partly set, for any other
// document, which encoding/json then reads: so both read every document
// alike (FuzzDecode checks it).
func decodeFast(b []byte, m *monitor.Monitor) bool {
	if !gjson.ValidBytes(b) {
		return false
	}
	r := gjson.ParseBytes(b)
	if !r.IsObject() {
		return false
	}
	ok := true
	r.ForEach(func(k, v gjson.Result) bool {
		ok = plainString(k) && setField(m, k.Str, v)
		return ok
	})
	return ok
}

// setField sets the setting key of m to v, reporting whether it could.
func setField(m *monitor.Monitor, key string, v gjson.Result) bool {
	s := &m.Settings
	switch key {
	case "name":
		return setString(&s.Name, v)
	case "group":
		return setString(&s.Group, v)
	case "parent":
		return setString(&s.Parent, v)
	case "method":
		return setString(&s.Method, v)
	case "body":
		return setString(&s.Body, v)
	case "push_token":
		return setString(&s.PushToken, v)
	case "source":
		return setString(&m.Source, v)
	case "conditions":
		if !v.IsArray() {
			return false
		}
		cs := []string{}
		ok := true
		v.ForEach(func(_, c gjson.Result) bool {
			ok = plainString(c)
			cs = append(cs, c.Str)
			return ok
		})
		s.Conditions = cs
		return ok
	case "headers":
		if !v.IsObject() {
			return false
		}
		hs := s.Headers // a key given twice merges, as in encoding/json
		if hs == nil {
			hs = map[string]string{}
		}
		ok := true
		v.ForEach(func(k, h gjson.Result) bool {
			ok = plainString(k) && plainString(h)
			hs[k.Str] = h.Str
			return ok
		})
		s.Headers = hs
		return ok
	case "follow_redirects":
		return setBoolPtr(&s.FollowRedirects, v)
	case "status":
		return setBoolPtr(&s.Status, v)
	case "insecure_skip_verify":
		if v.Type != gjson.True && v.Type != gjson.False {
			return false
		}
		s.InsecureSkipVerify = v.Type == gjson.True
		return true
	case "timeout":
		return setDuration(&s.Timeout, v)
	case "grace":
		return setDuration(&s.Grace, v)
	}
	return false
}

// plainString reports whether v is a JSON string without escapes and of
// valid UTF-8: then v.Str is its value as encoding/json reads it.
func plainString(v gjson.Result) bool {
	return v.Type == gjson.String && strings.IndexByte(v.Raw, '\\') < 0 && utf8.ValidString(v.Str)
}

func setString(dst *string, v gjson.Result) bool {
	if !plainString(v) {
		return false
	}
	*dst = v.Str
	return true
}

// setDuration sets a duration that Encode wrote: a plain string that
// time.ParseDuration reads (monitor.Duration reads the rest).
func setDuration(dst *monitor.Duration, v gjson.Result) bool {
	if !plainString(v) {
		return false
	}
	d, err := time.ParseDuration(v.Str)
	if err != nil {
		return false
	}
	*dst = monitor.Duration(d)
	return true
}

// setBoolPtr sets an optional boolean (a *bool setting) to a JSON true or
// false.
func setBoolPtr(dst **bool, v gjson.Result) bool {
	if v.Type != gjson.True && v.Type != gjson.False {
		return false
	}
	b := v.Type == gjson.True
	*dst = &b
	return true
}
