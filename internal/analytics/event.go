// Package analytics turns per-request events into per-minute usage rollups
// that billing can trust, and serves them back as usage series.
//
// The proxy calls Pipeline.Emit once per request; Emit never blocks. An
// aggregator goroutine rolls events up per minute per (consumer, route,
// status class); closed minutes are written to a Sink in batches by a
// writer goroutine that retries, keeps failed batches in memory and spills
// them to disk when there are too many.
package analytics

import (
	"context"
	"time"
)

// Event is what the gateway records about one request. It is small and holds
// no pointers into request data, so it can be queued after the request ends;
// RequestID is the exception (it views memory the exchange reuses), so
// a queued event leaves it empty.
type Event struct {
	Time            time.Time
	Route           string
	ConsumerID      string
	Plan            string
	Method          string
	Status          int
	Latency         time.Duration
	UpstreamLatency time.Duration
	BytesIn         int64
	BytesOut        int64
	RequestID       string
	TraceID         string
}

// StatusClass is the hundreds digit of a status (2 for 2xx); 0 when the
// status is outside 100..599 (e.g. the client went away before a response).
func StatusClass(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// Rollup is one minute of traffic for one (consumer, route, status class).
// Errors counts status >= 500, ClientErrors counts 4xx.
type Rollup struct {
	// BatchID is shared by the rollups of one write; a sink applies a batch
	// id at most once, which makes retries after an ambiguous failure safe.
	BatchID      string    `json:"batch_id"`
	Minute       time.Time `json:"minute"` // start of the minute, UTC
	ConsumerID   string    `json:"consumer_id"`
	Route        string    `json:"route"`
	StatusClass  int       `json:"status_class"`
	Requests     int64     `json:"requests"`
	Errors       int64     `json:"errors"`
	ClientErrors int64     `json:"client_errors"`
	BytesIn      int64     `json:"bytes_in"`
	BytesOut     int64     `json:"bytes_out"`
	Latency      *Sketch   `json:"latency"` // milliseconds
}

// Sink receives batches of closed minute rollups. An error means the batch
// will be sent again (with the same BatchID).
type Sink interface {
	WriteRollups(ctx context.Context, rollups []Rollup) error
}
