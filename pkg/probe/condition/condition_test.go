package condition

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

var checkTime = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

// okResponse is an HTTP check that went well; tests change what they need
// in a copy.
func okResponse() *Response {
	return &Response{
		Connected:    true,
		Status:       200,
		ResponseTime: 120 * time.Millisecond,
		Header: http.Header{
			"Content-Type": {"application/json"},
			"Vary":         {"Accept", "Origin"},
			"X-Count":      {"42"},
		},
		Body: []byte(`{"status":"ok","id":1,"ratio":1.0,"name":"john.doe","nick":"élan",` +
			`"data":[{"id":1,"tags":["a","b"]},{"id":2}],"items":[],"errors":null,"flag":true,` +
			`"age":1,"str_num":"7","obj":{"a":1,"b":2},"we*rd":"star","a|b":"pipe","big":100000,` +
			`"text":"all good"}`),
		IP:         "127.0.0.1",
		CertExpiry: checkTime.Add(72 * time.Hour),
		Now:        checkTime,
	}
}

func with(change func(r *Response)) *Response {
	r := okResponse()
	change(r)
	return r
}

func TestEval(t *testing.T) {
	dns := &Response{Connected: true, DNSRcode: "NXDOMAIN", Body: []byte("127.0.0.1\n::1\n"), IP: "::1", ResponseTime: 3 * time.Millisecond}
	arrayBody := with(func(r *Response) { r.Body = []byte(` [{"id":7},{"id":8}] `) })
	html := with(func(r *Response) { r.Body = []byte("<html><h1>ok</h1></html>\n"); r.Status = 502 })
	truncated := with(func(r *Response) { r.Body = []byte(`{"pad":"xxxxxxxx","late`); r.BodyTruncated = true })
	noTLS := with(func(r *Response) { r.CertExpiry = time.Time{} })
	expired := with(func(r *Response) { r.CertExpiry = checkTime.Add(-time.Hour) })
	down := &Response{}
	long := with(func(r *Response) { r.Body = []byte(`{"status":"` + strings.Repeat("é", 60) + `"}`) })
	tests := []struct {
		cond   string
		r      *Response
		ok     bool
		reason string // when !ok; "" means not checked
	}{
		// [STATUS], every operator.
		{"[STATUS] == 200", okResponse(), true, ""},
		{"[STATUS]==200", okResponse(), true, ""},
		{"[STATUS] == 200", with(func(r *Response) { r.Status = 503 }), false, "condition [STATUS] == 200 failed: 503"},
		{"[STATUS] != 500", okResponse(), true, ""},
		{"[STATUS] != 200", okResponse(), false, "condition [STATUS] != 200 failed: 200"},
		{"[STATUS] < 300", okResponse(), true, ""},
		{"[STATUS] < 200", okResponse(), false, "condition [STATUS] < 200 failed: 200"},
		{"[STATUS] <= 200", okResponse(), true, ""},
		{"[STATUS] <= 199", okResponse(), false, ""},
		{"[STATUS] > 199", okResponse(), true, ""},
		{"[STATUS] > 200", okResponse(), false, ""},
		{"[STATUS] >= 200", okResponse(), true, ""},
		{"[STATUS] >= 201", okResponse(), false, ""},
		{"[STATUS] == any(200, 204)", okResponse(), true, ""},
		{"[STATUS] == any(200, 204)", with(func(r *Response) { r.Status = 204 }), true, ""},
		{"[STATUS] == any(200, 204)", with(func(r *Response) { r.Status = 404 }), false, "condition [STATUS] == any(200, 204) failed: 404"},
		{"[STATUS] != any(500, 502)", okResponse(), true, ""},
		{"[STATUS] != any(500, 200)", okResponse(), false, ""},
		{"[STATUS] == pat(2*)", okResponse(), true, ""},
		{"[STATUS] == pat(2*)", html, false, "condition [STATUS] == pat(2*) failed: 502"},
		{"[STATUS] == re(^2[0-9]{2}$)", okResponse(), true, ""},
		{"[STATUS] == 0", down, true, ""},
		{"[STATUS] == 1e2", with(func(r *Response) { r.Status = 100 }), true, ""},

		// [RESPONSE_TIME]: plain numbers are milliseconds; units.
		{"[RESPONSE_TIME] < 300", okResponse(), true, ""},
		{"[RESPONSE_TIME] < 100", okResponse(), false, "condition [RESPONSE_TIME] < 100 failed: 120ms"},
		{"[RESPONSE_TIME] < 300ms", okResponse(), true, ""},
		{"[RESPONSE_TIME] < 0.1s", okResponse(), false, ""},
		{"[RESPONSE_TIME] < 1.5s", okResponse(), true, ""},
		{"[RESPONSE_TIME] <= 120ms", okResponse(), true, ""},
		{"[RESPONSE_TIME] >= 120000us", okResponse(), true, ""},
		{"[RESPONSE_TIME] > 119999999ns", okResponse(), true, ""},
		{"[RESPONSE_TIME] == 120", okResponse(), true, ""},
		{"[RESPONSE_TIME] != 120ms", okResponse(), false, ""},
		{"[RESPONSE_TIME] == any(1s, 120ms)", okResponse(), true, ""},
		{"[RESPONSE_TIME] < 1m", okResponse(), true, ""},
		{"[RESPONSE_TIME] < 1h1m1s", okResponse(), true, ""},

		// [CERTIFICATE_EXPIRATION]
		{"[CERTIFICATE_EXPIRATION] > 48h", okResponse(), true, ""},
		{"[CERTIFICATE_EXPIRATION] > 3d", okResponse(), false, "condition [CERTIFICATE_EXPIRATION] > 3d failed: 72h0m0s"},
		{"[CERTIFICATE_EXPIRATION] > 7d", okResponse(), false, ""},
		{"[CERTIFICATE_EXPIRATION] >= 2d", okResponse(), true, ""},
		{"[CERTIFICATE_EXPIRATION] > 0", expired, false, "condition [CERTIFICATE_EXPIRATION] > 0 failed: -1h0m0s"},
		{"[CERTIFICATE_EXPIRATION] < -30m", expired, true, ""},
		{"[CERTIFICATE_EXPIRATION] > 48h", noTLS, false, "condition [CERTIFICATE_EXPIRATION] > 48h failed: no certificate"},
		{"[CERTIFICATE_EXPIRATION] != 48h", noTLS, false, ""},

		// [CONNECTED]
		{"[CONNECTED] == true", okResponse(), true, ""},
		{"[CONNECTED] == true", down, false, "condition [CONNECTED] == true failed: false"},
		{"[CONNECTED] == false", down, true, ""},
		{"[CONNECTED] != true", down, true, ""},

		// [IP]
		{"[IP] == 127.0.0.1", okResponse(), true, ""},
		{"[IP] == 127.0.0.2", okResponse(), false, `condition [IP] == 127.0.0.2 failed: "127.0.0.1"`},
		{"[IP] == 0:0::1", dns, true, ""},
		{"[IP] == ::ffff:127.0.0.1", okResponse(), true, ""},
		{"[IP] != ::1", okResponse(), true, ""},
		{"[IP] == pat(127.*)", okResponse(), true, ""},
		{"[IP] == any(::1, 127.0.0.1)", okResponse(), true, ""},
		{"[IP] == re(^127\\.)", okResponse(), true, ""},

		// [DNS_RCODE]
		{"[DNS_RCODE] == NXDOMAIN", dns, true, ""},
		{"[DNS_RCODE] == NOERROR", dns, false, `condition [DNS_RCODE] == NOERROR failed: "NXDOMAIN"`},
		{"[DNS_RCODE] != NOERROR", dns, true, ""},
		{"[DNS_RCODE] == any(NOERROR, NXDOMAIN)", dns, true, ""},
		{"[DNS_RCODE] == NOERROR", okResponse(), false, `condition [DNS_RCODE] == NOERROR failed: ""`},

		// [BODY] as a whole: trimmed, compared as text or number.
		{"[BODY] == pat(*<h1>ok</h1>*)", html, true, ""},
		{"[BODY] == pat(*ok*)", html, true, ""},
		{"[BODY] == pat(<html>*)", html, true, ""},
		{"[BODY] == pat(*</html>)", html, true, ""},
		{"[BODY] == pat(*<h1>*ok*</h1>*)", html, true, ""},
		{"[BODY] == pat(*nope*)", html, false, `condition [BODY] == pat(*nope*) failed: "<html><h1>ok</h1></html>"`},
		{"[BODY] != pat(*error*)", html, true, ""},
		{"[BODY] == re(^<html>.*</html>$)", html, true, ""},
		{"[BODY] == re((?i)<H1>OK)", html, true, ""},
		{"[BODY] != re(ok)", html, false, ""},
		{"[BODY] == 1", with(func(r *Response) { r.Body = []byte("1.0\n") }), true, ""},
		{"[BODY] == 1", with(func(r *Response) { r.Body = []byte("{}") }), false, `condition [BODY] == 1 failed: "{}"`},
		{"[BODY] > 5", with(func(r *Response) { r.Body = []byte(" 6 ") }), true, ""},
		{"[BODY] > 5", html, false, `condition [BODY] > 5 failed: "<html><h1>ok</h1></html>"`},
		{"[BODY] == pat(*::1*)", dns, true, ""},
		{"len([BODY]) == 25", html, true, ""},
		{"len([BODY]) > 0", down, false, "condition len([BODY]) > 0 failed: 0"},

		// JSON paths.
		{"[BODY].status == ok", okResponse(), true, ""},
		{"[BODY].status == degraded", okResponse(), false, `condition [BODY].status == degraded failed: "ok"`},
		{"[BODY].status != degraded", okResponse(), true, ""},
		{"[BODY].id == 1", okResponse(), true, ""},
		{"[BODY].id == 1.0", okResponse(), true, ""},
		{"[BODY].ratio == 1", okResponse(), true, ""},
		{"[BODY].id == 2", okResponse(), false, "condition [BODY].id == 2 failed: 1"},
		{"[BODY].str_num == 7.0", okResponse(), true, ""},
		{"[BODY].str_num > 6", okResponse(), true, ""},
		{"[BODY].big >= 1e5", okResponse(), true, ""},
		{"[BODY].name > 5", okResponse(), false, `condition [BODY].name > 5 failed: "john.doe"`},
		{"[BODY].flag == true", okResponse(), true, ""},
		{"[BODY].flag == false", okResponse(), false, "condition [BODY].flag == false failed: true"},
		{"[BODY].errors == null", okResponse(), true, ""},
		{"[BODY].text == all good", okResponse(), true, ""},
		{"[BODY].obj == {\"a\":1,\"b\":2}", okResponse(), true, ""},
		{"[BODY].data[0].id == 1", okResponse(), true, ""},
		{"[BODY].data[1].id == 2", okResponse(), true, ""},
		{"[BODY].data.1.id == 2", okResponse(), true, ""},
		{"[BODY].data[0].tags[1] == b", okResponse(), true, ""},
		{"[BODY].data[2].id == 3", okResponse(), false, "condition [BODY].data[2].id == 3 failed: [BODY].data[2].id not found"},
		{"[BODY][0].id == 7", arrayBody, true, ""},
		{"[BODY][1].id == any(7, 8)", arrayBody, true, ""},
		{"[BODY].we*rd == star", okResponse(), true, ""},
		{"[BODY].w*rd == star", okResponse(), false, "condition [BODY].w*rd == star failed: [BODY].w*rd not found"},
		{"[BODY].a|b == pipe", okResponse(), true, ""},
		{"[BODY].name == pat(john*)", okResponse(), true, ""},
		{"[BODY].name == pat(bob*)", okResponse(), false, `condition [BODY].name == pat(bob*) failed: "john.doe"`},
		{"[BODY].id == any(1, 2)", okResponse(), true, ""},
		{"[BODY].id == any(3, 4)", okResponse(), false, "condition [BODY].id == any(3, 4) failed: 1"},
		{"[BODY].name == re(^john\\.)", okResponse(), true, ""},
		{"[BODY].age == [BODY].id", okResponse(), true, ""},
		{"[BODY].age < [BODY].big", okResponse(), true, ""},
		{"[BODY].age == [BODY].nothing", okResponse(), false, "condition [BODY].age == [BODY].nothing failed: [BODY].nothing not found"},
		{"[STATUS] == [BODY].data[0].id", okResponse(), false, "condition [STATUS] == [BODY].data[0].id failed: 200"},
		{"[BODY].missing != x", okResponse(), false, "condition [BODY].missing != x failed: [BODY].missing not found"},
		{"[BODY].status == ok", html, false, "condition [BODY].status == ok failed: body is not JSON"},
		{"[BODY].status == ok", down, false, "condition [BODY].status == ok failed: body is not JSON"},
		{"[BODY].late == 1", truncated, false, "condition [BODY].late == 1 failed: [BODY].late not found in the first 23 bytes of the body (the rest was not read)"},
		{"[BODY].pad == xxxxxxxx", truncated, true, ""},
		{"[BODY].status == ok", long, false, `condition [BODY].status == ok failed: "` + strings.Repeat("é", 50) + `…"`},
		{"[BODY].nick == élan", okResponse(), true, ""},

		// len() and has().
		{"len([BODY].data) == 2", okResponse(), true, ""},
		{"len([BODY].data) < 5", okResponse(), true, ""},
		{"len([BODY].items) > 0", okResponse(), false, "condition len([BODY].items) > 0 failed: 0"},
		{"len([BODY].name) == 8", okResponse(), true, ""},
		{"len([BODY].nick) == 4", okResponse(), true, ""},
		{"len([BODY].obj) == 2", okResponse(), true, ""},
		{"len([BODY].big) == 6", okResponse(), true, ""},
		{"len( [BODY].data[0].tags ) == 2", okResponse(), true, ""},
		{"len([BODY].nothing) == 0", okResponse(), false, "condition len([BODY].nothing) == 0 failed: [BODY].nothing not found"},
		{"has([BODY].errors) == true", okResponse(), true, ""},
		{"has([BODY].users) == false", okResponse(), true, ""},
		{"has([BODY].users) == true", okResponse(), false, "condition has([BODY].users) == true failed: false"},
		{"has([BODY].errors) == false", html, false, "condition has([BODY].errors) == false failed: body is not JSON"},
		{"has([BODY].data[1]) != false", okResponse(), true, ""},

		// [HEADER].Name
		{"[HEADER].Content-Type == application/json", okResponse(), true, ""},
		{"[HEADER].content-type == pat(application/*)", okResponse(), true, ""},
		{"[HEADER].CONTENT-TYPE == re(json$)", okResponse(), true, ""},
		{"[HEADER].Vary == Accept, Origin", okResponse(), true, ""},
		{"[HEADER].Vary == Accept", okResponse(), false, `condition [HEADER].Vary == Accept failed: "Accept, Origin"`},
		{"[HEADER].X-Count > 40", okResponse(), true, ""},
		{"[HEADER].X-Count == 42.0", okResponse(), true, ""},
		{"[HEADER].X-Debug != on", okResponse(), false, "condition [HEADER].X-Debug != on failed: [HEADER].X-Debug not found"},
		{"has([HEADER].X-Debug) == false", okResponse(), true, ""},
		{"has([HEADER].vary) == true", okResponse(), true, ""},
		{"[HEADER].Content-Type == text/html", down, false, "condition [HEADER].Content-Type == text/html failed: [HEADER].Content-Type not found"},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			c, err := Parse(tt.cond)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			ok, reason := c.Eval(tt.r)
			if ok != tt.ok {
				t.Fatalf("Eval = %v, %q; want %v", ok, reason, tt.ok)
			}
			if ok && reason != "" {
				t.Errorf("reason %q with ok", reason)
			}
			if !ok && !strings.HasPrefix(reason, "condition "+tt.cond+" failed: ") {
				t.Errorf("reason %q does not start with the condition", reason)
			}
			if tt.reason != "" && reason != tt.reason {
				t.Errorf("reason\n got %s\nwant %s", reason, tt.reason)
			}
		})
	}
}

