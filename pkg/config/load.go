package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
)

// Source says where Load finds the configuration.
type Source struct {
	// File is a gosrvmon JSON config file (-config), or a YAML one when
	// its name ends in .yaml or .yml (see yamlToJSON); "" for none.
	File string
	// JSON is a gosrvmon JSON config string (-confstr); "" for none. It
	// overrides the file.
	JSON string
	// Env holds the environment as KEY=value lines (os.Environ()); nil
	// for none. It overrides the file and JSON.
	Env []string
	// DefaultDatabase is the bolt file used when no DB setting is given at
	// all (no DB.Type, DB.Database, DB.Host or DB.URL from any layer).
	// When it is "", such a config is an error: the binary needs
	// DATABASE_URL or a DB section.
	DefaultDatabase string
	// StoreUnused says the caller opens no store (a single -check): with
	// no DB setting at all, the store is memory rather than an error.
	StoreUnused bool
}

// AddFlags binds gosrvmon's -config and -confstr flags to s.File and s.JSON.
func (s *Source) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.File, "config", s.File, "gosrvmon JSON config `file` (YAML when it ends in .yaml or .yml)")
	fs.StringVar(&s.JSON, "confstr", s.JSON, "gosrvmon JSON config as a `string` (overrides -config)")
}

// Load reads the configuration: defaults, then src.File, then src.JSON,
// then src.Env; it resolves the store and the time zone and validates
// every field. Its error is one line that names the offending field.
func Load(src Source) (Config, error) {
	c := Defaults()
	var warnings []string
	if src.File != "" {
		data, err := os.ReadFile(src.File)
		if err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		prefix := "config file " + src.File + ": "
		if isYAMLFile(src.File) {
			if data, err = yamlToJSON(data); err != nil {
				return Config{}, fmt.Errorf("%s%w", prefix, err)
			}
		}
		w, err := c.decodeLayer(data, prefix)
		if err != nil {
			return Config{}, fmt.Errorf("%s%w", prefix, err)
		}
		warnings = append(warnings, prefixAll(prefix, w)...)
	}
	if src.JSON != "" {
		w, err := c.decodeLayer([]byte(src.JSON), "-confstr: ")
		if err != nil {
			return Config{}, fmt.Errorf("-confstr: %w", err)
		}
		warnings = append(warnings, prefixAll("-confstr: ", w)...)
	}
	monitors := c.Monitors
	c.Monitors = nil
	envWarnings, urlFromEnv, typeFromEnv, err := applyEnv(&c, src.Env)
	if err != nil {
		return Config{}, err
	}
	if c.Monitors == nil {
		c.Monitors = monitors
	} else {
		c.monitorsFrom = "environment " + envPrefix + "MONITORS: "
	}
	slices.Sort(envWarnings)
	warnings = append(warnings, envWarnings...)
	if urlFromEnv && !typeFromEnv {
		// DATABASE_URL from the environment means PostgreSQL, whatever
		// type a file names.
		c.DB.Type = ""
	}
	w, err := c.normalize(src.DefaultDatabase, src.StoreUnused)
	if err != nil {
		return Config{}, err
	}
	c.warnings = append(warnings, w...)
	return c, nil
}

// decodeLayer decodes one layer's JSON over c (decodeJSON) and, when it
// sets Monitors, records the layer (its message prefix) for the errors
// of checkMonitors.
func (c *Config) decodeLayer(data []byte, prefix string) ([]string, error) {
	monitors := c.Monitors
	c.Monitors = nil
	w, err := decodeJSON(c, data)
	if c.Monitors == nil {
		c.Monitors = monitors
	} else {
		c.monitorsFrom = prefix
	}
	return w, err
}

func prefixAll(prefix string, list []string) []string {
	for i := range list {
		list[i] = prefix + list[i]
	}
	return list
}

// decodeJSON decodes one JSON object over c, as gosrvmon does (fields left
// out keep their value; unknown fields are ignored), and returns a warning
// for each unknown field.
func decodeJSON(c *Config, data []byte) (warnings []string, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(c); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: more data after the config object")
	}
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, jsonError(data, err)
	}
	unknownFields(raw, reflect.TypeFor[Config](), "", &warnings)
	return warnings, nil
}

// unknownFields lists the keys of raw that no field of t takes.
func unknownFields(raw any, t reflect.Type, path string, out *[]string) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		sf, found := fieldFold(t, k)
		switch {
		case !found:
			*out = append(*out, fmt.Sprintf("unknown field %s%s (ignored)", path, k))
		case !isLeaf(sf.Type):
			unknownFields(obj[k], sf.Type, path+jsonName(sf)+".", out)
		}
	}
}

// fieldFold finds the exported field of t that encoding/json would decode
// key into (names match case-insensitively).
func fieldFold(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.IsExported() && jsonName(sf) == key {
			return sf, true
		}
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.IsExported() && strings.EqualFold(jsonName(sf), key) {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

// jsonError turns a decoding error into one line naming the place: the
// field for a wrong type, the line and column for bad syntax.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mon *monitorFieldError
	switch {
	case errors.As(err, &mon):
		return mon
	case errors.As(err, &syn):
		line, col := lineCol(data, syn.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, syn.Error())
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = "the config"
		}
		return fmt.Errorf("%s: got JSON %s, want %s", where, typ.Value, describe(typ.Type))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of input")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

// describe says in words what JSON a Go type takes.
func describe(t reflect.Type) string {
	if t == shardType {
		return `"i/n" or [i, n] with 0 <= i < n`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(describe(t.Elem()), "a ") + "s"
	case reflect.Struct:
		return "an object"
	}
	return t.String()
}
