// Package store defines how srvmon keeps hosts, check results, notification
// rules and notification state, and the backends that implement it live in
// its subpackages: memory, bolt, ql and postgres. Every backend passes the
// one conformance suite in storetest.
//
// Times are stored and returned in UTC. Ranges are half-open: [start, end).
package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/srvmon/srvmon/pkg/monitor"
)

// Errors returned (possibly wrapped) by every backend.
var (
	// ErrNotFound: the host, rule or delivery does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the host is already stored.
	ErrExists = errors.New("already exists")
	// ErrEmptyHost: AddHost or Restore was given an empty host name.
	ErrEmptyHost = errors.New("empty host name")
	// ErrStale: UpdateDelivery was given a delivery that another sender
	// has claimed since, or that is delivered or failed already; the
	// update changed nothing.
	ErrStale = errors.New("stale delivery update")
)

// CheckHostName returns ErrEmptyHost for an empty name: the one name no
// backend stores. (Which names are targets is pkg/probe's to say.)
func CheckHostName(host string) error {
	if host == "" {
		return ErrEmptyHost
	}
	return nil
}

// Result is one check of one host, at one slot, from one location.
// (Host, Location, Slot) is unique: saving it again changes nothing.
type Result struct {
	Host     string
	Location string        // '' for the default location
	Slot     time.Time     // the round's slot, UTC, truncated to the interval
	RTT      time.Duration // round-trip time; for a down result, the time until it failed
	Up       bool
	Reason   string // why it was down; empty when up
	// CertExpiry, when not zero, is the NotAfter of the leaf certificate
	// the check saw (https://, tls://): SaveRound records it as the
	// host's Facts.CertExpiry. It is not kept per result, and reads
	// return it zero.
	CertExpiry time.Time
	// Maintenance marks a result checked while a maintenance window
	// covered its host (the round decides, from monitor.Maintenance). It
	// is stored with the result: uptime figures leave it out and charts
	// draw it in their own colour, even after the window is edited.
	Maintenance bool
}

// Facts are what checks learnt about a host, kept per host (not per
// result) for the pages, alerts and metrics that show them.
type Facts struct {
	Host string
	// CertExpiry is the NotAfter of the leaf certificate of the host's
	// newest https:// or tls:// check that reached a handshake; zero
	// when none did.
	CertExpiry time.Time
	// LastPush is when the newest push of a push:// monitor arrived;
	// zero when none did.
	LastPush time.Time
	// LastPushUp and LastPushReason are the verdict of that push (the
	// result RecordPush stored for it): up, or down with its reason. So
	// a push that said down keeps the monitor down for its grace, rather
	// than reading as a heartbeat. Both are zero when LastPush is.
	LastPushUp     bool
	LastPushReason string
	// Added is when the host was added to this store (AddHost, PutMonitor
	// creating it, Restore adding it; see AddedNow), so that a push://
	// monitor that never got a push can be judged down once its grace
	// has passed since. Zero for a host added before srvmon recorded it
	// (an upgraded store, a gosrvmon database).
	Added time.Time
}

// AddedNow is the Facts.Added of a host added now: the wall clock in UTC,
// to the microsecond, the precision PostgreSQL keeps, so that every
// backend returns the time it stored.
func AddedNow() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// Check is what readers see at one slot: the results of every location
// merged as gosrvmon merges remote checks. It is up if any location saw it
// up; its RTT is the lowest among the locations that saw it up (the lowest
// of all when none did), and Reason is that of the first location, by
// name, when it is down. Its JSON is gosrvmon's.
type Check struct {
	Time  time.Time     `json:"time"`
	RTT   time.Duration `json:"rtt"`
	Up    bool          `json:"up"`
	Error string        `json:"error,omitempty"`
	// Maintenance: a location's result at this slot was in maintenance
	// (srvmon's; gosrvmon's clients ignore it).
	Maintenance bool `json:"maintenance,omitempty"`
}

