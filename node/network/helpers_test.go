package network

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// Everything these tests create stays on this machine: netns named orch-test-*, bridges
// named ot-br*, pod CIDRs in 10.254.0.0/16 with no default route in the pods, ipMasq off.

const ipForwardPath = "/proc/sys/net/ipv4/ip_forward"

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		os.Exit(m.Run()) // the root-only tests skip themselves
	}
	// The bridge plugin turns on IPv4 forwarding when isGateway is set; put it back.
	fwd, fwdErr := os.ReadFile(ipForwardPath)
	before, _ := linkNames()
	code := m.Run()
	if fwdErr == nil {
		if err := os.WriteFile(ipForwardPath, fwd, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "restore ip_forward:", err)
			code = 1
		}
	}
	if after, err := linkNames(); err == nil && before != nil {
		for name := range after {
			if !before[name] {
				fmt.Fprintf(os.Stderr, "link %q created by the tests is still there\n", name)
				code = 1
			}
		}
	}
	os.Exit(code)
}

func linkNames() (map[string]bool, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, l := range links {
		names[l.Attrs().Name] = true
	}
	return names, nil
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)[:n]
}

var subnetSeq atomic.Uint32

func init() {
	var b [1]byte
	_, _ = rand.Read(b[:])
	subnetSeq.Store(uint32(b[0]))
}

type testEnv struct {
	m      *Manager
	cfg    Config
	root   string
	cidr   string
	prefix string // 10.254.N.
}

// testManager builds a Manager on fresh directories, a unique bridge and network name and
// a pod CIDR of its own. needRoot skips the test when it cannot create namespaces.
func testManager(t *testing.T, needRoot bool) *testEnv {
	t.Helper()
	if needRoot {
		if os.Geteuid() != 0 {
			t.Skip("needs root: creates network namespaces, a bridge and veth pairs")
		}
		for _, p := range []string{"bridge", "host-local", "portmap"} {
			if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
				t.Skipf("needs Debian's containernetworking-plugins in /usr/lib/cni: %v", err)
			}
		}
	}
	root, err := os.MkdirTemp("", "orch-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	octet := subnetSeq.Add(1) % 256
	env := &testEnv{
		root:   root,
		cidr:   fmt.Sprintf("10.254.%d.0/24", octet),
		prefix: fmt.Sprintf("10.254.%d.", octet),
	}
	env.cfg = Config{
		ConfDir:        filepath.Join(root, "cni", "net.d"),
		BinDirs:        []string{"/usr/lib/cni"},
		CacheDir:       filepath.Join(root, "cni", "cache"),
		NetNSDir:       filepath.Join(root, "netns"),
		BridgeName:     "ot-br" + randHex(t, 4),
		NetworkName:    "orch-test-" + randHex(t, 8),
		NoDefaultRoute: true,
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	env.m, err = New(env.cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.cfg = env.m.cfg
	if needRoot {
		// Runs after the pods' own teardowns (cleanups run last-in first-out).
		t.Cleanup(func() { env.removeBridge(t) })
	}
	return env
}

func (e *testEnv) removeBridge(t *testing.T) {
	t.Helper()
	if l, err := netlink.LinkByName(e.cfg.BridgeName); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			t.Errorf("delete bridge %s: %v", e.cfg.BridgeName, err)
		}
	}
	if _, err := netlink.LinkByName(e.cfg.BridgeName); err == nil {
		t.Errorf("bridge %s still exists", e.cfg.BridgeName)
	}
	left, _ := filepath.Glob(filepath.Join(e.cfg.NetNSDir, NetNSPrefix+"*"))
	for _, p := range left {
		t.Errorf("netns %s left behind", p)
		_ = removeNetNS(p)
	}
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil && bytes.Contains(mounts, []byte(e.cfg.NetNSDir)) {
		t.Errorf("a mount under %s is left behind", e.cfg.NetNSDir)
	}
}

// podUID returns a fresh UID; its netns file is orch-test-<random>.
func podUID(t *testing.T) string { return "test-" + randHex(t, 12) }

// setup adds a pod and registers its teardown.
func (e *testEnv) setup(t *testing.T, uid string) Result {
	t.Helper()
	t.Cleanup(func() {
		if err := e.m.Teardown(context.Background(), uid); err != nil {
			t.Errorf("teardown %s: %v", uid, err)
			_ = removeNetNS(e.m.NetNSPath(uid))
		}
	})
	res, err := e.m.Setup(t.Context(), uid, "default", "pod-"+uid, nil)
	if err != nil {
		t.Fatalf("setup %s: %v", uid, err)
	}
	return res
}

// allocated lists the IPs host-local holds for the test network.
func (e *testEnv) allocated(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.cfg.IPAMDir, e.cfg.NetworkName))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), e.prefix) {
			ips = append(ips, en.Name())
		}
	}
	sort.Strings(ips)
	return ips
}

func waitFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