func TestEvalNilResponse(t *testing.T) {
	c, err := Parse("[STATUS] == 0")
	if err != nil {
		t.Fatal(err)
	}
	if ok, reason := c.Eval(nil); !ok {
		t.Errorf("Eval(nil) = false, %q; want the zero Response's true", reason)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		cond string
		want string // starting with "position": the whole message, or its start when it ends with "..."; else a part of it
	}{
		{"[STATUS] < abc", `position 12: expected a number after "<", got "abc"`},
		{"", `position 1: expected a condition such as "[STATUS] == 200", got an empty one`},
		{"   ", `position 1: expected a condition such as "[STATUS] == 200", got an empty one`},
		{"[STATUS]", `position 9: expected an operator (==, !=, <, <=, >, >=) after [STATUS], got end of condition`},
		{"[STATUS] = 200", `position 10: expected an operator (==, !=, <, <=, >, >=) after [STATUS], got "= 200"`},
		{"[STATUS] ==", `position 12: expected a value after "==", got end of condition`},
		{"  [STATUS] ==   ", `position 14: expected a value after "==", got end of condition`},
		{"[STATUS] == abc", `position 13: expected a number after "==", got "abc"`},
		{"[STATUS] < 2xx", `position 12: expected a number after "<", got "2xx"`},
		{"[STATUS] == 200.5", `position 13: expected a status code (a whole number) after "==", got "200.5"`},
		{"[STATUS] == 0x10", `position 13: expected a number after "==", got "0x10"`},
		{"[STATUS] == NaN", `position 13: expected a number after "==", got "NaN"`},
		{"[CONNECTED] == maybe", `position 16: expected true or false after "==", got "maybe"`},
		{"[CONNECTED] < 1", `position 13: expected == or != after [CONNECTED] (it is not a number), got "<"`},
		{"[DNS_RCODE] == NOPE", `position 16: expected a DNS rcode (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE) after "==", got "NOPE"`},
		{"[DNS_RCODE] == noerror", `got "noerror"`},
		{"[RESPONSE_TIME] < 3 parsecs", `position 19: expected a duration (300 meaning ms, 300ms, 1.5s, 48h, 7d) after "<", got "3 parsecs"`},
		{"[RESPONSE_TIME] < 1.5.s", `got "1.5.s"`},
		{"[RESPONSE_TIME] < s", `got "s"`},
		{"[RESPONSE_TIME] < 10y", `got "10y"`},
		{"[RESPONSE_TIME] < 999999999999d", `got "999999999999d"`},
		{"[CERTIFICATE_EXPIRATION] > abc", `position 28: expected a duration...`},
		{"[IP] == localhost", `position 9: expected an IP address after "==" (or pat() for several), got "localhost"`},
		{"[IP] > 127.0.0.1", `position 6: expected == or != after [IP] (it is not a number), got ">"`},
		{"[FOO] == 1", `position 1: expected a placeholder ([STATUS], [RESPONSE_TIME], [CERTIFICATE_EXPIRATION], [CONNECTED], [IP], [DNS_RCODE], [BODY] or [HEADER].Name), got unknown "[FOO]"`},
		{"[status] == 200", `got unknown "[status]" (placeholders are upper case)`},
		{"STATUS == 200", `position 1: expected a placeholder...`},
		{"[DOMAIN_EXPIRATION] > 720h", `position 1: [DOMAIN_EXPIRATION] is not supported by srvmon (it needs a WHOIS lookup)`},
		{"[CONTEXT].id == 1", `position 1: [CONTEXT] is not supported by srvmon (it belongs to Gatus suites)`},
		{"[BODY] == [FOO]", `position 11: expected a placeholder ([STATUS], [RESPONSE_TIME], [CERTIFICATE_EXPIRATION], [CONNECTED], [IP], [DNS_RCODE], [BODY] or [HEADER].Name), got unknown "[FOO]"`},
		{"[BODY].a == [BODY].b x", `position 22: expected end of condition after [BODY].b, got "x"`},
		{"[CONNECTED] == [STATUS]", `position 16: expected a value [CONNECTED] == can be compared with, got [STATUS]`},
		{"[RESPONSE_TIME] < [BODY].max", `position 19: expected a value [RESPONSE_TIME] < can be compared with, got [BODY].max`},
		{"[BODY]. == 1", `position 8: expected a JSON key after ".", got " == 1"`},
		{"[BODY].a[x] == 1", `position 10: expected an array index such as [0], got "x] == 1"`},
		{"[BODY].a[1 == 1", `position 11: expected "]" after [1, got " == 1"`},
		{"[BODY].a b == 1", `position 10: expected an operator (==, !=, <, <=, >, >=) after [BODY].a, got "b == 1"`},
		{"[BODY].name > abc", `position 15: expected a number after ">", got "abc"`},
		{"[HEADER] == x", `position 9: expected "." and a header name after [HEADER], such as [HEADER].Content-Type, got " == x"`},
		{"[HEADER]. == x", `position 10: expected a header name (letters, digits, '-', '_') after [HEADER]., got " == x"`},
		{"len([STATUS]) == 3", `position 5: expected a [BODY] path inside len(), got "[STATUS]"`},
		{"has([BODY]) == true", `position 5: expected a [BODY] path inside has(), such as [BODY].errors, got "[BODY]"`},
		{"len([BODY].a == 1", `position 14: expected ")" to close len(, got "== 1"`},
		{"has([BODY].a) == yes", `position 18: expected true or false after "==", got "yes"`},
		{"pat(*) == [BODY]", `position 1: expected a placeholder on the left, got pat() (it goes on the right: [IP] == pat(...))`},
		{"[BODY] == len([BODY])", `position 11: expected a value after "==", got len() (it goes on the left: len([BODY].items) ...)`},
		{"[BODY] == pat(*ok*", `position 19: expected ")" to close pat(, got end of condition`},
		{"[BODY] == pat()", `position 15: expected a pattern inside pat(), such as pat(*ok*), got an empty one`},
		{"[BODY] == re()", `position 14: expected a regular expression inside re(), got an empty one`},
		{"[BODY] == re(a(b)", `position 14: expected a Go regular expression inside re(): error parsing regexp: missing closing ): ` + "`a(b`"},
		{"[STATUS] < pat(2*)", `position 12: expected a number after "<" (pat() needs == or !=), got "pat(2*)"`},
		{"[STATUS] == any(200, , 204)", `position 22: expected a value in any(), got an empty one`},
		{"[STATUS] == any(200,  abc)", `position 23: expected a number in any(), got "abc"`},
		{"[CONNECTED] == pat(t*)", `position 16: expected a value after "==", got pat() ([CONNECTED] is not text)`},
		{"[RESPONSE_TIME] == re(1)", `got re() ([RESPONSE_TIME] is not text)`},
		{"[STATUS] == " + strings.Repeat("x", 60), `got "` + strings.Repeat("x", 40) + `…"`},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			c, err := Parse(tt.cond)
			if err == nil {
				t.Fatalf("Parse = %q, nil; want an error", c)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line", msg)
			}
			prefix, isPrefix := strings.CutSuffix(tt.want, "...")
			switch {
			case !strings.HasPrefix(tt.want, "position"):
				if !strings.Contains(msg, tt.want) {
					t.Errorf("error\n got %s\nwant it to contain %s", msg, tt.want)
				}
			case isPrefix:
				if !strings.HasPrefix(msg, prefix) {
					t.Errorf("error\n got %s\nwant it to start with %s", msg, prefix)
				}
			case msg != tt.want:
				t.Errorf("error\n got %s\nwant %s", msg, tt.want)
			}
		})
	}
}

