// Package connstr masks the passwords of PostgreSQL connection strings in
// text, so that a log line or an error message never shows one.
//
// It knows every form a password takes in what pgx and libpq read: the
// userinfo of a postgres:// or postgresql:// URL (user:PASSWORD@host), its
// query parameters password and sslpassword (the passphrase of sslkey),
// and keyword/value settings (password=PASSWORD, password='quoted \'
// value'). It depends on the standard library alone, so that the config
// can use it without linking a driver.
package connstr

import (
	"net/url"
	"strings"
)

// Mask is what stands in for a password.
const Mask = "xxxxx"

// Redact returns text with every password in it replaced by Mask. It
// finds passwords by their form: in each URL of text (which ends at white
// space, a backquote or a double quote), and in each setting outside URLs
// whose name ends in "password" (password=, sslpassword=, any case),
// quoted or not. A malformed URL is masked generously: text that may hold
// a password is masked with it.
//
// Each of connStrings is a whole connection string that text may echo
// (the one a message is about): every password it holds is masked in
// text wherever it appears, as written and as decoded, so that a message
// that shows it in a form of its own (a quoted value cut at an escaped
// quote, a URL cut at a space) does not show it either.
func Redact(text string, connStrings ...string) string {
	for _, cs := range connStrings {
		for _, s := range find(cs, true) {
			for _, v := range []string{cs[s.start:s.end], s.decoded} {
				if v != "" && v != Mask {
					text = strings.ReplaceAll(text, v, Mask)
				}
			}
		}
	}
	var b strings.Builder
	last := 0
	for _, s := range find(text, false) {
		b.WriteString(text[last:s.start])
		b.WriteString(Mask)
		last = s.end
	}
	b.WriteString(text[last:])
	return b.String()
}

// secret is where a password is: text[start:end] as written, decoded as
// the driver reads it.
type secret struct {
	start, end int
	decoded    string
}

// find returns the passwords in text, in order. With whole, text is one
// connection string: a URL to its end when it begins with one, otherwise
// keyword/value settings.
func find(text string, whole bool) []secret {
	if whole {
		if start, _ := nextURL(text, 0); strings.TrimSpace(text[:start]) == "" && start < len(text) {
			return urlSecrets(text, start, len(text))
		}
		return keywordValues(text, 0, len(text))
	}
	var found []secret
	for pos := 0; pos < len(text); {
		start, end := nextURL(text, pos)
		found = append(found, keywordValues(text, pos, start)...)
		if start == len(text) {
			break
		}
		found = append(found, urlSecrets(text, start, end)...)
		pos = end
	}
	return found
}

// nextURL returns where the next postgres:// or postgresql:// URL at or
// after pos begins, and where it ends: at white space, a backquote or a
// double quote, as it would in a message. Without one, both are len(text).
func nextURL(text string, pos int) (start, end int) {
	lower := lowerASCII(text[pos:])
	i := strings.Index(lower, "postgres://")
	if j := strings.Index(lower, "postgresql://"); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		return len(text), len(text)
	}
	start = pos + i
	end = strings.IndexAny(text[start:], " \t\r\n\v\f`\"")
	if end < 0 {
		return start, len(text)
	}
	return start, start + end
}

// urlSecrets returns the passwords of the URL text[start:end]: that of its
// userinfo and the values of its password and sslpassword parameters.
func urlSecrets(text string, start, end int) []secret {
	u := text[start:end]
	rest := strings.Index(u, "://") + len("://")
	var found []secret
	at := userinfoEnd(u, rest)
	query := strings.IndexByte(u[rest:], '?')
	if at >= 0 {
		if colon := strings.IndexByte(u[rest:at], ':'); colon >= 0 {
			s := secret{start: start + rest + colon + 1, end: start + at}
			s.decoded = unescape(text[s.start:s.end])
			found = append(found, s)
		}
		query = strings.IndexByte(u[at:], '?')
		if query >= 0 {
			query += at
		}
	} else if query >= 0 {
		query += rest
	}
	if query < 0 {
		return found
	}
	// Pairs end at & (and at ?, in case the ? above was not the query's).
	for i := query + 1; i < len(u); {
		j := strings.IndexAny(u[i:], "&?")
		if j < 0 {
			j = len(u) - i
		}
		pair := u[i : i+j]
		if k, v, ok := strings.Cut(pair, "="); ok && isPasswordKey(unescape(k)) {
			s := secret{start: start + i + len(k) + 1, end: start + i + len(k) + 1 + len(v)}
			s.decoded = unescape(v)
			found = append(found, s)
		}
		i += j + 1
	}
	return found
}

