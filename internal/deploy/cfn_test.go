package deploy

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// This file reads CloudFormation (SAM) templates three ways:
//
//   - rawTemplate (ReadTemplate): the YAML as written, short-form tags
//     (!Ref X) turned into their long form ({"Ref": "X"}), nothing
//     resolved. For what goformation cannot decode (ScheduleV2 events,
//     Rules).
//   - typedTemplate: goformation's typed template, with Globals merged into
//     every function as SAM merges them, and every intrinsic kept as
//     goformation encodes it (see keepIntrinsics), so that !Ref and !GetAtt
//     can be asserted instead of turning into defaults or nil.
//   - Stack (template.go): the raw template evaluated for given parameter
//     values, as CloudFormation would, for the subset of intrinsics srvmon
//     uses.

// rawTemplate reads a template with ReadTemplate and fails the test on
// an error.
func rawTemplate(t *testing.T, file string) map[string]any {
	t.Helper()
	tpl, err := ReadTemplate(file)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// typedTemplate parses a template with goformation, intrinsics kept (see
// keepIntrinsics) and Globals merged into the functions.
func typedTemplate(t *testing.T, path string) *cloudformation.Template {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	processed, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: keepIntrinsics(),
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var tpl map[string]any
	if err := json.Unmarshal(processed, &tpl); err != nil {
		t.Fatal(err)
	}
	mergeFunctionGlobals(tpl)
	merged, err := json.Marshal(tpl)
	if err != nil {
		t.Fatal(err)
	}
	// goformation.ParseJSON would run the default handlers again; the
	// template is already processed.
	typed, err := goformation.ParseJSONWithOptions(merged, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("%s: goformation: %v", path, err)
	}
	return typed
}

// keepIntrinsics are intrinsic handlers that keep every intrinsic as
// goformation encodes one in a string field (base64 of its JSON, see
// cloudformation.Ref), instead of the default handlers' resolution to a
// parameter's default (Ref) or nil (GetAtt). Two adjustments let the typed
// structs decode: a Ref to a list parameter is a list holding that Ref,
// and an Fn::If whose branch is a mapping or a list is that branch (the
// raw template keeps the condition).
func keepIntrinsics() map[string]intrinsics.IntrinsicHandler {
	h := map[string]intrinsics.IntrinsicHandler{}
	for _, name := range []string{
		"Fn::Base64", "Fn::And", "Fn::Equals", "Fn::If", "Fn::Not", "Fn::Or",
		"Fn::FindInMap", "Fn::GetAtt", "Fn::GetAZs", "Fn::ImportValue", "Fn::Join",
		"Fn::Select", "Fn::Split", "Fn::Sub", "Ref", "Fn::Cidr", "Fn::Transform",
	} {
		h[name] = keepIntrinsic
	}
	h["Ref"] = func(name string, input, template any) any {
		if p, ok := input.(string); ok {
			typ, _ := path(template, "Parameters", p, "Type").(string)
			if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
				return []any{keepIntrinsic(name, input, template)}
			}
		}
		return keepIntrinsic(name, input, template)
	}
	h["Fn::If"] = func(name string, input, template any) any {
		if args, ok := input.([]any); ok && len(args) == 3 {
			for _, branch := range args[1:] {
				switch branch.(type) {
				case map[string]any, []any:
					return branch
				}
			}
		}
		return keepIntrinsic(name, input, template)
	}
	return h
}

func keepIntrinsic(name string, input, _ any) any {
	b, err := json.Marshal(map[string]any{name: input})
	if err != nil {
		return nil // the template was JSON a moment ago
	}
	return base64.StdEncoding.EncodeToString(b)
}

// decodeIntrinsics undoes keepIntrinsics' encoding in v, recursively, so
// that a typed field compares with the long form: {"Ref": "Interval"}.
func decodeIntrinsics(v any) any {
	switch v := v.(type) {
	case string:
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return v
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil || !isIntrinsic(m) {
			return v
		}
		return decodeIntrinsics(m)
	case *string:
		if v == nil {
			return nil
		}
		return decodeIntrinsics(*v)
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = decodeIntrinsics(e)
		}
		return out
	case []any:
		out := []any{}
		for _, e := range v {
			out = append(out, decodeIntrinsics(e))
		}
		return out
	case []string:
		out := []any{}
		for _, e := range v {
			out = append(out, decodeIntrinsics(e))
		}
		return out
	}
	return v
}
