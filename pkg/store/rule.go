package store

import (
	"errors"
	"fmt"
	"net/url"
	"unicode/utf8"
)

// CheckRule validates a rule's fields, not whether its host is stored: it
// names a host, its threshold is not negative, and its action is empty
// (the rule keeps track of the state and sends nothing) or an http or
// https URL, the only requests a notification makes. notify.CheckRule
// adds srvmon's fields to it; the API and a restore both check rules with
// that, so a rule one refuses the other refuses too.
func CheckRule(r Rule) error {
	if r.Host == "" {
		return errors.New("rule without a host")
	}
	if r.Threshold < 0 {
		return fmt.Errorf("rule for %q: threshold %d is negative", r.Host, r.Threshold)
	}
	if r.Action == "" {
		return nil
	}
	u, err := url.Parse(r.Action)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !utf8.ValidString(r.Action) {
		return fmt.Errorf("rule for %q: action must be an http or https URL", r.Host)
	}
	return nil
}
