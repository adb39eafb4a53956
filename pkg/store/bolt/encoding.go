package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/ruledoc"
	"github.com/srvmon/srvmon/pkg/store/internal/timekey"
)

// Keys and values of the file. All integers are big-endian.
//
// A time is 12 bytes (see package timekey): byte order is time order.
//
// A result is stored in its host's bucket under
// time(slot) + location, so that keys sort by slot and, within a slot, by
// location; its value is a flags byte (bit 0: up; bit 1, since schema 5:
// in maintenance), the rtt as 8 bytes and the reason. In the recent bucket, the same value is under
// time(slot) + uvarint(len(host)) + host + location: time first, so that a
// round appends; the length first, so that a host's prefix is never the
// prefix of another host's.
const (
	timeLen     = timekey.Len
	resultHead  = 1 + 8 // flags, rtt
	flagUp      = 1
	flagMaint   = 2 // Result.Maintenance; schema 4's values never set it
	hostPresent = 1 // value of a key in the hosts bucket (empty values read back as nil)
)

var errCorrupt = errors.New("bolt: corrupt record")

// timeKey is the key of the first result at t, for cursor seeks.
func timeKey(t time.Time) []byte {
	b := make([]byte, timeLen)
	timekey.Put(b, t)
	return b
}

func appendResultKey(b []byte, r *store.Result) []byte {
	return append(timekey.Append(b, r.Slot), r.Location...)
}

func appendResultValue(b []byte, r *store.Result) []byte {
	var flags byte
	if r.Up {
		flags |= flagUp
	}
	if r.Maintenance {
		flags |= flagMaint
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(r.RTT))
	return append(b, r.Reason...)
}

// lastStrings keeps the last location and reason a stream decoded: they
// repeat from row to row, and a repeated one costs no allocation.
type lastStrings struct{ loc, reason string }

// intern returns b as a string, *last when it holds the same bytes. An
// empty b leaves *last as it is: up results have no reason.
func intern(last *string, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if string(b) != *last { // compared without a copy
		*last = string(b)
	}
	return *last
}

// decodeResult decodes a result of host. The strings are copied out of k
// and v (an empty one, or one that last holds already, costs no
// allocation), so the result outlives the transaction. last may be nil.
func decodeResult(host string, k, v []byte, last *lastStrings) (store.Result, error) {
	if len(k) < timeLen || len(v) < resultHead {
		return store.Result{}, errCorrupt
	}
	if last == nil {
		last = &lastStrings{}
	}
	return store.Result{
		Host:        host,
		Location:    intern(&last.loc, k[timeLen:]),
		Slot:        timekey.Decode(k),
		RTT:         time.Duration(binary.BigEndian.Uint64(v[1:])),
		Up:          v[0]&flagUp != 0,
		Reason:      intern(&last.reason, v[resultHead:]),
		Maintenance: v[0]&flagMaint != 0,
	}, nil
}

// decodeCheck decodes only what a merged check needs from a result: it
// allocates nothing for an up result, whatever its location, nor for a
// reason that last holds. last may be nil.
func decodeCheck(k, v []byte, last *lastStrings) (store.Result, error) {
	if len(k) < timeLen || len(v) < resultHead {
		return store.Result{}, errCorrupt
	}
	r := store.Result{
		Slot:        timekey.Decode(k),
		RTT:         time.Duration(binary.BigEndian.Uint64(v[1:])),
		Up:          v[0]&flagUp != 0,
		Maintenance: v[0]&flagMaint != 0,
	}
	if !r.Up {
		if last == nil {
			last = &lastStrings{}
		}
		r.Reason = intern(&last.reason, v[resultHead:])
	}
	return r, nil
}

// hostPrefix is what follows the time in a host's keys of the recent bucket.
func hostPrefix(host string) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(host))), host...)
}

