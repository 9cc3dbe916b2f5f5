package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/orchd/orch/fsutil"
)

// Config is the orchctl configuration file (~/.orch/config), a small kubeconfig:
//
//	current-context: dev
//	contexts:
//	- name: dev
//	  server: http://127.0.0.1:7443
//	  namespace: default   # optional
type Config struct {
	CurrentContext string    `json:"current-context,omitempty"`
	Contexts       []Context `json:"contexts,omitempty"`
}

// Context is one named API server.
type Context struct {
	Name      string `json:"name"`
	Server    string `json:"server"`
	Namespace string `json:"namespace,omitempty"`
}

// errNoServer is what a command says when no server is configured anywhere.
var errNoServer = errors.New("no server: pass --server, set ORCH_SERVER, or run 'orchd dev'")

// DefaultConfigPath is $ORCH_CONFIG, else ~/.orch/config.
func DefaultConfigPath() string {
	if p := os.Getenv("ORCH_CONFIG"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(".orch", "config")
	}
	return filepath.Join(home, ".orch", "config")
}

// LoadConfig reads a config file; a missing file is an empty config.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// Context returns the named context, or the current one when name is "".
func (c *Config) Context(name string) (*Context, error) {
	if name == "" {
		name = c.CurrentContext
	}
	if name == "" {
		return nil, nil
	}
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i], nil
		}
	}
	return nil, fmt.Errorf("context %q not found", name)
}

// SaveContext adds or replaces the context name (server address) in the config file at
// path, keeping the other contexts, and makes it the current one when makeCurrent is set
// (or when there is no current context yet). The file is written with mode 0600, atomically.
func SaveContext(path, name, server string, makeCurrent bool) error {
	if name == "" || server == "" {
		return errors.New("save context: name and server are required")
	}
	c, err := LoadConfig(path)
	if err != nil {
		return err
	}
	found := false
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			c.Contexts[i].Server = server
			found = true
		}
	}
	if !found {
		c.Contexts = append(c.Contexts, Context{Name: name, Server: server})
	}
	if makeCurrent || c.CurrentContext == "" {
		c.CurrentContext = name
	}
	data, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFile(path, data, 0o600)
}

// resolved is where a command sends its requests.
type resolved struct {
	Server    string // base URL
	Namespace string // the context's default namespace
}

// resolveServer picks the server: --server, else $ORCH_SERVER, else the config file's
// context (--context, else current-context).
func resolveServer(flagServer, flagContext, configPath string) (resolved, error) {
	r := resolved{Namespace: "default"}
	var ctx *Context
	if flagServer == "" || flagContext != "" {
		c, err := LoadConfig(configPath)
		if err != nil {
			return r, err
		}
		if ctx, err = c.Context(flagContext); err != nil {
			return r, err
		}
	}
	if ctx != nil && ctx.Namespace != "" {
		r.Namespace = ctx.Namespace
	}
	switch {
	case flagServer != "":
		r.Server = flagServer
	case flagContext == "" && os.Getenv("ORCH_SERVER") != "":
		r.Server = os.Getenv("ORCH_SERVER")
	case ctx != nil && ctx.Server != "":
		r.Server = ctx.Server
	default:
		return r, errNoServer
	}
	r.Server = normalizeServer(r.Server)
	return r, nil
}

// normalizeServer turns "host:port" into a URL; orch speaks cleartext HTTP/2 by default.
func normalizeServer(s string) string {
	s = strings.TrimRight(s, "/")
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	return s
}
