package notify

// TEMPORARY until the channels branch lands (it owns render.go).

import (
	"strings"
	"time"
)

const (
	DefaultTitle   = "{NAME} is {STATE}"
	DefaultMessage = "{NAME} is {STATE}"
)

type Vars struct {
	Event, Host, Name, Group, State, Reason string
	Slot                                    time.Time
	RTT, Duration                           time.Duration
	Locations, Children                     []string
	CertExpiry                              time.Time
}

func Render(tmpl string, v Vars) string {
	return strings.NewReplacer("{NAME}", v.Name, "{STATE}", v.State).Replace(tmpl)
}
