package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
)

// MonitorList is the config's Monitors: monitors as code. Each entry is a
// monitor object in the API's JSON (pkg/monitor) without "source", which
// srvmon sets ("config") when it reconciles the list into the store
// (monitor.Reconcile).
//
// Nil and empty differ, and Load keeps the difference: a nil list (no
// Monitors in any layer, or only null) means this process does not manage
// monitors, and leaves every stored monitor alone; a list, even an empty
// one, is the truth for the monitors it manages, so that a monitor the
// file no longer declares is deleted. When several processes share one
// database, give the list to exactly one kind of process (or the same
// list to all): a Lambda checker without Monitors must not delete a
// VPS's file monitors, and it does not.
//
// A layer (file, -confstr, SRVMON_MONITORS) that sets Monitors replaces
// the whole list; the entries are not merged with a lower layer's.
type MonitorList []monitor.Monitor

// String is the list as SRVMON_MONITORS spells it: a JSON array; "" for
// nil.
func (l MonitorList) String() string {
	if l == nil {
		return ""
	}
	b, err := json.Marshal([]monitor.Monitor(l))
	if err != nil {
		return fmt.Sprintf("(unprintable: %v)", err)
	}
	return string(b)
}

// monitorsType is MonitorList's type, for messages.
var monitorsType = reflect.TypeFor[MonitorList]()

// monitorFieldError is a Monitors entry that does not decode; decodeJSON
// reports it as it is (it already names the entry and the field).
type monitorFieldError struct{ msg string }

func (e *monitorFieldError) Error() string { return e.msg }

// UnmarshalJSON reads a JSON array of monitor objects, replacing the
// whole list; null leaves l as it is. Entries are strict: an unknown
// field or "source" is an error naming the entry and the field, because
// a misspelt setting ("conditon") would else be dropped in silence.
func (l *MonitorList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) == 0 || b[0] != '[' {
		return &monitorFieldError{fmt.Sprintf("Monitors: got JSON %s, want an array of monitor objects", jsonKind(b))}
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return &monitorFieldError{fmt.Sprintf("Monitors: %v", err)}
	}
	list := make(MonitorList, len(raws))
	for i, raw := range raws {
		m, err := decodeMonitor(raw)
		if err != nil {
			return &monitorFieldError{entryName(i, m.Host) + ": " + err.Error()}
		}
		list[i] = m
	}
	*l = list
	return nil
}

// UnmarshalText reads SRVMON_MONITORS: the same JSON array as the file's
// Monitors.
func (l *MonitorList) UnmarshalText(b []byte) error {
	var list MonitorList
	if err := list.UnmarshalJSON(b); err != nil {
		return err
	}
	if list != nil { // "null" leaves l as it is, as in JSON
		*l = list
	}
	return nil
}

// entryName names Monitors entry i for a message, with its host (secrets
// masked) when it has one.
func entryName(i int, host string) string {
	if host == "" {
		return fmt.Sprintf("Monitors[%d]", i)
	}
	return fmt.Sprintf("Monitors[%d] (host %q)", i, probe.MaskSecrets(host))
}

// monitorKeys are the JSON names of a monitor's fields, which the
// config's entries may hold: every one but "source".
var monitorKeys = func() []string {
	var keys []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			sf := t.Field(i)
			if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
				walk(sf.Type)
				continue
			}
			if name, _, _ := strings.Cut(sf.Tag.Get("json"), ","); name != "" && name != "-" {
				keys = append(keys, name)
			}
		}
	}
	walk(reflect.TypeFor[monitor.Monitor]())
	return keys
}()

// decodeMonitor decodes one entry, key by key so that every error names
// its field. It returns what it decoded so far with an error, so that
// the message can name the host.
func decodeMonitor(raw json.RawMessage) (monitor.Monitor, error) {
	var m monitor.Monitor
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return m, fmt.Errorf("got JSON %s, want a monitor object", jsonKind(bytes.TrimSpace(raw)))
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	// The host first, so that later errors can name it; then in a fixed
	// order, so that of two bad fields the same one is reported.
	slices.SortFunc(keys, func(a, b string) int {
		if ha, hb := strings.EqualFold(a, "host"), strings.EqualFold(b, "host"); ha != hb {
			if ha {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		name := k
		if i := slices.IndexFunc(monitorKeys, func(f string) bool { return strings.EqualFold(f, k) }); i >= 0 {
			name = monitorKeys[i]
		}
		switch {
		case name == "source":
			return m, fmt.Errorf("source: srvmon sets it (%q for every monitor of this list); leave it out", monitor.SourceConfig)
		case !slices.Contains(monitorKeys, name):
			return m, fmt.Errorf("unknown field %q (want one of %s)", k, strings.Join(slices.DeleteFunc(slices.Clone(monitorKeys), func(f string) bool { return f == "source" }), ", "))
		}
		one, _ := json.Marshal(map[string]json.RawMessage{k: obj[k]})
		if err := json.Unmarshal(one, &m); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) {
				return m, fmt.Errorf("%s: got JSON %s, want %s", name, typ.Value, describe(typ.Type))
			}
			return m, fmt.Errorf("%s: %v", name, err)
		}
	}
	return m, nil
}

// checkMonitors validates every entry of Monitors (monitor.Validate,
// with the probe timeout as the longest timeout) and refuses two entries
// for one host or one push token. Its errors name the layer that set the
// list, the entry and the field.
func (c *Config) checkMonitors() error {
	lim := monitor.Limits{MaxTimeout: c.Timeout()}
	hosts := make(map[string]int, len(c.Monitors))
	tokens := make(map[string]int)
	for i, m := range c.Monitors {
		err := monitor.Validate(m, lim)
		if err == nil && m.Source != monitor.SourceAPI {
			err = errors.New("source: srvmon sets it; leave it out")
		}
		if j, dup := hosts[m.Host]; err == nil && dup {
			err = fmt.Errorf("host: the same host as Monitors[%d]; a host is one monitor", j)
		}
		if j, dup := tokens[m.PushToken]; err == nil && dup && m.PushToken != "" {
			err = fmt.Errorf("push_token: the same push token as Monitors[%d]", j)
		}
		if err != nil {
			return fmt.Errorf("%s%s: %w", c.monitorsFrom, entryName(i, m.Host), err)
		}
		hosts[m.Host] = i
		if m.PushToken != "" {
			tokens[m.PushToken] = i
		}
	}
	return nil
}

// ManagesMonitors reports whether this process manages monitors as code:
// whether Monitors was given at all, even as []. See MonitorList.
func (c Config) ManagesMonitors() bool { return c.Monitors != nil }
