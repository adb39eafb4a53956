package deploy

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ReadTemplate reads a CloudFormation (SAM) template in YAML into maps,
// lists and scalars, as written: short-form tags (!Ref X) in their long
// form ({"Ref": "X"}), nothing resolved, Globals not merged. For what
// goformation cannot decode (ScheduleV2 events, Rules), and for a Stack.
func ReadTemplate(file string) (map[string]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	v, err := longForm(&doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: the template is not a mapping", file)
	}
	return m, nil
}

// longForm converts a YAML node, turning !Ref x into {"Ref": x} and
// !Name x into {"Fn::Name": x}.
func longForm(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one YAML document", n.Line)
		}
		return longForm(n.Content[0])
	case yaml.AliasNode:
		return longForm(n.Alias)
	}
	var v any
	custom := strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!")
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice", n.Content[i].Line, k)
			}
			val, err := longForm(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = val
		}
		v = m
	case yaml.SequenceNode:
		list := []any{}
		for _, c := range n.Content {
			val, err := longForm(c)
			if err != nil {
				return nil, err
			}
			list = append(list, val)
		}
		v = list
	case yaml.ScalarNode:
		if custom {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	if custom {
		name := strings.TrimPrefix(n.Tag, "!")
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		return map[string]any{name: v}, nil
	}
	return v, nil
}

// path walks a template read by ReadTemplate: path(tpl, "Resources",
// "Api", "Properties"). It returns nil where the path ends early.
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// isIntrinsic reports whether v is one intrinsic function in long form.
func isIntrinsic(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// mergeGlobals merges a Globals section into a resource's properties as
// SAM does: a property the resource sets wins, maps are merged key by key,
// lists are concatenated (globals first), intrinsics count as scalars. It
// changes neither argument.
func mergeGlobals(global, props map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range props {
		out[k] = v
	}
	for k, g := range global {
		p, set := out[k]
		if !set {
			out[k] = g
			continue
		}
		gm, gok := g.(map[string]any)
		pm, pok := p.(map[string]any)
		if gok && pok && !isIntrinsic(gm) && !isIntrinsic(pm) {
			out[k] = mergeGlobals(gm, pm)
			continue
		}
		gl, gok := g.([]any)
		pl, pok := p.([]any)
		if gok && pok {
			out[k] = append(slices.Clone(gl), pl...)
		}
	}
	return out
}

// functionProperties is the properties of the AWS::Serverless::Function
// name of tpl with Globals.Function merged in, as SAM deploys them.
func functionProperties(tpl map[string]any, name string) (map[string]any, error) {
	if path(tpl, "Resources", name, "Type") != "AWS::Serverless::Function" {
		return nil, fmt.Errorf("no AWS::Serverless::Function %s", name)
	}
	global, _ := path(tpl, "Globals", "Function").(map[string]any)
	props, _ := path(tpl, "Resources", name, "Properties").(map[string]any)
	return mergeGlobals(global, props), nil
}

// mergeFunctionGlobals merges Globals.Function into the properties of
// every AWS::Serverless::Function of tpl, in place.
func mergeFunctionGlobals(tpl map[string]any) {
	resources, _ := tpl["Resources"].(map[string]any)
	for name, r := range resources {
		if props, err := functionProperties(tpl, name); err == nil {
			r.(map[string]any)["Properties"] = props
		}
	}
}

// noValue is what AWS::NoValue evaluates to: the property is left out.
type noValue struct{}

// Stack is a template evaluated for parameter values, as CloudFormation
// evaluates it when it creates a stack, for the intrinsic functions
// srvmon's template uses (a missing one is an error, never a guess).
type Stack struct {
	tpl    map[string]any
	params map[string]any // string, or []string for list parameters
	conds  map[string]bool
}

// pseudoParam is the value of a pseudo parameter in a Stack.
func pseudoParam(name string) (string, bool) {
	switch name {
	case "AWS::Region":
		return "eu-central-1", true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::Partition":
		return "aws", true
	case "AWS::StackName":
		return "srvmon", true
	}
	return "", false
}

// NewStack takes every parameter's default, overrides some with params,
// checks every value against its parameter's constraints and evaluates
// the conditions. It does not check the Rules: see CheckRules.
func NewStack(tpl map[string]any, params map[string]string) (*Stack, error) {
	s := &Stack{tpl: tpl, params: map[string]any{}, conds: map[string]bool{}}
	declared, _ := tpl["Parameters"].(map[string]any)
	for k := range params {
		if _, ok := declared[k]; !ok {
			return nil, fmt.Errorf("no parameter %s", k)
		}
	}
	for name, p := range declared {
		p, _ := p.(map[string]any)
		val, set := params[name]
		if !set {
			def, ok := p["Default"]
			if !ok {
				return nil, fmt.Errorf("parameter %s has no default and no value", name)
			}
			val = fmt.Sprint(def)
		}
		if err := checkParam(name, p, val); err != nil {
			return nil, err
		}
		typ, _ := p["Type"].(string)
		if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
			// CloudFormation splits "" into one empty member.
			s.params[name] = strings.Split(val, ",")
		} else {
			s.params[name] = val
		}
	}
	conds, _ := tpl["Conditions"].(map[string]any)
	for name := range conds {
		if _, err := s.condition(name, nil); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkParam applies a parameter's AllowedValues, AllowedPattern, MinValue
// and MaxValue to val, as CloudFormation does before it creates anything.
func checkParam(name string, p map[string]any, val string) error {
	if allowed, ok := p["AllowedValues"].([]any); ok {
		if !slices.ContainsFunc(allowed, func(a any) bool { return fmt.Sprint(a) == val }) {
			return fmt.Errorf("parameter %s: %q is not one of %v", name, val, allowed)
		}
	}
	if pat, ok := p["AllowedPattern"].(string); ok {
		re, err := regexp.Compile(pat)
		if err != nil {
			return fmt.Errorf("parameter %s: AllowedPattern: %w", name, err)
		}
		if !re.MatchString(val) {
			return fmt.Errorf("parameter %s: %q does not match %s", name, val, pat)
		}
	}
	if p["Type"] == "Number" {
		n, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("parameter %s: %q is not a number", name, val)
		}
		if lo, ok := p["MinValue"].(int); ok && n < float64(lo) {
			return fmt.Errorf("parameter %s: %v is below %d", name, n, lo)
		}
		if hi, ok := p["MaxValue"].(int); ok && n > float64(hi) {
			return fmt.Errorf("parameter %s: %v is above %d", name, n, hi)
		}
	}
	return nil
}

// CheckRules evaluates the template's Rules for the stack's parameters,
// as CloudFormation does before it creates anything, and returns the
// first assertion that fails.
func (s *Stack) CheckRules() error {
	rules, _ := s.tpl["Rules"].(map[string]any)
	names := make([]string, 0, len(rules))
	for name := range rules {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		r := rules[name]
		if c := path(r, "RuleCondition"); c != nil {
			v, err := s.Eval(c)
			if err != nil {
				return fmt.Errorf("rule %s: %w", name, err)
			}
			if v != true {
				continue
			}
		}
		list, _ := path(r, "Assertions").([]any)
		for _, a := range list {
			v, err := s.Eval(path(a, "Assert"))
			if err != nil {
				return fmt.Errorf("rule %s: %w", name, err)
			}
			if v != true {
				return fmt.Errorf("rule %s: %v", name, path(a, "AssertDescription"))
			}
		}
	}
	return nil
}

// Function is the evaluated properties of the AWS::Serverless::Function
// name, Globals.Function merged in.
func (s *Stack) Function(name string) (map[string]any, error) {
	props, err := functionProperties(s.tpl, name)
	if err != nil {
		return nil, err
	}
	v, err := s.Eval(props)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return v.(map[string]any), nil
}

// FunctionEnvironment is the environment the function name gets from the
// stack (Environment.Variables, Globals merged in): what its process sees
// on Lambda besides the variables Lambda itself sets.
func (s *Stack) FunctionEnvironment(name string) (map[string]string, error) {
	props, err := s.Function(name)
	if err != nil {
		return nil, err
	}
	vars, _ := path(props, "Environment", "Variables").(map[string]any)
	env := map[string]string{}
	for k, v := range vars {
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: environment %s is %v (%T): Lambda takes strings only", name, k, v, v)
		}
		env[k] = str
	}
	return env, nil
}

