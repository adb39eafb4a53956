package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/notify"
	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// Rate limit of pushes, per token. A push:// monitor's job reports once
// an interval; the limit only stops a broken loop or a leaked token from
// writing to the store without end.
const (
	// pushRate is the pushes per second a token gets back.
	pushRate = 10
	// pushBurst is the pushes a token may make at once.
	pushBurst = 20
	// maxPushBuckets bounds the tokens the limiter remembers.
	maxPushBuckets = 10000
	// defaultPushDownReason is a down push's reason without msg.
	defaultPushDownReason = "push reported down"
	// pushPathPrefix is the push route's path, before the token.
	pushPathPrefix = "/api/push/"
)

// pushLimiter is a token bucket per push token: pushBurst pushes at once,
// then pushRate a second. It lives in one handler, so the limit is per
// process: each Lambda instance, each standalone process behind a load
// balancer, counts its own. Its memory is bounded (maxPushBuckets).
type pushLimiter struct {
	mu      sync.Mutex
	buckets map[string]*pushBucket
}

type pushBucket struct {
	tokens float64
	last   time.Time
}

// allow takes one push from token's bucket at now; false if it is empty.
func (l *pushLimiter) allow(token string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make(map[string]*pushBucket)
	}
	b := l.buckets[token]
	if b == nil {
		l.makeRoom(now)
		b = &pushBucket{tokens: pushBurst, last: now}
		l.buckets[token] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(pushBurst, b.tokens+d.Seconds()*pushRate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// makeRoom, at maxPushBuckets, forgets every bucket that is full again
// (forgetting it changes nothing) and, if none is, the one used longest
// ago, which then starts full again.
func (l *pushLimiter) makeRoom(now time.Time) {
	if len(l.buckets) < maxPushBuckets {
		return
	}
	var oldest string
	for token, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*pushRate >= pushBurst {
			delete(l.buckets, token)
		} else if oldest == "" || b.last.Before(l.buckets[oldest].last) {
			oldest = token
		}
	}
	if len(l.buckets) >= maxPushBuckets {
		delete(l.buckets, oldest)
	}
}

// tracked is the number of tokens remembered (tests).
func (l *pushLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// pushAnswer is the answer to a push.
type pushAnswer struct {
	Host string    `json:"host"`
	Slot time.Time `json:"slot"`
	Up   bool      `json:"up"`
}

// push serves GET and POST /api/push/TOKEN[?status=up|down&msg=…]: the
// push:// monitor whose push token is TOKEN reports in. It needs no auth
// (the token is the secret) and is open to any Host and any site (a cron
// job's curl, a script), but is rate-limited per token (pushLimiter, 429).
// The result is stored at now's slot, up unless status=down, with msg as
// the reason of a down push, and advances the monitor's notifications as
// a round's result does. An unknown or malformed token is 404 and stores
// nothing. The token is never logged (logPath).
func (s *server) push(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "HEAD may not push: use GET or POST", http.StatusMethodNotAllowed)
		return
	}
	token := r.PathValue("token")
	if monitor.CheckPushToken(token) != nil {
		http.Error(w, "unknown push token", http.StatusNotFound)
		return
	}
	q, err := queryParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	up := true
	switch status := q.Get("status"); status {
	case "", "up":
	case "down":
		up = false
	default:
		http.Error(w, fmt.Sprintf("status: %s is not up or down", quoteOneLine(status)), http.StatusBadRequest)
		return
	}
	now := s.Now()
	if !s.pushes.allow(token, now) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("too many pushes: at most %d a second (bursts of %d) per token", pushRate, pushBurst), http.StatusTooManyRequests)
		return
	}
	res := store.Result{Slot: now.UTC().Truncate(s.Interval), Up: up}
	if !up {
		res.Reason = pushReason(q.Get("msg"))
	}
	host, err := s.recordPush(r.Context(), token, now, res)
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "unknown push token", http.StatusNotFound)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pushAnswer{Host: probe.MaskSecrets(host), Slot: res.Slot, Up: up})
}

// recordPush stores a push to the monitor with token, its notifications
// decided with the monitor's name and parent; store.ErrNotFound for an
// unknown token.
func (s *server) recordPush(ctx context.Context, token string, now time.Time, res store.Result) (string, error) {
	m, err := s.Store.MonitorByPushToken(ctx, token)
	if err != nil {
		return "", err
	}
	alerting := notify.NewAlerting(notify.Options{TimeZone: s.Chart.TimeZone, LocationTimeout: s.LocationTimeout,
		Monitors: []monitor.Monitor{m}})
	return s.Store.RecordPush(ctx, token, now, res, alerting)
}

// pushReason is a down push's reason from its msg: one line of valid
// UTF-8, at most store.MaxReasonLen bytes; defaultPushDownReason when
// empty.
func pushReason(msg string) string {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	msg = strings.Join(strings.FieldsFunc(msg, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if msg == "" {
		return defaultPushDownReason
	}
	return store.TruncateReason(msg)
}

// logPath is r's path as logs may show it: a push URL's token masked.
func logPath(r *http.Request) string {
	p := r.URL.Path
	if i := strings.Index(p, pushPathPrefix); i >= 0 {
		return p[:i] + pushPathPrefix + probe.MaskedValue
	}
	return p
}
