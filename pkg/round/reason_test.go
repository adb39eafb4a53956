package round_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// TestRunTruncatesLongReasons: a probe's reason can be long (an x509
// error lists every name of the certificate); the round stores at most
// store.MaxReasonLen bytes of it.
func TestRunTruncatesLongReasons(t *testing.T) {
	var names []string
	for i := range 30 { // fewer than 100: Go lists them all
		names = append(names, fmt.Sprintf("a-rather-long-name-%03d.srvmon.test", i))
	}
	srv, roots := tlsServer(t, time.Now().Add(time.Hour), names...)
	host := localhostURL(srv) + "/"

	st := memory.New()
	addHosts(t, st, host)
	r := newRunner(t, st)
	p := probe.New(probe.Options{Timeout: 2 * time.Second, TLSConfig: &tls.Config{RootCAs: roots}})
	defer p.Close()
	r.Prober = p
	if _, err := r.Run(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	rs := results(t, st, host)
	if len(rs) != 1 || rs[0].Up {
		t.Fatalf("results = %+v, want one down", rs)
	}
	reason := rs[0].Reason
	if len(reason) > store.MaxReasonLen || len(reason) < store.MaxReasonLen-3 || !utf8.ValidString(reason) || !strings.HasPrefix(reason, "x509: certificate is valid for") {
		t.Errorf("stored reason of %d bytes (valid UTF-8 %v): %q", len(reason), utf8.ValidString(reason), reason)
	}
}