// condition evaluates the named condition once; seen guards against
// cycles.
func (s *Stack) condition(name string, seen []string) (bool, error) {
	if v, ok := s.conds[name]; ok {
		return v, nil
	}
	if slices.Contains(seen, name) {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	expr := path(s.tpl, "Conditions", name)
	if expr == nil {
		return false, fmt.Errorf("no condition %s", name)
	}
	v, err := s.evalIn(expr, append(seen, name))
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s is %v, not true or false", name, v)
	}
	s.conds[name] = b
	return b, nil
}

// Eval evaluates v, a part of the template: intrinsics resolved,
// properties set to AWS::NoValue left out. A Ref or GetAtt of a resource
// evaluates to "<Name>" or "<Name.Attribute>", as its physical value is
// only known in AWS.
func (s *Stack) Eval(v any) (any, error) { return s.evalIn(v, nil) }

func (s *Stack) evalIn(v any, seen []string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		if isIntrinsic(v) {
			for name, arg := range v {
				return s.intrinsic(name, arg, seen)
			}
		}
		out := map[string]any{}
		for k, e := range v {
			ev, err := s.evalIn(e, seen)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, skip := ev.(noValue); !skip {
				out[k] = ev
			}
		}
		return out, nil
	case []any:
		out := []any{}
		for _, e := range v {
			ev, err := s.evalIn(e, seen)
			if err != nil {
				return nil, err
			}
			if _, skip := ev.(noValue); !skip {
				out = append(out, ev)
			}
		}
		return out, nil
	}
	return v, nil
}

