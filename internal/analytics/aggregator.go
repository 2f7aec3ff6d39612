package analytics

import "time"

// seriesKey identifies one rollup row within a minute.
type seriesKey struct {
	consumer, route string
	class           int
}

// rollupState is the running total of one open rollup row.
type rollupState struct {
	requests, errors, clientErrors, bytesIn, bytesOut int64
	latency                                           Sketch
}

// aggregator holds the open minutes: minute (unix seconds) -> rows.
// Only the aggregator goroutine touches it.
type aggregator struct {
	minutes map[int64]map[seriesKey]*rollupState
	// last minute used: almost every event lands in it, saving a map lookup.
	lastMinute int64
	lastRows   map[seriesKey]*rollupState
	// last row used in lastRows: runs of events of one series (one route,
	// one consumer) skip the row lookup too.
	lastKey seriesKey
	lastRow *rollupState
}

func (a *aggregator) add(e *Event, now func() time.Time) {
	t := e.Time
	if t.IsZero() {
		t = now()
	}
	sec := t.Unix()
	minute := sec - mod(sec, 60)
	rows := a.lastRows
	if rows == nil || minute != a.lastMinute {
		rows = a.minutes[minute]
		if rows == nil {
			rows = make(map[seriesKey]*rollupState)
			a.minutes[minute] = rows
		}
		a.lastMinute, a.lastRows, a.lastRow = minute, rows, nil
	}
	k := seriesKey{consumer: e.ConsumerID, route: e.Route, class: StatusClass(e.Status)}
	st := a.lastRow
	if st == nil || k != a.lastKey {
		st = rows[k]
		if st == nil {
			st = &rollupState{}
			rows[k] = st
		}
		a.lastKey, a.lastRow = k, st
	}
	st.record(e)
}

func (st *rollupState) record(e *Event) {
	st.requests++
	switch {
	case e.Status >= 500:
		st.errors++
	case e.Status >= 400:
		st.clientErrors++
	}
	st.bytesIn += e.BytesIn
	st.bytesOut += e.BytesOut
	st.latency.Add(float64(e.Latency) / float64(time.Millisecond))
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// takeClosed removes and returns every minute that ended before cutoff.
func (a *aggregator) takeClosed(cutoff time.Time) []Rollup {
	var out []Rollup
	for minute, rows := range a.minutes {
		if minute+60 <= cutoff.Unix() {
			out = appendRollups(out, minute, rows)
			delete(a.minutes, minute)
			a.forget(minute)
		}
	}
	return out
}

// takeAll removes and returns every open minute (shutdown).
func (a *aggregator) takeAll() []Rollup {
	var out []Rollup
	for minute, rows := range a.minutes {
		out = appendRollups(out, minute, rows)
		delete(a.minutes, minute)
		a.forget(minute)
	}
	return out
}

// forget drops the cached last minute once it has been handed over.
func (a *aggregator) forget(minute int64) {
	if a.lastRows != nil && a.lastMinute == minute {
		a.lastRows, a.lastRow = nil, nil
	}
}

func appendRollups(out []Rollup, minute int64, rows map[seriesKey]*rollupState) []Rollup {
	t := time.Unix(minute, 0).UTC()
	for k, st := range rows {
		out = append(out, Rollup{
			Minute: t, ConsumerID: k.consumer, Route: k.route, StatusClass: k.class,
			Requests: st.requests, Errors: st.errors, ClientErrors: st.clientErrors,
			BytesIn: st.bytesIn, BytesOut: st.bytesOut, Latency: &st.latency,
		})
	}
	return out
}
