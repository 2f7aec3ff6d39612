package analytics

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
)

// Sketch is a DDSketch-style latency sketch: values fall into logarithmic
// buckets of ratio gamma = (1+alpha)/(1-alpha), so any quantile it returns is
// within a relative error of alpha of the exact value of the same rank
// (Masson, Rim, Lee: "DDSketch", VLDB 2019). Sketches merge by adding bucket
// counts, which is what lets minute rollups become hours and days exactly.
//
// Values are latencies in milliseconds. Values below MinIndexableMs (1 µs)
// are counted in a zero bucket and reported as 0.
//
// The bucket counts live in one dense slice covering the occupied index
// range. The range is capped at maxBins; past it the lowest buckets are
// collapsed into one, which only affects the very lowest quantiles.
type Sketch struct {
	offset int32    // index of counts[0]
	counts []uint32 // counts per bucket, dense from offset
	zero   uint64   // values below MinIndexableMs
	total  uint64
}

// RelativeAccuracy is the documented relative error bound of every quantile
// returned by a Sketch: 1%.
const RelativeAccuracy = 0.01

// MinIndexableMs is the smallest latency (in ms) tracked in its own bucket.
const MinIndexableMs = 0.001

// maxBins bounds the memory of one sketch: with gamma≈1.0202 2048 buckets
// span a ratio of e^41 — far more than 1 µs to a day.
const maxBins = 2048

// maxIndex bounds bucket indexes: the largest float64 has index ~35900.
const maxIndex = 1 << 17

var (
	gamma      = (1 + RelativeAccuracy) / (1 - RelativeAccuracy)
	logGamma   = math.Log(gamma)
	errCorrupt = errors.New("analytics: corrupt sketch encoding")
)

// NewSketch returns an empty sketch.
func NewSketch() *Sketch { return &Sketch{} }

func bucketIndex(v float64) int32 { return int32(math.Ceil(math.Log(v) / logGamma)) }

// bucketValue is the representative of bucket i: the point whose relative
// distance to both bucket bounds (gamma^(i-1), gamma^i] is alpha.
func bucketValue(i int32) float64 { return 2 * math.Pow(gamma, float64(i)) / (gamma + 1) }

// Add records one value in milliseconds.
func (s *Sketch) Add(ms float64) { s.addN(ms, 1) }

func (s *Sketch) addN(ms float64, n uint32) {
	s.total += uint64(n)
	if !(ms >= MinIndexableMs) { // also catches NaN
		s.zero += uint64(n)
		return
	}
	s.addIndex(bucketIndex(ms), n)
}

func (s *Sketch) addIndex(i int32, n uint32) {
	if len(s.counts) == 0 {
		s.offset = i
		s.counts = append(s.counts[:0], n)
		return
	}
	if i < s.offset {
		s.growLow(i)
	} else if int(i-s.offset) >= len(s.counts) {
		s.growHigh(i)
	}
	if i < s.offset { // collapsed into the lowest bucket
		i = s.offset
	}
	s.counts[i-s.offset] += n
}

func (s *Sketch) growHigh(i int32) {
	low := s.offset
	if int(i-s.offset)+1 > maxBins { // keep the high end, collapse the low end
		low = i - maxBins + 1
	}
	s.rebase(low, i)
}

func (s *Sketch) growLow(i int32) {
	high := s.offset + int32(len(s.counts)) - 1
	if int(high-i)+1 > maxBins {
		i = high - maxBins + 1
	}
	if i < s.offset {
		s.rebase(i, high)
	}
}

// rebase makes counts cover [low, high], folding buckets below low into low.
func (s *Sketch) rebase(low, high int32) {
	grown := make([]uint32, int(high-low)+1)
	for j, c := range s.counts {
		k := max(s.offset+int32(j)-low, 0)
		grown[k] += c
	}
	s.counts, s.offset = grown, low
}

// Count is the number of values recorded.
func (s *Sketch) Count() uint64 { return s.total }

// Merge adds every value of o into s.
func (s *Sketch) Merge(o *Sketch) {
	if o == nil {
		return
	}
	s.zero += o.zero
	s.total += o.zero
	for j, c := range o.counts {
		if c != 0 {
			s.total += uint64(c)
			s.addIndex(o.offset+int32(j), c)
		}
	}
}

// Quantile returns the value (ms) at quantile q in [0,1]: the value of rank
// floor(q*(n-1)) in sorted order, within RelativeAccuracy. 0 when empty.
func (s *Sketch) Quantile(q float64) float64 {
	if s.total == 0 {
		return 0
	}
	q = math.Min(math.Max(q, 0), 1)
	rank := uint64(q * float64(s.total-1))
	if rank < s.zero {
		return 0
	}
	seen := s.zero
	for j, c := range s.counts {
		seen += uint64(c)
		if seen > rank {
			return bucketValue(s.offset + int32(j))
		}
	}
	return bucketValue(s.offset + int32(len(s.counts)) - 1)
}

// Clone returns an independent copy.
func (s *Sketch) Clone() *Sketch {
	c := *s
	c.counts = append([]uint32(nil), s.counts...)
	return &c
}

// MarshalBinary encodes the sketch as varints:
// version, zero, offset, len(counts), counts... (total is recomputed).
func (s *Sketch) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 16+2*len(s.counts))
	b = append(b, 1)
	b = binary.AppendUvarint(b, s.zero)
	b = binary.AppendVarint(b, int64(s.offset))
	b = binary.AppendUvarint(b, uint64(len(s.counts)))
	for _, c := range s.counts {
		b = binary.AppendUvarint(b, uint64(c))
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote; an empty input is an empty sketch.
func (s *Sketch) UnmarshalBinary(b []byte) error {
	*s = Sketch{}
	if len(b) == 0 {
		return nil
	}
	if b[0] != 1 {
		return errCorrupt
	}
	r := reader{b: b[1:]}
	s.zero = r.uvarint()
	off := r.varint()
	n := r.uvarint()
	if r.err != nil || n > maxBins || off < -maxIndex || off > maxIndex {
		return errCorrupt
	}
	s.offset, s.total = int32(off), s.zero
	s.counts = make([]uint32, n)
	for j := range s.counts {
		c := r.uvarint()
		if c > math.MaxUint32 {
			return errCorrupt
		}
		s.counts[j] = uint32(c)
		s.total += c
	}
	if r.err != nil || len(r.b) != 0 {
		*s = Sketch{}
		return errCorrupt
	}
	return nil
}

// MarshalJSON writes the binary encoding as a base64 string (spill files).
func (s *Sketch) MarshalJSON() ([]byte, error) {
	b, _ := s.MarshalBinary()
	return []byte(`"` + base64.StdEncoding.EncodeToString(b) + `"`), nil
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *Sketch) UnmarshalJSON(j []byte) error {
	if len(j) < 2 || j[0] != '"' || j[len(j)-1] != '"' {
		return errCorrupt
	}
	b, err := base64.StdEncoding.DecodeString(string(j[1 : len(j)-1]))
	if err != nil {
		return errCorrupt
	}
	return s.UnmarshalBinary(b)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}