// userinfoEnd returns the index in u of the @ that ends the userinfo of
// the URL whose authority begins at rest, or -1 when it has none. For a
// URL that parses, that is the last @ of its authority. Otherwise (several
// hosts, or a password with a / or ? in it) it is the last @ before the
// query, or the last @ of all when none comes before a ?: a password is
// never left out, whatever else is masked with it.
func userinfoEnd(u string, rest int) int {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		auth := u[rest:]
		if i := strings.IndexAny(auth, "/?#"); i >= 0 {
			auth = auth[:i]
		}
		if i := strings.LastIndexByte(auth, '@'); i >= 0 {
			return rest + i
		}
		return -1
	}
	if q := strings.IndexByte(u[rest:], '?'); q >= 0 {
		if i := strings.LastIndexByte(u[rest:rest+q], '@'); i >= 0 {
			return rest + i
		}
	}
	if i := strings.LastIndexByte(u[rest:], '@'); i >= 0 {
		return rest + i
	}
	return -1
}

// isPasswordKey reports whether a setting's name is password or
// sslpassword, in any case (pgx passes an unknown spelling to the server,
// which may echo it).
func isPasswordKey(k string) bool {
	k = strings.ToLower(strings.TrimSpace(k))
	return k == "password" || k == "sslpassword"
}

// unescape decodes a URL part as the driver does (%XX), or returns it as
// it is when it does not decode.
func unescape(s string) string {
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}

// keywordValues returns the values of the password settings (any name
// that ends in "password", before = and optional spaces) in
// text[from:to]: a quoted value to its closing quote (\' and \\ are
// escapes; an unclosed one runs to the end) and on to white space, any
// other to the next white space.
func keywordValues(text string, from, to int) []secret {
	var found []secret
	lower := lowerASCII(text[:to])
	for i := from; i < to; {
		k := strings.Index(lower[i:], "password")
		if k < 0 {
			break
		}
		v := i + k + len("password")
		for v < to && isSpace(text[v]) {
			v++
		}
		if v == to || text[v] != '=' {
			i += k + len("password")
			continue
		}
		v++
		for v < to && isSpace(text[v]) {
			v++
		}
		s := keywordValue(text[:to], v)
		found = append(found, s)
		i = max(s.end, v+1)
	}
	return found
}

// keywordValue returns the keyword/value setting's value that begins at
// text[v], as libpq reads it.
func keywordValue(text string, v int) secret {
	quoted := v < len(text) && text[v] == '\''
	var d strings.Builder
	i := v
	if quoted {
		i++
	}
	for ; i < len(text); i++ {
		c := text[i]
		if quoted && c == '\'' {
			// What follows the quote up to white space is masked too:
			// libpq would read it as the next keyword.
			end := i + 1
			for end < len(text) && !isSpace(text[end]) {
				end++
			}
			return secret{start: v, end: end, decoded: d.String()}
		}
		if !quoted && isSpace(c) {
			break
		}
		if c == '\\' && i+1 < len(text) {
			i++
			c = text[i]
		}
		d.WriteByte(c)
	}
	return secret{start: v, end: i, decoded: d.String()}
}

// lowerASCII is s with A to Z in lower case and every other byte as it
// is, so that indexes in it are indexes in s (strings.ToLower changes the
// length of invalid UTF-8).
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
