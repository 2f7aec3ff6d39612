package analytics

import "sync"

// batch is one Sink call's worth of rollups, with the id that makes it idempotent.
type batch struct {
	ID      string   `json:"id"`
	Rollups []Rollup `json:"rollups"`

	// fromSpill marks a batch read back from the spill file, starting at
	// byte spillPos: it is still on disk, so it is never spilled twice.
	fromSpill bool
	spillPos  int64
}

// withoutSpilled drops batches that are still in the spill file and returns
// the smallest file position among them (ok false when there were none).
func withoutSpilled(bs []batch) (fresh []batch, firstPos int64, ok bool) {
	for _, b := range bs {
		if !b.fromSpill {
			fresh = append(fresh, b)
			continue
		}
		if !ok || b.spillPos < firstPos {
			firstPos, ok = b.spillPos, true
		}
	}
	return fresh, firstPos, ok
}

// pendingQueue holds batches handed over by the aggregator until the writer
// has them in the sink. FIFO; the writer retries the head.
type pendingQueue struct {
	mu      sync.Mutex
	batches []batch
	count   int // rollups across batches
	wake    chan struct{}
}

func (q *pendingQueue) push(b batch) {
	q.mu.Lock()
	q.batches = append(q.batches, b)
	q.count += len(b.Rollups)
	q.mu.Unlock()
	q.nudge()
}

// pushFront puts batches (reloaded from a spill file) ahead of the rest.
func (q *pendingQueue) pushFront(bs []batch) {
	q.mu.Lock()
	q.batches = append(append([]batch(nil), bs...), q.batches...)
	q.count += countRollups(bs)
	q.mu.Unlock()
	q.nudge()
}

func (q *pendingQueue) nudge() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *pendingQueue) peek() (batch, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.batches) == 0 {
		return batch{}, false
	}
	return q.batches[0], true
}

func (q *pendingQueue) drop(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.batches) > 0 && q.batches[0].ID == id {
		q.count -= len(q.batches[0].Rollups)
		q.batches[0] = batch{}
		q.batches = q.batches[1:]
	}
}

func (q *pendingQueue) takeAll() []batch {
	q.mu.Lock()
	defer q.mu.Unlock()
	bs := q.batches
	q.batches, q.count = nil, 0
	return bs
}

func (q *pendingQueue) rollups() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count
}

func countRollups(bs []batch) int {
	n := 0
	for _, b := range bs {
		n += len(b.Rollups)
	}
	return n
}
