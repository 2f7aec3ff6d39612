package admin

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// uiClient drives the UI like a browser: a cookie jar, no redirect following.
type uiClient struct {
	t       *testing.T
	srv     *Server
	cookies map[string]*http.Cookie
	tls     bool
}

func newUIClient(t *testing.T, srv *Server) *uiClient {
	return &uiClient{t: t, srv: srv, cookies: map[string]*http.Cookie{}}
}

func (c *uiClient) send(method, path string, form url.Values) *httptest.ResponseRecorder {
	c.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	if c.tls {
		req.TLS = &tls.ConnectionState{}
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	c.srv.ServeHTTP(w, req)
	for _, ck := range w.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return w
}

func (c *uiClient) loginForm() string {
	c.t.Helper()
	w := c.send("GET", "/ui/login", nil)
	m := csrfField.FindStringSubmatch(w.Body.String())
	if w.Code != 200 || m == nil {
		c.t.Fatalf("login page: %d %s", w.Code, w.Body)
	}
	return m[1]
}

func (c *uiClient) login(token string) *httptest.ResponseRecorder {
	return c.send("POST", "/ui/login", url.Values{"csrf": {c.loginForm()}, "token": {token}})
}

func wantRedirect(t *testing.T, w *httptest.ResponseRecorder, to string) {
	t.Helper()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != to {
		t.Fatalf("got %d to %q, want 303 to %s", w.Code, w.Header().Get("Location"), to)
	}
}

func TestUIRequiresLogin(t *testing.T) {
	h := newSQLiteHarness(t, func(o *Options) {
		o.Extra = map[string]http.Handler{"GET /ui/analytics": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("charts")) })}
	})
	c := newUIClient(t, h.srv)
	for _, p := range []string{"/ui", "/ui/analytics"} {
		wantRedirect(t, c.send("GET", p, nil), "/ui/login")
	}
	c.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: "forged.9999999999.AAAA"}
	wantRedirect(t, c.send("GET", "/ui", nil), "/ui/login")
	delete(c.cookies, sessionCookie)

	if w := c.send("GET", "/ui/static/admin.css", nil); w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("css: %d %v", w.Code, w.Header())
	}
	if w := c.login("wrong"); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "not valid") {
		t.Fatalf("wrong token: %d", w.Code)
	}
	if _, ok := c.cookies[sessionCookie]; ok {
		t.Fatal("a wrong token got a session")
	}
	// A form without the CSRF nonce of this browser is refused.
	if w := c.send("POST", "/ui/login", url.Values{"csrf": {"guess"}, "token": {testToken}}); w.Code != http.StatusForbidden {
		t.Fatalf("login without CSRF: %d", w.Code)
	}
}

func TestUILoginAndDashboard(t *testing.T) {
	h := newSQLiteHarness(t, func(o *Options) {
		o.Extra = map[string]http.Handler{"GET /ui/analytics": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("charts")) })}
	})
	want(t, h.do("POST", "/consumers", map[string]any{"name": "acme-corp", "plan": "free"}), http.StatusCreated)
	c := newUIClient(t, h.srv)
	w := c.login(testToken)
	wantRedirect(t, w, "/ui")
	ck := c.cookies[sessionCookie]
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure {
		t.Fatalf("session cookie: %+v", ck)
	}
	if strings.Contains(ck.Value, testToken) {
		t.Fatal("the session cookie holds the admin token")
	}

	page := c.send("GET", "/ui", nil)
	body := page.Body.String()
	rev, _, _ := h.cfg.Current()
	for _, s := range []string{"orders-v1", "/v1/orders/{id}", "http://127.0.0.1:9", "acme-corp", `href="/ui/analytics"`, `id="revision">` + strconv.FormatInt(rev, 10) + "<", "consumer.create"} {
		if !strings.Contains(body, s) {
			t.Errorf("dashboard lacks %q", s)
		}
	}
	if page.Code != 200 || strings.Contains(body, "<script") {
		t.Fatalf("dashboard: %d", page.Code)
	}
	if strings.Contains(body, "cdn") || strings.Contains(body, `src="http`) || strings.Contains(body, `href="http`) {
		t.Fatal("dashboard references an external resource")
	}
	if got := c.send("GET", "/ui/analytics", nil); got.Body.String() != "charts" {
		t.Fatalf("analytics via session: %d %q", got.Code, got.Body)
	}
	// The session is not the bearer token: it opens /ui only, not the API.
	req := httptest.NewRequest("GET", "/status", nil)
	req.AddCookie(ck)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("session cookie opened the API: %d", rec.Code)
	}

	// Logging out needs the session's CSRF token.
	csrf := csrfField.FindStringSubmatch(body)[1]
	c.send("POST", "/ui/logout", url.Values{"csrf": {"bad"}})
	if _, ok := c.cookies[sessionCookie]; !ok {
		t.Fatal("logout without CSRF token worked")
	}
	wantRedirect(t, c.send("POST", "/ui/logout", url.Values{"csrf": {csrf}}), "/ui/login")
	wantRedirect(t, c.send("GET", "/ui", nil), "/ui/login")
}

func TestUISecureCookieOverTLS(t *testing.T) {
	h := newSQLiteHarness(t)
	c := newUIClient(t, h.srv)
	c.tls = true
	wantRedirect(t, c.login(testToken), "/ui")
	if ck := c.cookies[sessionCookie]; ck == nil || !ck.Secure {
		t.Fatalf("cookie over TLS: %+v", ck)
	}
}

func TestSessionExpiryAndTamper(t *testing.T) {
	var k sessionKeys
	if err := k.init(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v := k.issue(now)
	if _, ok := k.verify(v, now); !ok {
		t.Fatal("fresh session rejected")
	}
	if _, ok := k.verify(v, now.Add(sessionTTL+time.Second)); ok {
		t.Fatal("expired session accepted")
	}
	parts := strings.Split(v, ".")
	if _, ok := k.verify(parts[0]+".9999999999."+parts[2], now); ok {
		t.Fatal("session with extended expiry accepted")
	}
	var other sessionKeys
	_ = other.init()
	if _, ok := other.verify(v, now); ok {
		t.Fatal("session from another key accepted")
	}
}