func TestParseErrorPosition(t *testing.T) {
	_, err := Parse("[STATUS] < abc")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Position != 12 {
		t.Fatalf("error %v: want a *SyntaxError at position 12", err)
	}
}

// TestGatusExamples checks that the conditions of Gatus's README parse
// unchanged, so that Gatus users can paste theirs.
func TestGatusExamples(t *testing.T) {
	for _, s := range []string{
		"[STATUS] == 200",
		"[STATUS] < 300",
		"[STATUS] <= 299",
		"[STATUS] > 400",
		"[STATUS] == any(200, 429)",
		"[CONNECTED] == true",
		"[RESPONSE_TIME] < 500",
		"[IP] == 127.0.0.1",
		"[BODY] == 1",
		"[BODY].user.name == john",
		"[BODY].data[0].id == 1",
		"[BODY].age == [BODY].id",
		"len([BODY].data) < 5",
		"len([BODY].name) == 8",
		"has([BODY].errors) == false",
		"has([BODY].users) == true",
		"[BODY].name == pat(john*)",
		"[BODY].id == any(1, 2)",
		"[CERTIFICATE_EXPIRATION] > 48h",
		"[BODY].status == UP",
		"[BODY] == pat(*<h1>Example Domain</h1>*)",
		"[DNS_RCODE] == NOERROR",
		"[IP] == pat(192.168.*)",
		"[BODY].ip == any(127.0.0.1, ::1)",
		"len([BODY].username) > 8",
		"[STATUS] == pat(2*)",
		"[BODY] == pat(*ok*)",
	} {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
}

func TestString(t *testing.T) {
	c, err := Parse(" \t[STATUS]   ==  200 \n")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != "[STATUS]   ==  200" {
		t.Errorf("String() = %q", got)
	}
}

func TestUses(t *testing.T) {
	tests := []struct {
		cond string
		want Uses
	}{
		{"[STATUS] == 200", UsesStatus},
		{"[RESPONSE_TIME] < 1s", UsesResponseTime},
		{"[CERTIFICATE_EXPIRATION] > 7d", UsesCertificate},
		{"[CONNECTED] == true", UsesConnected},
		{"[IP] == ::1", UsesIP},
		{"[DNS_RCODE] == NOERROR", UsesDNS},
		{"[BODY] == pat(*ok*)", UsesBody},
		{"len([BODY]) > 0", UsesBody},
		{"has([BODY].a) == true", UsesBody},
		{"[HEADER].Server == x", UsesHeader},
		{"has([HEADER].Server) == true", UsesHeader},
		{"[BODY].code == [STATUS]", UsesBody | UsesStatus},
	}
	for _, tt := range tests {
		c, err := Parse(tt.cond)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.cond, err)
		}
		if got := c.Uses(); got != tt.want {
			t.Errorf("%s: Uses() = %08b, want %08b", tt.cond, got, tt.want)
		}
	}
}

