package config

import (
	"fmt"
	"reflect"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
)

// A setting is one field's default and bounds: Defaults starts from def,
// and Load gives a field def again when the layers leave it zero
// (gosrvmon's "zero means default"). A negative number is an error, a
// Seconds longer than maxSeconds too. The probe's defaults are probe's
// own constants: config shows them (EnvTable) but does not restate them.
type setting struct {
	field string // the JSON path, e.g. "Checks.Interval"
	def   any    // of the field's type; nil: zero stays zero
	// negativeIsDefault: a negative value means def, not an error
	// (gosrvmon's Chart.MaxRttScale).
	negativeIsDefault bool
	// check validates the field once its default is in; nil for none.
	check func(c *Config) error
}

// settings are checked in this order, so that of two mistakes in one
// config the same one is always reported.
var settings = []setting{
	{field: "Listen.Port", def: DefaultListenPort, check: func(c *Config) error {
		return checkPort("Listen.Port", c.Listen.Port, true)
	}},
	{field: "DB.Port", check: func(c *Config) error {
		if c.DB.Port == "" || c.DB.URL != "" {
			return nil
		}
		return checkPort("DB.Port", c.DB.Port, false)
	}},
	{field: "Listen.ReadTimeout", def: Seconds(30 * time.Second)},
	{field: "Listen.WriteTimeout", def: Seconds(60 * time.Second)},
	{field: "Listen.ShutdownTimeout", def: Seconds(60 * time.Second)},
	{field: "Checks.Timeout", def: Seconds(probe.DefaultTimeout)},
	{field: "Checks.Interval", def: Seconds(DefaultInterval * time.Second)},
	{field: "Checks.Retention"},
	{field: "Checks.RemoteTimeout"},
	{field: "Notify.Timeout", def: Seconds(10 * time.Second)},
	{field: "Notify.MaxAge", def: Seconds(24 * time.Hour)},
	{field: "Notify.RetryDelay", def: Seconds(30 * time.Second)},
	{field: "Notify.LocationTimeout", def: Seconds(10 * time.Minute)},
	{field: "Listen.MaxBodyBytes", def: int64(1 << 30)},
	{field: "Listen.LambdaPayload", def: LambdaPayloadV2, check: func(c *Config) error {
		if p := c.Listen.LambdaPayload; p != LambdaPayloadV1 && p != LambdaPayloadV2 {
			return fmt.Errorf("Listen.LambdaPayload %q: want 2.0 or 1.0", p)
		}
		return nil
	}},
	{field: "Checks.Concurrency", def: probe.DefaultConcurrency},
	{field: "Checks.ICMPConcurrency", def: probe.DefaultICMPConcurrency},
	{field: "Checks.PingRetryCount", def: uint32(probe.DefaultPingCount)},
	{field: "Chart.MaxRttScale", def: int64(200), negativeIsDefault: true}, // milliseconds
	{field: "Checks.HTTPMethod", def: probe.DefaultHTTPMethod, check: checkHTTPMethod},
	{field: "Chart.TimeZone", def: "UTC"},
}

// maxSeconds bounds every Seconds field: 100 years. time.Duration holds
// about 292 years; nothing sane is longer than 100.
const maxSeconds = 100 * 366 * 24 * 3600

// Defaults returns the configuration used when nothing is configured,
// except for the database, whose default Load takes from its caller.
func Defaults() Config {
	var c Config
	c.Checks.PerformChecks = true
	c.Checks.RemoteChecksURLs = []string{}
	c.Listen.AllowedHosts = []string{}
	v, index := reflect.ValueOf(&c).Elem(), fieldIndexes()
	for _, s := range settings {
		if s.def != nil {
			v.FieldByIndex(index.of(s.field)).Set(reflect.ValueOf(s.def))
		}
	}
	return c
}

// applySettings fills the defaults of the fields left zero and checks
// every setting's bounds, in the order of settings.
func (c *Config) applySettings() error {
	v, index := reflect.ValueOf(c).Elem(), fieldIndexes()
	for _, s := range settings {
		if err := s.apply(v.FieldByIndex(index.of(s.field))); err != nil {
			return err
		}
		if s.check != nil {
			if err := s.check(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply gives v, the field of s, its default when zero and checks its
// bounds.
func (s setting) apply(v reflect.Value) error {
	signed := v.CanInt()
	if s.def != nil && (v.IsZero() || signed && s.negativeIsDefault && v.Int() < 0) {
		v.Set(reflect.ValueOf(s.def))
	}
	if !signed {
		return nil
	}
	n := v.Int()
	if sec, ok := v.Interface().(Seconds); ok {
		n = sec.count()
	}
	switch {
	case n < 0:
		return fmt.Errorf("%s is %d: it must not be negative", s.field, n)
	case v.Type() == secondsType && n > maxSeconds:
		return fmt.Errorf("%s is %d seconds: that is more than 100 years", s.field, n)
	}
	return nil
}

// indexes maps the JSON path of every leaf field to its reflect index.
type indexes map[string][]int

// fieldIndexes walks Config once for the indexes of all its leaf fields,
// so that going through the settings costs one walk, not one a setting.
func fieldIndexes() indexes {
	fs := fields()
	index := make(indexes, len(fs))
	for _, f := range fs {
		index[f.name()] = f.index
	}
	return index
}

// of is the reflect index of the leaf field at a JSON path; it panics on a
// path that is not one, which any Load would hit.
func (index indexes) of(path string) []int {
	ix, ok := index[path]
	if !ok {
		panic("config: no field " + path)
	}
	return ix
}
