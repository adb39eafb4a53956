package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Shard is Checks.Shard, "i/n": shard Index of Count, so that several
// checker invocations share one slot (round.Shard selects the targets;
// internal/app copies the numbers). The zero Shard checks every target;
// Load accepts only 0 <= Index < Count.
type Shard struct {
	Index, Count int
}

// Enabled reports whether the shard selects only part of the targets.
func (s Shard) Enabled() bool { return s.Count > 1 }

// String is "i/n", or "" for the zero Shard.
func (s Shard) String() string {
	if s == (Shard{}) {
		return ""
	}
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count)
}

// MarshalText writes "i/n" (or nothing for the zero Shard).
func (s Shard) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "i/n" (also "i,n") with 0 <= i < n; an empty text
// is the zero Shard.
func (s *Shard) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	if text == "" {
		*s = Shard{}
		return nil
	}
	i, n, ok := strings.Cut(text, "/")
	if !ok {
		i, n, ok = strings.Cut(text, ",")
	}
	if !ok {
		return fmt.Errorf("shard %q: want \"i/n\"", text)
	}
	index, err1 := strconv.Atoi(strings.TrimSpace(i))
	count, err2 := strconv.Atoi(strings.TrimSpace(n))
	if err1 != nil || err2 != nil {
		return fmt.Errorf("shard %q: want \"i/n\" with integers i and n", text)
	}
	return s.set(index, count)
}

// set checks 0 <= index < count and sets s.
func (s *Shard) set(index, count int) error {
	if count < 1 || index < 0 || index >= count {
		return fmt.Errorf("shard %d/%d: want i/n with n >= 1 and 0 <= i < n", index, count)
	}
	*s = Shard{Index: index, Count: count}
	return nil
}

var shardType = reflect.TypeFor[Shard]()

// UnmarshalJSON reads "i/n" or [i, n]; null leaves s as it is.
func (s *Shard) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		var text string
		if err := json.Unmarshal(b, &text); err != nil {
			return err
		}
		if s.UnmarshalText([]byte(text)) != nil {
			return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(text), Type: shardType}
		}
		return nil
	case len(b) > 0 && b[0] == '[':
		var pair []int
		if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 || s.set(pair[0], pair[1]) != nil {
			return &json.UnmarshalTypeError{Value: "array " + compact(b), Type: shardType}
		}
		return nil
	}
	return &json.UnmarshalTypeError{Value: jsonKind(b), Type: shardType}
}

// jsonKind names the kind of a JSON value for an error message.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number " + string(b)
}

// compact shortens a JSON value to one short line for an error message.
func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return "(invalid)"
	}
	if buf.Len() > 40 {
		return buf.String()[:37] + "..."
	}
	return buf.String()
}
