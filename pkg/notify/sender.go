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

	"github.com/srvmon/srvmon/pkg/probe"
	"github.com/srvmon/srvmon/pkg/store"
)

// Defaults of a Sender's zero fields.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMaxAge     = 24 * time.Hour
	DefaultRetryDelay = 30 * time.Second
	DefaultMaxBackoff = time.Hour
	DefaultParallel   = 16
)

// maxDrain bounds how much of a webhook's answer is read (and discarded).
const maxDrain = 64 << 10

// leaseMargin is added to a claim's lease beyond the two Timeouts it
// covers (the GET, then recording its outcome).
const leaseMargin = 5 * time.Second

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

// Sender delivers the store's due notifications: gosrvmon's GET of the
// rule's action for a delivery without a Channel, and a message (Title
// and Message) through shoutrrr for one with a Channel (see
// ChannelServices; PagerDuty triggers and resolves, see sendPagerDuty).
// Its zero value works, with the defaults named below.
//
// A GET is a success on a 2xx or 3xx answer. Redirects are not
// followed: the receiver has already acted on the GET, so following it
// could only turn that success into a failure (a login page, a 404) and
// send the notification again; gosrvmon follows them, but its check is
// the same, 2xx or 3xx. A failure is retried on later calls with backoff,
// until the delivery is MaxAge old; then it is given up with a log line.
// After a success a delivery is never sent again.
//
// Senders may run at once on one store (shards, overlapping cron runs, a
// VPS and a Lambda): each delivery is claimed before its GET
// (store.Outbox.ClaimDeliveries), which counts the attempt and leases the
// delivery to this Sender for two Timeouts and a margin, so no other
// Sender sends it meanwhile, and a process that dies mid-attempt leaves a
// delivery that is retried once the lease ends. The outcome is recorded
// only while the claim is the delivery's latest (store.ErrStale
// otherwise), so a Sender whose lease ran out never overwrites another's
// success. The action URL and channel URLs hold tokens: they are logged
// only as RedactURL and RedactChannel give them, and errors are redacted
// before they are logged or stored.
//
// A host's notifications arrive at each channel (and its action) in the
// order of its changes, however many Senders run: the store leases them
// one at a time, oldest first (store.Outbox.ClaimDeliveries), so that the
// last message a chat shows is the host's state. A failed one holds back
// the later ones that wait behind it until it is delivered or given up
// (MaxAge); nothing else waits.
type Sender struct {
	// Client sends the GETs, and the channel messages of the services
	// that take a client (Discord, ntfy, PagerDuty, Pushover; the others
	// use their own); nil means a client on http.DefaultTransport. Its
	// CheckRedirect is replaced: redirects are never followed.
	Client *http.Client
	// Timeout bounds each GET or channel message, answer included; zero
	// means DefaultTimeout.
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
	// Parallel is how many deliveries run at once; zero means
	// DefaultParallel.
	// A delivery is claimed only when a GET can start at once, so that
	// its lease covers its GET.
	Parallel int
}

func (s *Sender) timeout() time.Duration { return cmpOr(s.Timeout, DefaultTimeout) }
func (s *Sender) maxAge() time.Duration  { return cmpOr(s.MaxAge, DefaultMaxAge) }

// lease is how long a claim keeps other Senders off a delivery: its GET
// and the recording of its outcome, each bounded by Timeout, and a margin.
func (s *Sender) lease() time.Duration { return 2*s.timeout() + leaseMargin }

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
	outcomeFailed                   // the GET failed: retried after its backoff
	outcomeGivenUp                  // the delivery was given up (counted as failed)
)

