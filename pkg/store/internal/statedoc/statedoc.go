// Package statedoc encodes a notification state's srvmon fields
// (store.State's fields after LastSlot) as one compact binary value, for
// the backends that keep them beside gosrvmon's status, count and last
// slot in one column: every round rewrites every ruled host's state, and
// one narrow value costs far less to write and read than nine columns.
// A state whose srvmon fields are all zero encodes as no bytes, so a
// state stored before them reads them zero.
//
// The value is a version byte (1), then Since, Recent, RecentLen,
// Notified, Reason, the number of Locations and each location,
// NextReminder, CertExpiry, CertDays and DownFor: integers as varints (times as
// Unix seconds and nanoseconds), strings length-prefixed.
package statedoc

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

const version = 1

var errCorrupt = errors.New("statedoc: corrupt value")

// Encode appends the value of st's srvmon fields to b.
func Encode(b []byte, st store.State) []byte {
	if st.Since.IsZero() && st.Recent == 0 && st.RecentLen == 0 && st.Notified == "" && st.Reason == "" &&
		len(st.Locations) == 0 && st.NextReminder.IsZero() && st.CertExpiry.IsZero() && st.CertDays == 0 && st.DownFor == 0 {
		return b
	}
	b = append(b, version)
	b = appendTime(b, st.Since)
	b = binary.AppendUvarint(b, st.Recent)
	b = binary.AppendVarint(b, st.RecentLen)
	b = appendString(appendString(b, st.Notified), st.Reason)
	b = binary.AppendUvarint(b, uint64(len(st.Locations)))
	for _, l := range st.Locations {
		b = appendString(b, l)
	}
	b = appendTime(appendTime(b, st.NextReminder), st.CertExpiry)
	return binary.AppendVarint(binary.AppendVarint(b, st.CertDays), int64(st.DownFor))
}

// Decode sets st's srvmon fields from the value b (none: all zero).
func Decode(b []byte, st *store.State) error {
	st.Since, st.Recent, st.RecentLen, st.Notified, st.Reason, st.Locations = time.Time{}, 0, 0, "", "", nil
	st.NextReminder, st.CertExpiry, st.CertDays, st.DownFor = time.Time{}, time.Time{}, 0, 0
	if len(b) == 0 {
		return nil
	}
	if b[0] != version {
		return errCorrupt
	}
	d := decoder{b: b[1:]}
	st.Since = d.time()
	st.Recent = d.uvarint()
	st.RecentLen = d.varint()
	st.Notified, st.Reason = d.string(), d.string()
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return errCorrupt
	}
	for range n {
		st.Locations = append(st.Locations, d.string())
	}
	st.NextReminder, st.CertExpiry = d.time(), d.time()
	st.CertDays = d.varint()
	st.DownFor = time.Duration(d.varint())
	if d.err == nil && len(d.b) > 0 {
		d.err = errCorrupt
	}
	return d.err
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decoder reads a value; the first error sticks and the rest read zeros.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	n, w := binary.Uvarint(d.b)
	if w <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[w:]
	return n
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	n, w := binary.Varint(d.b)
	if w <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[w:]
	return n
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return time.Time{}
	}
	set := d.b[0]
	d.b = d.b[1:]
	if set == 0 {
		return time.Time{}
	}
	sec, nsec := d.varint(), d.uvarint()
	if d.err != nil || nsec >= 1e9 {
		d.err = errCorrupt
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
