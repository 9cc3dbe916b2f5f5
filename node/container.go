package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/orchd/orch/node/images"
	"github.com/orchd/orch/node/network"
	"github.com/orchd/orch/node/runtime"
	"github.com/orchd/orch/node/volumes"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// containerSpec turns a container of the pod into a runtime spec: the image's config
// completed by the pod's command, args, env, working dir, mounts and limits.
func (w *podWorker) containerSpec(ctx context.Context, pod *orchv1.Pod, c *orchv1.Container, img images.Image, n int, vols map[string]string) (runtime.Spec, error) {
	if err := userNamespaceError(pod); err != nil {
		return runtime.Spec{}, err
	}
	id := containerID(w.uid, c.GetName(), n)
	rootfs, err := w.a.images.Mount(img, w.a.rootfsDir(id))
	if err != nil {
		return runtime.Spec{}, fmt.Errorf("prepare root filesystem: %w", err)
	}
	args := commandLine(img, c)
	if len(args) == 0 {
		return runtime.Spec{}, fmt.Errorf("no command specified for container %q and the image has none", c.GetName())
	}
	env, err := volumes.Env(ctx, pod, c, apiSource{w.a})
	if err != nil {
		return runtime.Spec{}, err
	}
	cwd := c.GetWorkingDir()
	if cwd == "" {
		cwd = img.WorkingDir
	}
	sec, err := w.a.containerSecurity(pod, c, img.User, rootfs)
	if err != nil {
		return runtime.Spec{}, err
	}
	etc := filepath.Join(w.a.podDir(w.uid), "etc")
	mounts := []runtime.Mount{
		{Source: filepath.Join(etc, "hosts"), Destination: "/etc/hosts", Type: "bind"},
		{Source: filepath.Join(etc, "hostname"), Destination: "/etc/hostname", Type: "bind"},
	}
	for i, vm := range c.GetVolumeMounts() {
		src, ok := vols[vm.GetName()]
		if !ok {
			return runtime.Spec{}, fmt.Errorf("volumeMount %q: no volume of that name", vm.GetName())
		}
		sp := vm.GetSubPath()
		if expr := vm.GetSubPathExpr(); expr != "" {
			if sp, err = volumes.ExpandSubPathExpr(expr, env); err != nil {
				return runtime.Spec{}, fmt.Errorf("volumeMount %q: %w", vm.GetName(), err)
			}
		}
		if sp != "" {
			// The runtime gets the agent's staging mount of what the subPath resolved to
			// beneath the volume, never a path the container could have redirected.
			src, err = w.a.vols.PrepareSubPath(volumes.SubPath{PodUID: w.uid, Container: c.GetName(), Attempt: n, Index: i, VolumePath: src, Path: sp})
			if err != nil {
				return runtime.Spec{}, fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q: %w", vm.GetName(), c.GetName(), err)
			}
		}
		mounts = append(mounts, runtime.Mount{Source: src, Destination: vm.GetMountPath(), Type: "bind", ReadOnly: volumes.MountReadOnly(pod, vm),
			Options: propagationOptions(vm.GetMountPropagation())})
	}
	logPath := w.logPath(c.GetName(), n)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return runtime.Spec{}, err
	}
	hostname := pod.GetSpec().GetHostname()
	if hostname == "" {
		hostname = pod.GetMetadata().GetName()
	}
	netns, _ := w.a.net.Status(w.uid)
	cgroupParent, podLimits := w.a.podCgroup(pod)
	spec := runtime.Spec{
		ID: id, Rootfs: rootfs, Args: args, Env: mergeEnv(img.Env, env), Cwd: cwd,
		Hostname: hostname, NetNS: netns.NetNS, Mounts: mounts, Resources: resources(c),
		CgroupParent: cgroupParent, ParentResources: podLimits, OOMScoreAdj: w.a.containerOOMScoreAdj(pod, c), LogPath: logPath,
		Stdin: c.GetStdin(), TTY: c.GetTty(),
	}
	sec.apply(&spec) // user, groups, capabilities, seccomp, sysctls, privileges
	return spec, nil
}

// propagationOptions are the mount options of a volumeMount's mountPropagation:
// HostToContainer receives the host's later mounts beneath the volume (rslave),
// Bidirectional also sends the container's back (rshared), None neither (rprivate).
func propagationOptions(p string) []string {
	switch p {
	case "HostToContainer":
		return []string{"rslave"}
	case "Bidirectional":
		return []string{"rshared"}
	}
	return []string{"rprivate"}
}

func (w *podWorker) logPath(container string, attempt int) string {
	return filepath.Join(w.a.podDir(w.uid), "logs", container, strconv.Itoa(attempt)+".log")
}

// commandLine applies Kubernetes' rules: command replaces the entrypoint, args replace
// the image's cmd; args alone go to the image's entrypoint.
func commandLine(img images.Image, c *orchv1.Container) []string {
	switch {
	case len(c.GetCommand()) > 0:
		return append(append([]string{}, c.GetCommand()...), c.GetArgs()...)
	case len(c.GetArgs()) > 0:
		return append(append([]string{}, img.Entrypoint...), c.GetArgs()...)
	}
	return append(append([]string{}, img.Entrypoint...), img.Cmd...)
}