// DeliverDue sends every delivery that is due when it is called and
// records each outcome. It returns how many were delivered and how many
// attempts failed (to be retried, or given up). A dead webhook costs at
// most Timeout per attempt and never stops anything: its error is logged
// and recorded, not returned. err reports only what the store refused;
// a delivery whose outcome could not be recorded is sent again once its
// lease ends (at least once). A delivery is attempted at most once per
// call. When ctx ends, DeliverDue starts nothing more, gives back what it
// claimed and did not start, records the GETs in flight as interrupted
// (retried after their backoff, by whichever process comes next) and
// returns.
//
// The deliveries of one queue (a host's to one channel, or to its action)
// go out one at a time, in the order of its changes (the store claims
// them so, see store.Outbox.ClaimDeliveries); queues go out in parallel.
// When a delivery is delivered or given up, DeliverDue claims again, so a
// backlog drains in one call; when one fails, the later ones of its queue
// wait with it for its backoff. Nothing here assumes what a queue is: the
// store decides.
func (s *Sender) DeliverDue(ctx context.Context, st store.Outbox) (sent, failed int, err error) {
	client := s.client()
	parallel := cmpOr(s.Parallel, DefaultParallel)
	// What is due now; what fails meanwhile waits for a later call.
	now := s.now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	report := func(o outcome, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch o {
		case outcomeDelivered:
			sent++
		case outcomeFailed, outcomeGivenUp:
			failed++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Each GET's outcome as it ends; never blocks: at most parallel run.
	ended := make(chan outcome, parallel)
	running := 0
	seen := map[int64]bool{}
	// more: a claim may find something, after a claim that was full or
	// a delivery that let its host's next one through. Every claim with
	// more set either starts deliveries not attempted before or clears
	// it, and only an ended GET sets it again: the loop ends.
	for more := true; ctx.Err() == nil; {
		if running == parallel || (!more && running > 0) {
			select {
			case o := <-ended:
				running--
				more = more || o == outcomeDelivered || o == outcomeGivenUp
			case <-ctx.Done():
			}
			continue
		}
		if !more {
			break // nothing running, nothing more to claim
		}
		// Only as many as can start at once, so that each lease covers its GET.
		n := parallel - running
		claimed, err := st.ClaimDeliveries(ctx, now, s.now().Add(s.lease()), n)
		if err != nil {
			report(outcomeSkipped, fmt.Errorf("notify: claim due deliveries: %w", err))
			break
		}
		more = len(claimed) == n // else nothing more is due, or it waits for a host's delivery
		for _, d := range claimed {
			if seen[d.ID] || ctx.Err() != nil {
				// Due again after a failure in this call (no backoff), or
				// claimed as ctx ended: given back, due at once.
				more = false
				d.NextAttempt = now
				if err := s.record(ctx, st, d); !errors.Is(err, store.ErrStale) {
					report(outcomeSkipped, err)
				}
				continue
			}
			seen[d.ID] = true
			running++
			wg.Go(func() {
				o, err := s.deliver(ctx, st, client, d)
				report(o, err)
				ended <- o
			})
		}
	}
	wg.Wait()
	return sent, failed, errors.Join(errs...)
}

// deliver makes one attempt at d, which this Sender has claimed, and
// records its outcome.
func (s *Sender) deliver(ctx context.Context, st store.Outbox, client *http.Client, d store.Delivery) (outcome, error) {
	now := s.now()
	maxAge := s.maxAge()
	log := s.logger().With("host", probe.MaskSecrets(d.Host), "delivery", d.ID)
	secret := d.URL // what the error is scrubbed of
	if d.Channel != "" {
		log = log.With("channel", RedactChannel(d.Channel), "event", d.Event)
		secret = d.Channel
	} else {
		log = log.With("url", RedactURL(d.URL))
	}

	// finish records d's outcome o; a stale claim is logged, not an error.
	finish := func(o outcome) (outcome, bool, error) {
		err := s.record(ctx, st, d)
		if errors.Is(err, store.ErrStale) {
			log.Warn("notification outcome not recorded: its lease ended and another sender claimed it",
				"status", d.Status, "attempts", d.Attempts)
			return o, false, nil
		}
		return o, err == nil, err
	}
	giveUp := func(reason string) (outcome, error) {
		d.Status = store.DeliveryFailed
		o, recorded, err := finish(outcomeGivenUp)
		if recorded {
			log.Warn("notification given up", "reason", reason, "attempts", d.Attempts,
				"age", now.Sub(d.Created).Round(time.Second), "last_error", d.LastError)
		}
		return o, err
	}

	if age := now.Sub(d.Created); age >= maxAge {
		return giveUp(fmt.Sprintf("older than %s", maxAge))
	}
	var (
		status int
		err    error
	)
	if d.Channel != "" {
		err = s.sendChannel(ctx, client, d)
		if errors.Is(err, errBadChannel) {
			d.LastError = redactError(err, secret, s.timeout())
			return giveUp(d.LastError)
		}
	} else {
		if err := checkActionURL(d.URL); err != nil {
			d.LastError = err.Error()
			return giveUp(d.LastError)
		}
		status, err = s.get(ctx, client, d.URL)
	}
	d.NextAttempt = now.Add(s.backoff(d.Attempts))
	if err != nil && ctx.Err() != nil {
		// Interrupted by our caller, not the receiver's fault: retried
		// after the backoff, by this process or the next.
		d.LastError = "interrupted before the receiver answered"
		o, _, err := finish(outcomeSkipped)
		return o, err
	}
	if err == nil {
		d.Status, d.LastError = store.DeliveryDelivered, ""
		o, recorded, err := finish(outcomeDelivered)
		if recorded {
			if d.Channel != "" {
				log.Info("notification delivered", "attempts", d.Attempts)
			} else {
				log.Info("notification delivered", "status", status, "attempts", d.Attempts)
			}
		}
		return o, err
	}

	d.LastError = redactError(err, secret, s.timeout())
	if !d.NextAttempt.Before(d.Created.Add(maxAge)) {
		return giveUp(fmt.Sprintf("no retry possible before it is %s old", maxAge))
	}
	o, recorded, err := finish(outcomeFailed)
	if recorded {
		log.Warn("notification attempt failed", "attempts", d.Attempts, "error", d.LastError,
			"next_attempt", d.NextAttempt.UTC().Format(time.RFC3339))
	}
	return o, err
}

// record stores d's outcome even when ctx has ended meanwhile: a delivered
// notification that is not recorded would be sent again. A delivery
// deleted with its host is no error; a stale claim is store.ErrStale.
func (s *Sender) record(ctx context.Context, st store.Outbox, d store.Delivery) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout())
	defer cancel()
	err := st.UpdateDelivery(ctx, d)
	switch {
	case err == nil, errors.Is(err, store.ErrNotFound): // not found: deleted with its host
		return nil
	case errors.Is(err, store.ErrStale):
		return err
	}
	return fmt.Errorf("notify: record delivery %d (%s): %w", d.ID, d.Status, err)
}

// checkActionURL refuses an action that is not an absolute http or https
// URL: it can never be delivered.
func checkActionURL(raw string) error {
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("the action is not an http:// or https:// URL")
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
