package runtime

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer ignores XFF", "192.0.2.1", []string{"10.1.1.1"}, "192.0.2.1"},
		{"trusted peer, one hop", "127.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"right to left, skipping trusted", "127.0.0.1", []string{"198.51.100.7, 10.2.2.2"}, "198.51.100.7"},
		{"spoofed left part is ignored", "127.0.0.1", []string{"1.1.1.1, 198.51.100.7"}, "198.51.100.7"},
		{"several header lines", "127.0.0.1", []string{"1.1.1.1", "198.51.100.7, 10.0.0.9"}, "198.51.100.7"},
		{"garbage stops the walk", "127.0.0.1", []string{"nonsense"}, "127.0.0.1"},
		{"all trusted", "127.0.0.1", []string{"10.0.0.1"}, "10.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ClientIP(netip.MustParseAddr(c.peer), c.xff, trusted)
			if got.String() != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
	if got := ClientIP(netip.MustParseAddr("127.0.0.1"), []string{"1.2.3.4"}, nil); got.String() != "127.0.0.1" {
		t.Fatalf("no trusted proxies: %s", got)
	}
}

func TestSaneRequestID(t *testing.T) {
	for id, ok := range map[string]bool{
		"abc-123_x.y:z":            true,
		"":                         false,
		strings.Repeat("a", 129):   false,
		"has space":                false,
		"new\nline":                false,
		"quote\"":                  false,
		NewRequestID():             true,
		strings.Repeat("a", 128):   true,
		"f3d16e1c50cf3c2800000001": true,
	} {
		if SaneRequestID(id) != ok {
			t.Errorf("SaneRequestID(%q) = %v", id, !ok)
		}
	}
	if NewRequestID() == NewRequestID() {
		t.Fatal("request ids repeat")
	}
}

func TestConnectionHeaderRules(t *testing.T) {
	for v, bad := range map[string]string{
		"keep-alive":                 "",
		"Upgrade, X-Foo":             "",
		"close, X-Request-ID":        "X-Request-ID",
		"content-length":             "content-length",
		"Host":                       "Host",
		" x-consumer-id ,keep-alive": "x-consumer-id",
	} {
		if got := CheckConnectionHeader(v); got != bad {
			t.Errorf("CheckConnectionHeader(%q) = %q, want %q", v, got, bad)
		}
	}
}

func TestResponseConnectionNames(t *testing.T) {
	cases := []struct{ value, want string }{
		{"close", ""},
		{"close, X-Secret", "X-Secret"},
		{" x-a ,,X-B,keep-alive", "x-a,X-B"},
		// Framing and the HopByHop list are the caller's.
		{"Content-Length, content-length, Transfer-Encoding, Trailer, X-C", "X-C"},
	}
	for _, c := range cases {
		var got []string
		ResponseConnectionNames(c.value, func(n string) { got = append(got, n) })
		if g := strings.Join(got, ","); g != c.want {
			t.Errorf("%q: deleted %q, want %q", c.value, g, c.want)
		}
	}
}

func TestClassifyHeader(t *testing.T) {
	for name, want := range map[string][2]bool{
		"Connection": {true, false}, "keep-alive": {true, false}, "TE": {true, false},
		"Transfer-Encoding": {true, false}, "Proxy-Authorization": {true, false}, "upgrade": {true, false},
		"X-Consumer-ID": {false, true}, "x-consumer-plan": {false, true}, "X-Anonymous-Consumer": {false, true},
		"X-Request-ID": {false, false}, "Content-Type": {false, false}, "Accept": {false, false},
	} {
		hop, id := ClassifyHeader([]byte(name))
		if hop != want[0] || id != want[1] {
			t.Errorf("ClassifyHeader(%q) = %v %v, want %v", name, hop, id, want)
		}
	}
}

func TestValidHeaderName(t *testing.T) {
	for name, ok := range map[string]bool{"X-Api-Key": true, "X_Api_Key": false, "": false, "Bad Name": false, "a:b": false} {
		if ValidHeaderName([]byte(name), false) != ok {
			t.Errorf("ValidHeaderName(%q) = %v", name, !ok)
		}
	}
	if !ValidHeaderName([]byte("X_Allowed"), true) {
		t.Error("underscore allowed by config was refused")
	}
}

func TestPathTemplate(t *testing.T) {
	pt, err := ParsePathTemplate("/internal/accounts/{id}/files/{rest...}")
	if err != nil {
		t.Fatal(err)
	}
	got := pt.Expand([]policy.Param{{Name: "rest", Value: "a/b.txt"}, {Name: "id", Value: "42"}})
	if got != "/internal/accounts/42/files/a/b.txt" {
		t.Fatalf("Expand = %q", got)
	}
	for _, bad := range []string{"relative/{id}", "/x/{id", "/x/{}"} {
		if _, err := ParsePathTemplate(bad); err == nil {
			t.Errorf("ParsePathTemplate(%q) accepted", bad)
		}
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("127.0.0.1", "1.2.3.4, 10.0.0.1")
	f.Add("127.0.0.1", ",,,")
	f.Add("::1", "2001:db8::1")
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		p, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		got := ClientIP(p, []string{xff}, trusted)
		if !got.IsValid() {
			t.Fatalf("invalid client IP from peer %s xff %q", peer, xff)
		}
		if !Trusted(p, trusted) && got != p.Unmap() && got != p {
			t.Fatalf("untrusted peer %s became %s", p, got)
		}
	})
}

func FuzzConnectionHeader(f *testing.F) {
	for _, s := range []string{"keep-alive", "close, X-Request-ID", " , ,Upgrade", "Host", strings.Repeat("x,", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n := 0
		ConnectionTokens(v, func(name string) bool {
			if name == "" || strings.Contains(name, ",") || name != strings.TrimSpace(name) {
				t.Fatalf("token %q from %q", name, v)
			}
			n++
			return true
		})
		if bad := CheckConnectionHeader(v); bad != "" && !IsGatewayHeader(bad) {
			t.Fatalf("CheckConnectionHeader(%q) = %q, not a gateway header", v, bad)
		}
	})
}
