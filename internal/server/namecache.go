package server

import (
	"maps"
	"strings"
	"sync/atomic"
	"unsafe"
)

// nameCache answers a question about a header name (its canonical form,
// whether it can be injected) once per name. The names come from code and
// config, so the first level is a table keyed by the string's address: the
// constant names policies pass are found by one load and a compare. Below
// it a copy-on-write map holds every name seen (up to maxCachedNames), so
// two names that share table slots cost a map lookup, never a new answer
// and its allocation per request.
//
// The table is two-way: a name may sit in its slot or the slot's pair, and
// a new name takes the primary slot and moves the previous one to the
// pair, so two busy names whose addresses land together both stay.
type nameCache[T any] struct {
	slots [nameSlots]atomic.Pointer[nameEntry[T]]
	all   atomic.Pointer[map[string]*nameEntry[T]]
}

type nameEntry[T any] struct {
	name string // a copy: never changes
	v    T
}

const (
	nameSlots      = 128
	maxCachedNames = 1024
)

// slot is the primary slot of a string's address: a multiplicative hash,
// so names laid out at regular offsets spread over the table.
func slot(n string) int {
	return int(uint64(uintptr(unsafe.Pointer(unsafe.StringData(n)))) * 0x9E3779B97F4A7C15 >> 57)
}

// get returns the answer for n's current bytes (a caller may reuse a buffer
// under a string, so an entry is used only for equal bytes); answer works
// it out on a miss.
func (c *nameCache[T]) get(n string, answer func(string) T) T {
	i := slot(n)
	if e := c.slots[i].Load(); e != nil && e.name == n {
		return e.v
	}
	if e := c.slots[i^1].Load(); e != nil && e.name == n {
		return e.v
	}
	return c.miss(n, i, answer)
}

func (c *nameCache[T]) miss(n string, i int, answer func(string) T) T {
	var all map[string]*nameEntry[T]
	if m := c.all.Load(); m != nil {
		all = *m
	}
	e, ok := all[n]
	if !ok {
		e = &nameEntry[T]{name: strings.Clone(n), v: answer(n)}
		if len(all) >= maxCachedNames {
			return e.v
		}
		// Copy on write: inserts are rare (once per name), lookups
		// lock-free. Two racing inserts may lose one name; it is cached on
		// its next use.
		next := make(map[string]*nameEntry[T], len(all)+1)
		maps.Copy(next, all)
		next[e.name] = e
		c.all.Store(&next)
	}
	if prev := c.slots[i].Load(); prev != nil {
		c.slots[i^1].Store(prev)
	}
	c.slots[i].Store(e)
	return e.v
}
