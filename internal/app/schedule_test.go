package app

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/round"
	"github.com/srvmon/srvmon/pkg/store/memory"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A round still running at the next tick makes that tick skip, and the
// skip is logged; Rounds returns once the round in flight is done.
func TestRoundsLogSkippedTicks(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	st := memory.New()
	if err := st.AddHost(context.Background(), slow.URL); err != nil {
		t.Fatal(err)
	}
	p := probe.New(probe.Options{Timeout: time.Minute})
	defer p.Close()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	r := &round.Runner{Store: st, Prober: p, Interval: time.Second, Timeout: time.Minute, Logger: log}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Rounds(ctx, &Round{Runner: r, Log: log}, log)
		close(done)
	}()
	<-arrived // the first round waits for the target
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `msg="round skipped: the previous round still runs"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no skipped tick logged; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "slot=") {
		t.Errorf("the skip is not a warning with its slot:\n%s", logs.String())
	}
	cancel()
	close(release)
	<-done
	if !strings.Contains(logs.String(), "msg=round ") {
		t.Errorf("the round in flight did not finish; log:\n%s", logs.String())
	}
}
