package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowserLoginShowsRoute logs in with a real headless Chromium and finds
// on the dashboard a route that was created through the API.
func TestBrowserLoginShowsRoute(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("headless browser test needs Debian chromium at " + chromiumPath + " (apt-get install -y chromium)")
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	h := newSQLiteHarness(t)
	doc := baseDoc[:strings.Index(baseDoc, "plans:")] +
		"  - name: browser-made-route\n    service: orders\n    match: { paths: [\"/made/by/api\"] }\n" + baseDoc[strings.Index(baseDoc, "plans:"):]
	want(t, h.do("PUT", "/config", doc), http.StatusOK)
	ts := httptest.NewServer(h.srv)
	t.Cleanup(ts.Close)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 45*time.Second)
	defer cancelTimeout()

	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/ui"),
		chromedp.WaitVisible(chromedp.ID("token")),
	)
	if err != nil {
		t.Fatalf("browser: open /ui: %v", err)
	}
	loginURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("token"), testToken),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("routes")),
	)
	if err != nil {
		t.Fatalf("browser: log in: %v", err)
	}
	routes, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("routes")))
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(loginURL, "/ui/login") {
		t.Fatalf("/ui without a session went to %s, want the login page", loginURL)
	}
	if !strings.Contains(routes, "browser-made-route") || !strings.Contains(routes, "orders-v1") {
		t.Fatalf("routes table: %q", routes)
	}
	if title != "tollgate admin" {
		t.Fatalf("title %q", title)
	}
}
