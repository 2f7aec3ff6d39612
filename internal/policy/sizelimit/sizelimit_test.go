package sizelimit

import (
	"bytes"
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

func build(t *testing.T, max ByteSize) policy.Handler {
	t.Helper()
	h, err := (&Config{MaxBytes: max}).Build(policy.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	return h.(policy.Handler)
}

func TestHandle(t *testing.T) {
	h := build(t, 10)
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantDetail string
	}{
		{"empty", "", 200, ""},
		{"at the limit", "0123456789", 200, ""},
		{"over the limit", "0123456789A", 413, "the request body is larger than this route allows (10 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := policytest.New("POST", "/upload")
			ex.ReqBody = []byte(tt.body)
			err := h.Handle(ex, policytest.Upstream(200, nil, "ok", nil))
			if ex.Limit != 10 {
				t.Errorf("body limit = %d, want 10", ex.Limit)
			}
			if tt.wantStatus == 200 {
				if err != nil || ex.Resp == nil || ex.Resp.Code != 200 {
					t.Fatalf("err=%v resp=%+v, want upstream 200", err, ex.Resp)
				}
				return
			}
			var pe *problem.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *problem.Error", err)
			}
			if pe.Status != tt.wantStatus || pe.Detail != tt.wantDetail {
				t.Errorf("got %d %q, want %d %q", pe.Status, pe.Detail, tt.wantStatus, tt.wantDetail)
			}
			want := `{"type":"about:blank","title":"Request Entity Too Large","status":413,"detail":"` + tt.wantDetail + `","request_id":"rid"}`
			if got := string(pe.Body("rid")); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			if ex.Resp != nil {
				t.Error("the upstream was called for a too-large body")
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"1048576", 1048576, true},
		{"1MiB", 1 << 20, true},
		{"512 KiB", 512 << 10, true},
		{"10MB", 10_000_000, true},
		{"2k", 2048, true},
		{"7b", 7, true},
		{"1GiB", 1 << 30, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"-1", 0, false},
		{"1.5MiB", 0, false},
		{"99999999999999999GiB", 0, false},
		{"ten", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidate(t *testing.T) {
	if errs := (&Config{}).Validate(); len(errs) != 1 {
		t.Errorf("zero config: %v, want one error", errs)
	}
	if _, err := (&Config{}).Build(policy.BuildEnv{}); err == nil {
		t.Error("Build accepted max_bytes 0")
	}
	if errs := (&Config{MaxBytes: 1}).Validate(); errs != nil {
		t.Errorf("valid config: %v", errs)
	}
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		doc  string
		want ByteSize
		ok   bool
	}{
		{"max_bytes: 2048", 2048, true},
		{"max_bytes: 1MiB", 1 << 20, true},
		{"max_bytes: lots", 0, false},
		{"max: 1MiB", 0, false},
	}
	for _, tt := range tests {
		var c Config
		err := decodeStrict([]byte(tt.doc), &c)
		if (err == nil) != tt.ok || c.MaxBytes != tt.want {
			t.Errorf("%q: %d, %v; want %d ok=%v", tt.doc, c.MaxBytes, err, tt.want, tt.ok)
		}
	}
}

func TestReadmeExample(t *testing.T) {
	for _, c := range policytest.CheckREADME(t, Definition) {
		if _, err := c.Build(policy.BuildEnv{}); err != nil {
			t.Errorf("README example does not build: %v", err)
		}
	}
}

func decodeStrict(doc []byte, into any) error {
	d := yaml.NewDecoder(bytes.NewReader(doc))
	d.KnownFields(true)
	return d.Decode(into)
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"1", "1MiB", "10 MB", "", "-5k", "9223372036854775807", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseByteSize(s)
		if err == nil && n < 0 {
			t.Fatalf("negative size %d from %q", n, s)
		}
	})
}
