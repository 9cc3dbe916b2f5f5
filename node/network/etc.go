package network

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/orchd/orch/fsutil"
)

// WriteEtcFiles writes dir/hosts and dir/hostname for one pod, to be bind-mounted over
// /etc/hosts and /etc/hostname in each of its containers. hostAliases maps an IP to extra
// names for it (the pod spec's hostAliases). ip may be nil (no pod IP line).
func WriteEtcFiles(dir, hostname string, ip net.IP, hostAliases map[string][]string) (hosts, hostnameFile string, err error) {
	if err := checkHostname(hostname); err != nil {
		return "", "", fmt.Errorf("write etc files: hostname: %w", err)
	}
	var b strings.Builder
	b.WriteString("# Managed by orch: edits are lost when the pod restarts.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("ff00::0\tip6-mcastprefix\n")
	b.WriteString("ff02::1\tip6-allnodes\n")
	b.WriteString("ff02::2\tip6-allrouters\n")
	if ip != nil {
		fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
	}
	if len(hostAliases) > 0 {
		aliasIPs := make([]string, 0, len(hostAliases))
		for a := range hostAliases {
			aliasIPs = append(aliasIPs, a)
		}
		sort.Strings(aliasIPs) // same input, same file
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range aliasIPs {
			if net.ParseIP(a) == nil {
				return "", "", fmt.Errorf("write etc files: host alias IP %q is not an IP address", a)
			}
			names := hostAliases[a]
			if len(names) == 0 {
				continue
			}
			for _, n := range names {
				if err := checkHostname(n); err != nil {
					return "", "", fmt.Errorf("write etc files: host alias for %s: %w", a, err)
				}
			}
			fmt.Fprintf(&b, "%s\t%s\n", a, strings.Join(names, "\t"))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("write etc files: %w", err)
	}
	hosts = filepath.Join(dir, "hosts")
	hostnameFile = filepath.Join(dir, "hostname")
	if err := fsutil.WriteFile(hosts, []byte(b.String()), 0o644); err != nil {
		return "", "", fmt.Errorf("write etc files: %w", err)
	}
	if err := fsutil.WriteFile(hostnameFile, []byte(hostname+"\n"), 0o644); err != nil {
		return "", "", fmt.Errorf("write etc files: %w", err)
	}
	return hosts, hostnameFile, nil
}

// checkHostname refuses names that would break the files' line and field structure.
func checkHostname(h string) error {
	if h == "" {
		return fmt.Errorf("empty name")
	}
	if len(h) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", h)
	}
	if strings.ContainsAny(h, " \t\r\n#/\x00") {
		return fmt.Errorf("%q contains whitespace, '#' or '/'", h)
	}
	return nil
}
