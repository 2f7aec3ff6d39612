package tracing

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// remoteContext is an incoming trace context carried through the gateway
// while tracing is off. It copies the ids out of the header (no reference
// into request memory survives the request).
type remoteContext struct {
	traceID trace.TraceID
	flags   byte
	state   string
}

// passThrough returns the shared no-op span when the request carries no
// usable traceparent, else a span that only propagates.
func passThrough(h Getter) *Span {
	tp := h.Get(HeaderTraceparent)
	if tp == "" {
		return noop
	}
	rc, err := parseTraceparent(tp)
	if err != nil {
		return noop
	}
	if st := h.Get(HeaderTracestate); st != "" && len(st) <= 512 {
		rc.state = strings.Clone(st)
	}
	return &Span{pass: &rc}
}

// parseTraceparent reads "version-traceid-parentid-flags" per W3C Trace
// Context: lowercase hex, version ff and all-zero ids invalid, a future
// version may append fields after another dash.
func parseTraceparent(s string) (remoteContext, error) {
	var rc remoteContext
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return rc, errBadTraceparent
	}
	if !isLowerHex(s[:2]) || s[:2] == "ff" || (s[:2] == "00" && len(s) != 55) || (len(s) > 55 && s[55] != '-') {
		return rc, errBadTraceparent
	}
	var parent [8]byte
	var flags [1]byte
	if !decodeHex(rc.traceID[:], s[3:35]) || !decodeHex(parent[:], s[36:52]) || !decodeHex(flags[:], s[53:55]) {
		return rc, errBadTraceparent
	}
	if !rc.traceID.IsValid() || parent == [8]byte{} {
		return rc, errBadTraceparent
	}
	rc.flags = flags[0]
	return rc, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func decodeHex(dst []byte, s string) bool {
	if !isLowerHex(s) {
		return false
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

// inject writes the trace with a fresh parent span id (version 00, flags kept).
func (rc *remoteContext) inject(set Setter) {
	var span [8]byte
	for span == [8]byte{} {
		binary.BigEndian.PutUint64(span[:], rand.Uint64())
	}
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], rc.traceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], span[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{rc.flags & 0x01}) // only the sampled flag is defined for version 00
	set.Set(HeaderTraceparent, string(b[:]))
	if rc.state != "" {
		set.Set(HeaderTracestate, rc.state)
	}
}
