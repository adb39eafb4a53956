package store

import (
	"cmp"
	"slices"
	"time"
)

// ClaimPicker chooses, among a store's pending deliveries, the ones that
// Store.ClaimDeliveries may claim at a time: each host's oldest pending
// delivery, when it is due and none of the host's attempted pending
// deliveries is not due (leased, or waiting out a backoff). It is for the
// backends that gather the pending deliveries and choose in Go,
// inside the transaction (or under the lock) of the claim.
type ClaimPicker struct {
	now   time.Time
	heads map[string]*claimHead
}

// claimHead is a host's oldest pending delivery so far.
type claimHead struct {
	d       Delivery
	blocked bool // an attempted pending delivery of the host is not due
}

// NewClaimPicker returns a ClaimPicker for a claim at now.
func NewClaimPicker(now time.Time) *ClaimPicker {
	return &ClaimPicker{now: now, heads: map[string]*claimHead{}}
}

// Add considers d, a pending delivery. Every pending delivery of the store
// must be added, in any order, before Pick.
func (p *ClaimPicker) Add(d Delivery) {
	blocks := d.Attempts > 0 && d.NextAttempt.After(p.now)
	h := p.heads[d.Host]
	if h == nil {
		p.heads[d.Host] = &claimHead{d: d, blocked: blocks}
		return
	}
	h.blocked = h.blocked || blocks
	if c := d.Created.Compare(h.d.Created); c < 0 || c == 0 && d.ID < h.d.ID {
		h.d = d
	}
}

// Pick returns up to limit of the claimable deliveries, by NextAttempt
// then ID; never nil.
func (p *ClaimPicker) Pick(limit int) []Delivery {
	ds := []Delivery{}
	for _, h := range p.heads {
		if !h.blocked && !h.d.NextAttempt.After(p.now) {
			ds = append(ds, h.d)
		}
	}
	slices.SortFunc(ds, func(a, b Delivery) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return ds[:min(len(ds), max(limit, 0))]
}
