package anonymous

import (
	"errors"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
)

// directory is a map-backed policy.Directory.
type directory map[string]*policy.Consumer

func (d directory) ConsumerByName(n string) (*policy.Consumer, bool) { c, ok := d[n]; return c, ok }
func (d directory) ConsumerByID(id string) (*policy.Consumer, bool) {
	for _, c := range d {
		if c.ID == id {
			return c, true
		}
	}
	return nil, false
}

func TestAuthenticate(t *testing.T) {
	dir := directory{}
	a, err := (&Config{Consumer: "public"}).Build(policy.BuildEnv{Services: map[string]any{"consumers": policy.Directory(dir)}})
	if err != nil {
		t.Fatal(err)
	}
	auth := a.(*Authenticator)
	if !auth.Fallback() || auth.Challenge() != "" {
		t.Fatal("anonymous must be a fallback without a challenge")
	}

	// the consumer does not exist yet: no credentials, never a consumer-less pass
	if c, err := auth.Authenticate(policytest.New("GET", "/")); !errors.Is(err, policy.ErrNoCredentials) || c != nil {
		t.Fatalf("missing consumer: %v, %v", c, err)
	}

	// created after the config was built: found at request time
	stored := &policy.Consumer{ID: "c-9", Name: "public", Plan: "free", Groups: []string{"public"}}
	dir["public"] = stored
	c, err := auth.Authenticate(policytest.New("GET", "/"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "c-9" || c.Name != "public" || c.Plan != "free" || !c.Anonymous || !c.InGroup("public") {
		t.Errorf("consumer = %+v", c)
	}
	if stored.Anonymous {
		t.Error("the directory's consumer was modified")
	}
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		env  policy.BuildEnv
	}{
		{"no consumer", Config{}, policy.BuildEnv{Services: map[string]any{"consumers": policy.Directory(directory{})}}},
		{"no directory", Config{Consumer: "public"}, policy.BuildEnv{}},
	}
	for _, tt := range tests {
		if _, err := tt.cfg.Build(tt.env); err == nil {
			t.Errorf("%s: Build succeeded", tt.name)
		}
	}
	if errs := (&Config{Consumer: " "}).Validate(); len(errs) != 1 {
		t.Errorf("blank consumer: %v", errs)
	}
}

func TestReadmeExample(t *testing.T) { policytest.CheckREADME(t, Definition) }