func TestCompileAndEvalAll(t *testing.T) {
	_, err := Compile([]string{"[STATUS] == 200", "[CONNECTED] == true", "[STATUS] < abc"})
	if want := `conditions[2]: position 12: expected a number after "<", got "abc"`; err == nil || err.Error() != want {
		t.Errorf("Compile error %v, want %s", err, want)
	}
	if !errors.Is(err, ErrSyntax) {
		t.Errorf("Compile error %v does not wrap ErrSyntax", err)
	}
	if cs, err := Compile(nil); cs != nil || err != nil {
		t.Errorf("Compile(nil) = %v, %v; want nil, nil", cs, err)
	}
	cs, err := Compile([]string{"[STATUS] == 200", "[BODY].status == ok", "[RESPONSE_TIME] < 100ms", "[CONNECTED] == false"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		r      *Response
		ok     bool
		reason string
	}{
		{with(func(r *Response) { r.ResponseTime = time.Millisecond; r.Connected = false }), true, ""},
		{okResponse(), false, "condition [RESPONSE_TIME] < 100ms failed: 120ms"},
		{with(func(r *Response) { r.Status = 500 }), false, "condition [STATUS] == 200 failed: 500"},
	}
	for _, tt := range tests {
		if ok, reason := EvalAll(cs, tt.r); ok != tt.ok || reason != tt.reason {
			t.Errorf("EvalAll = %v, %q; want %v, %q", ok, reason, tt.ok, tt.reason)
		}
	}
	if ok, reason := EvalAll(nil, nil); !ok || reason != "" {
		t.Errorf("EvalAll(nil) = %v, %q; want true", ok, reason)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"300", 300 * time.Millisecond, true},
		{"0.5", 500 * time.Microsecond, true},
		{"300ms", 300 * time.Millisecond, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"48h", 48 * time.Hour, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"2m", 2 * time.Minute, true},
		{"5us", 5 * time.Microsecond, true},
		{"5µs", 5 * time.Microsecond, true},
		{"-1h", -time.Hour, true},
		{"", 0, false},
		{"-", 0, false},
		{"h", 0, false},
		{"1", time.Millisecond, true},
		{"1 h", 0, false},
		{"1hh", 0, false},
		{"+1h", 0, false},
		{"1e3s", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseDuration(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"abc", "abc", true},
		{"abc", "abcd", false},
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "ac", true},
		{"a*c", "a", false},
		{"ab*bc", "abc", false},
		{"*b*", "abc", true},
		{"*x*y*", "axbyc", true},
		{"*x*y*", "aybxc", false},
		{"**", "z", true},
	}
	for _, tt := range tests {
		if got := matchPattern(strings.Split(tt.pattern, "*"), tt.s); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}

// TestEvalAllocs guards the cost of the common conditions: evaluating one
// that holds allocates nothing, whatever the size of the body.
func TestEvalAllocs(t *testing.T) {
	r := okResponse()
	r.Body = statusPageBody(10 << 10)
	for _, cond := range []string{
		"[STATUS] == 200",
		"[STATUS] == any(204, 200)",
		"[RESPONSE_TIME] < 300ms",
		"[CERTIFICATE_EXPIRATION] > 48h",
		"[CONNECTED] == true",
		"[IP] == 127.0.0.1",
		"[BODY].data.items[0].status == ok",
		"[BODY].data.items[0].latency_ms < 20",
		"len([BODY].data.items) == 2",
		"has([BODY].data.missing) == false",
		"[BODY] == pat(*All Systems Operational*)",
		"[HEADER].Content-Type == application/json",
	} {
		c, err := Parse(cond)
		if err != nil {
			t.Fatalf("Parse(%q): %v", cond, err)
		}
		if ok, reason := c.Eval(r); !ok {
			t.Fatalf("Eval: %s", reason)
		}
		if n := testing.AllocsPerRun(100, func() { c.Eval(r) }); n != 0 {
			t.Errorf("%s: %v allocations per Eval, want 0", cond, n)
		}
	}
}
