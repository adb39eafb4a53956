package api

import "fmt"

// maxJSONDepth bounds the nesting of the small JSON bodies the API
// decodes (a checks request, a notification rule): theirs is 1, and
// unknown fields are ignored (as gosrvmon does), so a deeper value only
// costs decoding time and stack.
const maxJSONDepth = 32

// checkJSONDepth reports a 400 when the JSON text b nests arrays and
// objects deeper than max. It looks only at brackets outside strings, so
// it runs before decoding and whatever else is wrong with b is left to
// the decoder.
func checkJSONDepth(b []byte, max int) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > max {
				return badRequest(fmt.Sprintf("bad JSON body: nested deeper than %d levels", max))
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}
