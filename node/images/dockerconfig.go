package images

import (
	"encoding/json"
	"strings"
)

type dockerAuth struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
}

// ParseDockerConfig reads the credentials of an imagePullSecret: a
// kubernetes.io/dockerconfigjson secret's `.dockerconfigjson` ({"auths": {host: {...}}})
// or a legacy `.dockercfg` ({host: {...}}). Keys are registry hosts; entries that do
// not decode are skipped.
func ParseDockerConfig(configJSON, legacy []byte) map[string]Auth {
	out := map[string]Auth{}
	add := func(m map[string]json.RawMessage) {
		for host, raw := range m {
			var a dockerAuth
			if json.Unmarshal(raw, &a) != nil {
				continue
			}
			host = strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://")
			host, _, _ = strings.Cut(host, "/")
			out[host] = Auth{Username: a.Username, Password: a.Password, Auth: a.Auth, IdentityToken: a.IdentityToken}
		}
	}
	if len(legacy) > 0 {
		var m map[string]json.RawMessage
		if json.Unmarshal(legacy, &m) == nil {
			add(m)
		}
	}
	if len(configJSON) > 0 {
		var cfg struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		if json.Unmarshal(configJSON, &cfg) == nil {
			add(cfg.Auths)
		}
	}
	return out
}
