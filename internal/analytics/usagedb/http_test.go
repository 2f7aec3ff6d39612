package usagedb

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/analytics"
)

// TestUsageEndpointAfterRestart checks the admin endpoint end to end: a
// known mix goes through two pipeline lifetimes into the store, and
// GET /usage returns exactly those counts per (consumer, route), with each
// series' percentiles within 1% of the exact ones.
func TestUsageEndpointAfterRestart(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			store, err := New(d.open(t), d.name)
			if err != nil {
				t.Fatal(err)
			}
			evs, ws := knownMix(2400)
			for _, part := range [][]analytics.Event{evs[:1000], evs[1000:]} {
				p := analytics.NewPipeline(store, quickOpts(t.TempDir()), nil)
				for _, e := range part {
					p.Emit(e)
				}
				if err := p.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			srv := httptest.NewServer(analytics.UsageHandler(store))
			defer srv.Close()
			q := url.Values{"granularity": {"day"}, "from": {base.Add(-time.Hour).Format(time.RFC3339)},
				"to": {base.Add(time.Hour).Format(time.RFC3339)}}
			resp, err := http.Get(srv.URL + "/usage?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var u analytics.Usage
			if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&u) != nil {
				t.Fatalf("GET /usage: %d", resp.StatusCode)
			}
			if len(u.Series) != len(ws) {
				t.Fatalf("%d series, want %d", len(u.Series), len(ws))
			}
			for _, s := range u.Series {
				w := ws[[2]string{s.Consumer, s.Route}]
				if len(s.Points) != 1 || s.Points[0].Counts != w.counts {
					t.Errorf("%s/%s: %+v, want %+v", s.Consumer, s.Route, s.Points, w.counts)
					continue
				}
				lat := slices.Sorted(slices.Values(w.latencies))
				for _, c := range []struct{ q, got float64 }{{.5, s.Points[0].P50}, {.95, s.Points[0].P95}, {.99, s.Points[0].P99}} {
					exact := lat[int(c.q*float64(len(lat)-1))]
					if math.Abs(c.got-exact)/exact > analytics.RelativeAccuracy {
						t.Errorf("%s/%s p%v: %.3f vs exact %.3f", s.Consumer, s.Route, c.q*100, c.got, exact)
					}
				}
			}
		})
	}
}
