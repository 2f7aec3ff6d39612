package upstream

import (
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// ringVnodes is how many points each target (per unit of weight) gets on the
// consistent-hash ring: enough that removing one of n targets moves about 1/n
// of the keys.
const (
	ringVnodes    = 100
	maxRingPoints = 1000 // per target, however large its weight
)

type ringNode struct {
	hash   uint64
	target *Target
}

// buildRing places each target's virtual nodes by hashing its URL, so a
// target keeps its points across reloads and pool membership changes.
func buildRing(targets []*Target) []ringNode {
	var ring []ringNode
	for _, t := range targets {
		points := min(ringVnodes*t.weight, maxRingPoints)
		key := t.st.url + "#"
		for i := 0; i < points; i++ {
			ring = append(ring, ringNode{hash: xxhash.Sum64String(key + strconv.Itoa(i)), target: t})
		}
	}
	slices.SortFunc(ring, func(a, b ringNode) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	return ring
}

// pickHash takes the first usable target clockwise from the key's point: an
// unavailable target's keys spill to its ring neighbours while the rest stay put.
func (p *Pool) pickHash(now int64, key string, exclude []*Target) *Target {
	h := xxhash.Sum64String(key)
	i, _ := slices.BinarySearchFunc(p.ring, h, func(n ringNode, h uint64) int {
		switch {
		case n.hash < h:
			return -1
		case n.hash > h:
			return 1
		}
		return 0
	})
	var last *Target
	for j := 0; j < len(p.ring); j++ {
		t := p.ring[(i+j)%len(p.ring)].target
		if t == last {
			continue // consecutive points of a target already refused
		}
		if usable(t, now, exclude) {
			return t
		}
		last = t
	}
	return nil
}

// maxSeq bounds the precomputed weighted round; larger weight sums are scaled
// down proportionally (each target keeps at least one turn).
const maxSeq = 4096

// buildWeightedSeq runs nginx's smooth weighted round robin over one full
// round (sum of weights picks), reduced by the weights' gcd.
func buildWeightedSeq(targets []*Target) []*Target {
	weights := make([]int, len(targets))
	g, sum := 0, int64(0) // int64: weights scaled by maxSeq overflow a 32-bit int
	for i, t := range targets {
		weights[i] = t.weight
		g = gcd(g, t.weight)
		sum += int64(t.weight)
	}
	for i := range weights {
		weights[i] /= g
	}
	if sum /= int64(g); sum > maxSeq {
		for i := range weights {
			weights[i] = int(max(int64(weights[i])*maxSeq/sum, 1))
		}
	}
	return smoothRound(targets, weights)
}

func smoothRound(targets []*Target, weights []int) []*Target {
	total := 0
	for _, w := range weights {
		total += w
	}
	current := make([]int, len(targets))
	seq := make([]*Target, 0, total)
	for range total {
		best := 0
		for i, w := range weights {
			current[i] += w
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		seq = append(seq, targets[best])
	}
	return seq
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
