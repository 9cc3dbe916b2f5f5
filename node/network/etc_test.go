package network

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// WriteEtcFiles produces the same /etc/hosts and /etc/hostname for the same pod, whatever
// the map order of its host aliases.

func TestWriteEtcFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "orch-test-etc")
	aliases := map[string][]string{
		"10.1.2.3": {"foo.local", "bar"},
		"10.0.0.9": {"db"},
		"::1":      {"six"},
		"10.9.9.9": nil,
	}
	hosts, hostname, err := WriteEtcFiles(dir, "web-0", net.ParseIP("10.254.3.7"), aliases)
	if err != nil {
		t.Fatal(err)
	}
	if hosts != filepath.Join(dir, "hosts") || hostname != filepath.Join(dir, "hostname") {
		t.Fatalf("paths %s %s", hosts, hostname)
	}
	want := `# Managed by orch: edits are lost when the pod restarts.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
10.254.3.7	web-0

# Entries added by HostAliases.
10.0.0.9	db
10.1.2.3	foo.local	bar
::1	six
`
	if got, _ := os.ReadFile(hosts); string(got) != want {
		t.Fatalf("hosts:\n%s\nwant:\n%s", got, want)
	}
	if got, _ := os.ReadFile(hostname); string(got) != "web-0\n" {
		t.Fatalf("hostname: %q", got)
	}

	// No IP, no aliases: only the fixed lines. Rewriting over the old files works.
	if _, _, err := WriteEtcFiles(dir, "web-1", nil, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(hosts)
	if string(got) != want[:len(want)-len("10.254.3.7\tweb-0\n\n# Entries added by HostAliases.\n10.0.0.9\tdb\n10.1.2.3\tfoo.local\tbar\n::1\tsix\n")] {
		t.Fatalf("hosts without IP:\n%s", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("dir holds %d entries, want hosts and hostname only", len(entries))
	}

	for _, bad := range []struct {
		host    string
		aliases map[string][]string
	}{
		{"", nil},
		{"a b", nil},
		{"ok", map[string][]string{"not-an-ip": {"x"}}},
		{"ok", map[string][]string{"10.0.0.1": {"bad\nname"}}},
	} {
		if _, _, err := WriteEtcFiles(dir, bad.host, nil, bad.aliases); err == nil {
			t.Errorf("WriteEtcFiles(%q, %v) succeeded", bad.host, bad.aliases)
		}
	}
}
