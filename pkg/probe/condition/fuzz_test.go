package condition

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics and errs in one line, that what
// parses re-parses from String() to the same Condition, and that Eval never
// panics whatever the body, and gives a reason exactly when it fails.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"[STATUS] == 200", "[RESPONSE_TIME] < 1.5s", "[BODY].data[0].id == 1", "[BODY][0].a.b == x",
		"[CERTIFICATE_EXPIRATION] > 7d", "[DNS_RCODE] == NOERROR", "[CONNECTED] == true",
		"len([BODY].items) > 0", "has([BODY].errors) == false", "[BODY] == pat(*ok*)",
		"[STATUS] == any(200, 204)", "[IP] == 127.0.0.1", "[HEADER].Content-Type == re(^text/)",
		"[BODY].age == [BODY].id", "[BODY].we*rd|x#y@z == 1", "len([BODY]) >= 10",
	} {
		f.Add(s, []byte(`{"data":[{"id":1}],"items":[1,2],"age":1,"id":1,"a":{"b":"x"}}`))
	}
	f.Add("[BODY] == ok", []byte("ok\n"))
	f.Fuzz(func(t *testing.T, s string, body []byte) {
		c, err := Parse(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("Parse(%q) error is not one line: %q", s, err)
			}
			return
		}
		again, err := Parse(c.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse(String() = %q): %v", s, c.String(), err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("Parse(%q) = %+v, but Parse(String()) = %+v", s, c, again)
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, r := range []*Response{
			{},
			{Connected: true, Status: 200, ResponseTime: time.Second, Body: body, BodyTruncated: true,
				Header: http.Header{"Content-Type": {string(body)}}, IP: string(body), DNSRcode: string(body),
				CertExpiry: now.Add(time.Hour), Now: now},
		} {
			ok, reason := c.Eval(r)
			if ok != (reason == "") {
				t.Fatalf("Eval = %v, %q", ok, reason)
			}
			if !ok && !strings.HasPrefix(reason, "condition "+c.String()+" failed: ") {
				t.Fatalf("reason %q does not name the condition", reason)
			}
		}
	})
}