// appendRecentKey appends the recent bucket's key of the result of host
// (given as hostPrefix) whose result key is rk.
func appendRecentKey(b, hp, rk []byte) []byte {
	b = append(b, rk[:timeLen]...)
	b = append(b, hp...)
	return append(b, rk[timeLen:]...)
}

// recentKeyParts returns the host and the location of a key of the recent
// bucket, slices of it.
func recentKeyParts(k []byte) (host, loc []byte, err error) {
	if len(k) < timeLen {
		return nil, nil, errCorrupt
	}
	rest := k[timeLen:]
	n, w := binary.Uvarint(rest)
	// A longer encoding than uvarint's own is not a key this package wrote.
	if w <= 0 || w != max(1, (bits.Len64(n)+6)/7) || uint64(len(rest)-w) < n {
		return nil, nil, errCorrupt
	}
	return rest[w : w+int(n)], rest[w+int(n):], nil
}

// splitRecentKey splits a key of the recent bucket into its host and the
// result key (time + location, in a new slice).
func splitRecentKey(k []byte) (host string, rk []byte, err error) {
	h, loc, err := recentKeyParts(k)
	if err != nil {
		return "", nil, err
	}
	rk = append(append(make([]byte, 0, timeLen+len(loc)), k[:timeLen]...), loc...)
	return string(h), rk, nil
}

// nextTime returns the smallest 12-byte key after every key that starts
// with the time t (12 bytes), or nil when there is none.
func nextTime(t []byte) []byte {
	n := bytes.Clone(t[:timeLen])
	for i := len(n) - 1; i >= 0; i-- {
		n[i]++
		if n[i] != 0 {
			return n
		}
	}
	return nil
}

// timeBefore reports whether the time of key k is before the time key to.
func timeBefore(k, to []byte) bool { return bytes.Compare(k[:timeLen], to[:timeLen]) < 0 }

// idKey is the 8-byte key of a delivery ID.
func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// record builds the value of a rule, a state or a delivery: a sequence of
// length-prefixed strings, 8-byte integers and times.
type record []byte

func (r record) str(s string) record {
	return append(binary.AppendUvarint(r, uint64(len(s))), s...)
}

func (r record) int(n int64) record { return binary.BigEndian.AppendUint64(r, uint64(n)) }

func (r record) time(t time.Time) record { return timekey.Append(r, t) }

// reader decodes a record; the first error sticks and the rest read zeros.
type reader struct {
	b   []byte
	err error
}

func (r *reader) str() string {
	if r.err != nil {
		return ""
	}
	n, w := binary.Uvarint(r.b)
	if w <= 0 || uint64(len(r.b)-w) < n {
		r.err = errCorrupt
		return ""
	}
	s := string(r.b[w : w+int(n)])
	r.b = r.b[w+int(n):]
	return s
}

// skipStr passes over a string without reading it.
func (r *reader) skipStr() {
	if r.err != nil {
		return
	}
	n, w := binary.Uvarint(r.b)
	if w <= 0 || uint64(len(r.b)-w) < n {
		r.err = errCorrupt
		return
	}
	r.b = r.b[w+int(n):]
}

func (r *reader) int() int64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.err = errCorrupt
		return 0
	}
	n := int64(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return n
}

func (r *reader) time() time.Time {
	if r.err != nil {
		return time.Time{}
	}
	if len(r.b) < timeLen {
		r.err = errCorrupt
		return time.Time{}
	}
	t := timekey.Decode(r.b)
	r.b = r.b[timeLen:]
	return t
}

// A rule's value is its threshold and action, followed, when it has any
// of srvmon's fields, by their JSON document (package ruledoc): a rule
// with none has gosrvmon's value of schema version 4.
func encodeRule(rl store.Rule) []byte {
	r := record(nil).int(rl.Threshold).str(rl.Action)
	if doc := ruledoc.Encode(rl); doc != "" {
		r = r.str(doc)
	}
	return r
}

