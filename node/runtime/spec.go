package runtime

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// processEnv returns env with a default PATH when it has none.
func processEnv(env []string) []string {
	if slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		return slices.Clone(env)
	}
	return append([]string{defaultPath}, env...)
}

func processCwd(cwd string) string {
	if cwd == "" {
		return "/"
	}
	return cwd
}

// ociSpec builds the OCI runtime spec of s, starting from runc's example (masked and
// read-only paths, standard mounts, a deny-all device rule that libcontainer completes
// with its default allow list) with containerd's default capabilities changed by
// s.CapAdd and s.CapDrop, and s's seccomp profile, sysctls and privileges.
func ociSpec(s Spec) (*specs.Spec, error) {
	o := specconv.Example()
	o.Root = &specs.Root{Path: s.Rootfs, Readonly: s.ReadonlyRootfs}
	o.Hostname = s.Hostname
	if o.Hostname == "" {
		o.Hostname = s.ID
		if len(o.Hostname) > 63 {
			o.Hostname = o.Hostname[:63]
		}
	}
	p := o.Process
	p.Terminal = false
	p.Args = s.Args
	p.Env = processEnv(s.Env)
	p.Cwd = processCwd(s.Cwd)
	p.User = specs.User{UID: s.UID, GID: s.GID, AdditionalGids: slices.Clone(s.AdditionalGIDs)}
	// false unless asked: as Docker and Kubernetes (allowPrivilegeEscalation) default.
	p.NoNewPrivileges = s.NoNewPrivileges
	p.Rlimits = nil // inherit the agent's
	if s.OOMScoreAdj != nil {
		adj := *s.OOMScoreAdj
		p.OOMScoreAdj = &adj
	}
	caps, err := Capabilities(s)
	if err != nil {
		return nil, err
	}
	p.Capabilities = &specs.LinuxCapabilities{
		Bounding:  caps,
		Permitted: caps,
		Effective: caps,
	}

	// The root's propagation must let a volume's propagation through, as containerd sets
	// it: shared when a mount is Bidirectional, slave when one is HostToContainer.
	for _, m := range s.Mounts {
		switch {
		case slices.Contains(m.Options, "rshared"):
			o.Linux.RootfsPropagation = "rshared"
		case slices.Contains(m.Options, "rslave") && o.Linux.RootfsPropagation != "rshared":
			o.Linux.RootfsPropagation = "rslave"
		}
	}
	for _, m := range s.Mounts {
		opts := slices.Clone(m.Options)
		typ := m.Type
		if typ == "bind" {
			if !slices.Contains(opts, "bind") && !slices.Contains(opts, "rbind") {
				opts = append(opts, "rbind")
			}
			typ = "none"
		}
		if m.ReadOnly && !slices.Contains(opts, "ro") {
			opts = append(opts, "ro")
		}
		o.Mounts = append(o.Mounts, specs.Mount{Source: m.Source, Destination: m.Destination, Type: typ, Options: opts})
	}

	l := o.Linux
	if s.NetNS != "" {
		for i := range l.Namespaces {
			if l.Namespaces[i].Type == specs.NetworkNamespace {
				l.Namespaces[i].Path = s.NetNS
			}
		}
	}
	l.CgroupsPath = filepath.Join(s.CgroupParent, s.ID)
	res := s.Resources
	if res.CPUShares != 0 || res.CPUQuota != 0 || res.CPUPeriod != 0 {
		cpu := &specs.LinuxCPU{}
		if res.CPUShares != 0 {
			cpu.Shares = &res.CPUShares
		}
		if res.CPUQuota != 0 {
			cpu.Quota = &res.CPUQuota
			if res.CPUPeriod == 0 {
				res.CPUPeriod = 100000
			}
		}
		if res.CPUPeriod != 0 {
			cpu.Period = &res.CPUPeriod
		}
		l.Resources.CPU = cpu
	}
	if res.MemoryLimit > 0 {
		l.Resources.Memory = &specs.LinuxMemory{Limit: &res.MemoryLimit, Swap: &res.MemoryLimit}
	}
	if res.PidsLimit > 0 {
		l.Resources.Pids = &specs.LinuxPids{Limit: &res.PidsLimit}
	}
	if len(s.Sysctls) > 0 {
		l.Sysctl = maps.Clone(s.Sysctls)
	}
	if s.Privileged {
		if err := applyPrivileged(o); err != nil {
			return nil, err
		}
	}
	if l.Seccomp, err = seccompFor(s, caps); err != nil {
		return nil, err
	}
	return o, nil
}

// additionalGroups are s's supplementary groups for libcontainer's Process.
func additionalGroups(s Spec) []int {
	var out []int
	for _, g := range s.AdditionalGIDs {
		out = append(out, int(g))
	}
	return out
}

// libcontainerConfig converts s into libcontainer's configuration.
func libcontainerConfig(s Spec) (*configs.Config, error) {
	o, err := ociSpec(s)
	if err != nil {
		return nil, fmt.Errorf("container config: %w", err)
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName:   s.ID,
		NoNewKeyring: false,
		Spec:         o,
	})
	if err != nil {
		return nil, fmt.Errorf("container config: %w", err)
	}
	return cfg, nil
}
