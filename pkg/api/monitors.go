package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// monitorBodyBytes limits a monitor's JSON body: its settings may hold a
// request body of monitor.MaxBodyLen and monitor.MaxHeaders headers of
// monitor.MaxHeaderLen, escaped.
const monitorBodyBytes = 1 << 20

// factFields are the read-only fields of a monitor's JSON, which the
// store's facts fill in: a body may carry them (a monitor read and sent
// back), and they are ignored.
var factFields = []string{"cert_expiry", "push_url", "last_push"}

// monitorFacts are the read-only fields of a monitor's JSON.
type monitorFacts struct {
	CertExpiry time.Time `json:"cert_expiry,omitzero"`
	PushURL    string    `json:"push_url,omitempty"`
	LastPush   time.Time `json:"last_push,omitzero"`
}

// isPush reports whether host is a push:// monitor's, which is never
// probed: it reports in at /api/push/TOKEN.
func isPush(host string) bool {
	t, err := probe.Parse(host)
	return err == nil && t.Kind == probe.KindPush
}

// pushPath is the path of a push token's URL, relative to the handler's
// root.
func pushPath(token string) string { return "api/push/" + token }

// canSeeSecrets reports whether r may read a monitor's secrets (header
// values, request body, push token): only a request that could change
// the monitor may, i.e. one that passes the write guard (an allowed Host
// and, with Auth.Enable, the credentials). Everybody else who may read
// sees them masked, so that ProtectReads off does not publish tokens.
func (s *server) canSeeSecrets(r *http.Request) bool {
	return s.hostAllowed(r) && (!s.Auth.Enable || s.authorized(r))
}

// viewMonitor is m as r's sender may see it: the host masked
// (probe.MaskSecrets, as /api/hosts shows it) and, unless secrets, the
// header values, body and push token masked.
func viewMonitor(m monitor.Monitor, secrets bool) monitor.Monitor {
	m.Host = probe.MaskSecrets(m.Host)
	if secrets {
		return m
	}
	if len(m.Headers) > 0 {
		hs := make(map[string]string, len(m.Headers))
		for k := range m.Headers {
			hs[k] = probe.MaskedValue
		}
		m.Headers = hs
	}
	if m.Body != "" {
		m.Body = probe.MaskedValue
	}
	m.PushToken = ""
	return m
}

// factsOf is what f says about m, as r's sender may see it: the push URL
// needs secrets.
func factsOf(m monitor.Monitor, f store.Facts, secrets bool) monitorFacts {
	mf := monitorFacts{CertExpiry: f.CertExpiry.UTC(), LastPush: f.LastPush.UTC()}
	if secrets && m.PushToken != "" {
		mf.PushURL = pushPath(m.PushToken)
	}
	return mf
}

// marshalMonitor writes m's JSON, as r's sender may see it, with its
// facts after its own fields.
func marshalMonitor(m monitor.Monitor, f store.Facts, secrets bool) (json.RawMessage, error) {
	return json.Marshal(struct {
		monitor.Monitor
		monitorFacts
	}{viewMonitor(m, secrets), factsOf(m, f, secrets)})
}

// factsByHost indexes the store's facts by host.
func (s *server) factsByHost(ctx context.Context) (map[string]store.Facts, error) {
	fs, err := s.Store.Facts(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]store.Facts, len(fs))
	for _, f := range fs {
		m[f.Host] = f
	}
	return m, nil
}

