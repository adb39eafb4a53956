package bolt

// Interim: monitor settings are not stored by this backend yet (the
// memory backend's are the reference); hosts read as monitors without
// settings. Replaced by the real implementation of issue 11.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

var errNoSettings = errors.New("bolt: monitor settings are not stored yet")

func monitorsOf(hosts []string, err error) ([]monitor.Monitor, error) {
	if err != nil {
		return nil, err
	}
	ms := make([]monitor.Monitor, len(hosts))
	for i, h := range hosts {
		ms[i].Host = h
	}
	return ms, nil
}

func (s *Store) Monitors(ctx context.Context) ([]monitor.Monitor, error) {
	return monitorsOf(s.Hosts(ctx))
}

func (s *Store) Monitor(ctx context.Context, host string) (monitor.Monitor, error) {
	ok, err := s.HostExists(ctx, host)
	if err != nil {
		return monitor.Monitor{}, err
	}
	if !ok {
		return monitor.Monitor{}, fmt.Errorf("bolt: host %q: %w", host, store.ErrNotFound)
	}
	return monitor.Monitor{Host: host}, nil
}

func (s *Store) PutMonitor(ctx context.Context, m monitor.Monitor) (bool, error) {
	if !m.Settings.IsZero() || m.Source != "" {
		return false, errNoSettings
	}
	err := s.AddHost(ctx, m.Host)
	if errors.Is(err, store.ErrExists) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) MonitorByPushToken(ctx context.Context, token string) (monitor.Monitor, error) {
	return monitor.Monitor{}, fmt.Errorf("bolt: push token: %w", store.ErrNotFound)
}

func (s *Store) Facts(ctx context.Context) ([]store.Facts, error) { return []store.Facts{}, nil }

func (s *Store) RecordPush(ctx context.Context, token string, at time.Time, r store.Result, advance store.AdvanceFunc) (string, error) {
	return "", fmt.Errorf("bolt: push token: %w", store.ErrNotFound)
}

func (sn snapshot) Monitors(ctx context.Context) ([]monitor.Monitor, error) {
	return monitorsOf(sn.Hosts(ctx))
}
