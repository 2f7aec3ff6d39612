package store

import (
	"context"
	"errors"
	"log/slog"
	"testing"
)

type levelCount struct {
	slog.Handler
	n map[slog.Level]int
}

func (h *levelCount) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelCount) Handle(_ context.Context, r slog.Record) error {
	h.n[r.Level]++
	return nil
}

// A store outage is one warning (plus a reminder a minute), not one per poll.
func TestOutageLogWarnsOncePerOutage(t *testing.T) {
	h := &levelCount{Handler: slog.DiscardHandler, n: map[slog.Level]int{}}
	log := slog.New(h)
	var o outageLog
	o.ok(log, "recovered") // nothing to report before an outage
	for range 20 {
		o.failed(log, "poll failed", errors.New("connection refused"))
	}
	if h.n[slog.LevelWarn] != 1 {
		t.Fatalf("20 failed polls logged %d warnings, want 1", h.n[slog.LevelWarn])
	}
	o.ok(log, "recovered")
	o.ok(log, "recovered")
	if h.n[slog.LevelInfo] != 1 {
		t.Fatalf("recovery logged %d times, want 1", h.n[slog.LevelInfo])
	}
	o.failed(log, "poll failed", errors.New("again"))
	if h.n[slog.LevelWarn] != 2 {
		t.Fatalf("a second outage logged %d warnings in all, want 2", h.n[slog.LevelWarn])
	}
}
