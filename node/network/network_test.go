package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// These tests pin that a pod gets one IP on the node's bridge, reachable from other pods,
// and that Setup and Teardown can each run any number of times.

func TestEnsureConfig(t *testing.T) {
	t.Parallel()
	e := testManager(t, false)
	if err := e.m.EnsureConfig(e.cidr); err != nil {
		t.Fatal(err)
	}
	file := e.m.confFile()
	list, err := libcni.ConfListFromFile(file)
	if err != nil {
		t.Fatalf("written conflist does not parse: %v", err)
	}
	if list.Name != e.cfg.NetworkName || list.CNIVersion != "1.0.0" || len(list.Plugins) != 2 {
		t.Fatalf("conflist: name %q version %q %d plugins", list.Name, list.CNIVersion, len(list.Plugins))
	}
	var br struct {
		Type        string
		Bridge      string
		IsGateway   bool
		IPMasq      *bool
		HairpinMode bool
		IPAM        struct {
			Type    string
			Ranges  [][]struct{ Subnet string }
			Routes  []struct{ Dst string }
			DataDir string
		}
	}
	if err := json.Unmarshal(list.Plugins[0].Bytes, &br); err != nil {
		t.Fatal(err)
	}
	if br.Type != "bridge" || br.Bridge != e.cfg.BridgeName || !br.IsGateway || !br.HairpinMode ||
		br.IPMasq == nil || *br.IPMasq || br.IPAM.Type != "host-local" ||
		len(br.IPAM.Ranges) != 1 || len(br.IPAM.Ranges[0]) != 1 || br.IPAM.Ranges[0][0].Subnet != e.cidr ||
		len(br.IPAM.Routes) != 0 || br.IPAM.DataDir != e.cfg.IPAMDir {
		t.Fatalf("bridge plugin config: %s", list.Plugins[0].Bytes)
	}
	pm := list.Plugins[1].Network
	if pm.Type != "portmap" || !pm.Capabilities["portMappings"] {
		t.Fatalf("portmap plugin config: %s", list.Plugins[1].Bytes)
	}

	// Same CIDR: the file is not even rewritten.
	st1, _ := os.Stat(file)
	content, _ := os.ReadFile(file)
	time.Sleep(10 * time.Millisecond)
	if err := e.m.EnsureConfig(e.cidr); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(file)
	again, _ := os.ReadFile(file)
	if !bytes.Equal(content, again) || !st1.ModTime().Equal(st2.ModTime()) || !os.SameFile(st1, st2) {
		t.Fatal("second EnsureConfig with the same CIDR rewrote the conflist")
	}
	if names := confNames(t, e.cfg.ConfDir); !slices.Equal(names, []string{filepath.Base(file)}) {
		t.Fatalf("conf dir holds %v, want only %s", names, filepath.Base(file))
	}

	// A new CIDR rewrites it.
	if err := e.m.EnsureConfig("10.254.77.0/24"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); !bytes.Contains(b, []byte(`"subnet": "10.254.77.0/24"`)) {
		t.Fatalf("conflist after CIDR change:\n%s", b)
	}

	for _, bad := range []string{"", "10.254.1.5/24", "fd00::/64", "10.254.1.0/31", "nonsense"} {
		if err := e.m.EnsureConfig(bad); err == nil {
			t.Errorf("EnsureConfig(%q) succeeded", bad)
		}
	}
}

func TestEnsureConfigLeavesOperatorConfig(t *testing.T) {
	t.Parallel()
	operator := []byte(`{"cniVersion":"1.0.0","name":"orch-test-operator","plugins":[{"type":"bridge","bridge":"ot-opbr","ipMasq":false,"ipam":{}}]}`)
	cases := map[string]string{
		"own file name":     "05-operator.conflist",
		"orch's file name":  "", // filled below: same name as orch's, but no marker
		"after orch's file": "99-operator.conflist",
	}
	for name, fname := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := testManager(t, false)
			if fname == "" {
				fname = filepath.Base(e.m.confFile())
			}
			if err := os.MkdirAll(e.cfg.ConfDir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(e.cfg.ConfDir, fname)
			if err := os.WriteFile(path, operator, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := e.m.EnsureConfig(e.cidr); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, operator) {
				t.Fatalf("operator's conflist changed:\n%s", got)
			}
			if names := confNames(t, e.cfg.ConfDir); !slices.Equal(names, []string{fname}) {
				t.Fatalf("conf dir holds %v, want only the operator's %s", names, fname)
			}
			list, err := e.m.loadNetwork()
			if err != nil || list.Name != "orch-test-operator" {
				t.Fatalf("loadNetwork = %v, %v; want the operator's network", list, err)
			}
		})
	}
}

func confNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	return names
}

func TestPodToPod(t *testing.T) {
	t.Parallel()
	e := testManager(t, true)
	if err := e.m.EnsureConfig(e.cidr); err != nil {
		t.Fatal(err)
	}
	a := e.setup(t, podUID(t))
	b := e.setup(t, podUID(t))

	_, subnet, _ := net.ParseCIDR(e.cidr)
	if a.IP.Equal(b.IP) || !subnet.Contains(a.IP) || !subnet.Contains(b.IP) {
		t.Fatalf("pod IPs %s and %s: want two distinct addresses in %s", a.IP, b.IP, e.cidr)
	}
	if want := net.ParseIP(e.prefix + "1"); !a.Gateway.Equal(want) {
		t.Fatalf("gateway %s, want %s", a.Gateway, want)
	}
	for _, r := range []Result{a, b} {
		checkPodLinks(t, r)
	}

	// Pod A listens on its own IP; pod B dials it over the bridge.
	var ln net.Listener
	if err := WithNetNS(a.NetNS, func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(a.IP.String(), "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln)
	addr := ln.Addr().String()
	waitFor(t, 10*time.Second, func() error {
		return WithNetNS(b.NetNS, func() error { return echo(addr) })
	})

	// Loopback inside a pod.
	if err := WithNetNS(b.NetNS, func() error {
		lo, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer lo.Close()
		go serveEcho(lo)
		return echo(lo.Addr().String())
	}); err != nil {
		t.Fatalf("loopback in pod: %v", err)
	}

}

// checkPodLinks asserts lo is up, eth0 carries the pod IP and there is no default route.
func checkPodLinks(t *testing.T, r Result) {
	t.Helper()
	ns, err := netns.GetFromPath(r.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("lo in %s: %v, up=%v", r.NetNS, err, err == nil && lo.Attrs().Flags&net.FlagUp != 0)
	}
	eth, err := h.LinkByName(PodInterface)
	if err != nil {
		t.Fatalf("eth0 in %s: %v", r.NetNS, err)
	}
	addrs, err := h.AddrList(eth, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 || !addrs[0].IP.Equal(r.IP) {
		t.Fatalf("eth0 addresses in %s: %v %v, want %s", r.NetNS, addrs, err, r.IP)
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes {
		if rt.Dst == nil || rt.Dst.String() == "0.0.0.0/0" {
			t.Fatalf("pod %s has a default route %v: tests must not let pods send off the machine", r.NetNS, rt)
		}
	}
}

func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err == nil {
				_, _ = c.Write(append([]byte("echo:"), buf...))
			}
		}()
	}
}

func echo(addr string) error {
	c, err := net.DialTimeout("tcp4", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(got) != "echo:ping" {
		return errors.New("unexpected reply " + string(got))
	}
	return nil
}

func TestSetupIdempotentTeardown(t *testing.T) {
	t.Parallel()
	e := testManager(t, true)
	if err := e.m.EnsureConfig(e.cidr); err != nil {
		t.Fatal(err)
	}
	uid := podUID(t)
	first := e.setup(t, uid)
	second, err := e.m.Setup(t.Context(), uid, "default", "pod-"+uid, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !first.IP.Equal(second.IP) || first.NetNS != second.NetNS {
		t.Fatalf("second Setup gave %+v, first %+v", second, first)
	}
	if got := e.allocated(t); !slices.Equal(got, []string{first.IP.String()}) {
		t.Fatalf("host-local holds %v, want [%s]", got, first.IP)
	}
	if st, ok := e.m.Status(uid); !ok || !st.IP.Equal(first.IP) || st.NetNS != first.NetNS {
		t.Fatalf("Status = %+v, %v", st, ok)
	}
	if uids, err := e.m.List(); err != nil || !slices.Equal(uids, []string{uid}) {
		t.Fatalf("List = %v, %v", uids, err)
	}
	if filepath.Base(first.NetNS) != "orch-"+uid || !isNetNS(first.NetNS) {
		t.Fatalf("netns %s is not a mounted netns named orch-%s", first.NetNS, uid)
	}

	// A node reboot loses the netns but keeps the cache and the allocation: List still
	// reports the pod, and Setup releases the old attachment and adds it again.
	if err := removeNetNS(first.NetNS); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.m.Status(uid); ok {
		t.Fatal("Status reports a pod whose netns is gone")
	}
	if uids, _ := e.m.List(); !slices.Equal(uids, []string{uid}) {
		t.Fatalf("List after losing the netns = %v, want [%s]", uids, uid)
	}
	third, err := e.m.Setup(t.Context(), uid, "default", "pod-"+uid, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPodLinks(t, third)
	if got := e.allocated(t); !slices.Equal(got, []string{third.IP.String()}) {
		t.Fatalf("after re-setup host-local holds %v, want [%s]", got, third.IP)
	}

	// A crash after the plugins ran but before libcni cached the result leaves a netns with
	// eth0 and an allocation but no cache: Setup cleans up with DEL and adds again.
	cacheFiles, _ := filepath.Glob(filepath.Join(e.cfg.CacheDir, "results", "*-"+uid+"-eth0"))
	if len(cacheFiles) != 1 {
		t.Fatalf("cache files for %s: %v", uid, cacheFiles)
	}
	if err := os.Remove(cacheFiles[0]); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.m.Status(uid); ok {
		t.Fatal("Status reports a pod without a cached result")
	}
	third, err = e.m.Setup(t.Context(), uid, "default", "pod-"+uid, nil)
	if err != nil {
		t.Fatalf("setup over a half-done ADD: %v", err)
	}
	checkPodLinks(t, third)
	if got := e.allocated(t); !slices.Equal(got, []string{third.IP.String()}) {
		t.Fatalf("after setup over a half-done ADD host-local holds %v, want [%s]", got, third.IP)
	}

	for i := range 2 {
		if err := e.m.Teardown(t.Context(), uid); err != nil {
			t.Fatalf("teardown #%d: %v", i+1, err)
		}
	}
	if got := e.allocated(t); len(got) != 0 {
		t.Fatalf("after teardown host-local still holds %v", got)
	}
	if _, err := os.Stat(third.NetNS); !os.IsNotExist(err) {
		t.Fatalf("netns file after teardown: %v", err)
	}
	if _, ok := e.m.Status(uid); ok {
		t.Fatal("Status reports a torn-down pod")
	}
	if uids, err := e.m.List(); err != nil || len(uids) != 0 {
		t.Fatalf("List after teardown = %v, %v", uids, err)
	}
	if err := e.m.Teardown(t.Context(), podUID(t)); err != nil {
		t.Fatalf("teardown of a pod never set up: %v", err)
	}
}

func TestSetupWithoutConfig(t *testing.T) {
	t.Parallel()
	e := testManager(t, true)
	uid := podUID(t)
	if _, err := e.m.Setup(t.Context(), uid, "default", "p", nil); err == nil {
		t.Fatal("Setup without a conflist succeeded")
	}
	if _, err := os.Stat(e.m.NetNSPath(uid)); !os.IsNotExist(err) {
		t.Fatalf("failed Setup left a netns file: %v", err)
	}
}

func TestPortMappingArgs(t *testing.T) {
	t.Parallel()
	got, err := portMappingArgs([]PortMapping{{HostPort: 8080, ContainerPort: 80}, {HostPort: 53, ContainerPort: 53, Protocol: "UDP", HostIP: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `{"portMappings":[{"containerPort":80,"hostPort":8080,"protocol":"tcp"},{"containerPort":53,"hostIP":"127.0.0.1","hostPort":53,"protocol":"udp"}]}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	if got, err := portMappingArgs(nil); got != nil || err != nil {
		t.Fatalf("no ports: %v, %v", got, err)
	}
	for _, bad := range []PortMapping{
		{HostPort: 0, ContainerPort: 80},
		{HostPort: 80, ContainerPort: 70000},
		{HostPort: 80, ContainerPort: 80, Protocol: "icmp"},
		{HostPort: 80, ContainerPort: 80, HostIP: "nope"},
	} {
		if _, err := portMappingArgs([]PortMapping{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestCheckUID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"0b6c2f1e-9d7a-4c1e-8e7a-1f2d3c4b5a69", "test-abc"} {
		if err := checkUID(ok); err != nil {
			t.Errorf("checkUID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", "a*"} {
		if checkUID(bad) == nil {
			t.Errorf("checkUID(%q) accepted", bad)
		}
	}
}
