package server

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The ring must always hold exactly the last bytes read, whatever the read
// sizes (smaller than, equal to, or larger than the ring).
func TestEdgeConnRingKeepsTheLastBytes(t *testing.T) {
	for _, size := range []int{1, 7, 64, 4096} {
		c := &edgeConn{ring: make([]byte, size)}
		var all []byte
		rng := rand.New(rand.NewPCG(1, uint64(size)))
		for i := 0; i < 500; i++ {
			chunk := make([]byte, rng.IntN(3*size+2))
			for j := range chunk {
				chunk[j] = byte(rng.Uint32())
			}
			c.remember(chunk)
			all = append(all, chunk...)
			n := min(size, len(all))
			if n == 0 {
				continue
			}
			k := 1 + rng.IntN(n)
			if got, want := c.last(k), all[len(all)-k:]; !bytes.Equal(got, want) {
				t.Fatalf("ring %d after %d bytes: last(%d) differs", size, len(all), k)
			}
		}
		if c.total != int64(len(all)) {
			t.Fatalf("total %d, want %d", c.total, len(all))
		}
	}
}
