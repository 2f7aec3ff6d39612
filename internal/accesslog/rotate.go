package accesslog

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// rotatingFile appends to path; when a write would push it past maxBytes it
// is renamed to path.1 (path.1 to path.2 ...; the oldest beyond maxFiles is
// removed) and a fresh file is started. Callers serialise writes (Log.mu).
type rotatingFile struct {
	path     string
	maxBytes int64
	maxFiles int
	f        *os.File
	size     int64
}

func openRotating(path string, maxSizeMB, maxFiles int) (*rotatingFile, error) {
	if maxSizeMB <= 0 {
		maxSizeMB = DefaultMaxSizeMB
	}
	if maxFiles <= 0 {
		maxFiles = DefaultMaxFiles
	}
	r := &rotatingFile{path: path, maxBytes: int64(maxSizeMB) << 20, maxFiles: maxFiles}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return r, r.open()
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("access log: %w", err)
	}
	r.f, r.size = f, st.Size()
	return nil
}

// Write appends; Log decides when to rotate, so lines never straddle files.
func (r *rotatingFile) Write(p []byte) (int, error) {
	if r.f == nil {
		return 0, os.ErrClosed
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *rotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return err
	}
	r.f = nil
	_ = os.Remove(r.name(r.maxFiles))
	for i := r.maxFiles - 1; i >= 1; i-- {
		_ = os.Rename(r.name(i), r.name(i+1))
	}
	if err := os.Rename(r.path, r.name(1)); err != nil {
		return fmt.Errorf("access log rotation: %w", err)
	}
	return r.open()
}

func (r *rotatingFile) name(i int) string { return r.path + "." + strconv.Itoa(i) }

func (r *rotatingFile) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}
