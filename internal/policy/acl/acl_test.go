package acl

import (
	"errors"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

func TestHandle(t *testing.T) {
	consumer := func(groups ...string) *policy.Consumer {
		return &policy.Consumer{ID: "c1", Name: "acme", Groups: groups}
	}
	const (
		notAllowed = "the consumer is not allowed to use this route"
		noConsumer = "this route requires an authenticated consumer"
	)
	tests := []struct {
		name       string
		cfg        Config
		consumer   *policy.Consumer
		wantStatus int
		wantDetail string
	}{
		{"allowed group", Config{Allow: []string{"staff"}}, consumer("staff"), 200, ""},
		{"one of several groups allowed", Config{Allow: []string{"a", "b"}}, consumer("x", "b"), 200, ""},
		{"not in allow list", Config{Allow: []string{"staff"}}, consumer("guests"), 403, notAllowed},
		{"no groups with allow list", Config{Allow: []string{"staff"}}, consumer(), 403, notAllowed},
		{"deny only, not denied", Config{Deny: []string{"suspended"}}, consumer("staff"), 200, ""},
		{"deny only, no groups", Config{Deny: []string{"suspended"}}, consumer(), 200, ""},
		{"denied", Config{Deny: []string{"suspended"}}, consumer("suspended"), 403, notAllowed},
		{"deny wins over allow", Config{Allow: []string{"staff"}, Deny: []string{"suspended"}}, consumer("staff", "suspended"), 403, notAllowed},
		{"deny wins, deny group listed first", Config{Allow: []string{"staff"}, Deny: []string{"suspended"}}, consumer("suspended", "staff"), 403, notAllowed},
		{"no consumer", Config{Allow: []string{"staff"}}, nil, 403, noConsumer},
		{"anonymous consumer follows its groups", Config{Allow: []string{"public"}}, &policy.Consumer{Name: "anon", Groups: []string{"public"}, Anonymous: true}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := tt.cfg.Build(policy.BuildEnv{})
			if err != nil {
				t.Fatal(err)
			}
			ex := policytest.New("GET", "/orders")
			ex.Cons = tt.consumer
			err = h.(policy.Handler).Handle(ex, policytest.Upstream(200, nil, "ok", nil))
			if tt.wantStatus == 200 {
				if err != nil || ex.Resp == nil || ex.Resp.Code != 200 {
					t.Fatalf("err=%v, want the upstream's 200", err)
				}
				return
			}
			var pe *problem.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a problem", err)
			}
			want := `{"type":"about:blank","title":"Forbidden","status":403,"detail":"` + tt.wantDetail + `","request_id":"rid"}`
			if pe.Status != tt.wantStatus || string(pe.Body("rid")) != want {
				t.Errorf("got %d %s, want %d %s", pe.Status, pe.Body("rid"), tt.wantStatus, want)
			}
			if ex.Resp != nil {
				t.Error("upstream reached")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want int
	}{
		{"empty", Config{}, 1},
		{"allow only", Config{Allow: []string{"a"}}, 0},
		{"deny only", Config{Deny: []string{"a"}}, 0},
		{"blank names and overlap", Config{Allow: []string{"", "a"}, Deny: []string{" ", "a"}}, 3},
	}
	for _, tt := range tests {
		if errs := tt.cfg.Validate(); len(errs) != tt.want {
			t.Errorf("%s: %v, want %d errors", tt.name, errs, tt.want)
		}
	}
	if _, err := (&Config{}).Build(policy.BuildEnv{}); err == nil {
		t.Error("Build accepted an empty acl")
	}
}

func TestReadmeExample(t *testing.T) { policytest.CheckREADME(t, Definition) }
