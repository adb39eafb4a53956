package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// isYAMLFile reports whether a config file is YAML: its name ends in
// .yaml or .yml (any case). Every other file is JSON, as in gosrvmon.
func isYAMLFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return true
	}
	return false
}

// Limits of the YAML conversion. Aliases can make a small document
// expand into a huge one; these bound what a config may expand to.
const (
	maxYAMLJSON  = 16 << 20 // bytes of JSON a YAML config may expand to
	maxYAMLDepth = 200      // nesting of mappings and sequences
)

// yamlToJSON converts a YAML config into the JSON that the JSON path
// decodes, so that a YAML file has exactly the JSON file's fields,
// defaults, strictness and messages. The conversion keeps YAML 1.2's
// core types, as yaml.v3 resolves them:
//
//   - strings stay strings: yes, no, on and off are strings (quote
//     nothing to get a bool: write true or false), and so is a
//     timestamp such as 2024-01-02;
//   - integers and floats become JSON numbers, written as in the file
//     when that is JSON already ("1.0" stays 1.0, so an integer field
//     refuses it as JSON does); 0x1F, 0o17 and 1e3 are converted;
//     .inf and .nan are errors;
//   - null and ~ become null, which leaves a field as it is;
//   - keys must be strings (1: or true: as a key is an error), and a key
//     given twice in one mapping is an error;
//   - anchors and aliases are expanded (within maxYAMLJSON bytes);
//     merge keys (<<) and tags other than the core ones are errors;
//   - the file holds one document; an empty file is an error.
//
// Errors are one line and give the line of the YAML file.
func yamlToJSON(data []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("invalid YAML: the file holds no document")
		}
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, fmt.Errorf("invalid YAML at line %d: more than one document (---): a config is one", extra.Line)
	}
	var c yamlConverter
	if err := c.node(&doc, 0); err != nil {
		return nil, err
	}
	return c.out.Bytes(), nil
}

// yamlError makes a yaml.v3 error one line ("yaml: line 3: …" already
// names the line).
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	return fmt.Errorf("invalid YAML: %s", msg)
}

// yamlConverter writes the JSON of a YAML node tree.
type yamlConverter struct {
	out bytes.Buffer
	// aliasLine is the line of the outermost alias being expanded, which
	// a message about the expansion names.
	aliasLine int
}

func (c *yamlConverter) node(n *yaml.Node, depth int) error {
	if depth > maxYAMLDepth {
		return fmt.Errorf("invalid YAML at line %d: nested deeper than %d (a recursive alias?)", n.Line, maxYAMLDepth)
	}
	if c.out.Len() > maxYAMLJSON {
		line := n.Line
		if c.aliasLine > 0 {
			line = c.aliasLine
		}
		return fmt.Errorf("invalid YAML at line %d: expands to more than %d MiB (aliases?)", line, maxYAMLJSON>>20)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return errors.New("invalid YAML: the file holds no document")
		}
		return c.node(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return fmt.Errorf("invalid YAML at line %d: alias *%s names no anchor", n.Line, n.Value)
		}
		if c.aliasLine == 0 {
			c.aliasLine = n.Line
			defer func() { c.aliasLine = 0 }()
		}
		return c.node(n.Alias, depth+1)
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.SequenceNode:
		c.out.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				c.out.WriteByte(',')
			}
			if err := c.node(item, depth+1); err != nil {
				return err
			}
		}
		c.out.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		return c.scalar(n)
	}
	return fmt.Errorf("invalid YAML at line %d: unexpected node", n.Line)
}

func (c *yamlConverter) mapping(n *yaml.Node, depth int) error {
	c.out.WriteByte('{')
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			return fmt.Errorf("invalid YAML at line %d: merge keys (<<) are not supported: repeat the fields, or use an alias for a whole value", k.Line)
		case k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str":
			return fmt.Errorf("invalid YAML at line %d: the key %s is not a string (quote it)", k.Line, yamlText(k))
		}
		if line, dup := seen[k.Value]; dup {
			return fmt.Errorf("invalid YAML at line %d: key %q is given twice (first at line %d)", k.Line, k.Value, line)
		}
		seen[k.Value] = k.Line
		if i > 0 {
			c.out.WriteByte(',')
		}
		writeJSONString(&c.out, k.Value)
		c.out.WriteByte(':')
		if err := c.node(v, depth+1); err != nil {
			return err
		}
	}
	c.out.WriteByte('}')
	return nil
}

func (c *yamlConverter) scalar(n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!str", "!!timestamp", "!!binary":
		writeJSONString(&c.out, n.Value)
	case "!!null":
		c.out.WriteString("null")
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return fmt.Errorf("invalid YAML at line %d: %s is not true or false", n.Line, yamlText(n))
		}
		c.out.WriteString(strconv.FormatBool(b))
	case "!!int":
		if isJSONNumber(n.Value) {
			c.out.WriteString(n.Value)
			break
		}
		var i int64
		if err := n.Decode(&i); err == nil {
			c.out.WriteString(strconv.FormatInt(i, 10))
			break
		}
		var u uint64
		if err := n.Decode(&u); err != nil {
			return fmt.Errorf("invalid YAML at line %d: %s is not an integer srvmon can read", n.Line, yamlText(n))
		}
		c.out.WriteString(strconv.FormatUint(u, 10))
	case "!!float":
		if isJSONNumber(n.Value) {
			c.out.WriteString(n.Value)
			break
		}
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("invalid YAML at line %d: %s is not a finite number", n.Line, yamlText(n))
		}
		c.out.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	default:
		return fmt.Errorf("invalid YAML at line %d: tag %s is not supported (a config holds strings, numbers, true/false, null, lists and mappings)", n.Line, n.Tag)
	}
	return nil
}

// yamlText shows a node's text in a message, short.
func yamlText(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "(a mapping)"
	case yaml.SequenceNode:
		return "(a sequence)"
	}
	s := strconv.Quote(n.Value)
	if len(s) > 40 {
		s = s[:37] + `..."`
	}
	return s
}

// writeJSONString writes s as a JSON string.
func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// isJSONNumber reports whether s is a number as JSON spells it.
func isJSONNumber(s string) bool {
	if s == "" || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil && string(n) == s
}
