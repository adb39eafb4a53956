package connstr

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		name    string
		text    string
		known   []string // connection strings the text is about
		want    string
		secrets []string // none of these may be left
	}{
		{"URL userinfo", "postgres://u:S1@127.0.0.1:5432/db",
			nil, "postgres://u:xxxxx@127.0.0.1:5432/db", []string{"S1"}},
		{"postgresql scheme in capitals", "POSTGRESQL://u:S1@h/db",
			nil, "POSTGRESQL://u:xxxxx@h/db", []string{"S1"}},
		{"empty password", "postgres://u:@h/db",
			nil, "postgres://u:xxxxx@h/db", nil},
		{"user alone", "postgres://u@h/db?sslmode=disable",
			nil, "postgres://u@h/db?sslmode=disable", nil},
		{"query password", "postgres://u@h/db?password=S2&sslmode=disable",
			nil, "postgres://u@h/db?password=xxxxx&sslmode=disable", []string{"S2"}},
		{"query sslpassword", "postgres://u@h/db?sslkey=/k.pem&sslpassword=S3",
			nil, "postgres://u@h/db?sslkey=/k.pem&sslpassword=xxxxx", []string{"S3"}},
		{"both", "postgres://u:S1@h/db?sslpassword=S3&password=S2",
			nil, "postgres://u:xxxxx@h/db?sslpassword=xxxxx&password=xxxxx", []string{"S1", "S2", "S3"}},
		{"encoded key", "postgres://h/db?pass%77ord=S4",
			nil, "postgres://h/db?pass%77ord=xxxxx", []string{"S4"}},
		{"key in capitals", "postgres://h/db?PassWord=S4",
			nil, "postgres://h/db?PassWord=xxxxx", []string{"S4"}},
		{"@ in the query", "postgres://u:S1@h/db?application_name=me@example.com&password=S2",
			nil, "postgres://u:xxxxx@h/db?application_name=me@example.com&password=xxxxx", []string{"S1", "S2"}},
		{"several hosts", "postgres://u:S1@h1:5432,h2:5433/db?password=S2",
			nil, "postgres://u:xxxxx@h1:5432,h2:5433/db?password=xxxxx", []string{"S1", "S2"}},
		{"slash in the password", "postgres://u:pass/word@h:5432/db",
			nil, "postgres://u:xxxxx@h:5432/db", []string{"pass/word", "word"}},
		{"slash and ? in the password", "postgres://u:pa/ss/wo?rd@h/db?password=S2",
			nil, "postgres://u:xxxxx@h/db?password=xxxxx", []string{"pa/ss", "wo?rd", "S2"}},
		{"@ and : in the password", "postgres://a@u:sec:ret@h/db",
			nil, "postgres://a@u:xxxxx@h/db", []string{"sec", "ret"}},
		{"? in brackets", "postgres://[foo?bar]/db?password=S2",
			nil, "", []string{"S2"}},
		{"path with @", "postgres://h/db@name?password=S2",
			nil, "postgres://h/db@name?password=xxxxx", []string{"S2"}},
		{"space in a query password, known", "cannot parse `postgres://h/db?password=super secret&sslmode=disable`: bad",
			[]string{"postgres://h/db?password=super secret&sslmode=disable"}, "", []string{"super", "secret"}},
		{"encoded password, known", `server said "S p@ss!"`,
			[]string{"postgres://u:S%20p%40ss%21@h/db"}, `server said "xxxxx"`, []string{"S p@ss!"}},
		{"URL in a sentence", "connect to postgres://u:S1@h/db?password=S2: refused",
			nil, "connect to postgres://u:xxxxx@h/db?password=xxxxx refused", []string{"S1", "S2"}},
		{"URL in backquotes", "cannot parse `postgres://u:S1@h:x/db`: invalid port",
			nil, "cannot parse `postgres://u:xxxxx@h:x/db`: invalid port", []string{"S1"}},
		{"URL in a slog value", `msg=started store="postgres postgres://u@h/db?password=S2" listen=x`,
			nil, `msg=started store="postgres postgres://u@h/db?password=xxxxx" listen=x`, []string{"S2"}},

		{"keyword/value", "host=h password=S5 user=u",
			nil, "host=h password=xxxxx user=u", []string{"S5"}},
		{"keyword/value sslpassword", "sslkey=/k.pem sslpassword=S5 host=h",
			nil, "sslkey=/k.pem sslpassword=xxxxx host=h", []string{"S5"}},
		{"quoted with spaces and escaped quotes", `host=h password='S5 Q1\'Q2 \\ Q3' user=u`,
			nil, "host=h password=xxxxx user=u", []string{"S5", "Q1", "Q2", "Q3"}},
		{"spaces around =", "host=h password = S6 user=u",
			nil, "host=h password = xxxxx user=u", []string{"S6"}},
		{"escaped space", `password=S7\ x host=h`,
			nil, "password=xxxxx host=h", []string{"S7", " x"}},
		{"unclosed quote", "host=h password='S8 x",
			nil, "host=h password=xxxxx", []string{"S8", " x"}},
		{"empty value", "password= host=h",
			nil, "password= xxxxx", nil},
		{"keyword/value in capitals", "PASSWORD=S9 host=h",
			nil, "PASSWORD=xxxxx host=h", []string{"S9"}},
		{"keyword/value in a message", "cannot parse `host=h password=S10`: invalid port",
			nil, "cannot parse `host=h password=xxxxx invalid port", []string{"S10"}},
		{"keyword/value, known, echoed elsewhere", `server said "a'b c"`,
			[]string{`host=h password='a\'b c'`}, `server said "xxxxx"`, []string{"a'b c"}},
		{"URL and keyword/value", "store=postgres://u:S1@h/db err=`host=h password=S10` end",
			nil, "store=postgres://u:xxxxx@h/db err=`host=h password=xxxxx end", []string{"S1", "S10"}},

		{"nothing to mask", "failed to connect to `user=u database=db`: 127.0.0.1:1 (127.0.0.1): dial error: connection refused",
			nil, "failed to connect to `user=u database=db`: 127.0.0.1:1 (127.0.0.1): dial error: connection refused", nil},
		{"the word password", `FATAL: password authentication failed for user "u" (SQLSTATE 28P01)`,
			nil, `FATAL: password authentication failed for user "u" (SQLSTATE 28P01)`, nil},
		{"postgres without a URL", "postgres: connect to postgres (database postgres)",
			nil, "postgres: connect to postgres (database postgres)", nil},
		{"empty", "", nil, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact(tc.text, tc.known...)
			if tc.want != "" && got != tc.want {
				t.Errorf("Redact(%q) =\n%q, want\n%q", tc.text, got, tc.want)
			}
			for _, s := range tc.secrets {
				if strings.Contains(got, s) {
					t.Errorf("Redact(%q) = %q: %q is left", tc.text, got, s)
				}
			}
		})
	}
}

// Every password setting is masked whatever surrounds it, and masking
// twice changes nothing more.
func FuzzRedact(f *testing.F) {
	f.Add("postgres://u:SECRET@h/db?password=SECRET", "SECRET")
	f.Add("host=h password='SECRET \\' x' user=u", "SECRET")
	f.Fuzz(func(t *testing.T, text, secret string) {
		once := Redact(text)
		if twice := Redact(once); twice != once {
			t.Errorf("Redact(%q) = %q, again %q", text, once, twice)
		}
		if strings.ContainsAny(secret, " \t\r\n\v\f`\"'\\&?@=:/#%") || secret == "" {
			return
		}
		for _, s := range []string{"password=" + secret, "host=h password=" + secret + " user=u", "postgres://u:" + secret + "@h/db", "postgres://h/db?sslpassword=" + secret} {
			if strings.Count(s, secret) != 1 || strings.Contains(Mask, secret) {
				continue // the secret is part of the rest
			}
			if got := Redact(text + " " + s); strings.Count(got, secret) > strings.Count(text, secret) {
				t.Errorf("Redact(%q) = %q", text+" "+s, got)
			}
		}
	})
}
