package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"

	"github.com/orchd/orch/fsutil"
)

// confFile is the conflist orch writes; the marker beside it says orch owns it. CNI JSON
// has no room for such a flag (plugins reject unknown keys), hence a separate file whose
// name libcni ignores.
func (m *Manager) confFile() string {
	return filepath.Join(m.cfg.ConfDir, "10-"+m.cfg.NetworkName+".conflist")
}

func (m *Manager) markerFile() string {
	return filepath.Join(m.cfg.ConfDir, "."+filepath.Base(m.confFile())+markerSuffix)
}

// EnsureConfig writes the default conflist for podCIDR unless the operator placed a
// conflist of their own in ConfDir. It rewrites its own conflist when podCIDR changes and
// does not touch the file when nothing changed.
func (m *Manager) EnsureConfig(podCIDR string) error {
	ip, ipnet, err := net.ParseCIDR(podCIDR)
	if err != nil {
		return fmt.Errorf("ensure CNI config: pod CIDR: %w", err)
	}
	if ip.To4() == nil || !ip.Equal(ipnet.IP) {
		return fmt.Errorf("ensure CNI config: pod CIDR %q: want an IPv4 network address such as %s", podCIDR, ipnet)
	}
	if ones, _ := ipnet.Mask.Size(); ones > 30 {
		return fmt.Errorf("ensure CNI config: pod CIDR %q is too small (want /30 or larger)", podCIDR)
	}
	if err := os.MkdirAll(m.cfg.ConfDir, 0o755); err != nil {
		return fmt.Errorf("ensure CNI config: %w", err)
	}
	files, err := libcni.ConfFiles(m.cfg.ConfDir, []string{".conflist"})
	if err != nil {
		return fmt.Errorf("ensure CNI config: %w", err)
	}
	ours := m.confFile()
	_, markErr := os.Stat(m.markerFile())
	managed := markErr == nil
	for _, f := range files {
		if f != ours || !managed {
			m.log.Info("operator CNI config present; not writing the default one", "file", f)
			return nil
		}
	}

	want, err := m.defaultConfList(ipnet.String())
	if err != nil {
		return err
	}
	if have, err := os.ReadFile(ours); err == nil && bytes.Equal(have, want) {
		return nil
	}
	// Marker first: a crash between the two writes leaves a marker without a conflist,
	// which the next call completes, never a conflist orch can no longer claim.
	if !managed {
		note := []byte("orchd writes " + filepath.Base(ours) + " and rewrites it when the pod CIDR changes.\nDelete this file to make it yours.\n")
		if err := fsutil.WriteFile(m.markerFile(), note, 0o644); err != nil {
			return fmt.Errorf("ensure CNI config: %w", err)
		}
	}
	if err := fsutil.WriteFile(ours, want, 0o644); err != nil {
		return fmt.Errorf("ensure CNI config: %w", err)
	}
	m.log.Info("wrote default CNI config", "file", ours, "podCIDR", ipnet.String(), "bridge", m.cfg.BridgeName)
	return nil
}

func (m *Manager) defaultConfList(subnet string) ([]byte, error) {
	type route struct {
		Dst string `json:"dst"`
	}
	type rng struct {
		Subnet string `json:"subnet"`
	}
	type ipam struct {
		Type    string  `json:"type"`
		Ranges  [][]rng `json:"ranges"`
		Routes  []route `json:"routes,omitempty"`
		DataDir string  `json:"dataDir"`
	}
	type plugin struct {
		Type         string          `json:"type"`
		Bridge       string          `json:"bridge,omitempty"`
		IsGateway    bool            `json:"isGateway,omitempty"`
		IPMasq       *bool           `json:"ipMasq,omitempty"`
		HairpinMode  bool            `json:"hairpinMode,omitempty"`
		IPAM         *ipam           `json:"ipam,omitempty"`
		Capabilities map[string]bool `json:"capabilities,omitempty"`
	}
	noMasq := false
	br := plugin{
		Type:        "bridge",
		Bridge:      m.cfg.BridgeName,
		IsGateway:   true,
		IPMasq:      &noMasq, // spelled out: masquerading is the service proxy's job, not CNI's
		HairpinMode: true,    // a pod can reach itself through its own Service IP
		IPAM: &ipam{
			Type:    "host-local",
			Ranges:  [][]rng{{{Subnet: subnet}}},
			DataDir: m.cfg.IPAMDir,
		},
	}
	if !m.cfg.NoDefaultRoute {
		br.IPAM.Routes = []route{{Dst: "0.0.0.0/0"}}
	}
	list := struct {
		CNIVersion string   `json:"cniVersion"`
		Name       string   `json:"name"`
		Plugins    []plugin `json:"plugins"`
	}{
		CNIVersion: cniVersion,
		Name:       m.cfg.NetworkName,
		Plugins:    []plugin{br, {Type: "portmap", Capabilities: map[string]bool{"portMappings": true}}},
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// loadNetwork picks the network pods are added to: the operator's first conflist in
// lexical order if there is one (as containerd and CRI-O do), else orch's own.
func (m *Manager) loadNetwork() (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(m.cfg.ConfDir, []string{".conflist"})
	if err != nil {
		return nil, fmt.Errorf("load CNI config: %w", err)
	}
	pick := ""
	for _, f := range files {
		if f != m.confFile() {
			pick = f
			break
		}
		pick = f
	}
	if pick == "" {
		return nil, fmt.Errorf("load CNI config: no *.conflist in %s (EnsureConfig writes the default one)", m.cfg.ConfDir)
	}
	list, err := libcni.NetworkConfFromFile(pick)
	if err != nil {
		return nil, fmt.Errorf("load CNI config %s: %w", pick, err)
	}
	if len(list.Plugins) == 0 {
		return nil, fmt.Errorf("load CNI config %s: no plugins", pick)
	}
	return list, nil
}

// cacheEntry is the part of libcni's cache file ("results/<network>-<container>-<ifname>")
// that tells which network a pod was added to and with what config.
type cacheEntry struct {
	ContainerID string `json:"containerId"`
	IfName      string `json:"ifName"`
	NetworkName string `json:"networkName"`
	Config      []byte `json:"config"`
}

// cachedEntry finds the pod's attachment whatever network it was added to, so Teardown
// works after the conflist was renamed or replaced.
func (m *Manager) cachedEntry(podUID string) (*cacheEntry, error) {
	es, err := m.cachedEntries(podUID)
	if err != nil || len(es) == 0 {
		return nil, err
	}
	return es[0], nil
}

// cachedEntries reads the cached attachments of uid on PodInterface; uid "*" means all.
func (m *Manager) cachedEntries(uid string) ([]*cacheEntry, error) {
	paths, err := filepath.Glob(filepath.Join(m.cfg.CacheDir, "results", "*-"+uid+"-"+PodInterface))
	if err != nil {
		return nil, fmt.Errorf("read CNI cache: %w", err)
	}
	var out []*cacheEntry
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read CNI cache: %w", err)
		}
		var e cacheEntry
		if err := json.Unmarshal(data, &e); err != nil || e.ContainerID == "" || len(e.Config) == 0 {
			m.log.Warn("ignoring unreadable CNI cache file", "file", p, "err", err)
			continue
		}
		if e.IfName != PodInterface || (uid != "*" && e.ContainerID != uid) ||
			filepath.Base(p) != e.NetworkName+"-"+e.ContainerID+"-"+e.IfName {
			continue // "*-a-b-eth0" also matches pod "b" in network "x-a"
		}
		out = append(out, &e)
	}
	return out, nil
}
