package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store/storetest"
)

// samplePath fills a pattern's wildcards so the mux routes it.
func samplePath(pattern string) string {
	return strings.NewReplacer("{id}", "acme", "{key_id}", "k_x", "{n}", "1", "{name}", "orders").Replace(pattern)
}

func TestEveryRouteRejectsMissingOrWrongToken(t *testing.T) {
	h := newSQLiteHarness(t, func(o *Options) {
		o.Extra = map[string]http.Handler{"GET /metrics": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("m 1\n")) })}
	})
	for _, ep := range h.srv.eps {
		if ep.Auth == authPublic || ep.Auth == authSession {
			continue // UI: covered by TestUIRequiresLogin
		}
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + testToken + "x", "Basic " + testToken, testToken} {
			t.Run(ep.Method+" "+ep.Path+" "+auth, func(t *testing.T) {
				req := httptest.NewRequest(ep.Method, samplePath(ep.Path), strings.NewReader("{}"))
				req.RemoteAddr = "192.0.2.7:5000" // not loopback: /metrics needs the token too
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				w := httptest.NewRecorder()
				h.srv.ServeHTTP(w, req)
				wantProblem(t, w, http.StatusUnauthorized)
				if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="tollgate-admin"` {
					t.Fatalf("WWW-Authenticate %q", got)
				}
			})
		}
	}
	t.Run("unknown path is 401 before 404", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, httptest.NewRequest("GET", "/nope", nil))
		wantProblem(t, w, http.StatusUnauthorized)
	})
	t.Run("metrics open on loopback only", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = "127.0.0.1:4000"
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, req)
		if w.Code != 200 || w.Body.String() != "m 1\n" {
			t.Fatalf("loopback /metrics: %d %q", w.Code, w.Body.String())
		}
	})
}

func TestNoTokenMeansOpen(t *testing.T) {
	h := newSQLiteHarness(t, func(o *Options) { o.Token = "" })
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, httptest.NewRequest("GET", "/status", nil))
	want(t, w, http.StatusOK)
}

func TestStatus(t *testing.T) {
	h := newSQLiteHarness(t, func(o *Options) {
		o.Health = func() map[string]ComponentHealth {
			return map[string]ComponentHealth{"counters": {Up: false, Detail: "redis: connection refused", Since: time.Unix(1700000000, 0)}}
		}
	})
	m := want(t, h.do("GET", "/status", nil), http.StatusOK)
	rev, hash, _ := h.cfg.Current()
	cfg := m["config"].(map[string]any)
	if m["version"] != "test" || cfg["revision"] != float64(rev) || cfg["hash"] != hash || m["uptime_seconds"].(float64) < 59 {
		t.Fatalf("status: %v", m)
	}
	comps := m["components"].(map[string]any)
	if comps["store"].(map[string]any)["up"] != true || comps["counters"].(map[string]any)["up"] != false || m["status"] != "degraded" {
		t.Fatalf("components: %v", comps)
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	h := newSQLiteHarness(t)
	wantProblem(t, h.do("GET", "/nope", nil), http.StatusNotFound)
	w := h.do("PUT", "/status", nil)
	wantProblem(t, w, http.StatusMethodNotAllowed)
	if w.Header().Get("Allow") != "GET" {
		t.Fatalf("Allow %q", w.Header().Get("Allow"))
	}
}

func TestConsumersAndKeys(t *testing.T) {
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		h := newHarness(t, dsn)
		testConsumerCRUD(t, h)
		testKeys(t, h)
	})
}

func testConsumerCRUD(t *testing.T, h *harness) {
	c := want(t, h.do("POST", "/consumers", map[string]any{"name": "acme", "plan": "free", "groups": []string{"partners"}, "metadata": map[string]string{"tier": "1"}}), http.StatusCreated)
	id, _ := c["id"].(string)
	if id == "" || c["name"] != "acme" || c["plan"] != "free" {
		t.Fatalf("create: %v", c)
	}
	wantProblem(t, h.do("POST", "/consumers", map[string]any{"name": "acme"}), http.StatusConflict)
	for name, body := range map[string]string{
		"no name":       `{"plan":"free"}`,
		"unknown plan":  `{"name":"x","plan":"platinum"}`,
		"unknown field": `{"name":"x","colour":"red"}`,
		"not json":      `{"name":`,
		"wrong type":    `{"name":5}`,
	} {
		t.Run(name, func(t *testing.T) {
			p := wantProblem(t, h.do("POST", "/consumers", body), http.StatusBadRequest)
			if p["detail"] == "" {
				t.Fatal("400 without a detail")
			}
		})
	}
	for _, ref := range []string{id, "acme"} {
		got := want(t, h.do("GET", "/consumers/"+ref, nil), http.StatusOK)
		if got["id"] != id {
			t.Fatalf("GET by %s: %v", ref, got)
		}
	}
	wantProblem(t, h.do("GET", "/consumers/ghost", nil), http.StatusNotFound)

	get := h.do("GET", "/consumers/acme", nil)
	etag := get.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on GET /consumers/{id}")
	}
	upd := h.do("PATCH", "/consumers/acme", map[string]any{"plan": "gold"}, "If-Match: "+etag, "X-Tollgate-Author: alice")
	got := want(t, upd, http.StatusOK)
	if got["plan"] != "gold" || got["groups"].([]any)[0] != "partners" || upd.Header().Get("ETag") == etag {
		t.Fatalf("patch: %v (etag %s -> %s)", got, etag, upd.Header().Get("ETag"))
	}
	// The first ETag is stale now: a second admin working from it must not overwrite.
	wantProblem(t, h.do("PATCH", "/consumers/acme", map[string]any{"plan": "free"}, "If-Match: "+etag), http.StatusPreconditionFailed)
	wantProblem(t, h.do("PATCH", "/consumers/ghost", map[string]any{"plan": "free"}), http.StatusNotFound)

	want(t, h.do("POST", "/consumers", map[string]any{"name": "temp"}), http.StatusCreated)
	if w := h.do("DELETE", "/consumers/temp", nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	wantProblem(t, h.do("GET", "/consumers/temp", nil), http.StatusNotFound)
	wantProblem(t, h.do("DELETE", "/consumers/temp", nil), http.StatusNotFound)

	audit := want(t, h.do("GET", "/audit", nil), http.StatusOK)
	actions := map[string]string{}
	for _, e := range audit["data"].([]any) {
		e := e.(map[string]any)
		actions[e["action"].(string)] = e["actor"].(string)
	}
	if actions["consumer.create"] != "admin" || actions["consumer.update"] != "alice" || actions["consumer.delete"] == "" {
		t.Fatalf("audit actions: %v", actions)
	}
}

func testKeys(t *testing.T, h *harness) {
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	k := want(t, h.do("POST", "/consumers/acme/keys", map[string]any{"expires_at": exp}), http.StatusCreated)
	plain, _ := k["key"].(string)
	if !strings.HasPrefix(plain, "tg_") || k["id"] == "" || !strings.HasPrefix(plain, k["prefix"].(string)) {
		t.Fatalf("create key: %v", k)
	}
	if got, _ := time.Parse(time.RFC3339, k["expires_at"].(string)); !got.Equal(exp) {
		t.Fatalf("expires_at %v, want %v", k["expires_at"], exp)
	}
	k2 := want(t, h.do("POST", "/consumers/acme/keys", ""), http.StatusCreated) // empty body: no expiry
	if k2["expires_at"] != nil {
		t.Fatalf("key without expiry: %v", k2)
	}
	wantProblem(t, h.do("POST", "/consumers/acme/keys", map[string]any{"expires_at": time.Now().Add(-time.Hour)}), http.StatusBadRequest)
	wantProblem(t, h.do("POST", "/consumers/ghost/keys", nil), http.StatusNotFound)

	list := h.do("GET", "/consumers/acme/keys", nil)
	lm := want(t, list, http.StatusOK)
	if strings.Contains(list.Body.String(), plain) || strings.Contains(list.Body.String(), `"key"`) {
		t.Fatalf("key list leaks the plaintext: %s", list.Body)
	}
	if n := len(lm["data"].([]any)); n != 2 {
		t.Fatalf("%d keys, want 2", n)
	}

	rot := want(t, h.do("POST", fmt.Sprintf("/consumers/acme/keys/%s/rotate", k["id"]), map[string]any{"overlap": "1h"}), http.StatusCreated)
	if rot["key"] == plain || !strings.HasPrefix(rot["key"].(string), "tg_") || rot["id"] == k["id"] {
		t.Fatalf("rotate: %v", rot)
	}
	wantProblem(t, h.do("POST", fmt.Sprintf("/consumers/acme/keys/%s/rotate", k["id"]), map[string]any{"overlap": "forever"}), http.StatusBadRequest)
	wantProblem(t, h.do("POST", "/consumers/acme/keys/k_nope/rotate", nil), http.StatusNotFound)

	if w := h.do("DELETE", fmt.Sprintf("/consumers/acme/keys/%s", k2["id"]), nil); w.Code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	wantProblem(t, h.do("DELETE", "/consumers/acme/keys/k_nope", nil), http.StatusNotFound)
	for _, key := range want(t, h.do("GET", "/consumers/acme/keys", nil), http.StatusOK)["data"].([]any) {
		key := key.(map[string]any)
		if key["id"] == k2["id"] && (key["active"] != false || key["revoked_at"] == nil) {
			t.Fatalf("revoked key still active: %v", key)
		}
	}

	if w := h.do("PUT", "/consumers/acme/basic_auth", map[string]any{"username": "acme", "password": "correct horse"}); w.Code != http.StatusNoContent {
		t.Fatalf("basic auth: %d %s", w.Code, w.Body)
	}
	wantProblem(t, h.do("PUT", "/consumers/acme/basic_auth", map[string]any{"username": "acme"}), http.StatusBadRequest)

	audit := h.do("GET", "/audit?limit=500", nil).Body.String()
	for _, a := range []string{"key.create", "key.rotate", "key.revoke", "basic_auth.set"} {
		if !strings.Contains(audit, a) {
			t.Fatalf("audit lacks %s: %s", a, audit)
		}
	}
	if strings.Contains(audit, plain) || strings.Contains(audit, "correct horse") {
		t.Fatal("audit log holds a secret")
	}
}

func TestConsumerPagination(t *testing.T) {
	h := newSQLiteHarness(t)
	for i := range 7 {
		want(t, h.do("POST", "/consumers", map[string]any{"name": fmt.Sprintf("user-%02d", i)}), http.StatusCreated)
	}
	var names []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		m := want(t, h.do("GET", "/consumers?limit=3&cursor="+cursor, nil), http.StatusOK)
		for _, c := range m["data"].([]any) {
			names = append(names, c.(map[string]any)["name"].(string))
		}
		if m["next"] == nil {
			break
		}
		cursor = m["next"].(string)
	}
	if len(names) != 7 || names[0] != "user-00" || names[6] != "user-06" {
		t.Fatalf("pages gave %v", names)
	}
	for _, q := range []string{"limit=0", "limit=abc", "limit=100000", "cursor=%%%"} {
		if q == "cursor=%%%" {
			continue // undecodable query strings are dropped by net/url
		}
		wantProblem(t, h.do("GET", "/consumers?"+q, nil), http.StatusBadRequest)
	}
	wantProblem(t, h.do("GET", "/consumers?cursor=not-a-cursor!", nil), http.StatusBadRequest)
	m := want(t, h.do("GET", "/audit?limit=2", nil), http.StatusOK)
	if len(m["data"].([]any)) != 2 || m["next"] == nil {
		t.Fatalf("audit page: %v", m)
	}
}

func TestConfigDocument(t *testing.T) {
	h := newSQLiteHarness(t)
	get := h.do("GET", "/config", nil)
	want(t, get, http.StatusOK)
	rev, hash, doc := h.cfg.Current()
	if get.Body.String() != string(doc) || get.Header().Get("ETag") != `"`+hash+`"` || !strings.Contains(get.Header().Get("Content-Type"), "yaml") {
		t.Fatalf("GET /config: %q %v", get.Body.String(), get.Header())
	}
	js := want(t, h.do("GET", "/config", nil, "Accept: application/json"), http.StatusOK)
	if js["routes"].([]any)[0].(map[string]any)["name"] != "orders-v1" {
		t.Fatalf("JSON config: %v", js)
	}
	if w := h.do("GET", "/config", nil, `If-None-Match: "`+hash+`"`); w.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", w.Code)
	}

	newDoc := baseDoc + "consumers:\n  - name: seeded\n"
	res := want(t, h.do("PUT", "/config", newDoc, `If-Match: "`+hash+`"`, "X-Tollgate-Author: bob"), http.StatusOK)
	if res["revision"] != float64(rev+1) || res["changed"] != true {
		t.Fatalf("PUT: %v", res)
	}
	// A second admin still holding the old ETag gets 412, not a silent overwrite.
	wantProblem(t, h.do("PUT", "/config", baseDoc, `If-Match: "`+hash+`"`), http.StatusPreconditionFailed)
	same := want(t, h.do("PUT", "/config", newDoc), http.StatusOK)
	if same["changed"] != false || same["revision"] != float64(rev+1) {
		t.Fatalf("identical PUT: %v", same)
	}

	// JSON body, converted to YAML before it is applied.
	jsonDoc := `{"services":[{"name":"orders","targets":["http://127.0.0.1:9"]}],"routes":[{"name":"json-route","service":"orders","match":{"paths":["/j"]}}]}`
	want(t, h.do("PUT", "/config", jsonDoc, "Content-Type: application/json"), http.StatusOK)
	if _, _, d := h.cfg.Current(); !strings.Contains(string(d), "name: json-route") {
		t.Fatalf("stored doc is not YAML: %s", d)
	}

	bad := "services:\n  - name: a\n    targets: [\"http://127.0.0.1:9\"]\n    balance: sideways\nroutes:\n  - name: r\n    service: nowhere\n    match: { paths: [\"/x\"] }\n"
	p := wantProblem(t, h.do("PUT", "/config", bad), http.StatusBadRequest)
	errs, _ := p["errors"].([]any)
	if len(errs) < 2 || !strings.Contains(p["detail"].(string), "line") {
		t.Fatalf("config errors: %v", p)
	}
	wantProblem(t, h.do("PUT", "/config", ""), http.StatusBadRequest)

	audit := h.do("GET", "/audit", nil).Body.String()
	if !strings.Contains(audit, `"config.apply"`) || !strings.Contains(audit, `"bob"`) {
		t.Fatalf("audit: %s", audit)
	}
}

func TestConfigRevisionsAndRollback(t *testing.T) {
	h := newSQLiteHarness(t)
	first, _, _ := h.cfg.Current()
	for i := range 3 {
		doc := baseDoc + fmt.Sprintf("  - name: extra%d\n", i)
		want(t, h.do("PUT", "/config", doc), http.StatusOK)
	}
	m := want(t, h.do("GET", "/config/revisions?limit=2", nil), http.StatusOK)
	data := m["data"].([]any)
	if len(data) != 2 || m["next"] == nil || data[0].(map[string]any)["current"] != true || data[0].(map[string]any)["document"] != nil {
		t.Fatalf("revisions: %v", m)
	}
	one := want(t, h.do("GET", fmt.Sprintf("/config/revisions/%d", first), nil), http.StatusOK)
	if one["document"] != baseDoc || one["author"] != "test" {
		t.Fatalf("revision %d: %v", first, one)
	}
	wantProblem(t, h.do("GET", "/config/revisions/999", nil), http.StatusNotFound)
	wantProblem(t, h.do("GET", "/config/revisions/abc", nil), http.StatusBadRequest)

	rb := want(t, h.do("POST", fmt.Sprintf("/config/revisions/%d/rollback", first), nil), http.StatusOK)
	if _, _, doc := h.cfg.Current(); string(doc) != baseDoc || rb["rolled_back_to"] != float64(first) {
		t.Fatalf("rollback: %v", rb)
	}
	wantProblem(t, h.do("POST", "/config/revisions/999/rollback", nil), http.StatusNotFound)
	if !strings.Contains(h.do("GET", "/audit", nil).Body.String(), "config.rollback") {
		t.Fatal("rollback not audited")
	}
}

func TestReadViews(t *testing.T) {
	h := newSQLiteHarness(t)
	svc := want(t, h.do("GET", "/services/orders", nil), http.StatusOK)
	targets := svc["targets"].([]any)
	if len(targets) != 1 || targets[0].(map[string]any)["url"] != "http://127.0.0.1:9" {
		t.Fatalf("service: %v", svc)
	}
	if _, ok := targets[0].(map[string]any)["healthy"]; !ok {
		t.Fatalf("no live health: %v", targets)
	}
	if n := len(want(t, h.do("GET", "/services", nil), http.StatusOK)["data"].([]any)); n != 1 {
		t.Fatalf("%d services", n)
	}
	wantProblem(t, h.do("GET", "/services/ghost", nil), http.StatusNotFound)

	rt := want(t, h.do("GET", "/routes/orders-v1", nil), http.StatusOK)
	if len(rt["chain"].([]any)) == 0 || rt["service"] != "orders" {
		t.Fatalf("route: %v", rt)
	}
	if n := len(want(t, h.do("GET", "/routes", nil), http.StatusOK)["data"].([]any)); n != 1 {
		t.Fatalf("%d routes", n)
	}
	wantProblem(t, h.do("GET", "/routes/ghost", nil), http.StatusNotFound)
	wantProblem(t, h.do("GET", "/routes/orders-v1/openapi", nil), http.StatusNotFound)

	plan := want(t, h.do("GET", "/plans/free", nil), http.StatusOK)
	if plan["rate_limit"].(map[string]any)["limit"] != float64(10) {
		t.Fatalf("plan: %v", plan)
	}
	if n := len(want(t, h.do("GET", "/plans", nil), http.StatusOK)["data"].([]any)); n != 2 {
		t.Fatalf("%d plans", n)
	}
	wantProblem(t, h.do("GET", "/plans/ghost", nil), http.StatusNotFound)
}

func TestRouteOpenAPIFile(t *testing.T) {
	h := newSQLiteHarness(t)
	spec := filepath.Join(t.TempDir(), "orders.json")
	if err := os.WriteFile(spec, []byte(`{"openapi":"3.0.3","info":{"title":"orders","version":"1"},"paths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(baseDoc, "    service: orders\n", "    service: orders\n    openapi: "+spec+"\n", 1)
	want(t, h.do("PUT", "/config", doc), http.StatusOK)
	w := h.do("GET", "/routes/orders-v1/openapi", nil)
	m := want(t, w, http.StatusOK)
	if m["openapi"] != "3.0.3" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("route openapi: %v %v", m, w.Header())
	}
	// PUT /config attached the file: the revision serves it after it is gone.
	if err := os.Remove(spec); err != nil {
		t.Fatal(err)
	}
	if m := want(t, h.do("GET", "/routes/orders-v1/openapi", nil), http.StatusOK); m["openapi"] != "3.0.3" {
		t.Fatalf("attached route openapi: %v", m)
	}
	cur := h.do("GET", "/config", nil).Body.String()
	if !strings.Contains(cur, "attachments:") || !strings.Contains(cur, `"openapi":"3.0.3"`) {
		t.Fatalf("GET /config lacks the attachment:\n%s", cur)
	}
	// Sending that document back (the file is gone) keeps what it carries.
	if m := want(t, h.do("PUT", "/config", cur), http.StatusOK); m["changed"] != false {
		t.Fatalf("re-applying the fetched document: %v", m)
	}
}

func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	h := newSQLiteHarness(t, func(o *Options) {
		o.Extra = map[string]http.Handler{"GET /usage": http.NotFoundHandler(), "GET /ui/analytics": http.NotFoundHandler()}
	})
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	w := h.do("GET", "/openapi.json", nil)
	want(t, w, http.StatusOK)
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json: %v %s", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, p := range h.srv.Patterns() {
		registered[p] = true
		if !documented[p] {
			t.Errorf("%s is served but not in /openapi.json", p)
		}
		// The pattern is really live in the mux, not only in the table.
		method, path, _ := strings.Cut(p, " ")
		if _, got := h.srv.mux.Handler(httptest.NewRequest(method, samplePath(path), nil)); got != p {
			t.Errorf("mux routes %s to %q", p, got)
		}
	}
	for p := range documented {
		if !registered[p] {
			t.Errorf("%s is documented but not served", p)
		}
	}
	for _, p := range []string{"GET /status", "POST /consumers/{id}/keys/{key_id}/rotate", "GET /usage", "GET /ui/analytics"} {
		if !registered[p] {
			t.Errorf("%s missing", p)
		}
	}
}

func TestNewRejectsClashingExtraAndMissingOptions(t *testing.T) {
	h := newSQLiteHarness(t)
	o := h.srv.o
	o.Extra = map[string]http.Handler{"GET /status": http.NotFoundHandler()}
	if _, err := New(o); err == nil {
		t.Fatal("an Extra route clashing with /status was accepted")
	}
	o.Extra, o.Store = nil, nil
	if _, err := New(o); err == nil {
		t.Fatal("New without a store succeeded")
	}
}
