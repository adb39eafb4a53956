package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// Defaults of a Sender's zero fields.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMaxAge     = 24 * time.Hour
	DefaultRetryDelay = 30 * time.Second
	DefaultMaxBackoff = time.Hour
	DefaultBatch      = 100
	DefaultParallel   = 4
)

// maxDrain bounds how much of a webhook's answer is read (and discarded).
const maxDrain = 64 << 10

// ExponentialBackoff returns a backoff that waits first after the first
// failed attempt and twice as long after each further one, up to limit.
func ExponentialBackoff(first, limit time.Duration) func(attempts int64) time.Duration {
	return func(attempts int64) time.Duration {
		d := first
		for i := int64(1); i < attempts && d < limit; i++ {
			d *= 2
		}
		return max(min(d, limit), first)
	}
}

// Sender delivers the store's due notifications: one GET per delivery.
// Its zero value works, with the defaults named below.
//
// A delivery is a success on a 2xx or 3xx answer. Redirects are not
// followed: the receiver has already acted on the GET, so following it
// could only turn that success into a failure (a login page, a 404) and
// send the notification again; gosrvmon follows them, but its check is
// the same, 2xx or 3xx. A failure is retried on later calls with backoff,
// until the delivery is MaxAge old; then it is given up with a log line.
// After a success a delivery is never sent again.
//
// Each attempt is recorded before its GET (Attempts, and NextAttempt as if
// it will fail), so a process that dies mid-attempt leaves a delivery that
// is retried after the backoff, and a second process that lists the
// deliveries later does not send it again. The action URL holds tokens: it
// is logged only as RedactURL gives it, and errors are redacted before
// they are logged or stored.
type Sender struct {
	// Client sends the GETs; nil means a client on http.DefaultTransport.
	// Its CheckRedirect is replaced: redirects are never followed.
	Client *http.Client
	// Timeout bounds each GET, answer included; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxAge is the age, from the slot of the check that caused it, after
	// which a delivery is given up; zero means DefaultMaxAge.
	MaxAge time.Duration
	// Backoff is the wait after a delivery's attempts-th failed attempt;
	// nil means ExponentialBackoff(DefaultRetryDelay, DefaultMaxBackoff).
	Backoff func(attempts int64) time.Duration
	// Logger receives a line per delivery outcome; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Batch is how many due deliveries are listed at a time; zero means
	// DefaultBatch.
	Batch int
	// Parallel is how many GETs run at once; zero means DefaultParallel.
	Parallel int
}

func (s *Sender) timeout() time.Duration { return cmpOr(s.Timeout, DefaultTimeout) }
func (s *Sender) maxAge() time.Duration  { return cmpOr(s.MaxAge, DefaultMaxAge) }

func (s *Sender) backoff(attempts int64) time.Duration {
	if s.Backoff != nil {
		return max(s.Backoff(attempts), 0)
	}
	return ExponentialBackoff(DefaultRetryDelay, DefaultMaxBackoff)(attempts)
}

