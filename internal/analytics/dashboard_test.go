package analytics

import (
	"context"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestAnalyticsPageRendersCharts(t *testing.T) {
	q := &memQuerier{rows: sampleRows(time.Now())}
	rec := httptest.NewRecorder()
	AnalyticsPage(q).ServeHTTP(rec, httptest.NewRequest("GET", "/ui/analytics?range=1h", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, id := range []string{"requests-chart", "errors-chart", "latency-chart", "top-routes", "top-consumers"} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("missing chart %s", id)
		}
	}
	if n := strings.Count(body, `class="point"`); n < 4*50 {
		t.Errorf("%d data points, want at least 200 (4 lines x 50 minutes)", n)
	}
	if regexp.MustCompile(`(?i)<script|https?://(?:cdn|fonts|unpkg)`).MatchString(body) {
		t.Error("page loads scripts or external resources")
	}
	bad := httptest.NewRecorder()
	AnalyticsPage(q).ServeHTTP(bad, httptest.NewRequest("GET", "/ui/analytics?range=1y", nil))
	if bad.Code != 400 {
		t.Fatalf("bad range: %d", bad.Code)
	}
}

const chromium = "/usr/bin/chromium"

// TestAnalyticsPageInBrowser opens the page in headless Chromium and checks
// the charts are laid out with their data points.
func TestAnalyticsPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("no " + chromium + " (apt-get install -y chromium) — skipping the browser test")
	}
	srv := httptest.NewServer(AnalyticsPage(&memQuerier{rows: sampleRows(time.Now())}))
	defer srv.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 45*time.Second)
	defer cancelT()

	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/ui/analytics?range=1h"),
		chromedp.WaitVisible("#latency-chart"),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	stats, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`(() => {
			const q = s => document.querySelectorAll(s);
			const rect = document.querySelector('#requests-chart').getBoundingClientRect();
			const pts = document.querySelector('#requests-chart polyline')?.getAttribute('points') || '';
			return {
				requestPoints: q('#requests-chart circle.point').length,
				requestPolylinePoints: pts.trim() === '' ? 0 : pts.trim().split(/\s+/).length,
				latencySeries: q('#latency-chart g.series').length,
				latencyPoints: q('#latency-chart circle.point').length,
				errorPoints: q('#errors-chart circle.point').length,
				routeBars: q('#top-routes rect').length,
				consumerBars: q('#top-consumers rect').length,
				width: rect.width, height: rect.height,
			};
		})()`))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	t.Logf("rendered: %v", stats)
	buckets := stats["requestPoints"] // one per minute of the hour; 61 when "now" is mid-minute
	if buckets != 60 && buckets != 61 {
		t.Errorf("requests chart has %v points, want 60 or 61", buckets)
	}
	want := map[string]float64{"errorPoints": buckets, "requestPolylinePoints": buckets, "latencySeries": 3, "latencyPoints": 3 * 50, "routeBars": 3, "consumerBars": 2}
	for k, v := range want {
		if stats[k] != v {
			t.Errorf("%s = %v, want %v", k, stats[k], v)
		}
	}
	if os.Getenv("TOLLGATE_SCREENSHOT") != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			_ = os.WriteFile(os.Getenv("TOLLGATE_SCREENSHOT"), png, 0o644)
		}
	}
	if stats["width"] < 100 || stats["height"] < 50 {
		t.Errorf("chart not laid out: %vx%v", stats["width"], stats["height"])
	}
}
