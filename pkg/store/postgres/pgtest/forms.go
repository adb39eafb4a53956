package pgtest

import (
	"net/url"
	"strings"
	"testing"
)

// A PasswordForm is a connection string that holds a password in one of
// the forms pgx reads.
type PasswordForm struct {
	Name, ConnString string
}

// FormPassword is the password PasswordForms puts in: with a space, a
// quote and a backslash, which escaping gets wrong.
const FormPassword = `Sekr1t 'Qu0te\`

// ShowsFormPassword reports whether s shows FormPassword or a part of it
// (either word), as written or encoded.
func ShowsFormPassword(s string) bool {
	return strings.Contains(s, "Sekr1t") || strings.Contains(s, "Qu0te")
}

// PasswordForms returns dbURL (a postgres:// URL) with FormPassword put in
// it in each form pgx reads one: the URL's userinfo, its password and
// sslpassword parameters, and keyword/value settings with a quoted
// password and sslpassword (with \ and ' escaped). An sslpassword is only
// used with an encrypted sslkey, so the connection strings that hold one
// work (or fail) as dbURL does.
func PasswordForms(tb testing.TB, dbURL string) []PasswordForm {
	tb.Helper()
	const password = FormPassword
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatalf("PasswordForms(%q): %v", dbURL, err)
	}
	withUser := *u
	withUser.User = url.UserPassword(u.User.Username(), password)
	with := func(key string) string {
		v := *u
		q := v.Query()
		q.Set(key, password)
		v.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
		return v.String()
	}
	kv := []string{"host=" + u.Hostname()}
	if p := u.Port(); p != "" {
		kv = append(kv, "port="+p)
	}
	if n := u.User.Username(); n != "" {
		kv = append(kv, "user="+n)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		kv = append(kv, "dbname="+db)
	}
	for k, vs := range u.Query() {
		kv = append(kv, k+"="+vs[0])
	}
	quoted := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(password) + "'"
	settings := strings.Join(kv, " ")
	return []PasswordForm{
		{"URL userinfo", withUser.String()},
		{"URL password", with("password")},
		{"URL sslpassword", with("sslpassword")},
		{"keyword/value password", settings + " password=" + quoted},
		{"keyword/value sslpassword", "sslpassword = " + quoted + " " + settings},
	}
}