// listOfStrings returns v, an evaluated list, as strings.
func listOfStrings(v any) ([]string, bool) {
	switch list := v.(type) {
	case []string:
		return list, true
	case []any:
		out := make([]string, 0, len(list))
		for _, e := range list {
			str, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, str)
		}
		return out, true
	}
	return nil, false
}

func (s *Stack) intrinsic(name string, arg any, seen []string) (any, error) {
	args := func(n int) ([]any, error) {
		list, ok := arg.([]any)
		if !ok || (n > 0 && len(list) != n) {
			return nil, fmt.Errorf("%s: want a list of %d, got %v", name, n, arg)
		}
		out := make([]any, len(list))
		for i, a := range list {
			v, err := s.evalIn(a, seen)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	switch name {
	case "Ref":
		return s.ref(arg)
	case "Condition":
		c, _ := arg.(string)
		return s.condition(c, seen)
	case "Fn::If":
		list, ok := arg.([]any)
		if !ok || len(list) != 3 {
			return nil, fmt.Errorf("Fn::If: want [condition, then, else], got %v", arg)
		}
		c, _ := list[0].(string)
		b, err := s.condition(c, seen)
		if err != nil {
			return nil, err
		}
		if b {
			return s.evalIn(list[1], seen)
		}
		return s.evalIn(list[2], seen)
	case "Fn::Equals":
		a, err := args(2)
		if err != nil {
			return nil, err
		}
		return fmt.Sprint(a[0]) == fmt.Sprint(a[1]), nil
	case "Fn::EachMemberEquals":
		// A Rules function: whether every member of a list equals a
		// string.
		a, err := args(2)
		if err != nil {
			return nil, err
		}
		list, ok := listOfStrings(a[0])
		str, sok := a[1].(string)
		if !ok || !sok {
			return nil, fmt.Errorf("Fn::EachMemberEquals: want [list, string], got %v", a)
		}
		for _, e := range list {
			if e != str {
				return false, nil
			}
		}
		return true, nil
	case "Fn::Not":
		a, err := args(1)
		if err != nil {
			return nil, err
		}
		b, ok := a[0].(bool)
		if !ok {
			return nil, fmt.Errorf("Fn::Not of %v", a[0])
		}
		return !b, nil
	case "Fn::And", "Fn::Or":
		a, err := args(0)
		if err != nil {
			return nil, err
		}
		and := name == "Fn::And"
		res := and
		for _, e := range a {
			b, ok := e.(bool)
			if !ok {
				return nil, fmt.Errorf("%s of %v", name, e)
			}
			if and {
				res = res && b
			} else {
				res = res || b
			}
		}
		return res, nil
	case "Fn::Join":
		a, err := args(2)
		if err != nil {
			return nil, err
		}
		parts, ok := listOfStrings(a[1])
		if !ok {
			return nil, fmt.Errorf("Fn::Join of %v", a[1])
		}
		return strings.Join(parts, fmt.Sprint(a[0])), nil
	case "Fn::FindInMap":
		a, err := args(3)
		if err != nil {
			return nil, err
		}
		v := path(s.tpl, "Mappings", fmt.Sprint(a[0]), fmt.Sprint(a[1]), fmt.Sprint(a[2]))
		if v == nil {
			return nil, fmt.Errorf("Fn::FindInMap: no %v", a)
		}
		return v, nil
	case "Fn::Sub":
		str, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("Fn::Sub: only the string form is evaluated, got %v", arg)
		}
		var subErr error
		out := subVar.ReplaceAllStringFunc(str, func(m string) string {
			ref := m[2 : len(m)-1]
			if strings.Contains(ref, ".") {
				return "<" + ref + ">"
			}
			v, err := s.ref(ref)
			if err != nil {
				subErr = err
			}
			str, ok := v.(string)
			if !ok && subErr == nil {
				subErr = fmt.Errorf("Fn::Sub: ${%s} is %v, not a string", ref, v)
			}
			return str
		})
		return out, subErr
	}
	return nil, fmt.Errorf("intrinsic %s is not evaluated here: teach Stack.intrinsic", name)
}

// subVar matches ${Name} and ${Name.Attribute} in Fn::Sub, not ${!Literal}.
var subVar = regexp.MustCompile(`\$\{[A-Za-z0-9:.]+\}`)

func (s *Stack) ref(arg any) (any, error) {
	name, ok := arg.(string)
	if !ok {
		return nil, fmt.Errorf("Ref of %v", arg)
	}
	if name == "AWS::NoValue" {
		return noValue{}, nil
	}
	if v, ok := pseudoParam(name); ok {
		return v, nil
	}
	if v, ok := s.params[name]; ok {
		return v, nil
	}
	if path(s.tpl, "Resources", name) != nil {
		return "<" + name + ">", nil
	}
	return nil, fmt.Errorf("Ref %s: no such parameter or resource", name)
}