// Bucket summarises the merged checks of one host in [Start, End).
// A bucket with Up+Down+Maintenance == 0 has no data: the chart draws it
// as unknown.
type Bucket struct {
	Start, End time.Time
	// Up and Down count the merged checks that were not in maintenance;
	// Maintenance those that were (see Result.Maintenance), whatever
	// their state: uptime is Up/(Up+Down).
	Up, Down, Maintenance int64
	// MinRTT, MeanRTT and MaxRTT are over the checks counted in Up (up,
	// not in maintenance); they are zero when Up is zero.
	MinRTT, MeanRTT, MaxRTT time.Duration
}

// Unknown reports whether the bucket holds no check at all.
func (b Bucket) Unknown() bool { return b.Up+b.Down+b.Maintenance == 0 }

// Rule is a host's notification setting, gosrvmon's "notifications_params":
// after Threshold consecutive checks in a new state, GET Action. The
// fields after Action are srvmon's; their zero values keep gosrvmon's
// meaning, and their JSON is left out when zero, so gosrvmon's clients
// read what they always read. Their meaning belongs to pkg/notify, which
// also validates them (notify.CheckRule); a store keeps them as given.
type Rule struct {
	Host      string `json:"host"`
	Threshold int64  `json:"threshold"`
	Action    string `json:"action"`

	// Channels are notification channel URLs in shoutrrr's syntax
	// (generic://, slack://, ntfy://, smtp://, pagerduty://, …). They
	// hold secrets: never logged, masked in API reads, whole in backups.
	Channels []string `json:"channels,omitempty"`
	// Message is the channels' text template; pkg/notify's default when
	// empty.
	Message string `json:"message,omitempty"`
	// RecoveryThreshold is how many up verdicts establish "up" again;
	// Threshold when zero.
	RecoveryThreshold int64 `json:"recovery_threshold,omitempty"`
	// Window, when above zero, makes "down" N of M: down when at least
	// Threshold of the last Window verdicts were down.
	Window int64 `json:"window,omitempty"`
	// Quorum is how many of the locations that reported in a slot must
	// see the host down for the slot to count as down: "" or "1" (any
	// location), "majority", or a number.
	Quorum Quorum `json:"quorum,omitempty"`
	// RemindEvery, when above zero, repeats a down alert at that period
	// while the host stays down.
	RemindEvery monitor.Duration `json:"remind_every,omitzero"`
	// CertExpiryDays, when above zero, alerts when the host's certificate
	// comes within that many days of expiry (and again at 3 and 1 day,
	// and when a renewed one is seen).
	CertExpiryDays int64 `json:"cert_expiry_days,omitempty"`
}

// Quorum is a Rule's quorum: "" (the same as "1"), "majority", or a
// positive number, as a string. Its JSON is a string or a number.
type Quorum string

// UnmarshalJSON reads a JSON string or number; null leaves q as it is.
func (q *Quorum) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*q = Quorum(s)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("quorum %s is not \"majority\" or a whole number", b)
	}
	*q = Quorum(strconv.FormatInt(n, 10))
	return nil
}

// State is a host's notification state, kept between rounds in the store
// because a checker process may be new on every tick. Its meaning belongs
// to pkg/notify; the store only keeps it. The fields after LastSlot are
// srvmon's; a state stored before them reads them zero.
type State struct {
	Host     string
	Status   string    // the last notified or established state: "", "up" or "down"
	Count    int64     // consecutive checks that disagree with Status
	LastSlot time.Time // the slot of the last result applied; older or equal slots are ignored

	// Since is the slot whose verdict established Status, and DownFor,
	// once a down has ended, how long it lasted (from the slot that
	// established it to the one that established up again).
	Since   time.Time
	DownFor time.Duration
	// Recent holds the last RecentLen verdicts (at most 64), newest in
	// bit 0; a set bit is a down verdict. N-of-M windows read it.
	Recent    uint64
	RecentLen int64
	// Notified is the state the host's channels and action were last
	// told ("", "up" or "down"): it differs from Status while an alert is
	// held back (maintenance, a parent that is down).
	Notified string
	// Reason and Locations are why, and where, the verdict that
	// established Status was down.
	Reason    string
	Locations []string
	// NextReminder is when the next reminder of a down host is due;
	// zero when none is.
	NextReminder time.Time
	// CertExpiry is the certificate expiry the last certificate alert was
	// about, and CertDays the smallest threshold (in days) alerted for it.
	CertExpiry time.Time
	CertDays   int64
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // given up after too many attempts
)