// monitorsList serves GET /api/monitors: every monitor with its settings
// and facts, by host.
func (s *server) monitorsList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ms, err := s.Store.Monitors(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	facts, err := s.factsByHost(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secrets := s.canSeeSecrets(r)
	out := []byte{'['}
	for i, m := range ms {
		b, err := marshalMonitor(m, facts[m.Host], secrets)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	out = append(out, "]\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// monitorGet serves GET /api/monitor?host=H: one monitor, named whole or
// masked (resolveHost). 404 for an unknown host.
func (s *server) monitorGet(w http.ResponseWriter, r *http.Request) {
	m, err := s.monitorParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeMonitor(w, r, http.StatusOK, m)
}

// monitorParam reads the query's host and returns its stored monitor.
func (s *server) monitorParam(r *http.Request) (monitor.Monitor, error) {
	q, err := queryParams(r)
	if err != nil {
		return monitor.Monitor{}, err
	}
	host := q.Get("host")
	if host == "" {
		return monitor.Monitor{}, badRequest("missing host parameter")
	}
	return s.storedMonitor(r.Context(), host)
}

// storedMonitor returns the monitor of a host named whole or masked: 404
// if there is none.
func (s *server) storedMonitor(ctx context.Context, host string) (monitor.Monitor, error) {
	host, err := s.resolveHost(ctx, host)
	if err != nil {
		return monitor.Monitor{}, err
	}
	m, err := s.Store.Monitor(ctx, host)
	return m, storeErr(err, host)
}

// writeMonitor answers m with its facts.
func (s *server) writeMonitor(w http.ResponseWriter, r *http.Request, code int, m monitor.Monitor) {
	facts, err := s.factsByHost(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := marshalMonitor(m, facts[m.Host], s.canSeeSecrets(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, code, b)
}

// monitorPut serves PUT /api/monitor: the body is a monitor, which is
// created (201) or replaces the stored one (200). The answer is the
// monitor as stored, with its push URL.
func (s *server) monitorPut(w http.ResponseWriter, r *http.Request) {
	m, err := decodeMonitor(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m, created, err := s.saveMonitor(r.Context(), m, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	s.writeMonitor(w, r, code, m)
}

// monitorDelete serves DELETE /api/monitor?host=H: deletes the monitor
// with its results, rule and deliveries, as DELETE /api/hosts does.
func (s *server) monitorDelete(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r)
	if err == nil {
		err = s.deleteHost(r.Context(), q.Get("host"))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// isJSON reports whether r's body is declared JSON.
func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// managedErr is the answer to a change of a monitor the config file
// manages.
func managedErr(host string) error {
	return &httpError{http.StatusConflict, fmt.Sprintf("host %q is managed by the config file", probe.MaskSecrets(host))}
}

// existsErr is the answer to adding a host that is stored.
func existsErr(host string) error {
	return &httpError{http.StatusConflict, fmt.Sprintf("host %q already exists", host)}
}

// saveMonitor validates m and stores it: 409 for a host the config file
// manages (whatever the body holds: it cannot be changed here) and, unless
// replace, for a stored host; then a 400 naming the field for a bad one,
// 409 for a push token another monitor holds. A push monitor without a
// token keeps its stored one, or gets a new one. It
// returns the monitor as stored and whether it was created.
func (s *server) saveMonitor(ctx context.Context, m monitor.Monitor, replace bool) (monitor.Monitor, bool, error) {
	if m.Source != "" {
		return m, false, badRequest("source: set by srvmon, not the API")
	}
	host, err := s.resolveHost(ctx, m.Host)
	if err != nil {
		return m, false, err
	}
	m.Host = host
	old, err := s.Store.Monitor(ctx, m.Host)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return m, false, err
	case exists && old.Source == monitor.SourceConfig:
		return m, false, managedErr(m.Host)
	case exists && !replace:
		return m, false, existsErr(m.Host)
	}
	if err := monitor.Validate(m, monitor.Limits{MaxTimeout: s.ProbeTimeout}); err != nil {
		return m, false, badRequest(err.Error())
	}
	if m.Parent != "" {
		switch ok, err := s.Store.HostExists(ctx, m.Parent); {
		case err != nil:
			return m, false, err
		case !ok:
			return m, false, badRequest(fmt.Sprintf("parent: %q is not a stored host", m.Parent))
		}
	}
	if isPush(m.Host) && m.PushToken == "" {
		m.PushToken = old.PushToken
		if m.PushToken == "" {
			m.PushToken = monitor.NewPushToken()
		}
	}
	created, err := s.Store.PutMonitor(ctx, m)
	if errors.Is(err, store.ErrExists) {
		return m, false, &httpError{http.StatusConflict, "push_token: another monitor has this push token"}
	}
	return m, created, err
}

// decodeMonitor reads a monitor's JSON body strictly: an unknown field is
// a 400 naming it, so is "source" (srvmon sets it), and a value that does
// not decode is a 400 naming its field. The read-only facts (factFields)
// are ignored, so that a monitor read from the API can be sent back.
func decodeMonitor(w http.ResponseWriter, r *http.Request) (monitor.Monitor, error) {
	b, err := readMonitorBody(w, r)
	if err != nil {
		return monitor.Monitor{}, err
	}
	return parseMonitor(b)
}

// readMonitorBody reads a monitor's body, at most monitorBodyBytes.
func readMonitorBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(requestBody(w, r, monitorBodyBytes, nil))
	if err != nil {
		return nil, bodyError(fmt.Errorf("bad JSON body: %w", err))
	}
	return b, nil
}

// parseMonitor is decodeMonitor of a body already read.
func parseMonitor(b []byte) (monitor.Monitor, error) {
	var m monitor.Monitor
	if !utf8.Valid(b) {
		return m, badRequest("bad JSON body: not valid UTF-8")
	}
	if err := checkJSONDepth(b, maxJSONDepth); err != nil {
		return m, err
	}
	var fields map[string]json.RawMessage
	if err := strictUnmarshal(b, &fields); err != nil {
		return m, badRequest(fmt.Sprintf("bad JSON body: %v (send a monitor object)", err))
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case strings.EqualFold(k, "source"):
			return m, badRequest("source: set by srvmon, not the API")
		case slices.ContainsFunc(factFields, func(f string) bool { return strings.EqualFold(f, k) }):
			delete(fields, k)
			continue
		}
		// Each field alone, so that an error names the field it is in.
		one, err := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		if err == nil {
			err = strictUnmarshal(one, new(monitor.Monitor))
		}
		if err != nil {
			return m, badRequest(fieldReason(k, err))
		}
	}
	rest, err := json.Marshal(fields)
	if err == nil {
		err = strictUnmarshal(rest, &m)
	}
	if err != nil {
		return m, badRequest(fmt.Sprintf("bad JSON body: %v", err))
	}
	return m, nil
}

// strictUnmarshal decodes one JSON value, refusing unknown fields and
// anything after the value.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one value")
	}
	return nil
}

// fieldReason is the one-line reason for field's value that did not
// decode: "field: unknown field" or "field: why".
func fieldReason(field string, err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return field + ": unknown field"
	case errors.As(err, &te):
		return fmt.Sprintf("%s: a JSON %s is not a %s", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
	}
	return field + ": " + strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names a Go kind as JSON does.
func jsonKind(kind string) string {
	switch kind {
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	case "ptr", "bool":
		return "boolean"
	case "int64", "int", "float64":
		return "number"
	}
	return kind
}
