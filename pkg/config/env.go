package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// envPrefix starts the environment name of every field.
const envPrefix = "SRVMON_"

// databaseURLEnv is the conventional name that also sets DB.URL
// (SRVMON_DB_URL wins when both are set).
const databaseURLEnv = "DATABASE_URL"

// EnvVar describes the environment variable of one config field.
type EnvVar struct {
	Name    string // e.g. SRVMON_CHECKS_INTERVAL
	Field   string // the JSON path, e.g. Checks.Interval
	Default string // the default as the variable would spell it; "" when empty
	Doc     string // what the field does
}

// field is one leaf of Config found by reflection.
type field struct {
	path  []string // e.g. ["Listen", "WebAuth", "Enable"]
	index []int    // for reflect.Value.FieldByIndex
	typ   reflect.Type
	doc   string
}

func (f field) name() string { return strings.Join(f.path, ".") }

func (f field) envName() string {
	return envPrefix + strings.ToUpper(strings.Join(f.path, "_"))
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// isLeaf reports whether a field of type t is set as one value (not
// walked into).
func isLeaf(t reflect.Type) bool {
	return t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// fields walks Config's exported fields depth first, in declaration order,
// and returns its leaves.
func fields() []field {
	var out []field
	var walk func(t reflect.Type, path []string, index []int)
	walk = func(t reflect.Type, path []string, index []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() || sf.Tag.Get("json") == "-" {
				continue
			}
			p := append(append([]string(nil), path...), jsonName(sf))
			ix := append(append([]int(nil), index...), i)
			if isLeaf(sf.Type) {
				out = append(out, field{path: p, index: ix, typ: sf.Type, doc: sf.Tag.Get("doc")})
				continue
			}
			walk(sf.Type, p, ix)
		}
	}
	walk(reflect.TypeFor[Config](), nil, nil)
	return out
}

// jsonName is the name of sf in JSON (gosrvmon's), which the environment
// name and messages use: its json tag's, else its Go name.
func jsonName(sf reflect.StructField) string {
	if name, _, _ := strings.Cut(sf.Tag.Get("json"), ","); name != "" {
		return name
	}
	return sf.Name
}

// EnvNames lists the environment variable of every config field, in the
// order of the struct, with DATABASE_URL after SRVMON_DB_URL. The README's
// table is made from it (EnvTable).
func EnvNames() []EnvVar {
	def := reflect.ValueOf(Defaults())
	var out []EnvVar
	for _, f := range fields() {
		v := EnvVar{Name: f.envName(), Field: f.name(), Default: formatEnv(def.FieldByIndex(f.index)), Doc: f.doc}
		out = append(out, v)
		if v.Field == "DB.URL" {
			v.Name = databaseURLEnv
			v.Doc = "the same as SRVMON_DB_URL, which wins when both are set"
			out = append(out, v)
		}
	}
	return out
}

// EnvTable renders EnvNames as a Markdown table for the README.
func EnvTable() string {
	var b strings.Builder
	b.WriteString("| Field | Environment | Default | Meaning |\n|---|---|---|---|\n")
	for _, v := range EnvNames() {
		def := "`" + v.Default + "`"
		if v.Default == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", v.Field, v.Name, def, strings.ReplaceAll(v.Doc, "|", `\|`))
	}
	return b.String()
}

// formatEnv spells a field's value as its environment variable would.
func formatEnv(v reflect.Value) string {
	if m, ok := v.Interface().(fmt.Stringer); ok {
		return m.String()
	}
	switch v.Kind() {
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = v.Index(i).String()
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(v.Interface())
	}
}

// setFromEnv parses an environment value into a field.
func setFromEnv(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	s = strings.TrimSpace(s)
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(n)
	case reflect.Uint32, reflect.Uint64, reflect.Uint:
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a non-negative integer", s)
		}
		v.SetUint(n)
	case reflect.Slice:
		list := []string{}
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				list = append(list, part)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		// Unreachable for Config's fields; TestEnvSetsEveryField guards it.
		return fmt.Errorf("cannot set a %s from the environment", v.Type())
	}
	return nil
}

// applyEnv sets the fields named in env (KEY=value lines, as os.Environ
// gives them). A variable set to the empty string counts as unset. It
// returns warnings for unknown SRVMON_ names and whether DB.URL or DB.Type
// came from the environment.
func applyEnv(c *Config, env []string) (warnings []string, urlSet, typeSet bool, err error) {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			vars[k] = v
		}
	}
	known := map[string]bool{}
	rv := reflect.ValueOf(c).Elem()
	for _, f := range fields() {
		name := f.envName()
		known[name] = true
		val := vars[name]
		if f.name() == "DB.URL" && val == "" {
			name, val = databaseURLEnv, vars[databaseURLEnv]
		}
		if val == "" {
			continue
		}
		if err := setFromEnv(rv.FieldByIndex(f.index), val); err != nil {
			return nil, false, false, fmt.Errorf("environment %s (%s): %w", name, f.name(), err)
		}
		switch f.name() {
		case "DB.URL":
			urlSet = true
		case "DB.Type":
			typeSet = true
		}
	}
	for k := range vars {
		if strings.HasPrefix(k, envPrefix) && !known[k] && !strings.HasPrefix(k, envPrefix+"TEST_") {
			warnings = append(warnings, fmt.Sprintf("unknown environment variable %s (ignored)", k))
		}
	}
	return warnings, urlSet, typeSet, nil
}
