package analytics

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
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

// readSpillFrom reads batches from byte offset on, stopping once limit
// rollups are read (at least one batch), and returns the offset after the
// last line read and whether the end of the file was reached. A torn last
// line (crash during append) is skipped.
func readSpillFrom(dir string, offset int64, limit int) (bs []batch, next int64, eof bool, err error) {
	f, err := os.Open(filepath.Join(dir, spillFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, true, nil
	}
	if err != nil {
		return nil, offset, false, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, offset, false, err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	n := 0
	for n < limit || len(bs) == 0 {
		line, rerr := r.ReadBytes('\n')
		pos := offset
		offset += int64(len(line))
		var b batch
		if json.Unmarshal(line, &b) == nil && b.ID != "" {
			b.fromSpill, b.spillPos = true, pos
			bs = append(bs, b)
			n += len(b.Rollups)
		}
		if rerr == io.EOF {
			return bs, offset, true, nil
		}
		if rerr != nil {
			return bs, offset, false, rerr
		}
	}
	_, peekErr := r.Peek(1)
	return bs, offset, peekErr == io.EOF, nil
}

// readSpill reads the whole spill file (tests, tools).
func readSpill(dir string) ([]batch, error) {
	bs, _, _, err := readSpillFrom(dir, 0, math.MaxInt)
	return bs, err
}

func spillExists(dir string) bool {
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, spillFile))
	return err == nil
}

// loadSpill queues the next part of the spill file (at most about half of
// MaxPending rollups, so a long outage's file never comes back into memory
// at once). The file stays on disk until every batch read from it has been
// written (removeSpillIfDone): a crash meanwhile re-sends from the start,
// and the store skips batch ids it already applied.
func (p *Pipeline) loadSpill() {
	if !spillExists(p.opts.SpillDir) {
		return
	}
	bs, next, _, err := readSpillFrom(p.opts.SpillDir, p.spillOffset, max(p.opts.MaxPending/2, 1))
	if err != nil {
		p.log.Error("reading usage spill file", "err", err)
	}
	p.spillOffset = next
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
	all := p.pending.takeAll()
	fresh, firstPos, reread := withoutSpilled(all)
	if err := appendSpill(p.opts.SpillDir, fresh); err != nil {
		p.log.Error("spilling usage rollups failed; keeping them in memory", "err", err)
		p.pending.pushFront(all)
		return
	}
	if reread { // batches read back from the file are dropped: read them again later
		p.spillOffset = firstPos
	}
	p.log.Warn("usage store down; rollups spilled to disk", "rollups", countRollups(fresh))
}

// afterSuccess, once the sink took a batch: remove a fully re-sent spill
// file, or bring the next part of it in when memory has room.
func (p *Pipeline) afterSuccess() {
	if !spillExists(p.opts.SpillDir) {
		return
	}
	pending := p.pending.rollups()
	if pending == 0 && p.spillFullyRead() {
		if err := os.Remove(filepath.Join(p.opts.SpillDir, spillFile)); err == nil {
			p.spillOffset = 0
		}
		return
	}
	if pending < p.opts.MaxPending/2 && !p.spillFullyRead() {
		p.loadSpill()
	}
}

func (p *Pipeline) spillFullyRead() bool {
	st, err := os.Stat(filepath.Join(p.opts.SpillDir, spillFile))
	return err == nil && p.spillOffset >= st.Size()
}
