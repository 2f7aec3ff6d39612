package basicauth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate-dev/tollgate/internal/credentials"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/store"
)

func hash(pw string) []byte {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return h
}

var cache = credentials.NewStatic(&store.Snapshot{
	Consumers: []*store.Consumer{{ID: "c_acme", Name: "acme"}, {ID: "c_off", Name: "off", Disabled: true}},
	Basic: []store.BasicRecord{
		{ConsumerID: "c_acme", Username: "alice", Hash: hash("s3cret:with colon")},
		{ConsumerID: "c_off", Username: "bob", Hash: hash("pw")},
	},
})

func mustBuild(cfg *Config) policy.Authenticator {
	a, err := cfg.Build(policy.BuildEnv{Services: map[string]any{"credentials": cache}})
	if err != nil {
		panic(err)
	}
	return a.(policy.Authenticator)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func body(detail string) string {
	return `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"` + detail + `","request_id":"test-request-id"}`
}

func TestAuthenticate(t *testing.T) {
	no := false
	cases := []struct {
		name, authz string
		cfg         Config
		consumer    string
		noCreds     bool
		detail      string
		challenge   string
		keepAuthz   bool
	}{
		{name: "valid", authz: basic("alice", "s3cret:with colon"), consumer: "c_acme"},
		{name: "scheme case-insensitive", authz: "bAsIc " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret:with colon")), consumer: "c_acme"},
		{name: "kept when not hidden", cfg: Config{HideCredentials: &no}, authz: basic("alice", "s3cret:with colon"), consumer: "c_acme", keepAuthz: true},
		{name: "missing", noCreds: true},
		{name: "other scheme", authz: "Bearer abc", noCreds: true, keepAuthz: true},
		{name: "wrong password", authz: basic("alice", "nope"), detail: DetailInvalid, challenge: `Basic realm="tollgate"`},
		{name: "unknown user", authz: basic("mallory", "x"), detail: DetailInvalid, challenge: `Basic realm="tollgate"`},
		{name: "disabled consumer", authz: basic("bob", "pw"), detail: DetailInvalid, challenge: `Basic realm="tollgate"`},
		{name: "bad base64", authz: "Basic !!!", detail: DetailMalformed, challenge: `Basic realm="tollgate"`},
		{name: "no colon", authz: "Basic " + base64.StdEncoding.EncodeToString([]byte("alice")), detail: DetailMalformed, challenge: `Basic realm="tollgate"`},
		{name: "custom realm", cfg: Config{Realm: "reports"}, authz: basic("alice", "x"), detail: DetailInvalid, challenge: `Basic realm="reports"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if errs := tc.cfg.Validate(); len(errs) > 0 {
				t.Fatal(errs)
			}
			a := mustBuild(&tc.cfg)
			ex := policytest.New("GET", "/reports/x")
			if tc.authz != "" {
				ex.ReqHeader.Set("Authorization", tc.authz)
			}
			c, err := a.Authenticate(ex)
			switch {
			case tc.consumer != "":
				if err != nil || c.ID != tc.consumer {
					t.Fatalf("Authenticate = %+v, %v", c, err)
				}
				if got := ex.Header().Get("Authorization") != ""; got != tc.keepAuthz {
					t.Fatalf("Authorization forwarded = %v, want %v", got, tc.keepAuthz)
				}
			case tc.noCreds:
				if !errors.Is(err, policy.ErrNoCredentials) {
					t.Fatalf("err = %v, want ErrNoCredentials", err)
				}
			default:
				var pe *problem.Error
				if !errors.As(err, &pe) || pe.Status != 401 || len(pe.Headers) != 1 || pe.Headers[0] != [2]string{"WWW-Authenticate", tc.challenge} {
					t.Fatalf("err = %#v, want 401 with challenge %s", err, tc.challenge)
				}
				if got := string(pe.Body(ex.RequestID())); got != body(tc.detail) {
					t.Fatalf("body = %s", got)
				}
			}
		})
	}
}

func TestBuildWithoutCache(t *testing.T) {
	if _, err := (&Config{}).Build(policy.BuildEnv{}); err == nil || !strings.Contains(err.Error(), "credential cache") {
		t.Fatalf("Build without cache: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for realm, want := range map[string]int{"": 0, "my api": 0, `a"b`: 1, "a\nb": 1} {
		if errs := (&Config{Realm: realm}).Validate(); len(errs) != want {
			t.Errorf("realm %q: %v", realm, errs)
		}
	}
}

func TestReadmeExample(t *testing.T) {
	for _, c := range policytest.CheckREADME(t, Definition) {
		if cfg := c.(*Config); cfg.Realm != "tollgate" || cfg.HideCredentials == nil {
			t.Errorf("README example: %+v", cfg)
		}
	}
}

func FuzzParseBasic(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString([]byte("alice:pw")))
	f.Add("!!!")
	f.Add("")
	f.Add(base64.StdEncoding.EncodeToString([]byte(":pw")))
	f.Fuzz(func(t *testing.T, payload string) {
		user, pass, ok := ParseBasic(payload)
		if !ok {
			return
		}
		if user == "" || strings.Contains(user, ":") {
			t.Fatalf("user %q", user)
		}
		raw, _ := base64.StdEncoding.DecodeString(payload)
		if string(raw) != user+":"+pass {
			t.Fatalf("%q -> %q:%q", raw, user, pass)
		}
	})
}
