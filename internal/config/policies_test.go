package config

import "testing"

const policyBase = base + `routes:
  - name: r
    service: orders
    policies:
`

func TestPolicyDecoding(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []wantErr
	}{
		{"unknown policy", "      rate_limt: {limit: 1, window: 1s}\n",
			[]wantErr{{8, "routes[0].policies.rate_limt", `unknown policy "rate_limt"`, `did you mean "rate_limit"?`}}},
		{"unknown field in policy", "      rate_limit:\n        limit: 1\n        window: 1s\n        bye: consumer\n",
			[]wantErr{{11, "routes[0].policies.rate_limit.bye", `unknown field "bye"`, `did you mean "by"?`}}},
		{"type error in policy", "      rate_limit:\n        limit: many\n        window: 1s\n",
			[]wantErr{{9, "routes[0].policies.rate_limit.limit", `expected a whole number, got "many"`, ""}}},
		{"bad duration in policy", "      cache: {ttl: forever}\n",
			[]wantErr{{8, "routes[0].policies.cache.ttl", `invalid duration "forever"`, ""}}},
		{"policy Validate errors", "      rate_limit:\n        by: consumer\n        limit: 0\n",
			[]wantErr{
				{8, "routes[0].policies.rate_limit", "window must be greater than 0", ""},
				{10, "routes[0].policies.rate_limit.limit", "limit must be greater than 0", ""},
			}},
		{"policy settings not a mapping", "      cache: [1]\n",
			[]wantErr{{8, "routes[0].policies.cache", "expected a mapping, got a list", ""}}},
		{"version policy", "      key_auth: {}\n    versions:\n      from: path\n      list:\n        v1:\n          policies:\n            cache: {tll: 1s}\n",
			[]wantErr{{14, "routes[0].versions.list.v1.policies.cache.tll", `unknown field "tll"`, `did you mean "ttl"?`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrs(t, policyBase+tt.src, tt.want) })
	}
}

func TestEmptyPolicyBlocksDecodeToZeroConfig(t *testing.T) {
	cfg := mustParse(t, policyBase+"      key_auth:\n      cache: {}\n      mock: ~\n")
	pc := cfg.Routes[0].PolicyConfigs
	if k, ok := pc["key_auth"].(*testKeyAuth); !ok || *k != (testKeyAuth{}) {
		t.Errorf("key_auth = %#v", pc["key_auth"])
	}
	if c, ok := pc["cache"].(*testCache); !ok || c.TTL != 0 {
		t.Errorf("cache = %#v", pc["cache"])
	}
	if _, ok := pc["mock"].(*testMock); !ok {
		t.Errorf("mock = %#v", pc["mock"])
	}
	if len(cfg.Routes[0].Policies) != 3 {
		t.Errorf("raw policies kept: %d", len(cfg.Routes[0].Policies))
	}
}

func TestDecodePolicy(t *testing.T) {
	cfg, err := DecodePolicy("rate_limit", []byte("limit: 5\nwindow: 1s\n"))
	if err != nil {
		t.Fatal(FormatErrors(err))
	}
	if rl := cfg.(*testRateLimit); rl.Limit != 5 || rl.Window.D().String() != "1s" {
		t.Fatalf("got %+v", rl)
	}
	if cfg, err := DecodePolicy("key_auth", nil); err != nil || cfg == nil {
		t.Fatalf("empty settings: %v %v", cfg, err)
	}
	_, err = DecodePolicy("rate_limit", []byte("limit: 5\nwindow: 1s\nbye: x\n"))
	if got := FormatErrors(err); got != "rate_limit:3: bye: unknown field \"bye\" (hint: did you mean \"by\"?)\n" {
		t.Fatalf("got %q", got)
	}
	_, err = DecodePolicy("rate_limit", []byte("limit: 0\nwindow: 1s\n"))
	if got := FormatErrors(err); got != "rate_limit:1: limit: limit must be greater than 0\n" {
		t.Fatalf("got %q", got)
	}
	if _, err := DecodePolicy("nope", []byte("{}")); err == nil {
		t.Fatal("unknown policy accepted")
	}
}
