package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/srvmon/srvmon/pkg/store"
)

// hostsGet serves GET /api/hosts: the list of hosts as JSON; with
// gosrvmon's old ?action=add|del&host= it adds or deletes a host, under
// auth, and redirects to the hosts page as gosrvmon does.
func (s *server) hostsGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	action := q.Get("action")
	if action == "" {
		hosts, err := s.Store.Hosts(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, nonNil(hosts))
		return
	}
	if r.Method != http.MethodGet { // HEAD must not change anything
		w.Header().Set("Allow", "GET")
		http.Error(w, "use GET for ?action=", http.StatusMethodNotAllowed)
		return
	}
	if s.Auth.Enable && !s.authorized(r) {
		unauthorized(w)
		return
	}
	// A GET that changes data must not be triggered by another site's
	// page (an <img> carries the browser's cached credentials).
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		http.Error(w, "refused: a cross-site request may not change hosts", http.StatusForbidden)
		return
	}
	host := q.Get("host")
	var err error
	var done string
	switch action {
	case "add":
		err, done = s.addHost(r.Context(), host), "created"
	case "del":
		err, done = s.deleteHost(r.Context(), host), "deleted"
	default:
		err = badRequest(fmt.Sprintf("unknown action %q: use add or del", action))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/web/hosts?action="+done, http.StatusSeeOther)
}

// hostsAdd serves POST /api/hosts: the body is the target to add. 201.
func (s *server) hostsAdd(w http.ResponseWriter, r *http.Request) {
	host, err := readSmallBody(w, r)
	if err == nil {
		err = s.addHost(r.Context(), host)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// hostsDelete serves DELETE /api/hosts: the body is the target to delete,
// with its results and notification rule. 200, or 404 for an unknown host.
func (s *server) hostsDelete(w http.ResponseWriter, r *http.Request) {
	host, err := readSmallBody(w, r)
	if err == nil {
		err = s.deleteHost(r.Context(), host)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// addHost validates the target's syntax and stores it: 400 for a bad
// target, 409 if it is stored already.
func (s *server) addHost(ctx context.Context, host string) error {
	if host == "" {
		return badRequest("missing host")
	}
	if err := validTarget(host); err != nil {
		return err
	}
	err := s.Store.AddHost(ctx, host)
	if errors.Is(err, store.ErrExists) {
		return &httpError{http.StatusConflict, fmt.Sprintf("host %q already exists", host)}
	}
	return err
}

// deleteHost deletes a stored host: 404 if there is none.
func (s *server) deleteHost(ctx context.Context, host string) error {
	if host == "" {
		return badRequest("missing host")
	}
	return storeErr(s.Store.DeleteHost(ctx, host), host)
}
