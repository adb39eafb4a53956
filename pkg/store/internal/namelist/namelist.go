// Package namelist keeps a list of location names (store.State's
// Locations) in one text value, for the backends whose columns hold no
// lists of strings of any length: the names joined by newlines, which a
// location name never holds (monitor.Settings and the checker refuse
// them). No list is ""; a list of the one empty name (the default
// location) is "\n", so that the two differ.
package namelist

import "strings"

// Join returns the text of names.
func Join(names []string) string {
	switch {
	case len(names) == 0:
		return ""
	case len(names) == 1 && names[0] == "":
		return "\n"
	}
	return strings.Join(names, "\n")
}

// Split returns the names of a text of Join; nil for "".
func Split(s string) []string {
	switch s {
	case "":
		return nil
	case "\n":
		return []string{""}
	}
	return strings.Split(s, "\n")
}
