// Package apiwire makes the API handler's options and the rounds'
// /metrics families from the config, for the binaries that serve the API
// (cmd/api, cmd/standalone). It is apart from internal/app so that
// cmd/checker, which serves nothing, does not link pkg/api.
package apiwire

import (
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/srvmon/srvmon/internal/app"
	"github.com/srvmon/srvmon/pkg/api"
	"github.com/srvmon/srvmon/pkg/chart"
	"github.com/srvmon/srvmon/pkg/config"
	"github.com/srvmon/srvmon/pkg/store"
)

// APIOptions are the handler's options for cfg. checker runs single
// checks; it is used only when Checks.AllowSingleChecks is on. The names
// allowed in the Host header of changes (AllowedHosts) are
// Listen.AllowedHosts and Listen.Address's host; on Lambda any, since API
// Gateway sends its own name and nobody can rebind a name to a Lambda.
func APIOptions(cfg config.Config, lambda bool, st store.Store, checker api.Checker, log *slog.Logger) api.Options {
	o := api.Options{
		Store:        st,
		AllowedHosts: allowedHosts(cfg, lambda),
		Auth: api.Auth{
			Enable:       cfg.Listen.WebAuth.Enable,
			User:         cfg.Listen.WebAuth.User,
			Password:     cfg.Listen.WebAuth.Password,
			ProtectReads: cfg.Listen.WebAuth.ProtectReads,
		},
		Interval: cfg.Interval(),
		Chart: chart.Options{
			MaxRTTScale:     time.Duration(cfg.Chart.MaxRTTScale) * time.Millisecond,
			DynamicRTTScale: cfg.Chart.DynamicRTTScale,
			TimeZone:        cfg.Location(),
		},
		RemoteTimeout:   cfg.Checks.RemoteTimeout.Duration(),
		MaxBodyBytes:    cfg.Listen.MaxBodyBytes,
		StatusPublic:    cfg.Status.Public,
		MetricsToken:    cfg.Metrics.Token,
		ProbeTimeout:    cfg.Timeout(),
		LocationTimeout: cfg.Notify.LocationTimeout.Duration(),
		Sender:          app.NewSender(cfg, log),
		Logger:          log,
	}
	if o.RemoteTimeout == 0 {
		o.RemoteTimeout = cfg.Timeout() // gosrvmon's timeout of remote requests
	}
	if cfg.Checks.AllowSingleChecks {
		o.Checker = checker
	}
	if cfg.Checks.UseRemoteChecks {
		o.RemoteChecksURLs = cfg.Checks.RemoteChecksURLs
	}
	return o
}

// allowedHosts are the api.Options.AllowedHosts for cfg.
func allowedHosts(cfg config.Config, lambda bool) []string {
	if lambda {
		return []string{"*"}
	}
	hosts := slices.Clone(cfg.Listen.AllowedHosts)
	if addr := strings.TrimSpace(cfg.Listen.Address); addr != "" {
		hosts = append(hosts, addr)
	}
	return hosts
}
