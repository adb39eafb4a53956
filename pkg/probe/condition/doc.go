// Package condition parses and evaluates monitor conditions: one-line
// assertions on what a check learnt, such as "[STATUS] == 200", in the
// syntax of Gatus (https://github.com/TwiN/gatus) so that Gatus users can
// paste theirs. A monitor carries a list of conditions; it is up when all
// of them hold.
//
// Where Gatus turns a value it cannot read into 0 or a string that never
// matches, this package refuses the condition at Parse time, with one line
// naming the 1-based byte column in the condition and what was expected
// there: `position 12: expected a number after "<", got "abc"`. A typo
// therefore fails the configuration, not every check afterwards.
//
// # Grammar
//
// A condition is LEFT OPERATOR RIGHT, spaces around the operator optional:
//
//	[STATUS] == 200
//	len([BODY].items) > 0
//	[BODY].data.id == any(1, 2)
//
// LEFT is a placeholder, a [BODY] JSON path, a [HEADER].Name, or len()/has()
// around a [BODY] path ([HEADER].Name also works in has()). RIGHT is a
// literal, pat(), any(), re(), or a placeholder; pat(), any() and re() are
// never on the left, len() and has() never on the right.
//
// # Placeholders
//
//	[STATUS]                  HTTP status, a number; 0 when no HTTP response.
//	[RESPONSE_TIME]           how long the check took, a duration.
//	[CERTIFICATE_EXPIRATION]  leaf certificate's NotAfter minus the time of
//	                          the check, a duration (negative once expired);
//	                          a check without TLS fails the condition.
//	[CONNECTED]               true or false: a connection was made, or the
//	                          DNS server answered.
//	[IP]                      the address connected to, without port.
//	[DNS_RCODE]               the DNS response code: NOERROR FORMERR SERVFAIL
//	                          NXDOMAIN NOTIMP REFUSED YXDOMAIN YXRRSET NXRRSET
//	                          NOTAUTH NOTZONE.
//	[BODY]                    the body read (HTTP: at most a capped prefix;
//	                          DNS: the answers as text, one a line), leading
//	                          and trailing white space removed.
//	[BODY].a.b[0].c           a JSON path into the body (see below).
//	[HEADER].Name             a response header, name case-insensitive
//	                          (letters, digits, '-' and '_'); several values
//	                          are joined with ", ". Not in Gatus.
//
// Gatus's [DOMAIN_EXPIRATION] (a WHOIS lookup) and [CONTEXT] (suites) are
// refused as not supported; any other name in brackets is an unknown
// placeholder. Names are upper case, as in Gatus.
//
// # Operators and how values compare
//
// ==, !=, <, <=, >, >=.
//
//   - == and != compare as numbers when both sides are numbers, so
//     [BODY].id == 1 holds for the JSON values 1, 1.0 and "1"; as booleans
//     for [CONNECTED] and has(); as durations for [RESPONSE_TIME] and
//     [CERTIFICATE_EXPIRATION]; as addresses for [IP] (so ::1 equals
//     0:0::1); otherwise as strings, exactly (case-sensitive).
//   - <, <=, >, >= need numbers, or durations on the two duration
//     placeholders. A [BODY] value or header that is not a number at check
//     time fails the condition. They are refused on [CONNECTED], has(),
//     [IP] and [DNS_RCODE].
//
// Numbers are decimal (-1, 2.5, 1e3); hexadecimal, Inf and NaN are not.
//
// # Literals
//
// The right-hand side is a literal: the text after the operator with
// surrounding white space removed. There is no quoting (Gatus has none
// either, and pasted conditions must keep working): `[BODY].msg == all
// good` compares with "all good". A literal must be something the left side
// can yield, else Parse refuses it: [STATUS] wants an integer, [CONNECTED]
// and has() true or false, [DNS_RCODE] one of the codes above, [IP] an IP
// address, the duration placeholders a duration.
//
// A duration is a plain number of milliseconds, as in Gatus (< 300 is
// 300ms), or a number with units ns, us, µs, ms, s, m, h and d (24h),
// possibly several: 300ms, 1.5s, 48h, 7d, 1h30m.
//
// The right-hand side may also be a placeholder or [BODY] path, as in
// Gatus's [BODY].age == [BODY].id, when the two sides can be compared.
// Text that begins with upper-case letters in brackets, like [FOO], is
// taken as a placeholder, and refused when unknown.
//
// # Functions
//
//   - pat(PATTERN) on the right of == or !=: the left side's text matches
//     PATTERN, where * stands for any run of characters (possibly empty) and
//     every other character for itself; it must match the whole text:
//     [BODY] == pat(*ok*) means "contains ok". As in Gatus, * is the only
//     wildcard.
//   - re(REGEXP) on the right of == or !=: the left side's text matches the
//     Go regular expression (RE2 syntax, https://pkg.go.dev/regexp/syntax),
//     compiled at Parse. It is unanchored: re(ok) means "contains ok";
//     anchor with ^ and $. Not in Gatus. It is a function rather than an
//     operator such as =~ so that there is one form for every kind of
//     match, like pat() and any(), and != negates it the same way.
//   - any(A, B, ...) on the right of == or !=: the left side equals one of
//     the literals (!=: none of them). Literals cannot contain commas.
//   - len(X) on the left: for [BODY], the number of bytes read; for a JSON
//     string, its number of characters; for an array or an object, its
//     number of elements; for another JSON value, the length of its text.
//   - has(X) on the left, compared with true or false: the JSON path (or,
//     not in Gatus, the header) exists.
//
// pat() and re() compare text: they are refused on [CONNECTED], has() and
// the duration placeholders. A function's argument runs to the last ")" of
// the condition, so it may itself contain parentheses.
//
// # JSON paths
//
// After [BODY], a path is a series of .key and [n] steps:
// [BODY].items[0].status, [BODY][0].id, [BODY].a.0 (a digit key also
// indexes arrays). A key is any run of characters other than white space,
// '.', '[', ']', '(', ')', '=', '!', '<' and '>'; a key containing one of
// those (notably '.') cannot be expressed. Paths are evaluated with
// github.com/tidwall/gjson; its special characters (* ? | # @ and others)
// are escaped, so a key always means itself, never a gjson wildcard,
// query or modifier.
//
// # Failing
//
// A value that cannot be resolved fails the condition whatever the
// operator, != included: a missing JSON path or header, a body that is not
// JSON, a check without certificate. Use has(...) == false to require
// absence. has() on a body that is not JSON fails too, so an HTML error
// page never passes has([BODY].errors) == false. When the probe read only a
// prefix of the body (Response.BodyTruncated), a path not found in it is
// reported as such.
//
// Eval says why a condition failed: the condition as written, then the
// value its left side resolved to (or why a side could not be resolved);
// strings are cut to 100 bytes, then quoted as Go does (%q); numbers,
// booleans and durations are shown plainly:
//
//	condition [STATUS] == 200 failed: 503
//	condition [BODY].status == ok failed: "degraded"
//	condition [BODY].status == ok failed: [BODY].status not found
//	condition [BODY].status == ok failed: body is not JSON
package condition
