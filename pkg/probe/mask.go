package probe

import (
	"net/url"
	"strings"
	"unicode"
)

// MaskedValue stands for a secret in a masked target, as in
// url.URL.Redacted.
const MaskedValue = "xxxxx"

// MaskSecrets returns a target (or any URL) as it may be shown to someone
// who may not change it: the password of a URL's user info and the value
// of every query parameter whose name looks secret (see SecretName) are
// replaced with MaskedValue. Everything else is kept byte for byte, so a
// target without secrets, and every non-URL target, comes back unchanged,
// and masking a masked target changes nothing more. It works on the text
// (no url.Parse), so it masks what it can of any string, parsable or not.
//
// Secrets elsewhere in a URL (a token as a path segment, a user name
// that is a token) are not recognised.
func MaskSecrets(target string) string {
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok {
		return target
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		if user, pass, ok := strings.Cut(authority[:at], ":"); ok && pass != "" {
			authority = user + ":" + MaskedValue + authority[at:]
		}
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	if !hasQuery {
		return scheme + "://" + authority + tail
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	var b strings.Builder
	b.Grow(len(target))
	b.WriteString(scheme + "://" + authority + path + "?")
	maskQuery(&b, query)
	if hasFragment {
		b.WriteString("#" + fragment)
	}
	return b.String()
}

// maskQuery writes query with the values of secret parameters masked. It
// splits at "&" and ";", the separators servers use.
func maskQuery(b *strings.Builder, query string) {
	for query != "" {
		i := strings.IndexAny(query, "&;")
		param, sep := query, ""
		if i >= 0 {
			param, sep, query = query[:i], query[i:i+1], query[i+1:]
		} else {
			query = ""
		}
		name, value, hasValue := strings.Cut(param, "=")
		if hasValue && value != "" && SecretName(name) {
			value = MaskedValue
		}
		b.WriteString(name)
		if hasValue {
			b.WriteString("=" + value)
		}
		b.WriteString(sep)
	}
}

// secretWords are the words that make a query parameter's name secret.
var secretWords = map[string]bool{
	"token": true, "key": true, "apikey": true, "password": true, "passwd": true,
	"pass": true, "pwd": true, "secret": true, "sig": true, "signature": true,
	"auth": true, "authorization": true, "credential": true, "credentials": true,
	"session": true, "sessionid": true, "jwt": true, "bearer": true, "hmac": true,
	"accesstoken": true, "authtoken": true, "apitoken": true, "privatekey": true,
	"clientsecret": true, "otp": true,
}

// SecretName reports whether a query parameter's name (escaped or not)
// looks like it names a secret: case-insensitively, the whole name with
// "-", "_" and "." left out, or any word of it (words split at
// non-letters and non-digits and where a lower-case letter meets an
// upper-case one: "api_key", "apiKey", "X-Amz-Signature",
// "client_secret", "access_token", "hub.secret"), is one of token, key,
// apikey, password, passwd, pass, pwd, secret, sig, signature, auth,
// authorization, credential(s), session, sessionid, jwt, bearer, hmac,
// accesstoken, authtoken, apitoken, privatekey, clientsecret or otp.
func SecretName(name string) bool {
	if u, err := url.QueryUnescape(name); err == nil {
		name = u
	}
	joined := strings.ToLower(strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' {
			return -1
		}
		return r
	}, name))
	if secretWords[joined] {
		return true
	}
	words := strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, w := range words {
		start, prev := 0, rune(0)
		for i, r := range w {
			if unicode.IsUpper(r) && unicode.IsLower(prev) {
				if secretWords[strings.ToLower(w[start:i])] {
					return true
				}
				start = i
			}
			prev = r
		}
		if secretWords[strings.ToLower(w[start:])] {
			return true
		}
	}
	return false
}
