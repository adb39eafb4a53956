package monitor

import (
	"net/http"
	"strings"

	"github.com/srvmon/srvmon/pkg/probe"
)

// Compile returns the probe.Target that checks m: its host parsed by
// probe.Parse and, when m has a setting the probe uses, its
// *probe.Settings (the method upper-cased, header names canonical, the
// conditions compiled, follow_redirects: false as NoFollowRedirects). A
// monitor with none of those settings (name, group and push token are
// not the probe's) compiles to exactly probe.Parse's Target, whose
// Settings is nil: gosrvmon's check.
//
// Compile refuses what Validate refuses, bar the limits that depend on
// the configuration (Limits), so that settings stored by an older or
// laxer writer never reach the probe: a host that does not parse returns
// probe.Parse's error unchanged (as a round has always recorded it), any
// other invalid setting a *FieldError.
func Compile(m Monitor) (probe.Target, error) {
	t, err := probe.Parse(m.Host)
	if err != nil {
		return probe.Target{}, err
	}
	conds, err := compileSettings(m, t, Limits{})
	if err != nil {
		return probe.Target{}, err
	}
	s := m.Settings
	noFollow := s.FollowRedirects != nil && !*s.FollowRedirects
	if s.Method == "" && len(s.Headers) == 0 && s.Body == "" && !noFollow && s.Timeout == 0 &&
		!s.InsecureSkipVerify && len(conds) == 0 && s.Grace == 0 {
		return t, nil
	}
	ps := &probe.Settings{
		Method:             strings.ToUpper(s.Method),
		Body:               s.Body,
		Timeout:            s.Timeout.D(),
		NoFollowRedirects:  noFollow,
		InsecureSkipVerify: s.InsecureSkipVerify,
		Conditions:         conds,
		Grace:              s.Grace.D(),
	}
	if len(s.Headers) > 0 {
		ps.Header = make(http.Header, len(s.Headers))
		for name, value := range s.Headers {
			ps.Header.Set(name, value) // compileSettings refused names that collide
		}
	}
	t.Settings = ps
	return t, nil
}
