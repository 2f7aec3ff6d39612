package admin

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/admin.css
var adminCSS []byte

const (
	sessionCookie = "tg_admin_session"
	loginCSRF     = "tg_admin_csrf"
	sessionTTL    = 12 * time.Hour
)

// sessionKeys signs UI sessions. The key is random per process: a restart
// logs everyone out, and the cookie never holds the admin token.
type sessionKeys struct{ key [32]byte }

func (k *sessionKeys) init() error {
	_, err := rand.Read(k.key[:])
	return err
}

func (k *sessionKeys) mac(parts ...string) string {
	m := hmac.New(sha256.New, k.key[:])
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// issue makes a session value: sid.expiry.mac(sid, expiry).
func (k *sessionKeys) issue(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	sid, exp := hex.EncodeToString(b[:]), strconv.FormatInt(now.Add(sessionTTL).Unix(), 10)
	return sid + "." + exp + "." + k.mac("session", sid, exp)
}

// verify returns the session id of a valid, unexpired session value.
func (k *sessionKeys) verify(v string, now time.Time) (string, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "", false
	}
	want := k.mac("session", parts[0], parts[1])
	if subtle.ConstantTimeCompare([]byte(want), []byte(parts[2])) != 1 {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Unix() >= exp {
		return "", false
	}
	return parts[0], true
}

// csrf is the form token bound to a session.
func (k *sessionKeys) csrf(sid string) string { return k.mac("csrf", sid) }

func (s *Server) session(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	return s.sessions.verify(c.Value, time.Now())
}

func (s *Server) sessionOK(r *http.Request) bool {
	_, ok := s.session(r)
	return ok
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/ui", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

type uiPages struct{ login, dashboard *template.Template }

func newUIPages() (*uiPages, error) {
	funcs := template.FuncMap{"join": strings.Join, "short": shortHash, "time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }}
	parse := func(page string) (*template.Template, error) {
		return template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page)
	}
	login, err := parse("login.html")
	if err != nil {
		return nil, err
	}
	dash, err := parse("dashboard.html")
	if err != nil {
		return nil, err
	}
	return &uiPages{login: login, dashboard: dash}, nil
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// render executes into a buffer first so a template error never leaves half a page.
func render(w http.ResponseWriter, t *template.Template, status int, data any) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

func serveCSS(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(adminCSS)
	return nil
}

type loginData struct {
	CSRF, Error string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	if s.sessionOK(r) || s.o.Token == "" {
		http.Redirect(w, r, "/ui", http.StatusSeeOther)
		return nil
	}
	return s.renderLogin(w, r, http.StatusOK, "")
}

// renderLogin issues a fresh double-submit CSRF nonce for the login form.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	setCookie(w, r, loginCSRF, nonce, 600)
	return render(w, s.ui.login, status, loginData{CSRF: nonce, Error: msg})
}

const maxFormBody = 16 << 10

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return s.renderLogin(w, r, http.StatusBadRequest, "The form could not be read.")
	}
	c, err := r.Cookie(loginCSRF)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		return s.renderLogin(w, r, http.StatusForbidden, "The form expired. Please try again.")
	}
	token := r.PostFormValue("token")
	if s.o.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.o.Token)) != 1 {
		s.o.Log.Warn("admin UI: failed login", "remote", r.RemoteAddr)
		return s.renderLogin(w, r, http.StatusUnauthorized, "That token is not valid.")
	}
	setCookie(w, r, loginCSRF, "", -1)
	setCookie(w, r, sessionCookie, s.sessions.issue(time.Now()), int(sessionTTL.Seconds()))
	http.Redirect(w, r, "/ui", http.StatusSeeOther)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	sid, ok := s.session(r)
	if ok && r.ParseForm() == nil && hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(s.sessions.csrf(sid))) {
		setCookie(w, r, sessionCookie, "", -1)
	}
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return nil
}

type dashboardData struct {
	Version   string
	Revision  int64
	Hash      string
	Uptime    string
	Services  []serviceView
	Routes    []routeView
	Consumers []*store.Consumer
	More      bool
	Audit     []store.AuditEntry
	CSRF      string
	Analytics bool
	LoggedIn  bool
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) error {
	rev, hash, _ := s.o.Config.Current()
	consumers, next, err := s.o.Store.ListConsumers(r.Context(), "", 100)
	if err != nil {
		return err
	}
	audit, _, err := s.o.Store.ListAudit(r.Context(), "", 10)
	if err != nil {
		return err
	}
	sid, loggedIn := s.session(r)
	_, analytics := s.o.Extra["GET /ui/analytics"]
	return render(w, s.ui.dashboard, http.StatusOK, dashboardData{
		Version: s.o.Version, Revision: rev, Hash: hash, Uptime: time.Since(s.o.Started).Round(time.Second).String(),
		Services: s.serviceViews(), Routes: s.routeViews(), Consumers: consumers, More: next != "", Audit: audit,
		CSRF: s.sessions.csrf(sid), Analytics: analytics, LoggedIn: loggedIn,
	})
}
