package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// hostsGet serves GET /api/hosts: the list of hosts as JSON, masked as
// readers see them (probe.MaskSecrets; backups hold them whole); with
// gosrvmon's old ?action=add|del&host= it adds or deletes a host, under
// auth, and redirects to the hosts page as gosrvmon does.
func (s *server) hostsGet(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	action := q.Get("action")
	if action == "" {
		hosts, err := s.Store.Hosts(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, maskHosts(hosts))
		return
	}
	if !s.mayAct(w, r, "GET", "change hosts") {
		return
	}
	s.hostAction(w, r, action, q.Get("host"))
}

// hostAction adds or deletes host for gosrvmon's action=add|del (the old
// query and the hosts page's form) and redirects to the hosts page.
func (s *server) hostAction(w http.ResponseWriter, r *http.Request, action, host string) {
	s.runAction(w, r, action, "web/hosts",
		func(ctx context.Context) error { return s.addHost(ctx, host) },
		func(ctx context.Context) error { return s.deleteHost(ctx, host) })
}

// runAction runs gosrvmon's action=add or action=del with add or del and
// ends with a redirect to page?action=created or deleted (post, redirect,
// get); page is a path from the handler's root ("web/hosts"). An unknown
// action is a 400.
func (s *server) runAction(w http.ResponseWriter, r *http.Request, action, page string, add, del func(context.Context) error) {
	var err error
	var done string
	switch action {
	case "add":
		err, done = add(r.Context()), "created"
	case "del":
		err, done = del(r.Context()), "deleted"
	default:
		err = badRequest(fmt.Sprintf("unknown action %q: use add or del", action))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	seeOther(w, r, page+"?action="+done)
}

// hostsAdd serves POST /api/hosts: the body is the target to add
// (gosrvmon's), or, with Content-Type application/json and a body that is
// a JSON object, a monitor (as PUT /api/monitor takes it) to create. 201;
// 409 if the host is stored. gosrvmon ignored the content type, and
// clients send the bare target as "JSON" (no target begins with "{"), so
// any other body keeps gosrvmon's meaning whatever its type.
func (s *server) hostsAdd(w http.ResponseWriter, r *http.Request) {
	var (
		host string
		err  error
	)
	if isJSON(r) {
		var b []byte
		if b, err = readMonitorBody(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
			s.addMonitor(w, r, b)
			return
		}
		if host = string(bytes.TrimSpace(b)); host == "" {
			err = badRequest("empty body: send the host as the request body")
		}
	} else {
		host, err = readSmallBody(w, r)
	}
	if err == nil {
		err = s.addHost(r.Context(), host)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// addMonitor creates the monitor whose JSON object is b: POST /api/hosts
// with a monitor.
func (s *server) addMonitor(w http.ResponseWriter, r *http.Request, b []byte) {
	m, err := parseMonitor(b)
	if err == nil {
		m, _, err = s.saveMonitor(r.Context(), m, false)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeMonitor(w, r, http.StatusCreated, m)
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

// deleteHost deletes a stored host, named whole or masked as the hosts
// page shows it (resolveHost), with its settings, results, rule and
// deliveries: 404 if there is none, 409 if the config file manages it
// (it would come back with the config's next reconciliation).
func (s *server) deleteHost(ctx context.Context, host string) error {
	if host == "" {
		return badRequest("missing host")
	}
	host, err := s.resolveHost(ctx, host)
	if err != nil {
		return err
	}
	m, err := s.Store.Monitor(ctx, host)
	if err != nil {
		return storeErr(err, host)
	}
	if m.Source == monitor.SourceConfig {
		return managedErr(host)
	}
	return storeErr(s.Store.DeleteHost(ctx, host), host)
}