// Delivery is one notification in the outbox: gosrvmon's webhook GET of
// a rule's action (Channel empty, URL set), or a message to one of the
// rule's channels (Channel set).
//
// Senders that may run at once (shards, overlapping cron runs, a VPS and
// a Lambda on one database) share the outbox through claims: a sender
// takes due deliveries with ClaimDeliveries, which counts an attempt and
// leases them to it, one host's at a time and in their order, and records
// each outcome with UpdateDelivery, which changes a delivery only while
// that claim is its latest. Attempts is thus the number of claims made;
// each claim's Attempts is unique.
type Delivery struct {
	ID   int64 // assigned by the store
	Host string
	// URL is the action with its placeholders expanded, for a GET
	// (Channel empty); it holds tokens: never log it.
	URL string
	// Channel is the channel URL (shoutrrr's syntax) the message goes
	// to; it holds secrets: never log it. A host's deliveries are ordered
	// and claimed one at a time per (Host, Channel).
	Channel string
	// Event is what the delivery says: EventDown, EventUp, EventReminder,
	// EventCertificate, EventCertificateRenewed or EventTest. Channels such as PagerDuty act on it
	// (a recovery resolves the incident that a down opened).
	Event string
	// Title and Message are the rendered text of a channel delivery.
	Title, Message string

	Created     time.Time // the slot of the check that caused it
	NextAttempt time.Time // when a pending delivery is due; while claimed, the end of the lease
	Attempts    int64     // claims made so far
	LastError   string
	Status      string // DeliveryPending, DeliveryDelivered or DeliveryFailed
}

// Delivery events.
const (
	EventDown        = "down"
	EventUp          = "up"
	EventReminder    = "reminder"
	EventCertificate = "certificate"
	// EventCertificateRenewed: a renewed certificate was seen after an
	// EventCertificate (PagerDuty resolves the incident it opened).
	EventCertificateRenewed = "certificate-renewed"
	EventTest               = "test"
)

// Location is a checker location that has saved results, with the
// newest slot it saved. SaveRound keeps it, so that alerting knows which
// locations still report (quorum across locations).
type Location struct {
	Name     string    // "" for the default location
	LastSlot time.Time // the newest slot it saved results for
}

// Alerting is how SaveRound and RecordPush advance notification state,
// inside their transaction, from what the store holds; nil means not at
// all. pkg/notify makes it.
type Alerting struct {
	// Related returns the hosts, beyond the given host of the results,
	// whose rules and states Decide also reads (its parent and
	// children); nil means none.
	Related func(host string) []string
	// Horizon is how far before the newest slot of the results the
	// stored results given to Decide reach (AlertInput.Stored).
	Horizon time.Duration
	// Decide returns the states that changed and the deliveries to
	// enqueue, in their order (IDs follow it; a delivery with an empty
	// Status is pending). Each must be of a host in AlertInput.Rules,
	// its Host set: anything else fails the save (see SaveRound).
	Decide func(in AlertInput) (states []State, deliveries []Delivery)
}

// AlertInput is what a store gives Alerting.Decide, read in the
// transaction that saves the results, after saving them.
type AlertInput struct {
	// Results are the results being saved, in the order given.
	Results []Result
	// Rules holds the rules of the results' hosts that have one, and of
	// the hosts Related names for them, by host.
	Rules map[string]Rule
	// States holds the state of every host in Rules: the zero State with
	// Host set when it has none.
	States map[string]State
	// Stored holds, for every host in Rules, its stored results (those
	// being saved included) whose slot is after its state's LastSlot, not
	// after the newest slot of Results, and not before that slot minus
	// Horizon: oldest first and, within a slot, by location. They are
	// every location's verdicts on the slots not judged yet.
	Stored map[string][]Result
	// Locations are every location that has saved results, by name, with
	// this save's slots counted.
	Locations []Location
}

