package runtime

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultCaps is Docker's default capability set.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

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
// with its default allow list) with Docker's default capabilities.
func ociSpec(s Spec) *specs.Spec {
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
	p.User = specs.User{UID: s.UID, GID: s.GID}
	p.NoNewPrivileges = false // as Docker and Kubernetes (allowPrivilegeEscalation) default
	p.Rlimits = nil           // inherit the agent's
	p.Capabilities = &specs.LinuxCapabilities{
		Bounding:  defaultCaps,
		Permitted: defaultCaps,
		Effective: defaultCaps,
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
	return o
}

// libcontainerConfig converts s into libcontainer's configuration.
func libcontainerConfig(s Spec) (*configs.Config, error) {
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName:   s.ID,
		NoNewKeyring: false,
		Spec:         ociSpec(s),
	})
	if err != nil {
		return nil, fmt.Errorf("container config: %w", err)
	}
	return cfg, nil
}
