// Package accesslog writes one JSON line per request to stdout or to a file
// rotated by size. Lines are built by hand into a pooled buffer (no
// reflection, no allocation per line in the steady state) and written
// through a buffer flushed every second and on Close.
package accesslog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tollgate-dev/tollgate/internal/analytics"
	"github.com/tollgate-dev/tollgate/internal/config"
)

// Defaults for file output.
const (
	DefaultMaxSizeMB = 100
	DefaultMaxFiles  = 5
)

// Field names accepted in access_log.fields, in the order lines carry them.
var Fields = []string{"time", "request_id", "trace_id", "route", "consumer", "plan", "method", "path",
	"status", "latency_ms", "upstream_latency_ms", "bytes_in", "bytes_out"}

type fieldWriter func(b []byte, e *analytics.Event, path string) []byte

var fieldWriters = map[string]fieldWriter{
	"time": func(b []byte, e *analytics.Event, _ string) []byte {
		t := e.Time
		if t.IsZero() {
			t = time.Now()
		}
		b = append(b, '"')
		b = t.UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	},
	"request_id": func(b []byte, e *analytics.Event, _ string) []byte { return appendJSONString(b, e.RequestID) },
	"trace_id":   func(b []byte, e *analytics.Event, _ string) []byte { return appendJSONString(b, e.TraceID) },
	"route":      func(b []byte, e *analytics.Event, _ string) []byte { return appendJSONString(b, e.Route) },
	"consumer":   func(b []byte, e *analytics.Event, _ string) []byte { return appendJSONString(b, e.ConsumerID) },
	"plan":       func(b []byte, e *analytics.Event, _ string) []byte { return appendJSONString(b, e.Plan) },
	"method":     func(b []byte, e *analytics.Event, _ string) []byte { return appendJSONString(b, e.Method) },
	"path":       func(b []byte, _ *analytics.Event, p string) []byte { return appendJSONString(b, p) },
	"status":     func(b []byte, e *analytics.Event, _ string) []byte { return strconv.AppendInt(b, int64(e.Status), 10) },
	"latency_ms": func(b []byte, e *analytics.Event, _ string) []byte { return appendMillis(b, e.Latency) },
	"upstream_latency_ms": func(b []byte, e *analytics.Event, _ string) []byte {
		return appendMillis(b, e.UpstreamLatency)
	},
	"bytes_in":  func(b []byte, e *analytics.Event, _ string) []byte { return strconv.AppendInt(b, e.BytesIn, 10) },
	"bytes_out": func(b []byte, e *analytics.Event, _ string) []byte { return strconv.AppendInt(b, e.BytesOut, 10) },
}

type field struct {
	prefix []byte // `"name":` (with a leading comma after the first)
	write  fieldWriter
}

// Log is an access log. Safe for concurrent use.
type Log struct {
	fields []field
	pool   sync.Pool

	mu   sync.Mutex
	out  *bufio.Writer
	file *rotatingFile // nil for stdout
	stop chan struct{}
	done chan struct{}
}

// New opens the log described by cfg (Path "" or "stdout" = standard output).
// An unknown field name is an error. New on a disabled config returns nil,
// and every method of a nil *Log is a no-op.
func New(cfg config.AccessLog) (*Log, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	fields, err := compileFields(cfg.Fields)
	if err != nil {
		return nil, err
	}
	var w io.Writer = os.Stdout
	var rf *rotatingFile
	if cfg.Path != "" && cfg.Path != "stdout" {
		rf, err = openRotating(cfg.Path, cfg.MaxSizeMB, cfg.MaxFiles)
		if err != nil {
			return nil, err
		}
		w = rf
	}
	l := &Log{fields: fields, out: bufio.NewWriterSize(w, 64<<10), file: rf, stop: make(chan struct{}), done: make(chan struct{})}
	l.pool.New = func() any { return &line{b: make([]byte, 0, 512)} }
	go l.flushEverySecond()
	return l, nil
}

func compileFields(names []string) ([]field, error) {
	if len(names) == 0 {
		names = Fields
	}
	out := make([]field, 0, len(names))
	for i, n := range names {
		w, ok := fieldWriters[n]
		if !ok {
			return nil, fmt.Errorf("access_log.fields: unknown field %q (known: %v)", n, Fields)
		}
		prefix := []byte(`,"` + n + `":`)
		if i == 0 {
			prefix = prefix[1:]
		}
		out = append(out, field{prefix: prefix, write: w})
	}
	return out, nil
}

// Log writes one line for a finished request; path is the request path
// (kept out of Event on purpose: it is unbounded and only the log needs it).
func (l *Log) Log(e *analytics.Event, path string) {
	if l == nil {
		return
	}
	lb := l.pool.Get().(*line)
	lb.e = *e // the field writers take a pointer: keep it in pooled memory, not on the heap per call
	b := append(lb.b[:0], '{')
	for _, f := range l.fields {
		b = append(b, f.prefix...)
		b = f.write(b, &lb.e, path)
	}
	b = append(b, '}', '\n')
	l.write(b)
	if cap(b) <= 64<<10 { // do not keep a giant buffer from one huge line
		lb.b, lb.e = b, analytics.Event{}
		l.pool.Put(lb)
	}
}

// line is the pooled scratch space of one Log call.
type line struct {
	b []byte
	e analytics.Event
}

// write appends a whole line; rotation happens between lines, never inside one.
func (l *Log) write(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.file; f != nil && f.size+int64(l.out.Buffered()) > 0 &&
		f.size+int64(l.out.Buffered()+len(b)) > f.maxBytes {
		_ = l.out.Flush()
		if err := f.rotate(); err != nil {
			return // the file is gone; drop the line rather than block traffic
		}
	}
	_, _ = l.out.Write(b)
}

func (l *Log) flushEverySecond() {
	defer close(l.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush()
		case <-l.stop:
			return
		}
	}
}

// Flush writes buffered lines out.
func (l *Log) Flush() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Flush()
}

// Close flushes and closes the file.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	close(l.stop)
	<-l.done
	err := l.Flush()
	if l.file != nil {
		if cerr := l.file.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string: escapes quotes, backslashes
// and control characters, and replaces invalid UTF-8 with U+FFFD, so a
// hostile path can never break the line.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
