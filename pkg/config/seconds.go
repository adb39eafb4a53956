package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Seconds is a duration that gosrvmon's config spells as a whole number of
// seconds, in JSON and in the environment. It is decoded into a
// time.Duration once, by Load, so that code reads durations, never counts.
type Seconds time.Duration

// Duration is s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) }

// count is s in whole seconds, as the config spells it.
func (s Seconds) count() int64 { return int64(time.Duration(s) / time.Second) }

// String is the count of seconds, as the environment spells it ("60").
func (s Seconds) String() string { return strconv.FormatInt(s.count(), 10) }

// secondsOf converts a count of seconds. Counts beyond time.Duration's
// range (about 292 years) saturate: validation refuses anything over 100
// years or below zero, so a saturated value is never used.
func secondsOf(n int64) Seconds {
	const limit = math.MaxInt64 / int64(time.Second)
	switch {
	case n > limit:
		return Seconds(math.MaxInt64)
	case n < -limit:
		return Seconds(math.MinInt64)
	}
	return Seconds(time.Duration(n) * time.Second)
}

var secondsType = reflect.TypeFor[Seconds]()

// UnmarshalJSON reads an integer, as encoding/json reads gosrvmon's int64
// fields; null leaves s as it is. Anything else is the
// *json.UnmarshalTypeError encoding/json would return for an int64.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: secondsType}
	}
	*s = secondsOf(n)
	return nil
}

// UnmarshalText reads an integer from the environment.
func (s *Seconds) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", text)
	}
	*s = secondsOf(n)
	return nil
}

// MarshalJSON writes the whole seconds, as the config spells them, so
// that a loaded Config written as JSON loads again as itself.
func (s Seconds) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, s.count(), 10), nil }
