package images

import "testing"

func TestParseDockerConfig(t *testing.T) {
	got := ParseDockerConfig([]byte(`{"auths":{"https://registry.example:5000/v1/":{"username":"u","password":"p"},"bad":7}}`), nil)
	if a := got["registry.example:5000"]; a.Username != "u" || a.Password != "p" {
		t.Errorf("dockerconfigjson: %+v", got)
	}
	got = ParseDockerConfig(nil, []byte(`{"quay.example":{"auth":"dTpw"}}`))
	if got["quay.example"].Auth != "dTpw" {
		t.Errorf("dockercfg: %+v", got)
	}
	if len(ParseDockerConfig([]byte(`not json`), nil)) != 0 {
		t.Error("garbage gave credentials")
	}
}
