// Package settingsdoc encodes a monitor's settings and source as the one
// JSON document per host that the bolt, ql and postgres backends store.
// One document, rather than a column or a key per setting, so that a
// later setting needs no schema change: a document written before it
// simply reads with the setting zero.
package settingsdoc

import (
	"encoding/json"
	"fmt"

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
func Decode(host string, b []byte) (monitor.Monitor, error) {
	m := monitor.Monitor{Host: host}
	if len(b) == 0 {
		return m, nil
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		return m, fmt.Errorf("settings of %q: %w", host, err)
	}
	m.Settings, m.Source = d.Settings, d.Source
	return m, nil
}
