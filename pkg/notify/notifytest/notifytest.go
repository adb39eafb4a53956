// Package notifytest gives tests a channel that receives on loopback:
// a generic:// webhook whose JSON messages it keeps, so that a test can
// assert what srvmon sent, through the real channel code.
package notifytest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Message is one message a Receiver got: the generic service's JSON.
type Message struct {
	Title   string `json:"title"`
	Message string `json:"message"`
	Event   string `json:"event"`
	Host    string `json:"host"`
}

// Receiver is a loopback HTTP server that takes generic:// channel
// messages; it is closed when the test ends.
type Receiver struct {
	// URL is the channel URL that sends to it, with query (a secret-
	// looking token parameter, to check masking).
	URL string

	t        testing.TB
	mu       sync.Mutex
	messages []Message
}

// NewReceiver starts a Receiver; query is added to its channel URL
// ("template=json&disabletls=yes" is always there).
func NewReceiver(t testing.TB, query string) *Receiver {
	t.Helper()
	r := &Receiver{t: t}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = "generic://" + strings.TrimPrefix(srv.URL, "http://") + "/hook?template=json&disabletls=yes"
	if query != "" {
		r.URL += "&" + query
	}
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	b, err := io.ReadAll(req.Body)
	var m Message
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		r.t.Errorf("notifytest: a message that is not the generic service's JSON: %q: %v", b, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.messages = append(r.messages, m)
	r.mu.Unlock()
}

// Messages returns the messages received so far, in order.
func (r *Receiver) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.messages...)
}

// Texts returns the text of each message received so far, in order.
func (r *Receiver) Texts() []string {
	var texts []string
	for _, m := range r.Messages() {
		texts = append(texts, m.Message)
	}
	return texts
}