// Restore is a whole backup to apply all-or-nothing.
type Restore struct {
	Hosts []string
	Rules []Rule
	// Monitors are the settings of hosts (in Hosts or stored): each
	// replaces its host's settings and source. A monitor whose host is
	// in neither rolls the whole restore back.
	Monitors []monitor.Monitor
	// Maintenance are maintenance windows: each replaces the stored
	// window with its ID, or is added with its ID when there is none
	// (later new windows get IDs above every restored one); one with ID
	// zero is added with the next free ID. A negative ID, or an ID twice,
	// rolls the whole restore back (see CheckRestoredMaintenance).
	Maintenance []monitor.Maintenance
	// Results, when not nil, streams the backup's results: Store.Restore
	// calls it once, inside its transaction, and stores each result emit
	// is given. An error from Results, from emit, or a result whose host is
	// neither in Hosts nor stored already, rolls the whole restore back.
	Results func(ctx context.Context, emit func(Result) error) error
}

// Store is everything srvmon keeps: the role interfaces below, each the
// part of it that one kind of consumer uses, and Close. Implementations
// are safe for concurrent use. A consumer takes the narrowest role (or an
// interface of its own of the few methods it calls); a backend implements
// Store, and may implement Snapshotter and Summariser too.
type Store interface {
	HostStore
	MonitorStore
	ResultStore
	RuleStore
	Outbox
	MaintenanceStore
	AlertStore
	FleetReader
	Restorer
	// Close releases what the store holds: its file, its connections.
	Close() error
}

// HostStore keeps the hosts (targets as the user added them).
type HostStore interface {
	// Hosts lists the hosts in lexical order; never nil.
	Hosts(ctx context.Context) ([]string, error)
	// AddHost returns ErrExists if the host is already stored, and
	// ErrEmptyHost for an empty name. It records the host's Facts.Added
	// in the same transaction.
	AddHost(ctx context.Context, host string) error
	// DeleteHost deletes the host with its settings, facts, results,
	// rule, state and deliveries; ErrNotFound if it is not stored.
	DeleteHost(ctx context.Context, host string) error
	// HostExists reports whether the host is stored.
	HostExists(ctx context.Context, host string) (bool, error)
}

// MonitorStore keeps each host's monitor settings (pkg/monitor), which
// the store keeps as given (except that empty Conditions and Headers read
// as nil): validating them is the caller's job. Every
// stored host is a monitor; one without settings has the zero Settings.
// It also keeps what checks learnt about each host (Facts) and records
// the pushes of push:// monitors.
type MonitorStore interface {
	// Monitors lists every stored host as a monitor, in lexical order of
	// host; never nil.
	Monitors(ctx context.Context) ([]monitor.Monitor, error)
	// Monitor returns the host's monitor; ErrNotFound if the host is not
	// stored.
	Monitor(ctx context.Context, host string) (monitor.Monitor, error)
	// PutMonitor adds m's host if it is not stored (created is then true,
	// and its Facts.Added is recorded) and replaces its settings and
	// source with m's, in one transaction.
	// ErrEmptyHost for an empty host; ErrExists (nothing changed) when
	// m.PushToken is another host's.
	PutMonitor(ctx context.Context, m monitor.Monitor) (created bool, err error)
	// MonitorByPushToken returns the monitor whose PushToken is token;
	// ErrNotFound if none has it (or token is empty).
	MonitorByPushToken(ctx context.Context, token string) (monitor.Monitor, error)
	// Facts lists the facts of every host that has any (a host with only
	// Added counts), by host; never nil. A round reads it for its push
	// monitors, so it reads one row or key per host and no settings.
	Facts(ctx context.Context) ([]Facts, error)
	// RecordPush records a push to the monitor whose PushToken is token,
	// in one transaction: r, with Host set to the monitor's host, is
	// stored as SaveRound stores a result (idempotent on host, location
	// and slot; alerting as in SaveRound, may be nil), and when at is after
	// the host's Facts.LastPush, LastPush becomes at and LastPushUp and
	// LastPushReason r's Up and Reason. It returns the host;
	// ErrNotFound (nothing stored) for an unknown token.
	RecordPush(ctx context.Context, token string, at time.Time, r Result, alerting *Alerting) (host string, err error)
}

