package accesslog

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tollgate-dev/tollgate/internal/analytics"
	"github.com/tollgate-dev/tollgate/internal/config"
)

var ev = analytics.Event{
	Time: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), Route: "orders-v1", ConsumerID: "c-1", Plan: "free",
	Method: "GET", Status: 201, Latency: 1500 * time.Microsecond, UpstreamLatency: time.Millisecond,
	BytesIn: 12, BytesOut: 345, RequestID: "req-1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogWritesEveryField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := New(config.AccessLog{Enabled: true, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(&ev, "/v1/orders/\"7\"\n\xff")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	want := map[string]any{
		"time": "2026-03-02T10:00:00Z", "request_id": "req-1", "trace_id": ev.TraceID, "route": "orders-v1",
		"consumer": "c-1", "plan": "free", "method": "GET", "path": "/v1/orders/\"7\"\n\ufffd", "status": 201.0,
		"latency_ms": 1.5, "upstream_latency_ms": 1.0, "bytes_in": 12.0, "bytes_out": 345.0,
	}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("%s = %#v, want %#v", k, lines[0][k], v)
		}
	}
	if len(lines[0]) != len(Fields) {
		t.Errorf("%d fields, want %d", len(lines[0]), len(Fields))
	}
}

func TestFieldSelection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	l, err := New(config.AccessLog{Enabled: true, Path: path, Fields: []string{"status", "route"}})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(&ev, "/x")
	l.Close()
	lines := readLines(t, path)
	if len(lines[0]) != 2 || lines[0]["route"] != "orders-v1" || lines[0]["status"] != 201.0 {
		t.Fatalf("%v", lines[0])
	}
	if _, err := New(config.AccessLog{Enabled: true, Fields: []string{"cookie"}}); err == nil {
		t.Fatal("unknown field accepted")
	}
}

func TestDisabledIsNil(t *testing.T) {
	l, err := New(config.AccessLog{})
	if err != nil || l != nil {
		t.Fatalf("%v %v", l, err)
	}
	l.Log(&ev, "/") // no panic
	_ = l.Close()
}

func TestRotationBySize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := New(config.AccessLog{Enabled: true, Path: path, MaxSizeMB: 1, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	long := "/" + strings.Repeat("p", 1000)
	const n = 4000 // ~4.3 MB: several rotations
	for range n {
		l.Log(&ev, long)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	names := map[string]int64{}
	for _, e := range entries {
		info, _ := e.Info()
		names[e.Name()] = info.Size()
	}
	if len(names) != 3 {
		t.Fatalf("files: %v, want access.log, .1, .2", names)
	}
	for name, size := range names {
		if size > 1<<20 {
			t.Errorf("%s is %d bytes, over max_size_mb", name, size)
		}
	}
	for _, name := range []string{"access.log", "access.log.1", "access.log.2"} {
		readLines(t, filepath.Join(dir, name)) // every line whole and valid
	}
}

func TestLogDoesNotAllocate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	l, _ := New(config.AccessLog{Enabled: true, Path: path})
	defer l.Close()
	l.Log(&ev, "/v1/orders")
	if n := testing.AllocsPerRun(1000, func() { l.Log(&ev, "/v1/orders") }); n > 0 {
		t.Fatalf("%v allocations per line", n)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quo\"te", "back\\slash", "\x00\x1f\n", "\xff\xfe", "héllo ☃", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil {
			t.Fatalf("%q: invalid JSON: %v", s, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("round trip %q -> %q", s, got)
		}
	})
}

func BenchmarkLog(b *testing.B) {
	l, _ := New(config.AccessLog{Enabled: true, Path: filepath.Join(b.TempDir(), "a.log")})
	defer l.Close()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(&ev, "/v1/orders/42")
	}
}
