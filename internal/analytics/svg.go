package analytics

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// Server-side SVG charts: the dashboard needs no script and no CDN.

const (
	chartW, chartH         = 640.0, 200.0
	padL, padR, padT, padB = 56.0, 12.0, 12.0, 28.0
)

// line is one plotted series; NaN values are gaps (no data in that bucket).
type line struct {
	Name, Color string
	Values      []float64
}

// lineChart draws lines over shared x positions (bucket start times).
func lineChart(id, unit string, xs []time.Time, lines []line) template.HTML {
	hi := 0.0
	for _, l := range lines {
		for _, v := range l.Values {
			if !math.IsNaN(v) {
				hi = max(hi, v)
			}
		}
	}
	if hi == 0 {
		hi = 1
	}
	hi = niceCeil(hi)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" role="img" viewBox="0 0 %g %g" width="100%%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">`, id, chartW, chartH)
	axes(&b, xs, hi, unit)
	for _, l := range lines {
		plotLine(&b, xs, l, hi)
	}
	legend(&b, lines)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func xPos(i, n int) float64 {
	if n <= 1 {
		return padL + (chartW-padL-padR)/2
	}
	return padL + float64(i)*(chartW-padL-padR)/float64(n-1)
}

func yPos(v, hi float64) float64 { return chartH - padB - v/hi*(chartH-padT-padB) }

func axes(b *strings.Builder, xs []time.Time, hi float64, unit string) {
	fmt.Fprintf(b, `<g class="axes" stroke="#999" stroke-width="1"><line x1="%g" y1="%g" x2="%g" y2="%g"/><line x1="%g" y1="%g" x2="%g" y2="%g"/></g>`,
		padL, padT, padL, chartH-padB, padL, chartH-padB, chartW-padR, chartH-padB)
	b.WriteString(`<g class="labels" font-size="10" fill="#555">`)
	for _, f := range []float64{0, 0.5, 1} {
		y := yPos(hi*f, hi)
		fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="end">%s</text>`, padL-4, y+3, html.EscapeString(shortNum(hi*f)+unit))
		if f > 0 {
			fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#eee"/>`, padL, y, chartW-padR, y)
		}
	}
	if len(xs) > 0 {
		fmt.Fprintf(b, `<text x="%g" y="%g">%s</text>`, padL, chartH-8, xs[0].Format("Jan 2 15:04"))
		fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="end">%s</text>`, chartW-padR, chartH-8, xs[len(xs)-1].Format("Jan 2 15:04"))
	}
	b.WriteString(`</g>`)
}

// plotLine draws a polyline per run of consecutive values and a dot per value
// (with a <title> tooltip), so sparse data stays visible.
func plotLine(b *strings.Builder, xs []time.Time, l line, hi float64) {
	fmt.Fprintf(b, `<g class="series" data-name="%s" stroke="%s" fill="%s">`, html.EscapeString(l.Name), l.Color, l.Color)
	var pts []string
	flush := func() {
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline fill="none" stroke-width="1.5" points="%s"/>`, strings.Join(pts, " "))
		}
		pts = pts[:0]
	}
	for i, v := range l.Values {
		if math.IsNaN(v) {
			flush()
			continue
		}
		x, y := xPos(i, len(l.Values)), yPos(v, hi)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		fmt.Fprintf(b, `<circle class="point" cx="%.1f" cy="%.1f" r="2" data-value="%g"><title>%s %s: %s</title></circle>`,
			x, y, v, html.EscapeString(l.Name), xs[i].Format("Jan 2 15:04"), shortNum(v))
	}
	flush()
	b.WriteString(`</g>`)
}

func legend(b *strings.Builder, lines []line) {
	x := padL + 8
	for _, l := range lines {
		fmt.Fprintf(b, `<g class="legend"><rect x="%g" y="%g" width="10" height="3" fill="%s"/><text x="%g" y="%g" font-size="10" fill="#333">%s</text></g>`,
			x, padT+2, l.Color, x+14, padT+6, html.EscapeString(l.Name))
		x += 20 + 6*float64(len(l.Name))
	}
}

// bar is one row of a top-N chart.
type bar struct {
	Label string
	Value float64
}

// barChart draws horizontal bars, largest first.
func barChart(id string, bars []bar) template.HTML {
	const rowH, labelW, w = 22.0, 160.0, 480.0
	h := rowH*float64(len(bars)) + 4
	hi := 1.0
	for _, br := range bars {
		hi = max(hi, br.Value)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart bars" id="%s" role="img" viewBox="0 0 %g %g" width="100%%" xmlns="http://www.w3.org/2000/svg">`, id, w, max(h, rowH))
	for i, br := range bars {
		y := float64(i)*rowH + 2
		bw := br.Value / hi * (w - labelW - 60)
		fmt.Fprintf(&b, `<g class="bar"><text x="%g" y="%g" font-size="11" text-anchor="end" fill="#333">%s</text>`, labelW-6, y+14, html.EscapeString(truncate(br.Label, 24)))
		fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%.1f" height="%g" fill="#4e79a7" data-value="%g"><title>%s: %s</title></rect>`,
			labelW, y+2, max(bw, 1), rowH-6, br.Value, html.EscapeString(br.Label), shortNum(br.Value))
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" fill="#333">%s</text></g>`, labelW+max(bw, 1)+4, y+14, shortNum(br.Value))
	}
	if len(bars) == 0 {
		fmt.Fprintf(&b, `<text x="8" y="15" font-size="11" fill="#777">no traffic</text>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten, for readable axes.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func shortNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}