// ResultStore keeps the hosts' check results: a round writes them
// (ResultWriter) and the API and charts read them (ResultReader).
type ResultStore interface {
	ResultWriter
	ResultReader
}

// ResultWriter stores rounds and deletes old results.
type ResultWriter interface {
	// SaveRound stores a round's results in one transaction, idempotent on
	// (host, location, slot), records the results' CertExpiry in the
	// hosts' Facts and each result's location with its newest slot
	// (Locations; a location's LastSlot never goes back; a result whose
	// host is not stored counts too: its location did report). Results
	// for hosts that are not stored (deleted during the round) are
	// dropped.
	//
	// When alerting is not nil, in the same transaction and after storing
	// the results, it reads the rules of the results' hosts and of the
	// hosts alerting.Related names for them (locked, so that saves of one
	// slot by several locations take turns and the later one reads what
	// the earlier one committed), their states and their stored results
	// (see AlertInput), calls alerting.Decide once when any of those
	// hosts has a rule (never otherwise: there is nothing to decide),
	// and writes the states
	// it returns and enqueues its deliveries in their order. A state or
	// a delivery Decide returns for a host that is not in AlertInput.Rules
	// (an empty Host included) is an error that rolls the whole save
	// back: the store cannot tell whose it is, and a delivery of no host
	// would never be claimed in its host's order.
	SaveRound(ctx context.Context, results []Result, alerting *Alerting) error
	// DeleteResultsBefore deletes results whose slot is before t, and
	// finished deliveries created before t, in bounded batches; it
	// returns how many results it deleted.
	DeleteResultsBefore(ctx context.Context, t time.Time) (int64, error)
}

// ResultReader reads a host's results: raw, merged into checks, the
// newest check, or summarised in buckets.
type ResultReader interface {
	// Results streams a host's raw results in [start, end), oldest first
	// and, within a slot, by location. ErrNotFound for an unknown host.
	// An error from fn stops the stream and is returned.
	Results(ctx context.Context, host string, start, end time.Time, fn func(Result) error) error
	// Checks streams a host's merged checks in [start, end), oldest
	// first: what ChecksFromResults makes of Results. ErrNotFound for an
	// unknown host. An error from fn stops the stream and is returned.
	Checks(ctx context.Context, host string, start, end time.Time, fn func(Check) error) error
	// LastCheck returns the host's newest merged check; ok is false when
	// it has none yet. ErrNotFound for an unknown host.
	LastCheck(ctx context.Context, host string) (c Check, ok bool, err error)
	// Buckets splits [start, end) into at most n buckets of equal width
	// (width = ceil((end-start)/n), the last one cut at end) and returns
	// every one of them, empty ones included, oldest first. ErrNotFound
	// for an unknown host.
	Buckets(ctx context.Context, host string, start, end time.Time, n int) ([]Bucket, error)
}

// RuleStore keeps the hosts' notification rules and the notification
// state that SaveRound advances.
type RuleStore interface {
	// Rules lists every rule, by host; never nil.
	Rules(ctx context.Context) ([]Rule, error)
	// Rule returns the host's rule, ErrNotFound if it has none.
	Rule(ctx context.Context, host string) (Rule, error)
	// SetRule adds or replaces the rule of a stored host; ErrNotFound if
	// the host is not stored.
	SetRule(ctx context.Context, r Rule) error
	// DeleteRule deletes the host's rule and state (its deliveries stay
	// in the outbox); ErrNotFound if it has no rule.
	DeleteRule(ctx context.Context, host string) error
	// State returns a host's notification state; the zero State (with
	// Host set) when it has none.
	State(ctx context.Context, host string) (State, error)
}

