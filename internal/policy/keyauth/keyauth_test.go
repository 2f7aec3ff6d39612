package keyauth

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/credentials"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/store"
)

const (
	goodKey     = "tg_live_AbCd1234_0123456789abcdefghijABCDEFGHIJ01"
	expiredKey  = "tg_live_Expired1_0123456789abcdefghijABCDEFGHIJ01"
	disabledKey = "tg_live_Disab1ed_0123456789abcdefghijABCDEFGHIJ01"
)

func record(key, consumer string, exp time.Time) store.KeyRecord {
	pub, secret, ok := store.ParseKey(key)
	if !ok {
		panic("bad test key " + key)
	}
	return store.KeyRecord{ID: store.KeyIDFor(pub), ConsumerID: consumer, Hash: store.HashSecret(secret), ExpiresAt: exp}
}

func testCache() *credentials.Cache {
	return credentials.NewStatic(&store.Snapshot{
		Consumers: []*store.Consumer{
			{ID: "c_acme", Name: "acme", Plan: "free"},
			{ID: "c_off", Name: "off", Disabled: true},
		},
		Keys: []store.KeyRecord{
			record(goodKey, "c_acme", time.Time{}),
			record(expiredKey, "c_acme", time.Now().Add(-time.Hour)),
			record(disabledKey, "c_off", time.Time{}),
		},
	})
}

func build(t *testing.T, cfg *Config) policy.Authenticator {
	t.Helper()
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatalf("Validate: %v", errs)
	}
	return mustBuild(cfg)
}

func mustBuild(cfg *Config) policy.Authenticator {
	a, err := cfg.Build(policy.BuildEnv{Services: map[string]any{"credentials": testCache()}})
	if err != nil {
		panic(err)
	}
	return a.(policy.Authenticator)
}

func deniedBody() string {
	return `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"the API key is invalid, expired or revoked","request_id":"test-request-id"}`
}

