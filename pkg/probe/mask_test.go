package probe

import (
	"net/url"
	"strings"
	"testing"
)

func TestMaskSecrets(t *testing.T) {
	tests := []struct{ in, want string }{
		// Targets without secrets come back as they are.
		{"localhost", "localhost"},
		{"127.0.0.1:22", "127.0.0.1:22"},
		{"::1", "::1"},
		{"https://example.org/", "https://example.org/"},
		{"https://amp.example/?a=1&b=2", "https://amp.example/?a=1&b=2"},
		{"https://example.org/?keyword=x&sort=author&design=1", "https://example.org/?keyword=x&sort=author&design=1"},
		{"https://user@example.org/", "https://user@example.org/"},
		{"https://example.org/?token=", "https://example.org/?token="},
		{"https://example.org/?token", "https://example.org/?token"},
		// Passwords and secret parameters are masked; the rest is kept byte for byte.
		{"https://user:pa%40ss@example.org:8443/p?q=1#f", "https://user:xxxxx@example.org:8443/p?q=1#f"},
		{"http://user:pass@[::1]:80/", "http://user:xxxxx@[::1]:80/"},
		{"https://example.org/health?token=abc&x=%2F", "https://example.org/health?token=xxxxx&x=%2F"},
		{"https://example.org/?z=1&API_KEY=abc&apiKey=d&api-key=e&key=f", "https://example.org/?z=1&API_KEY=xxxxx&apiKey=xxxxx&api-key=xxxxx&key=xxxxx"},
		{"https://s3.example/o?X-Amz-Signature=ab&X-Amz-Credential=cd&X-Amz-Date=1", "https://s3.example/o?X-Amz-Signature=xxxxx&X-Amz-Credential=xxxxx&X-Amz-Date=1"},
		{"https://example.org/?access_token=a;client_secret=b&hub.secret=c&sig=d&Password=e&auth=f", "https://example.org/?access_token=xxxxx;client_secret=xxxxx&hub.secret=xxxxx&sig=xxxxx&Password=xxxxx&auth=xxxxx"},
		{"https://example.org/?%74oken=a#token=b", "https://example.org/?%74oken=xxxxx#token=b"},
		{"https://u:p@example.org?pass=1", "https://u:xxxxx@example.org?pass=xxxxx"},
		// Unparsable: masked as far as the text goes.
		{"https://u:p@exa mple/?token=%zz", "https://u:xxxxx@exa mple/?token=xxxxx"},
	}
	for _, tt := range tests {
		if got := MaskSecrets(tt.in); got != tt.want {
			t.Errorf("MaskSecrets(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := MaskSecrets(tt.want); got != tt.want {
			t.Errorf("MaskSecrets(%q) = %q, masked again", tt.want, got)
		}
	}
}

// FuzzMaskSecrets: masking changes nothing but secrets, masks every
// password and secret parameter url.Parse finds, is idempotent, and keeps
// a valid target valid.
func FuzzMaskSecrets(f *testing.F) {
	for _, s := range []string{
		"localhost", "127.0.0.1:22", "https://u:p@example.org/?token=a&b=c#d", "http://[::1]:8080/?apiKey=1;sig=2",
		"https://example.org/?a=1&&b&token=&=x", "https://@/?", "x://a:b@c@d/?key=%zz", "https://example.org/?tok%65n=a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := MaskSecrets(s)
		if MaskSecrets(m) != m {
			t.Fatalf("%q: masked %q, again %q", s, m, MaskSecrets(m))
		}
		if !strings.Contains(s, "://") && m != s {
			t.Fatalf("%q: not a URL, yet masked to %q", s, m)
		}
		if m != s && !strings.Contains(m, MaskedValue) {
			t.Fatalf("%q: changed to %q without a mask", s, m)
		}
		if _, err := Parse(s); err == nil && len(m) <= MaxTargetLen {
			if _, err := Parse(m); err != nil {
				t.Fatalf("%q is a target, masked %q is not: %v", s, m, err)
			}
		}
		u, err := url.Parse(m)
		if err != nil || !strings.HasPrefix(s, u.Scheme+"://") || u.Opaque != "" {
			return
		}
		if p, ok := u.User.Password(); ok && p != "" && p != MaskedValue {
			t.Fatalf("%q: password %q left in %q", s, p, m)
		}
		q, err := url.ParseQuery(strings.ReplaceAll(u.RawQuery, ";", "&"))
		if err != nil {
			return
		}
		for k, vs := range q {
			for _, v := range vs {
				if SecretName(k) && v != "" && v != MaskedValue {
					t.Fatalf("%q: %s=%q left in %q", s, k, v, m)
				}
			}
		}
	})
}
