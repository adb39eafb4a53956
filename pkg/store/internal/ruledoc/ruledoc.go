// Package ruledoc encodes a rule's srvmon fields (store.Rule's fields
// after Action) as one JSON document, which every backend keeps beside
// gosrvmon's host, threshold and action: a later field needs no schema
// change, and a rule with none of them has the empty document, so that
// gosrvmon's rows and values are unchanged.
package ruledoc

import (
	"encoding/json"
	"fmt"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// doc is the document: store.Rule's JSON names, every one omitted when
// zero.
type doc struct {
	Channels          []string         `json:"channels,omitempty"`
	Message           string           `json:"message,omitempty"`
	RecoveryThreshold int64            `json:"recovery_threshold,omitempty"`
	Window            int64            `json:"window,omitempty"`
	Quorum            store.Quorum     `json:"quorum,omitempty"`
	RemindEvery       monitor.Duration `json:"remind_every,omitzero"`
	CertExpiryDays    int64            `json:"cert_expiry_days,omitempty"`
}

// Encode returns the document of r's srvmon fields; "" when all are zero
// (an empty Channels counts as zero).
func Encode(r store.Rule) string {
	d := doc{r.Channels, r.Message, r.RecoveryThreshold, r.Window, r.Quorum, r.RemindEvery, r.CertExpiryDays}
	if len(d.Channels) == 0 {
		d.Channels = nil
	}
	b, err := json.Marshal(d)
	if err != nil { // strings and numbers only: never
		panic(fmt.Sprintf("ruledoc: %v", err))
	}
	if string(b) == "{}" {
		return ""
	}
	return string(b)
}

// Decode sets r's srvmon fields from the document s ("" sets them zero).
func Decode(s string, r *store.Rule) error {
	var d doc
	if s != "" {
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return fmt.Errorf("rule's srvmon fields: %w", err)
		}
	}
	r.Channels, r.Message, r.RecoveryThreshold, r.Window = d.Channels, d.Message, d.RecoveryThreshold, d.Window
	r.Quorum, r.RemindEvery, r.CertExpiryDays = d.Quorum, d.RemindEvery, d.CertExpiryDays
	return nil
}
