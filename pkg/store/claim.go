package store

import (
	"cmp"
	"slices"
	"time"
)

// ClaimPicker chooses, among a store's pending deliveries, the ones that
// Store.ClaimDeliveries may claim at a time: the oldest pending delivery
// of each host and channel, when it is due and none of the attempted
// pending deliveries of its host and channel is not due (leased, or
// waiting out a backoff). It is for the
// backends that gather the pending deliveries and choose in Go, inside
// the transaction (or under the lock) of the claim.
type ClaimPicker struct {
	now   time.Time
	index map[queue]int // host and channel → its head in heads
	heads []claimHead
}

// queue is what deliveries are ordered and claimed one at a time by.
type queue struct{ host, channel string }

// claimHead is the oldest pending delivery of a queue so far.
type claimHead struct {
	id            int64
	created, next time.Time
	blocked       bool // an attempted pending delivery of the queue is not due
}

// NewClaimPicker returns a ClaimPicker for a claim at now.
func NewClaimPicker(now time.Time) *ClaimPicker {
	return &ClaimPicker{now: now, index: map[queue]int{}}
}

// Add considers d, a pending delivery; only its ID, Host, Channel,
// Created, NextAttempt and Attempts are read. Every pending delivery of the store
// must be added, in any order, before Pick.
func (p *ClaimPicker) Add(d Delivery) {
	blocks := d.Attempts > 0 && d.NextAttempt.After(p.now)
	q := queue{d.Host, d.Channel}
	i, ok := p.index[q]
	if !ok {
		p.index[q] = len(p.heads)
		p.heads = append(p.heads, claimHead{id: d.ID, created: d.Created, next: d.NextAttempt, blocked: blocks})
		return
	}
	h := &p.heads[i]
	h.blocked = h.blocked || blocks
	if c := d.Created.Compare(h.created); c < 0 || c == 0 && d.ID < h.id {
		h.id, h.created, h.next = d.ID, d.Created, d.NextAttempt
	}
}

// Pick returns the IDs of up to limit of the claimable deliveries, by
// NextAttempt then ID. It is called once, after the last Add.
func (p *ClaimPicker) Pick(limit int) []int64 {
	due := slices.DeleteFunc(p.heads, func(h claimHead) bool { return h.blocked || h.next.After(p.now) })
	slices.SortFunc(due, func(a, b claimHead) int {
		if c := a.next.Compare(b.next); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	ids := make([]int64, min(len(due), max(limit, 0)))
	for i := range ids {
		ids[i] = due[i].id
	}
	return ids
}
