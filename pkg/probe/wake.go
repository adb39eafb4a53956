package probe

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"time"
)

// wakeCanary measures how late the process runs a goroutine whose socket
// has become readable: exactly what a probe's rtt suffers on top of the
// target's own, since a probe takes its end time when its goroutine runs
// after the answer came. It sends itself a datagram over loopback UDP,
// one at a time, and a goroutine parked on the other end times its
// arrival.
//
// This delay is not the scheduler's run-queue delay alone: the runtime
// notices a socket that became ready (its netpoller) mostly when a P runs
// out of goroutines to run, so a process whose Ps never run dry (its
// round's probes, the API serving requests, other processes taking the
// CPUs) wakes its sockets late while every goroutine it knows is runnable
// is run promptly. Only a socket shows it.
type wakeCanary struct {
	send, recv *net.UDPConn
	epoch      time.Time    // the datagrams carry their send time, in ns since epoch
	sentAt     atomic.Int64 // ns since epoch of the datagram in flight; -1 when none is
	delay      atomic.Int64 // ns the last datagram took
	broken     atomic.Bool  // the reader has stopped
}

// newWakeCanary opens the canary's sockets and starts its reader; nil and
// the error when loopback UDP is not available (the pacer then watches
// the run queue alone). Close it when done.
func newWakeCanary() (*wakeCanary, error) {
	recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	send, err := net.DialUDP("udp", nil, recv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		recv.Close()
		return nil, err
	}
	c := &wakeCanary{send: send, recv: recv, epoch: time.Now()}
	c.sentAt.Store(-1)
	go c.read()
	return c, nil
}

// read times each datagram's arrival until the sockets are closed, or
// until a read fails otherwise: then the canary is broken.
func (c *wakeCanary) read() {
	var buf [8]byte
	for {
		n, err := c.recv.Read(buf[:])
		if err != nil {
			c.broken.Store(true)
			return
		}
		if n != len(buf) {
			continue
		}
		sent := int64(binary.LittleEndian.Uint64(buf[:]))
		c.delay.Store(int64(time.Since(c.epoch)) - sent)
		c.sentAt.Store(-1)
	}
}

// late reports whether the last datagram took longer than max to wake its
// reader, or the one in flight has been on its way for longer already;
// and sends the next one if none is in flight. A broken canary is never
// late: it cannot tell.
func (c *wakeCanary) late(max time.Duration) bool {
	if c.broken.Load() {
		return false
	}
	now := int64(time.Since(c.epoch))
	if sent := c.sentAt.Load(); sent >= 0 {
		return now-sent > int64(max)
	}
	late := c.delay.Load() > int64(max)
	c.sentAt.Store(now)
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(now))
	if _, err := c.send.Write(buf[:]); err != nil {
		c.sentAt.Store(-1) // nothing in flight: try again next time
	}
	return late
}

// close closes the sockets; the reader ends.
func (c *wakeCanary) close() {
	c.send.Close()
	c.recv.Close()
}
