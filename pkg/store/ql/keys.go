package ql

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
	"github.com/srvmon/srvmon/pkg/store/internal/timekey"
)

// A result's key, the results table's indexed column k, is a string of
// bytes: the host's ID (8 bytes, big-endian), the slot's time (12 bytes,
// see package timekey: byte order is time order) and the location. One
// key column, because ql's planner uses an index of one column only: keys
// sort by host, slot and location, so a host's range is one index range,
// and the key's uniqueness is that of (host, location, slot).
const (
	idLen   = 8
	timeLen = timekey.Len
	headLen = idLen + timeLen
)

var errCorrupt = errors.New("ql: corrupt result key")

// hostKey is the prefix of the keys of the host with ID id.
func hostKey(id int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, headLen), uint64(id))
}

// timeKey is the key of the first result of host id at t.
func timeKey(id int64, t time.Time) string { return string(timekey.Append(hostKey(id), t)) }

// hostEnd is the first key after every key of host id.
func hostEnd(id int64) string { return prefixEnd(hostKey(id)) }

func resultKey(id int64, r *store.Result) string {
	return string(append(timekey.Append(hostKey(id), r.Slot), r.Location...))
}

// slotOf returns the slot part (ID and time) of a key.
func slotOf(k []byte) []byte { return k[:headLen] }

// decodeKey returns the slot and location of a key.
func decodeKey(k []byte) (slot time.Time, loc string, err error) {
	if len(k) < headLen {
		return time.Time{}, "", errCorrupt
	}
	return timekey.Decode(k[idLen:]), string(k[headLen:]), nil
}

// prefixEnd returns the first key after every key that starts with p.
func prefixEnd(p []byte) string {
	n := bytes.Clone(p)
	for i := len(n) - 1; i >= 0; i-- {
		n[i]++
		if n[i] != 0 {
			return string(n[:i+1])
		}
	}
	return string(bytes.Repeat([]byte{0xff}, len(p)+1)) // p is all 0xff: no key is after it but longer ones
}

// after returns the smallest key after k.
func after(k []byte) string { return string(append(bytes.Clone(k), 0)) }