// Outbox holds the webhook deliveries that SaveRound enqueues, for the
// senders that make them (see Delivery).
type Outbox interface {
	// DueDeliveries lists up to limit pending deliveries whose NextAttempt
	// is not after now, by NextAttempt then ID; never nil. It only reads:
	// a sender claims deliveries with ClaimDeliveries instead.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// ClaimDeliveries atomically claims up to limit due deliveries, at
	// most one per host and channel (Delivery.Channel; gosrvmon's action
	// deliveries are the channel ""): it adds one to each one's Attempts and sets its
	// NextAttempt to until (the lease: a sender that dies mid-attempt
	// leaves a delivery due again then), and returns them as stored after
	// the claim, by their NextAttempt before the claim then ID; never nil.
	// Claims made at the same time, by this process or any other sharing
	// the store, never return the same delivery.
	//
	// A host's notifications must arrive on each channel in the order of
	// its changes, so that the last one a chat shows is the host's state:
	// a delivery is claimable only while it is the oldest pending one (by
	// Created, then ID) of its host and channel, and no pending delivery
	// of its host and channel that has been attempted (Attempts above
	// zero) is not due: none is leased to a sender, none waits out a
	// backoff. So a claimed delivery holds back the later ones of its host
	// and channel until its outcome is recorded or its lease ends, and a
	// failed attempt holds them back for its backoff (the order matters
	// more than latency); a delivery that is delivered or given up
	// (DeliveryFailed) lets the next one through. Hosts do not wait for
	// each other, nor do a host's channels: a channel that is down never
	// holds back another.
	ClaimDeliveries(ctx context.Context, now, until time.Time, limit int) ([]Delivery, error)
	// UpdateDelivery records the outcome of an attempt: Attempts,
	// NextAttempt, LastError and Status of the delivery with d.ID. It is a
	// compare-and-set on the claim: it changes the delivery only while it
	// is pending and its stored Attempts is not above d.Attempts, that is,
	// while no later claim was made; otherwise it changes nothing and
	// returns ErrStale. So a delivered or failed delivery never changes
	// again, and a sender whose lease ran out cannot overwrite the outcome
	// of the sender that claimed the delivery after it. ErrNotFound if
	// there is no delivery d.ID.
	UpdateDelivery(ctx context.Context, d Delivery) error
}

// AlertStore is what the notifications page and API read of alerting.
type AlertStore interface {
	// States lists every stored notification state, by host; never nil.
	States(ctx context.Context) ([]State, error)
	// Deliveries lists up to limit deliveries of every status, newest
	// (by ID) first: every host's, or host's when it is not empty; never
	// nil. They hold secrets (URL, Channel): mask them before showing.
	Deliveries(ctx context.Context, host string, limit int) ([]Delivery, error)
	// Locations lists every location that has saved results, by name;
	// never nil.
	Locations(ctx context.Context) ([]Location, error)
}

// MaintenanceStore keeps maintenance windows (monitor.Maintenance) as
// they are given, but for their times, returned in UTC
// (MaintenanceInUTC): validating them is the caller's job.
type MaintenanceStore interface {
	// Maintenances lists every window, by ID; never nil.
	Maintenances(ctx context.Context) ([]monitor.Maintenance, error)
	// Maintenance returns window id; ErrNotFound if there is none.
	Maintenance(ctx context.Context, id int64) (monitor.Maintenance, error)
	// PutMaintenance stores w: as a new window with the next free ID
	// when w.ID is zero, else in place of window w.ID (ErrNotFound if
	// there is none). It returns the window's ID. IDs are never reused:
	// a new window's ID is above every ID the store gave out or restored,
	// deleted windows' included, so that a link to a deleted window never
	// names another.
	PutMaintenance(ctx context.Context, w monitor.Maintenance) (id int64, err error)
	// DeleteMaintenance deletes window id; ErrNotFound if there is none.
	DeleteMaintenance(ctx context.Context, id int64) error
}

// Restorer applies backups.
type Restorer interface {
	// Restore applies a backup all-or-nothing: hosts are added (existing
	// ones are kept; the ones added get Facts.Added), monitor settings
	// and rules added or replaced, maintenance windows replaced or added
	// by ID (see Restore.Maintenance), results stored idempotently (with
	// their maintenance marks).
	// An empty host name (ErrEmptyHost) restores nothing.
	Restore(ctx context.Context, r Restore) error
}

