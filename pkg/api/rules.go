package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/store"
)

// rulesList serves GET /api/notifications_params: every rule as
// gosrvmon's {"host","threshold","action"} with srvmon's fields, its
// channels masked (notify.RedactChannel): they hold tokens. A client that
// sends a masked channel back unchanged keeps the stored one (setRule).
func (s *server) rulesList(w http.ResponseWriter, r *http.Request) {
	rules, err := s.Store.Rules(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for i := range rules {
		rules[i].Channels = maskChannels(rules[i].Channels)
	}
	writeJSON(w, http.StatusOK, nonNil(rules))
}

// maskChannels returns channels as notify.RedactChannel shows them.
func maskChannels(channels []string) []string {
	if channels == nil {
		return nil
	}
	masked := make([]string, len(channels))
	for i, c := range channels {
		masked[i] = notify.RedactChannel(c)
	}
	return masked
}

// rulesSet serves POST /api/notifications_params: adds or replaces the
// rule in the JSON body. 201.
func (s *server) rulesSet(w http.ResponseWriter, r *http.Request) {
	var rule store.Rule
	err := decodeSmallJSON(w, r, &rule)
	if err == nil {
		err = s.setRule(r.Context(), rule)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// rulesDelete serves DELETE /api/notifications_params: the body is the
// host whose rule to delete. 404 if it has none.
func (s *server) rulesDelete(w http.ResponseWriter, r *http.Request) {
	host, err := readSmallBody(w, r)
	if err == nil {
		err = s.deleteRule(r.Context(), host)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// checkRule validates a rule's fields (notify.CheckRule): a 400 if they
// are bad.
func checkRule(rule store.Rule) error {
	if err := notify.CheckRule(rule); err != nil {
		return badRequest(err.Error())
	}
	return nil
}

// setRule validates a rule and stores it: 404 if its host is not stored.
// Masked channels are first replaced by the stored ones they stand for
// (unmaskChannels).
func (s *server) setRule(ctx context.Context, rule store.Rule) error {
	rule, err := s.prepareRule(ctx, rule)
	if err != nil {
		return err
	}
	return storeErr(s.Store.SetRule(ctx, rule), rule.Host)
}

// prepareRule trims a rule from a client, unmasks its channels and
// validates it.
func (s *server) prepareRule(ctx context.Context, rule store.Rule) (store.Rule, error) {
	rule.Host = strings.TrimSpace(rule.Host)
	rule.Action = strings.TrimSpace(rule.Action)
	for i, c := range rule.Channels {
		rule.Channels[i] = strings.TrimSpace(c)
	}
	if rule.Host == "" {
		return rule, checkRule(rule)
	}
	channels, err := s.unmaskChannels(ctx, rule.Host, rule.Channels)
	if err != nil {
		return rule, err
	}
	rule.Channels = channels
	return rule, checkRule(rule)
}

// unmaskChannels replaces each masked channel (notify.IsRedactedChannel),
// as GET /api/notifications_params shows it, by the channel of host's
// stored rule that it is the mask of, so that a client editing a rule
// need not retype the secrets. Two stored channels may have the same
// mask: each stored channel stands for one masked channel at most, in
// order. A masked channel that matches none is a 400: it would store the
// mask itself.
func (s *server) unmaskChannels(ctx context.Context, host string, channels []string) ([]string, error) {
	if !slices.ContainsFunc(channels, notify.IsRedactedChannel) {
		return channels, nil
	}
	var stored []string
	switch old, err := s.Store.Rule(ctx, host); {
	case err == nil:
		stored = old.Channels
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	used := make([]bool, len(stored))
	out := make([]string, len(channels))
	for i, c := range channels {
		out[i] = c
		if !notify.IsRedactedChannel(c) {
			continue
		}
		j := -1
		for k := range stored {
			if !used[k] && notify.RedactChannel(stored[k]) == c {
				j = k
				break
			}
		}
		if j < 0 {
			return nil, badRequest(fmt.Sprintf("channels[%d]: %q is masked and is none of host %q's stored channels: send the whole URL", i, c, host))
		}
		used[j] = true
		out[i] = stored[j]
	}
	return out, nil
}

// deleteRule deletes a host's rule: 404 if it has none.
func (s *server) deleteRule(ctx context.Context, host string) error {
	if host == "" {
		return badRequest("missing host")
	}
	err := s.Store.DeleteRule(ctx, host)
	if errors.Is(err, store.ErrNotFound) {
		return &httpError{http.StatusNotFound, fmt.Sprintf("host %q has no notification rule", host)}
	}
	return err
}

// testTimeout bounds a test of a rule's channels when Options.Sender
// has no Timeout.
const testTimeout = 10 * time.Second

// rulesTest serves POST /api/notifications_params/test: the body is a
// rule (as POST /api/notifications_params takes it, masked channels
// included), or {"host": H} alone for H's stored rule. It sends a test
// message through each of the rule's channels and its action, now, and
// answers 200 with each one's outcome (notify.TestResult), channels
// masked. Nothing is stored. 400 for a bad rule, 404 for an unknown host
// or a host without a rule when only the host is given.
func (s *server) rulesTest(w http.ResponseWriter, r *http.Request) {
	var rule store.Rule
	err := decodeSmallJSON(w, r, &rule)
	if err == nil {
		rule, err = s.testRule(r.Context(), rule)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(s.sendTest(r.Context(), rule)))
}

// sendTest sends a test message through rule's channels and action
// (notify.Sender.SendTest) and returns each one's outcome.
func (s *server) sendTest(ctx context.Context, rule store.Rule) []notify.TestResult {
	sender := s.Sender
	if sender == nil {
		sender = &notify.Sender{Timeout: testTimeout}
	}
	var v notify.Vars
	v.Slot, v.TimeZone = s.Now().UTC(), s.Chart.TimeZone
	if m, err := s.Store.Monitor(ctx, rule.Host); err == nil {
		v.Name, v.Group = m.Name, m.Group
	}
	return sender.SendTest(ctx, rule, v)
}

// testRule is the rule a test request names: the stored one for a body
// with a host alone, else the body's, unmasked and validated.
func (s *server) testRule(ctx context.Context, rule store.Rule) (store.Rule, error) {
	rule.Host = strings.TrimSpace(rule.Host)
	if rule.Host == "" {
		return rule, badRequest("missing host")
	}
	if ok, err := s.Store.HostExists(ctx, rule.Host); err != nil || !ok {
		return rule, cmp.Or(err, unknownHost(rule.Host))
	}
	if len(rule.Channels) == 0 && strings.TrimSpace(rule.Action) == "" {
		stored, err := s.Store.Rule(ctx, rule.Host)
		if errors.Is(err, store.ErrNotFound) {
			return rule, &httpError{http.StatusNotFound, fmt.Sprintf("host %q has no notification rule", rule.Host)}
		}
		return stored, err
	}
	return s.prepareRule(ctx, rule)
}