func (s *Sender) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// cmpOr returns v, or def when v is not positive.
func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// client is s.Client, or a default one, that never follows redirects.
func (s *Sender) client() *http.Client {
	var c http.Client
	if s.Client != nil {
		c = *s.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// outcome of one delivery in DeliverDue.
type outcome int

const (
	outcomeSkipped   outcome = iota // not attempted, or interrupted by ctx
	outcomeDelivered                // the GET succeeded
	outcomeFailed                   // the GET failed, or the delivery was given up
)

// DeliverDue sends every delivery that is due now in st and records each
// outcome with st.UpdateDelivery. It returns how many were delivered and
// how many attempts failed (to be retried, or given up). A dead webhook
// costs at most Timeout per attempt and never stops anything: its error is
// logged and recorded, not returned. err reports only what the store
// refused; deliveries whose outcome could not be recorded are sent again
// later (at least once). When ctx ends, DeliverDue starts nothing more
// and returns after the GETs in flight.
func (s *Sender) DeliverDue(ctx context.Context, st store.Store) (sent, failed int, err error) {
	client := s.client()
	batch := cmpOr(s.Batch, DefaultBatch)
	sem := make(chan struct{}, cmpOr(s.Parallel, DefaultParallel))
	seen := map[int64]bool{} // a delivery is tried at most once per call
	var (
		mu   sync.Mutex
		errs []error
	)
	for ctx.Err() == nil {
		due, err := st.DueDeliveries(ctx, s.now(), batch)
		if err != nil {
			errs = append(errs, fmt.Errorf("notify: list due deliveries: %w", err))
			break
		}
		var wg sync.WaitGroup
		fresh := 0
		for _, d := range due {
			if seen[d.ID] || ctx.Err() != nil {
				continue
			}
			seen[d.ID] = true
			fresh++
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				o, err := s.deliver(ctx, st, client, d)
				mu.Lock()
				defer mu.Unlock()
				switch o {
				case outcomeDelivered:
					sent++
				case outcomeFailed:
					failed++
				}
				if err != nil {
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if fresh == 0 || len(due) < batch {
			break
		}
	}
	return sent, failed, errors.Join(errs...)
}

// deliver makes one attempt at d and records it.
func (s *Sender) deliver(ctx context.Context, st store.Store, client *http.Client, d store.Delivery) (outcome, error) {
	now := s.now()
	maxAge := s.maxAge()
	log := s.logger().With("host", d.Host, "url", RedactURL(d.URL), "delivery", d.ID)

	giveUp := func(reason string) (outcome, error) {
		d.Status = store.DeliveryFailed
		if err := s.record(ctx, st, d); err != nil {
			return outcomeFailed, err
		}
		log.Warn("notification given up", "reason", reason, "attempts", d.Attempts,
			"age", now.Sub(d.Created).Round(time.Second), "last_error", d.LastError)
		return outcomeFailed, nil
	}

	if age := now.Sub(d.Created); age >= maxAge {
		return giveUp(fmt.Sprintf("older than %s", maxAge))
	}
	if u, err := url.Parse(d.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.LastError = "the action is not an http:// or https:// URL"
		return giveUp(d.LastError)
	}

	// Record the attempt before making it (see Sender).
	d.Attempts++
	d.NextAttempt = now.Add(s.backoff(d.Attempts))
	if err := st.UpdateDelivery(ctx, d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// Deleted with its host since it was listed: nothing to send.
			return outcomeSkipped, nil
		}
		return outcomeSkipped, fmt.Errorf("notify: record attempt on delivery %d: %w", d.ID, err)
	}

	status, err := s.get(ctx, client, d.URL)
	if err != nil && ctx.Err() != nil {
		// Interrupted by our caller, not the receiver's fault: the
		// recorded attempt stands and the delivery is retried after it.
		return outcomeSkipped, nil
	}
	if err == nil {
		d.Status, d.LastError = store.DeliveryDelivered, ""
		if err := s.record(ctx, st, d); err != nil {
			return outcomeDelivered, err
		}
		log.Info("notification delivered", "status", status, "attempts", d.Attempts)
		return outcomeDelivered, nil
	}

	d.LastError = redactError(err, d.URL, s.timeout())
	if !d.NextAttempt.Before(d.Created.Add(maxAge)) {
		return giveUp(fmt.Sprintf("no retry possible before it is %s old", maxAge))
	}
	if err := s.record(ctx, st, d); err != nil {
		return outcomeFailed, err
	}
	log.Warn("notification attempt failed", "attempts", d.Attempts, "error", d.LastError,
		"next_attempt", d.NextAttempt.UTC().Format(time.RFC3339))
	return outcomeFailed, nil
}

// record stores d's outcome even when ctx has ended meanwhile: a delivered
// notification that is not recorded would be sent again.
func (s *Sender) record(ctx context.Context, st store.Store, d store.Delivery) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout())
	defer cancel()
	err := st.UpdateDelivery(ctx, d)
	if err != nil && !errors.Is(err, store.ErrNotFound) { // not found: deleted with its host
		return fmt.Errorf("notify: record delivery %d (%s): %w", d.ID, d.Status, err)
	}
	return nil
}

// get sends one GET and says whether the answer is a success (2xx, 3xx).
func (s *Sender) get(ctx context.Context, client *http.Client, rawURL string) (status int, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "srvmon")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	// The answer is drained so the connection can be reused; the status
	// alone decides, so a slow or broken body does not matter.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return resp.StatusCode, fmt.Errorf("answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