func decodeRule(host string, v []byte) (store.Rule, error) {
	r := reader{b: v}
	rl := store.Rule{Host: host, Threshold: r.int(), Action: r.str()}
	if r.err == nil && len(r.b) > 0 {
		if err := ruledoc.Decode(r.str(), &rl); err != nil {
			return store.Rule{}, err
		}
	}
	return rl, r.err
}

// A state's value is its status, count and last slot (schema version
// 4's value, which reads with srvmon's fields zero), then srvmon's
// fields (version 5): since, recent, recent length, notified, reason,
// the number of locations and each location, next reminder, certificate
// expiry and days.
func encodeState(st store.State) []byte {
	r := record(nil).str(st.Status).int(st.Count).time(st.LastSlot).
		time(st.Since).int(int64(st.Recent)).int(st.RecentLen).str(st.Notified).str(st.Reason).int(int64(len(st.Locations)))
	for _, l := range st.Locations {
		r = r.str(l)
	}
	return r.time(st.NextReminder).time(st.CertExpiry).int(st.CertDays).int(int64(st.DownFor))
}

func decodeState(host string, v []byte) (store.State, error) {
	r := reader{b: v}
	st := store.State{Host: host, Status: r.str(), Count: r.int(), LastSlot: r.time()}
	if r.err != nil || len(r.b) == 0 {
		return st, r.err
	}
	st.Since, st.Recent, st.RecentLen, st.Notified, st.Reason = r.time(), uint64(r.int()), r.int(), r.str(), r.str()
	n := r.int()
	if n < 0 || n > int64(len(r.b)) {
		return store.State{}, errCorrupt
	}
	for range n {
		st.Locations = append(st.Locations, r.str())
	}
	st.NextReminder, st.CertExpiry, st.CertDays, st.DownFor = r.time(), r.time(), r.int(), time.Duration(r.int())
	return st, r.err
}

// A delivery's value is schema version 4's (host, URL, created, next
// attempt, attempts, last error, status), which reads with the channel
// fields empty, then its channel, event, title and message (version 5).
func encodeDelivery(d *store.Delivery) []byte {
	return record(nil).str(d.Host).str(d.URL).time(d.Created).time(d.NextAttempt).
		int(d.Attempts).str(d.LastError).str(d.Status).
		str(d.Channel).str(d.Event).str(d.Title).str(d.Message)
}

func decodeDelivery(k, v []byte) (store.Delivery, error) {
	if len(k) != 8 {
		return store.Delivery{}, errCorrupt
	}
	r := reader{b: v}
	d := store.Delivery{
		ID:          int64(binary.BigEndian.Uint64(k)),
		Host:        r.str(),
		URL:         r.str(),
		Created:     r.time(),
		NextAttempt: r.time(),
		Attempts:    r.int(),
		LastError:   r.str(),
		Status:      r.str(),
	}
	if r.err == nil && len(r.b) > 0 {
		d.Channel, d.Event, d.Title, d.Message = r.str(), r.str(), r.str(), r.str()
	}
	return d, r.err
}

// decodeDeliveryHead decodes what a claim's choice reads of a delivery:
// its ID, host, channel, creation, next attempt and attempts.
func decodeDeliveryHead(k, v []byte) (store.Delivery, error) {
	if len(k) != 8 {
		return store.Delivery{}, errCorrupt
	}
	r := reader{b: v}
	d := store.Delivery{ID: int64(binary.BigEndian.Uint64(k)), Host: r.str()}
	r.skipStr() // the URL
	d.Created, d.NextAttempt, d.Attempts = r.time(), r.time(), r.int()
	r.skipStr() // the last error
	r.skipStr() // the status
	if r.err == nil && len(r.b) > 0 {
		d.Channel = r.str()
	}
	return d, r.err
}

// dueKey is the key of a pending delivery in the due index: its next
// attempt, then its ID, so that a cursor lists them oldest first.
func dueKey(next time.Time, id int64) []byte {
	return binary.BigEndian.AppendUint64(timekey.Append(make([]byte, 0, timeLen+8), next), uint64(id))
}
