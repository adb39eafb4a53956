// Package timekey encodes a time as the 12-byte key that the bolt and ql
// backends store results, summaries and delivery times under: the Unix
// seconds with the sign bit flipped, then the nanoseconds, both
// big-endian. Byte order is time order, also before 1970, so a key range
// is a time range; the encoding holds every time.Time, the zero one
// included, to the nanosecond (the location is not kept: times decode in
// UTC).
//
// Both backends' files use this encoding: changing it changes their file
// formats.
package timekey

import (
	"encoding/binary"
	"time"
)

// Len is the length of an encoded time.
const Len = 12

const signBit = 1 << 63

// Append appends t's encoding to b.
func Append(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^signBit)
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// Put writes t's encoding into b, which must hold Len bytes.
func Put(b []byte, t time.Time) {
	binary.BigEndian.PutUint64(b, uint64(t.Unix())^signBit)
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
}

// Decode returns the time that the first Len bytes of b encode, in UTC;
// b must hold Len bytes.
func Decode(b []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(b) ^ signBit)
	return time.Unix(sec, int64(binary.BigEndian.Uint32(b[8:Len]))).UTC()
}