// A Store is a Reader: a backup of a store that is not a Snapshotter
// reads the store itself.
var _ Reader = Store(nil)

// Reader is the part of a Store that a snapshot reads: what a backup
// holds.
type Reader interface {
	Hosts(ctx context.Context) ([]string, error)
	// Monitors as in MonitorStore: a backup holds the settings.
	Monitors(ctx context.Context) ([]monitor.Monitor, error)
	Rules(ctx context.Context) ([]Rule, error)
	// Maintenances as in MaintenanceStore: a backup holds the windows.
	Maintenances(ctx context.Context) ([]monitor.Maintenance, error)
	Results(ctx context.Context, host string, start, end time.Time, fn func(Result) error) error
}

// Snapshotter is implemented by a Store that can read from one consistent
// snapshot, so that a backup holds every round that committed before it
// began and nothing of any round that commits while it runs. Which stores
// offer it, and what a backup of the others holds, is in README.md.
type Snapshotter interface {
	// Snapshot calls fn with a Reader that sees the store as it was when
	// Snapshot began; writes that commit meanwhile are not seen. The
	// Reader is valid only until fn returns. fn's error is returned. A
	// snapshot may hold resources for as long as fn runs (bolt: a read
	// transaction; PostgreSQL: a connection and a transaction).
	Snapshot(ctx context.Context, fn func(Reader) error) error
}

// MaintenanceInUTC returns w with its Start and End in UTC: what every
// backend stores and returns (a zero time stays zero).
func MaintenanceInUTC(w monitor.Maintenance) monitor.Maintenance {
	if !w.Start.IsZero() {
		w.Start = w.Start.UTC()
	}
	if !w.End.IsZero() {
		w.End = w.End.UTC()
	}
	return w
}

// CheckRestoredMaintenance returns an error naming the first window of a
// restore that no backend can store as given: a negative ID, or an ID
// that an earlier window of the restore has. (Validating the windows'
// fields is monitor.ValidateMaintenance's, the caller's job.)
func CheckRestoredMaintenance(ws []monitor.Maintenance) error {
	seen := make(map[int64]bool, len(ws))
	for i, w := range ws {
		switch {
		case w.ID < 0:
			return fmt.Errorf("maintenance[%d]: id %d is negative", i, w.ID)
		case w.ID != 0 && seen[w.ID]:
			return fmt.Errorf("maintenance[%d]: id %d is given twice", i, w.ID)
		}
		seen[w.ID] = true
	}
	return nil
}

// Limits on a result's text, in bytes. Every read of a host's results
// carries its reasons and locations (a chart, /api/checks, a backup), so a
// long one makes every later read of that host costly. A probe's reason is
// a short sentence ("timeout after 10s", an x509 error); a location is a
// short name ("eu-west"). Restores refuse longer ones; a round truncates a
// longer reason with TruncateReason.
const (
	MaxReasonLen   = 512
	MaxLocationLen = 64
)

// TruncateReason returns reason cut to at most MaxReasonLen bytes, at a
// UTF-8 character boundary.
func TruncateReason(reason string) string {
	if len(reason) <= MaxReasonLen {
		return reason
	}
	n := MaxReasonLen
	for n > 0 && !utf8.RuneStart(reason[n]) {
		n--
	}
	return reason[:n]
}

// GosrvmonRTT returns srvmon's rtt for an rtt in nanoseconds as gosrvmon
// stored it. gosrvmon records a ping that got no answer, or whose name did
// not resolve, as down with rtt -1; srvmon's rtt of a down result is the
// time until the check failed, and one that was not measured is 0. So a
// negative rtt of a down check is 0. ok is false for a negative rtt of a
// check that was up, which gosrvmon never wrote (d is 0 then too).
func GosrvmonRTT(ns int64, up bool) (d time.Duration, ok bool) {
	if ns < 0 {
		return 0, !up
	}
	return time.Duration(ns), true
}