func TestAuthenticate(t *testing.T) {
	no := false
	cases := []struct {
		name      string
		cfg       Config
		target    string
		header    http.Header
		consumer  string // "" when not authenticated
		noCreds   bool   // expect ErrNoCredentials
		challenge string // expected WWW-Authenticate on a 401
		wantQuery string // raw query the upstream gets
		keptHdr   string // header that must still be present
		goneHdr   string // header that must be removed
	}{
		{name: "header", target: "/x", header: http.Header{"X-Api-Key": {goodKey}}, consumer: "c_acme", goneHdr: "X-API-Key"},
		{name: "header kept when not hidden", cfg: Config{HideCredentials: &no}, target: "/x", header: http.Header{"X-Api-Key": {goodKey}}, consumer: "c_acme", keptHdr: "X-API-Key"},
		{name: "custom header", cfg: Config{Header: "X-Key"}, target: "/x", header: http.Header{"X-Key": {goodKey}}, consumer: "c_acme", goneHdr: "X-Key"},
		{name: "missing", target: "/x", noCreds: true},
		{name: "empty header", target: "/x", header: http.Header{"X-Api-Key": {" "}}, noCreds: true},
		{name: "bad key", target: "/x", header: http.Header{"X-Api-Key": {"tg_live_AbCd1234_wrongwrongwrongwrongwrongwrong00"}}, challenge: `Key realm="tollgate", header="X-API-Key"`},
		{name: "garbage", target: "/x", header: http.Header{"X-Api-Key": {"hello"}}, challenge: `Key realm="tollgate", header="X-API-Key"`},
		{name: "expired", target: "/x", header: http.Header{"X-Api-Key": {expiredKey}}, challenge: `Key realm="tollgate", header="X-API-Key"`},
		{name: "disabled consumer", target: "/x", header: http.Header{"X-Api-Key": {disabledKey}}, challenge: `Key realm="tollgate", header="X-API-Key"`},
		{name: "custom header challenge", cfg: Config{Header: "X-Key"}, target: "/x", header: http.Header{"X-Key": {"nope"}}, challenge: `Key realm="tollgate", header="X-Key"`},
		{name: "query", cfg: Config{Query: "api_key"}, target: "/x?a=1&api_key=" + goodKey + "&b=2", consumer: "c_acme", wantQuery: "a=1&b=2"},
		{name: "query ignored when not configured", target: "/x?api_key=" + goodKey, noCreds: true},
		{name: "bearer", cfg: Config{Bearer: true}, target: "/x", header: http.Header{"Authorization": {"Bearer " + goodKey}}, consumer: "c_acme", goneHdr: "Authorization"},
		{name: "bearer lower-case scheme", cfg: Config{Bearer: true}, target: "/x", header: http.Header{"Authorization": {"bearer " + goodKey}}, consumer: "c_acme"},
		{name: "bearer off", target: "/x", header: http.Header{"Authorization": {"Bearer " + goodKey}}, noCreds: true, keptHdr: "Authorization"},
		{name: "bearer jwt left alone", cfg: Config{Bearer: true}, target: "/x", header: http.Header{"Authorization": {"Bearer eyJhbGciOi.x.y"}}, noCreds: true, keptHdr: "Authorization"},
		{name: "bearer bad tg key", cfg: Config{Bearer: true}, target: "/x", header: http.Header{"Authorization": {"Bearer tg_live_nope"}}, challenge: `Key realm="tollgate", header="X-API-Key"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := build(t, &tc.cfg)
			ex := policytest.New("GET", tc.target)
			for k, v := range tc.header {
				ex.ReqHeader[k] = v
			}
			c, err := a.Authenticate(ex)
			switch {
			case tc.consumer != "":
				if err != nil || c == nil || c.ID != tc.consumer {
					t.Fatalf("Authenticate = %+v, %v; want %s", c, err, tc.consumer)
				}
			case tc.noCreds:
				if !errors.Is(err, policy.ErrNoCredentials) {
					t.Fatalf("err = %v, want ErrNoCredentials", err)
				}
			default:
				var pe *problem.Error
				if !errors.As(err, &pe) || pe.Status != 401 {
					t.Fatalf("err = %v, want a 401 problem", err)
				}
				if len(pe.Headers) != 1 || pe.Headers[0] != [2]string{"WWW-Authenticate", tc.challenge} {
					t.Fatalf("headers = %v, want challenge %s", pe.Headers, tc.challenge)
				}
				if got := string(pe.Body(ex.RequestID())); got != deniedBody() {
					t.Fatalf("body = %s", got)
				}
			}
			if tc.wantQuery != "" && ex.RawQuery() != tc.wantQuery {
				t.Fatalf("upstream query = %q, want %q", ex.RawQuery(), tc.wantQuery)
			}
			if tc.keptHdr != "" && ex.Header().Get(tc.keptHdr) == "" {
				t.Fatalf("%s was removed", tc.keptHdr)
			}
			if tc.goneHdr != "" && ex.Header().Get(tc.goneHdr) != "" {
				t.Fatalf("%s was forwarded", tc.goneHdr)
			}
			if a.Challenge() == "" {
				t.Fatal("no challenge")
			}
		})
	}
}

func TestBuildWithoutCache(t *testing.T) {
	_, err := (&Config{}).Build(policy.BuildEnv{})
	if err == nil || !strings.Contains(err.Error(), "credential cache") {
		t.Fatalf("Build without cache: %v", err)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		cfg  Config
		errs int
	}{
		{Config{}, 0},
		{Config{Header: "Authorization", Query: "key", Bearer: true}, 0},
		{Config{Header: "X API Key"}, 1},
		{Config{Header: "X_API_Key"}, 1},
		{Config{Query: "a&b"}, 1},
		{Config{Header: "bad header", Query: "a b"}, 2},
	}
	for _, tc := range cases {
		if errs := tc.cfg.Validate(); len(errs) != tc.errs {
			t.Errorf("Validate(%+v) = %v, want %d errors", tc.cfg, errs, tc.errs)
		}
	}
}

func TestReadmeExample(t *testing.T) {
	for _, c := range policytest.CheckREADME(t, Definition) {
		if cfg := c.(*Config); cfg.Header != "X-API-Key" || cfg.Query != "api_key" || !cfg.Bearer || cfg.HideCredentials == nil || !*cfg.HideCredentials {
			t.Errorf("decoded %+v", cfg)
		}
	}
}

func TestRemoveQueryParam(t *testing.T) {
	cases := []struct{ raw, name, want string }{
		{"", "k", ""},
		{"k=1", "k", ""},
		{"a=1&k=2&b=3", "k", "a=1&b=3"},
		{"k=1&k=2&a=%20x", "k", "a=%20x"},
		{"%6B=1&a=2", "k", "a=2"}, // encoded name
		{"kk=1&k", "k", "kk=1"},
	}
	for _, tc := range cases {
		if got := RemoveQueryParam(tc.raw, tc.name); got != tc.want {
			t.Errorf("RemoveQueryParam(%q, %q) = %q, want %q", tc.raw, tc.name, got, tc.want)
		}
	}
}

func FuzzRemoveQueryParam(f *testing.F) {
	f.Add("a=1&api_key=x&b=2", "api_key")
	f.Add("%zz&api_key", "api_key")
	f.Add("&&=&", "")
	f.Fuzz(func(t *testing.T, raw, name string) {
		out := RemoveQueryParam(raw, name)
		if len(out) > len(raw) {
			t.Fatalf("output grew: %q -> %q", raw, out)
		}
		for part := range strings.SplitSeq(out, "&") {
			if k, _, _ := strings.Cut(part, "="); k == name && part != "" {
				t.Fatalf("%q still has %q: %q", raw, name, out)
			}
		}
	})
}

func FuzzAuthenticate(f *testing.F) {
	a := mustBuild(&Config{Query: "k", Bearer: true})
	f.Add(goodKey, "Bearer "+goodKey, "k="+goodKey)
	f.Add("", "bearer tg_", "k=%zz")
	f.Fuzz(func(t *testing.T, hdr, authz, query string) {
		ex := policytest.New("GET", "/")
		ex.Raw = query
		if hdr != "" {
			ex.ReqHeader.Set("X-API-Key", hdr)
		}
		if authz != "" {
			ex.ReqHeader.Set("Authorization", authz)
		}
		c, err := a.Authenticate(ex)
		if err == nil && (c == nil || c.ID != "c_acme") {
			t.Fatalf("authenticated as %+v", c)
		}
	})
}
