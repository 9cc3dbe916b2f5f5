// These tests pin where orchctl finds its server: --server, $ORCH_SERVER, the config file.
package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSaveContextKeepsOthers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "config")
	if err := SaveContext(path, "a", "http://a:1", false); err != nil {
		t.Fatal(err)
	}
	if err := SaveContext(path, "b", "http://b:2", false); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.CurrentContext != "a" || len(c.Contexts) != 2 {
		t.Fatalf("config = %+v", c)
	}
	if err := SaveContext(path, "a", "http://a:3", false); err != nil {
		t.Fatal(err)
	}
	if err := SaveContext(path, "b", "http://b:2", true); err != nil {
		t.Fatal(err)
	}
	c, _ = LoadConfig(path)
	if c.CurrentContext != "b" || len(c.Contexts) != 2 || c.Contexts[0].Server != "http://a:3" {
		t.Fatalf("config = %+v", c)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v", st.Mode(), err)
	}
}

// Not parallel: it sets environment variables.
func TestResolveServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	t.Setenv("ORCH_SERVER", "")
	if _, err := resolveServer("", "", path); err == nil || err.Error() != "no server: pass --server, set ORCH_SERVER, or run 'orchd dev'" {
		t.Errorf("nothing configured: %v", err)
	}
	if err := SaveContext(path, "dev", "127.0.0.1:7443", true); err != nil {
		t.Fatal(err)
	}
	if err := SaveContext(path, "prod", "https://prod:443", false); err != nil {
		t.Fatal(err)
	}
	check := func(flag, ctx, want string) {
		t.Helper()
		r, err := resolveServer(flag, ctx, path)
		if err != nil || r.Server != want {
			t.Errorf("resolveServer(%q, %q) = %q, %v; want %q", flag, ctx, r.Server, err, want)
		}
	}
	check("", "", "http://127.0.0.1:7443")
	check("", "prod", "https://prod:443")
	t.Setenv("ORCH_SERVER", "http://env:1")
	check("", "", "http://env:1")
	check("", "prod", "https://prod:443")
	check("http://flag:2/", "", "http://flag:2")
	if _, err := resolveServer("", "nope", path); err == nil {
		t.Error("an unknown context is no error")
	}
	t.Setenv("ORCH_CONFIG", path)
	if DefaultConfigPath() != path {
		t.Errorf("DefaultConfigPath = %q", DefaultConfigPath())
	}
}
