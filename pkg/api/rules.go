package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/srvmon/srvmon/pkg/store"
)

// rulesList serves GET /api/notifications_params: every rule as
// gosrvmon's {"host","threshold","action"}.
func (s *server) rulesList(w http.ResponseWriter, r *http.Request) {
	rules, err := s.Store.Rules(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(rules))
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

// checkRule validates a rule's fields (store.CheckRule): a 400 if they
// are bad.
func checkRule(rule store.Rule) error {
	if err := store.CheckRule(rule); err != nil {
		return badRequest(err.Error())
	}
	return nil
}

// setRule validates a rule and stores it: 404 if its host is not stored.
func (s *server) setRule(ctx context.Context, rule store.Rule) error {
	rule.Host = strings.TrimSpace(rule.Host)
	rule.Action = strings.TrimSpace(rule.Action)
	if err := checkRule(rule); err != nil {
		return err
	}
	return storeErr(s.Store.SetRule(ctx, rule), rule.Host)
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

// rulesPage serves GET /web/notifications_params: the rules, a form to add
// or change one and a button to delete each.
func (s *server) rulesPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rules, err := s.Store.Rules(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hosts, err := s.Store.Hosts(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := queryParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "rules", struct {
		Title, Root      string
		Created, Deleted bool
		Hosts            []string
		Rules            []store.Rule
	}{"Notifications", relRoot(r), q.Get("action") == "created", q.Get("action") == "deleted", hosts, rules})
}

// rulesForm serves POST /web/notifications_params with gosrvmon's form
// fields: action=add (host, threshold, state_action) or action=del (host).
// It redirects back to the page.
func (s *server) rulesForm(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	host := strings.TrimSpace(f.Get("host"))
	add := func(ctx context.Context) error {
		th, err := strconv.ParseInt(strings.TrimSpace(f.Get("threshold")), 10, 64)
		if err != nil {
			return badRequest(fmt.Sprintf("threshold %q is not a whole number", f.Get("threshold")))
		}
		return s.setRule(ctx, store.Rule{Host: host, Threshold: th, Action: f.Get("state_action")})
	}
	del := func(ctx context.Context) error { return s.deleteRule(ctx, host) }
	s.runAction(w, r, f.Get("action"), "web/notifications_params", add, del)
}
