package sizelimit

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a number of bytes, written as an integer or as a size string.
type ByteSize int64

var units = []struct {
	suffix string
	mult   int64
}{ // longest suffixes first so "KiB" is not read as "B"
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

var errSize = errors.New(`invalid size: write a byte count like 1048576 or a size like "512KiB", "1MiB", "10MB"`)

// ParseByteSize reads "1048576", "1MiB", "512 KiB", "10MB" (KB/MB/GB are
// powers of 1000, KiB/MiB/GiB and K/M/G powers of 1024).
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errSize
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML accepts an integer or a size string.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errSize
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalJSON accepts a JSON number or a size string.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	v, err := ParseByteSize(strings.Trim(string(data), `"`))
	if err != nil {
		return err
	}
	*b = v
	return nil
}
