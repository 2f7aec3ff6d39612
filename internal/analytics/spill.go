package analytics

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// The spill file holds batches the sink could not take, one JSON object per
// line, so a crash mid-append loses at most the last line. Only the writer
// goroutine (or Close/NewPipeline, when it is not running) touches it.
const spillFile = "usage-spill.jsonl"

func appendSpill(dir string, bs []batch) error {
	if dir == "" {
		return errNoSpill
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, spillFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, b := range bs {
		if err := enc.Encode(b); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// readSpill returns the spilled batches and removes the file. A torn last
// line (crash during append) is skipped.
func readSpill(dir string) ([]batch, error) {
	path := filepath.Join(dir, spillFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []batch
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		var b batch
		if json.Unmarshal(sc.Bytes(), &b) == nil && b.ID != "" {
			out = append(out, b)
		}
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	return out, os.Remove(path)
}

func spillExists(dir string) bool {
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, spillFile))
	return err == nil
}

// loadSpill queues what a previous run spilled (called before the writer starts).
func (p *Pipeline) loadSpill() {
	if !spillExists(p.opts.SpillDir) {
		return
	}
	bs, err := readSpill(p.opts.SpillDir)
	if err != nil {
		p.log.Error("reading usage spill file", "err", err)
	}
	if len(bs) > 0 {
		p.log.Info("re-sending spilled usage rollups", "rollups", countRollups(bs))
		p.pending.pushFront(bs)
	}
}

// spillIfOverBound moves every pending batch to disk once memory holds more
// than MaxPending rollups while the sink keeps failing.
func (p *Pipeline) spillIfOverBound() {
	if p.opts.SpillDir == "" || p.pending.rollups() <= p.opts.MaxPending {
		return
	}
	bs := p.pending.takeAll()
	if err := appendSpill(p.opts.SpillDir, bs); err != nil {
		p.log.Error("spilling usage rollups failed; keeping them in memory", "err", err)
		p.pending.pushFront(bs)
		return
	}
	p.log.Warn("usage store down; rollups spilled to disk", "rollups", countRollups(bs))
}

// reloadSpillAfterSuccess re-queues spilled batches once the sink works again.
func (p *Pipeline) reloadSpillAfterSuccess() {
	if spillExists(p.opts.SpillDir) {
		p.loadSpill()
	}
}
