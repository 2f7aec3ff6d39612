package analytics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// NewUsageCommand is `tollgate usage`: a table with a sparkline per series,
// or the raw JSON of GET /usage with -o json.
func NewUsageCommand(adminURL, token func() string) *cobra.Command {
	var f struct{ consumer, route, from, to, granularity, output string }
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show request usage per consumer and route",
		Example: `  tollgate usage --from 2026-03-01T00:00:00Z --granularity day
  tollgate usage --consumer acme --route orders-v1 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "table" && f.output != "json" {
				return fmt.Errorf("--output must be table or json")
			}
			q := url.Values{}
			for k, v := range map[string]string{"consumer": f.consumer, "route": f.route, "from": f.from, "to": f.to, "granularity": f.granularity} {
				if v != "" {
					q.Set(k, v)
				}
			}
			body, err := fetchUsage(cmd, strings.TrimRight(adminURL(), "/")+"/usage?"+q.Encode(), token())
			if err != nil {
				return err
			}
			if f.output == "json" {
				_, err = cmd.OutOrStdout().Write(body)
				return err
			}
			var u Usage
			if err := json.Unmarshal(body, &u); err != nil {
				return fmt.Errorf("the admin API answered something that is not usage JSON")
			}
			return PrintUsageTable(cmd.OutOrStdout(), &u)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.consumer, "consumer", "", "only this consumer (id)")
	fl.StringVar(&f.route, "route", "", "only this route")
	fl.StringVar(&f.from, "from", "", "start (RFC 3339 or unix seconds; default 24h before --to)")
	fl.StringVar(&f.to, "to", "", "end (RFC 3339 or unix seconds; default now)")
	fl.StringVar(&f.granularity, "granularity", "hour", "minute, hour or day")
	fl.StringVarP(&f.output, "output", "o", "table", "table or json")
	return cmd
}

func fetchUsage(cmd *cobra.Command, u, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("bad admin URL: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the admin API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the admin API answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, apiError(resp.StatusCode, body)
	}
	return body, nil
}

// apiError turns a problem+json answer into a one-line error.
func apiError(status int, body []byte) error {
	var p struct{ Title, Detail string }
	if json.Unmarshal(body, &p) == nil && (p.Detail != "" || p.Title != "") {
		if p.Detail == "" {
			return fmt.Errorf("admin API: %d %s", status, p.Title)
		}
		return fmt.Errorf("admin API: %d %s: %s", status, p.Title, p.Detail)
	}
	return errors.New("admin API: " + http.StatusText(status))
}

// sparkWidth caps a sparkline; longer series are summed into wider buckets.
const sparkWidth = 40

// PrintUsageTable writes one row per series (with a requests sparkline over
// the whole range) and a totals row.
func PrintUsageTable(w io.Writer, u *Usage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "CONSUMER\tROUTE\tREQUESTS\tERRORS\t4XX\tBYTES IN\tBYTES OUT\tP50 MS\tP95 MS\tP99 MS\t%s\t\n", "REQUESTS PER "+strings.ToUpper(u.Granularity))
	for _, s := range u.Series {
		var c Counts
		for _, p := range s.Points {
			c.add(p.Counts)
		}
		pc := seriesPercentiles(s)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", orDash(s.Consumer), s.Route,
			c.Requests, c.Errors, c.ClientErrors, c.BytesIn, c.BytesOut, ms(pc.P50), ms(pc.P95), ms(pc.P99),
			Sparkline(requestsPerBucket(u, s.Points), sparkWidth))
	}
	t := u.Totals
	fmt.Fprintf(tw, "TOTAL\t\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", t.Requests, t.Errors, t.ClientErrors,
		t.BytesIn, t.BytesOut, ms(t.P50), ms(t.P95), ms(t.P99), Sparkline(requestsPerBucket(u, u.Overall), sparkWidth))
	return tw.Flush()
}

// seriesPercentiles: the JSON carries percentiles per point only, so a
// series-wide figure shown in the table is the request-weighted mean of
// the per-bucket percentiles (exact totals are in the TOTAL row).
func seriesPercentiles(s Series) Percentiles {
	var out Percentiles
	var n float64
	for _, p := range s.Points {
		w := float64(p.Requests)
		out.P50 += p.P50 * w
		out.P95 += p.P95 * w
		out.P99 += p.P99 * w
		n += w
	}
	if n > 0 {
		out.P50, out.P95, out.P99 = out.P50/n, out.P95/n, out.P99/n
	}
	return out
}

func ms(v float64) string { return fmt.Sprintf("%.1f", v) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// requestsPerBucket spreads sparse points over every bucket of the range (zeros where no traffic).
func requestsPerBucket(u *Usage, pts []Point) []float64 {
	size := BucketSize(u.Granularity)
	if size == 0 || !u.From.Before(u.To) {
		return nil
	}
	n := int(u.To.Sub(u.From) / size)
	if n > MaxBuckets {
		n = MaxBuckets
	}
	out := make([]float64, n)
	for _, p := range pts {
		if i := int(p.T.Sub(u.From) / size); i >= 0 && i < n {
			out[i] += float64(p.Requests)
		}
	}
	return out
}

var sparkChars = []rune("▁▂▃▄▅▆▇█")

// Sparkline renders values as unicode block characters, at most width wide
// (values are averaged in groups when there are more).
func Sparkline(vals []float64, width int) string {
	if len(vals) == 0 || width <= 0 {
		return ""
	}
	if len(vals) > width {
		grouped, counts := make([]float64, width), make([]float64, width)
		for i, v := range vals {
			grouped[i*width/len(vals)] += v
			counts[i*width/len(vals)]++
		}
		for i := range grouped {
			grouped[i] /= counts[i]
		}
		vals = grouped
	}
	hi := 0.0
	for _, v := range vals {
		hi = max(hi, v)
	}
	var b strings.Builder
	for _, v := range vals {
		i := 0
		if hi > 0 {
			i = int(v / hi * float64(len(sparkChars)-1))
		}
		b.WriteRune(sparkChars[i])
	}
	return b.String()
}
