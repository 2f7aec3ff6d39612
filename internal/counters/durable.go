package counters

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Durable keeps the memory driver's Add counters (quotas) across restarts.
// The memory driver loads a key the first time it sees it after start and
// saves changed keys in batches (every second and at Close), never on the
// request path. The integrator may back it by the SQL store; FileDurable is
// the single-node default.
type Durable interface {
	Load(key string) (int64, error)
	Save(key string, n int64, expireAt time.Time) error
}

// FileDurable is a JSON snapshot file: Save updates memory, a writer thread
// rewrites the file (atomically, via rename) at most every second, and Close
// writes the last state.
type FileDurable struct {
	path  string
	mu    sync.Mutex
	data  map[string]fileEntry
	dirty bool
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type fileEntry struct {
	N        int64     `json:"n"`
	ExpireAt time.Time `json:"expire_at"`
}

// NewFileDurable opens (or creates on first write) the snapshot at path,
// creating its directory now so a path that cannot be written fails at
// start, not silently at the first flush.
func NewFileDurable(path string) (*FileDurable, error) {
	f := &FileDurable{path: path, data: map[string]fileEntry{}, stop: make(chan struct{}), done: make(chan struct{})}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("counters: snapshot directory: %w", err)
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &f.data); err != nil {
			return nil, fmt.Errorf("counters: snapshot %s is not valid JSON: %w", path, err)
		}
	case !os.IsNotExist(err):
		return nil, fmt.Errorf("counters: read snapshot: %w", err)
	}
	now := time.Now()
	for k, e := range f.data {
		if !now.Before(e.ExpireAt) {
			delete(f.data, k)
		}
	}
	go f.writer()
	return f, nil
}

func (f *FileDurable) Load(key string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.data[key]
	if !ok || !time.Now().Before(e.ExpireAt) {
		return 0, nil
	}
	return e.N, nil
}

func (f *FileDurable) Save(key string, n int64, expireAt time.Time) error {
	f.mu.Lock()
	f.data[key] = fileEntry{N: n, ExpireAt: expireAt}
	f.dirty = true
	f.mu.Unlock()
	return nil
}

func (f *FileDurable) writer() {
	defer close(f.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			_ = f.Flush()
		}
	}
}

// Flush writes the snapshot now if anything changed.
func (f *FileDurable) Flush() error {
	f.mu.Lock()
	if !f.dirty {
		f.mu.Unlock()
		return nil
	}
	now := time.Now()
	for k, e := range f.data {
		if !now.Before(e.ExpireAt) {
			delete(f.data, k)
		}
	}
	b, err := json.Marshal(f.data)
	f.dirty = false
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}

// Close stops the writer and writes the final snapshot.
func (f *FileDurable) Close() error {
	f.once.Do(func() { close(f.stop) })
	<-f.done
	return f.Flush()
}
