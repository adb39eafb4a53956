package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// Monitors lists every host as a monitor, by host; never nil.
func (s *Store) Monitors(ctx context.Context) ([]monitor.Monitor, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	ms := make([]monitor.Monitor, 0, len(s.hosts))
	for h, hd := range s.hosts {
		ms = append(ms, hd.monitor(h))
	}
	slices.SortFunc(ms, func(a, b monitor.Monitor) int { return strings.Compare(a.Host, b.Host) })
	return ms, nil
}

// Monitor returns the host's monitor; ErrNotFound if it is not stored.
func (s *Store) Monitor(ctx context.Context, host string) (monitor.Monitor, error) {
	if err := s.rlock(ctx); err != nil {
		return monitor.Monitor{}, err
	}
	defer s.mu.RUnlock()
	hd := s.hosts[host]
	if hd == nil {
		return monitor.Monitor{}, notFound(host)
	}
	return hd.monitor(host), nil
}

// PutMonitor adds m's host if needed and replaces its settings.
func (s *Store) PutMonitor(ctx context.Context, m monitor.Monitor) (bool, error) {
	if err := store.CheckHostName(m.Host); err != nil {
		return false, fmt.Errorf("memory: %w", err)
	}
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	if owner, ok := s.pushTokens[m.PushToken]; ok && m.PushToken != "" && owner != m.Host {
		return false, fmt.Errorf("memory: host %q: push token: %w", m.Host, store.ErrExists)
	}
	hd := s.hosts[m.Host]
	created := hd == nil
	if created {
		hd = newHostData(m.Host)
		s.hosts[m.Host] = hd
	}
	s.setMonitor(hd, m)
	return created, nil
}

// setMonitor replaces hd's settings and source with m's, keeping the push
// token index. The caller holds the write lock and has checked that m's
// token is not another host's.
func (s *Store) setMonitor(hd *hostData, m monitor.Monitor) {
	delete(s.pushTokens, hd.settings.PushToken)
	hd.settings = cloneSettings(m.Settings)
	hd.source = m.Source
	if m.PushToken != "" {
		s.pushTokens[m.PushToken] = m.Host
	}
}

// checkRestoredMonitors refuses monitors of a restore whose host is
// neither in the backup nor stored, or whose push token another host
// holds. The caller holds the write lock.
func (s *Store) checkRestoredMonitors(ms []monitor.Monitor, inBackup map[string]bool) error {
	tokens := make(map[string]string)
	for _, m := range ms {
		if !inBackup[m.Host] && s.hosts[m.Host] == nil {
			return fmt.Errorf("memory: restore: settings for host %q, which is neither in the backup's hosts nor stored: %w",
				m.Host, store.ErrNotFound)
		}
		if m.PushToken == "" {
			continue
		}
		owner, ok := tokens[m.PushToken]
		if !ok {
			owner, ok = s.pushTokens[m.PushToken]
		}
		if ok && owner != m.Host {
			return fmt.Errorf("memory: restore: host %q: push token: %w", m.Host, store.ErrExists)
		}
		tokens[m.PushToken] = m.Host
	}
	return nil
}

// MonitorByPushToken returns the monitor whose push token is token.
func (s *Store) MonitorByPushToken(ctx context.Context, token string) (monitor.Monitor, error) {
	if err := s.rlock(ctx); err != nil {
		return monitor.Monitor{}, err
	}
	defer s.mu.RUnlock()
	host, ok := s.pushTokens[token]
	if !ok || token == "" {
		return monitor.Monitor{}, fmt.Errorf("memory: push token: %w", store.ErrNotFound)
	}
	return s.hosts[host].monitor(host), nil
}

// Facts lists the facts of every host that has any, by host; never nil.
func (s *Store) Facts(ctx context.Context) ([]store.Facts, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	fs := []store.Facts{}
	for _, hd := range s.hosts {
		if hd.facts.Host != "" {
			fs = append(fs, hd.facts)
		}
	}
	slices.SortFunc(fs, func(a, b store.Facts) int { return strings.Compare(a.Host, b.Host) })
	return fs, nil
}

// RecordPush stores a push's result and the host's last push time.
func (s *Store) RecordPush(ctx context.Context, token string, at time.Time, r store.Result, alerting *store.Alerting) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	host, ok := s.pushTokens[token]
	if !ok || token == "" {
		return "", fmt.Errorf("memory: push token: %w", store.ErrNotFound)
	}
	r.Host = host
	if err := s.save([]store.Result{r}, alerting); err != nil {
		return "", fmt.Errorf("memory: record push: %w", err)
	}
	hd := s.hosts[host]
	if at = at.UTC(); at.After(hd.facts.LastPush) {
		hd.facts.Host = host
		hd.facts.LastPush, hd.facts.LastPushUp, hd.facts.LastPushReason = at, r.Up, r.Reason
	}
	return host, nil
}

// monitor returns the host's monitor, its settings a copy.
func (hd *hostData) monitor(host string) monitor.Monitor {
	return monitor.Monitor{Host: host, Settings: cloneSettings(hd.settings), Source: hd.source}
}

// cloneSettings copies s deeply, so that callers never share its slices
// and maps with the store. Empty ones become nil, as the other backends
// read them.
func cloneSettings(s monitor.Settings) monitor.Settings {
	conditions, headers := s.Conditions, s.Headers
	s.Conditions, s.Headers = nil, nil
	if len(conditions) > 0 {
		s.Conditions = slices.Clone(conditions)
	}
	if len(headers) > 0 {
		s.Headers = maps.Clone(headers)
	}
	for _, p := range []**bool{&s.FollowRedirects, &s.Status} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return s
}