// mergeEnv: the pod's variables override the image's.
func mergeEnv(base, over []string) []string {
	seen := map[string]int{}
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range append(append([]string{}, base...), over...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			out[i] = kv
			continue
		}
		seen[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// resources maps requests and limits to cgroup settings as the kubelet does: cpu
// requests to shares, cpu limits to a CFS quota, memory limits to the memory limit.
func resources(c *orchv1.Container) runtime.Resources {
	var r runtime.Resources
	req, lim := c.GetResources().GetRequests(), c.GetResources().GetLimits()
	if q, err := resource.ParseQuantity(req["cpu"]); err == nil {
		r.CPUShares = uint64(max(q.MilliValue()*1024/1000, 2))
	} else {
		r.CPUShares = 2
	}
	if q, err := resource.ParseQuantity(lim["cpu"]); err == nil && q.MilliValue() > 0 {
		r.CPUPeriod = 100000
		r.CPUQuota = max(q.MilliValue()*100, 1000)
	}
	if q, err := resource.ParseQuantity(lim["memory"]); err == nil && q.Value() > 0 {
		r.MemoryLimit = q.Value()
	}
	return r
}

type networkPort struct {
	host, container int32
	proto, ip       string
}

func toPortMappings(ps []networkPort) []network.PortMapping {
	out := make([]network.PortMapping, len(ps))
	for i, p := range ps {
		proto := p.proto
		if proto == "" {
			proto = "TCP"
		}
		out[i] = network.PortMapping{HostPort: p.host, ContainerPort: p.container, Protocol: proto, HostIP: p.ip}
	}
	return out
}

func writeEtc(dir, hostname string, ip net.IP) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_, _, err := network.WriteEtcFiles(dir, hostname, ip, nil)
	return err
}

// apiSource reads config maps and secrets for volumes and env through the API.
type apiSource struct{ a *Agent }

func (s apiSource) ConfigMap(ctx context.Context, ns, name string) (*orchv1.ConfigMap, error) {
	var out *orchv1.ConfigMap
	err := s.a.api.do(ctx, func(c *clients) error {
		resp, err := c.configMaps.Get(ctx, connect.NewRequest(&orchv1.GetRequest{Namespace: ns, Name: name}))
		if err == nil {
			out = resp.Msg
		}
		return err
	})
	if connect.CodeOf(err) == connect.CodeNotFound {
		return nil, fmt.Errorf("configmap %q not found: %w", name, volumes.ErrNotFound)
	}
	return out, err
}

func (s apiSource) Secret(ctx context.Context, ns, name string) (*orchv1.Secret, error) {
	var out *orchv1.Secret
	err := s.a.api.do(ctx, func(c *clients) error {
		resp, err := c.secrets.Get(ctx, connect.NewRequest(&orchv1.GetRequest{Namespace: ns, Name: name}))
		if err == nil {
			out = resp.Msg
		}
		return err
	})
	if connect.CodeOf(err) == connect.CodeNotFound {
		return nil, fmt.Errorf("secret %q not found: %w", name, volumes.ErrNotFound)
	}
	return out, err
}

// pullAuth reads the pod's imagePullSecrets into credentials by registry host.
func (w *podWorker) pullAuth(ctx context.Context, pod *orchv1.Pod) map[string]images.Auth {
	out := map[string]images.Auth{}
	for _, ref := range pod.GetSpec().GetImagePullSecrets() {
		s, err := apiSource{w.a}.Secret(ctx, pod.GetMetadata().GetNamespace(), ref.GetName())
		if err != nil {
			w.a.log.Warn("imagePullSecret", "pod", podName(pod), "secret", ref.GetName(), "err", err)
			continue
		}
		for host, a := range images.ParseDockerConfig(s.GetData()[".dockerconfigjson"], s.GetData()[".dockercfg"]) {
			out[host] = a
		}
	}
	return out
}

// event records an Event about the pod, in the background.
func (a *Agent) event(_ context.Context, pod *orchv1.Pod, typ, reason, msg string) {
	a.events.Event(pod, typ, reason, "%s", msg)
}

// eventSink writes the agent's Events through whichever master answers.
type eventSink struct{ api *apiClient }

func (s eventSink) Create(ctx context.Context, e *orchv1.Event) (out *orchv1.Event, err error) {
	err = s.api.do(ctx, func(c *clients) error {
		resp, err := c.events.Create(ctx, connect.NewRequest(e))
		if err == nil {
			out = resp.Msg
		}
		return err
	})
	return out, err
}

func (s eventSink) Update(ctx context.Context, e *orchv1.Event) (out *orchv1.Event, err error) {
	err = s.api.do(ctx, func(c *clients) error {
		resp, err := c.events.Update(ctx, connect.NewRequest(e))
		if err == nil {
			out = resp.Msg
		}
		return err
	})
	return out, err
}

func machineMemory() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "1Gi"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(s.Text(), "MemTotal: %d kB", &kb); err == nil {
			return strconv.FormatInt(kb, 10) + "Ki"
		}
	}
	return "1Gi"
}

func kernelVersion() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// outboundIP is the address of the interface of the default route or, on a host with
// no route out, of the first non-loopback interface.
func outboundIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return ""
}
