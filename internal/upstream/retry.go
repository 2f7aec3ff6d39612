package upstream

import (
	"sync/atomic"
	"time"
)

// Retry budget (SPEC §8): retries may add at most budgetRatio of the service's
// requests over a sliding window, plus budgetFloor so low traffic can still retry.
const (
	budgetRatio   = 0.2
	budgetFloor   = 3
	budgetSlots   = 10
	budgetSlotDur = time.Second // window = budgetSlots * budgetSlotDur = 10 s
)

type retryBudget struct {
	slots [budgetSlots]budgetSlot
}

type budgetSlot struct {
	epoch, requests, retries atomic.Int64
}

func budgetEpoch(now int64) int64 { return now/int64(budgetSlotDur) + 1 } // 0 = unused

func (b *retryBudget) slot(now int64) *budgetSlot {
	e := budgetEpoch(now)
	s := &b.slots[e%budgetSlots]
	if old := s.epoch.Load(); old != e && s.epoch.CompareAndSwap(old, e) {
		s.requests.Store(0)
		s.retries.Store(0)
	}
	return s
}

func (b *retryBudget) request(now int64) { b.slot(now).requests.Add(1) }

// spend takes one retry from the budget if the window has room for it.
func (b *retryBudget) spend(now int64) bool {
	e := budgetEpoch(now)
	var requests, retries int64
	for i := range b.slots {
		s := &b.slots[i]
		if age := e - s.epoch.Load(); age >= 0 && age < budgetSlots {
			requests += s.requests.Load()
			retries += s.retries.Load()
		}
	}
	if float64(retries) >= budgetFloor+budgetRatio*float64(requests) {
		return false
	}
	b.slot(now).retries.Add(1)
	return true
}

// RetryAllowed says whether a failed attempt may be retried; attempt is the
// number of attempts made so far (1 after the first). Connect failures may be
// retried for any method (nothing reached the target); once the request was
// sent only idempotent methods may, unless the service sets
// retry_non_idempotent. At most the service's retries are made, and retries
// stay within the service's retry budget. A true answer spends from the budget.
func (p *Pool) RetryAllowed(attempt int, method string, o Outcome) bool {
	if o == OK || attempt < 1 || attempt > p.s.retries {
		return false
	}
	if o != ConnectFailed && !p.s.retryPost && !idempotent(method) {
		return false
	}
	return p.svc.budget.spend(time.Now().UnixNano())
}
