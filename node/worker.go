package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/node/images"
	"github.com/orchd/orch/node/probe"
	"github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Restart back-off, as the kubelet's: 10 s doubling to 5 min, reset after 10 min running.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

// podWorker owns one pod on this node: every change to the pod, every resync and every
// probe result runs sync, which is idempotent and safe to run after a crash at any step.
type podWorker struct {
	a      *Agent
	uid    string
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}

	mu        sync.Mutex
	pod       *orchv1.Pod
	deleted   bool                        // gone from the cluster
	waiting   map[string]waitingState     // container -> why it is not running
	probes    map[string]*containerProbes // container ID -> its probe workers
	reported  *orchv1.PodStatus
	startTime time.Time
}

type waitingState struct{ reason, message string }

type containerProbes struct {
	cancel                     context.CancelFunc
	liveness, readiness, start *probe.Worker
}

func newPodWorker(parent context.Context, a *Agent, p *orchv1.Pod) *podWorker {
	ctx, cancel := context.WithCancel(parent)
	return &podWorker{a: a, uid: p.GetMetadata().GetUid(), ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1),
		pod: p, waiting: map[string]waitingState{}, probes: map[string]*containerProbes{}}
}

func (w *podWorker) update(p *orchv1.Pod) {
	w.mu.Lock()
	w.pod = p
	w.mu.Unlock()
	w.kick()
}

func (w *podWorker) gone() {
	w.mu.Lock()
	w.deleted = true
	w.mu.Unlock()
	w.kick()
}

func (w *podWorker) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *podWorker) snapshot() (*orchv1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.deleted
}

func (w *podWorker) run() {
	defer w.a.workerDone(w.uid)
	for {
		pod, deleted := w.snapshot()
		next := w.a.cfg.ResyncPeriod
		var done bool
		if deleted || pod.GetMetadata().GetDeletionTimestamp() != nil {
			done = w.terminate(pod, deleted)
			if !done {
				next = time.Second
			}
		} else if d := w.sync(pod); d > 0 && d < next {
			next = d
		}
		if done {
			w.cancel()
			return
		}
		select {
		case <-w.ctx.Done():
			w.stopProbes("")
			return
		case <-w.wake:
		case <-time.After(next):
		}
	}
}

// containerID names attempt n of a container of a pod.
func containerID(uid, name string, attempt int) string {
	return fmt.Sprintf("%s-%s-%d", uid, name, attempt)
}

// podUIDOf returns the pod uid of a container ID ("" when it is not one of ours).
func podUIDOf(id string) string {
	if len(id) > 37 && id[36] == '-' {
		return id[:36]
	}
	return ""
}

// attempts returns the runtime states of every attempt of a container, oldest first.
func (w *podWorker) attempts(name string) []runtime.State {
	states, err := w.a.rt.List()
	if err != nil {
		return nil
	}
	prefix := w.uid + "-" + name + "-"
	type att struct {
		n  int
		st runtime.State
	}
	var out []att
	for _, st := range states {
		if !strings.HasPrefix(st.ID, prefix) {
			continue
		}
		n, err := strconv.Atoi(st.ID[len(prefix):])
		if err != nil {
			continue
		}
		out = append(out, att{n, st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	res := make([]runtime.State, len(out))
	for i, a := range out {
		res[i] = a.st
	}
	return res
}

func attemptOf(id string) int {
	i := strings.LastIndexByte(id, '-')
	n, _ := strconv.Atoi(id[i+1:])
	return n
}

// sync drives the pod toward its spec and reports its status. It returns how soon it
// wants to run again (0: at the next resync).
func (w *podWorker) sync(pod *orchv1.Pod) time.Duration {
	ctx := w.ctx
	spec := pod.GetSpec()
	if w.startTime.IsZero() {
		w.startTime = time.Now()
		if st := pod.GetStatus().GetStartTime(); st != nil {
			w.startTime = st.AsTime()
		}
	}
	var again time.Duration
	soon := func(d time.Duration) {
		if d > 0 && (again == 0 || d < again) {
			again = d
		}
	}
	phaseDone := isTerminal(pod.GetStatus().GetPhase())

	// Sandbox: network, /etc files, volumes.
	var podIP string
	var volPaths map[string]string
	var setupErr error
	if !phaseDone {
		podIP, volPaths, setupErr = w.setupSandbox(ctx, pod)
	}
	if setupErr != nil {
		w.a.log.Warn("pod sandbox", "pod", podName(pod), "err", setupErr)
		for _, c := range append(append([]*orchv1.Container{}, spec.GetInitContainers()...), spec.GetContainers()...) {
			w.setWaiting(c.GetName(), "ContainerCreating", setupErr.Error())
		}
		soon(2 * time.Second)
	} else if !phaseDone {
		// Init containers run one at a time, in order, each to success.
		initDone := true
		for _, c := range spec.GetInitContainers() {
			done, d := w.syncInit(ctx, pod, c, podIP, volPaths)
			soon(d)
			if !done {
				initDone = false
				break
			}
		}
		if initDone {
			for _, c := range spec.GetContainers() {
				soon(w.syncContainer(ctx, pod, c, podIP, volPaths))
			}
		}
	}
	w.reportStatus(ctx, pod, podIP)
	return again
}

func podName(p *orchv1.Pod) string {
	return p.GetMetadata().GetNamespace() + "/" + p.GetMetadata().GetName()
}

func isTerminal(phase string) bool { return phase == api.PodSucceeded || phase == api.PodFailed }

func (w *podWorker) setWaiting(name, reason, msg string) {
	w.mu.Lock()
	w.waiting[name] = waitingState{reason, msg}
	w.mu.Unlock()
}

func (w *podWorker) clearWaiting(name string) {
	w.mu.Lock()
	delete(w.waiting, name)
	w.mu.Unlock()
}

func (w *podWorker) setupSandbox(ctx context.Context, pod *orchv1.Pod) (string, map[string]string, error) {
	var ports []networkPort
	for _, c := range pod.GetSpec().GetContainers() {
		for _, p := range c.GetPorts() {
			if p.GetHostPort() != 0 {
				ports = append(ports, networkPort{host: p.GetHostPort(), container: p.GetContainerPort(), proto: p.GetProtocol(), ip: p.GetHostIp()})
			}
		}
	}
	res, err := w.a.net.Setup(ctx, w.uid, pod.GetMetadata().GetNamespace(), pod.GetMetadata().GetName(), toPortMappings(ports))
	if err != nil {
		return "", nil, fmt.Errorf("set up pod network: %w", err)
	}
	ip := ""
	if res.IP != nil {
		ip = res.IP.String()
	}
	hostname := pod.GetSpec().GetHostname()
	if hostname == "" {
		hostname = pod.GetMetadata().GetName()
	}
	etc := filepath.Join(w.a.podDir(w.uid), "etc")
	if err := writeEtc(etc, hostname, res.IP); err != nil {
		return "", nil, err
	}
	withIP := proto.Clone(pod).(*orchv1.Pod)
	if withIP.Status == nil {
		withIP.Status = &orchv1.PodStatus{}
	}
	withIP.Status.PodIp, withIP.Status.HostIp = ip, w.a.hostIP
	paths, err := w.a.vols.Setup(ctx, withIP, apiSource{w.a})
	if err != nil {
		return ip, nil, fmt.Errorf("volumes: %w", err)
	}
	return ip, paths, nil
}

// syncInit runs one init container to completion. It reports whether it has succeeded.
func (w *podWorker) syncInit(ctx context.Context, pod *orchv1.Pod, c *orchv1.Container, podIP string, vols map[string]string) (bool, time.Duration) {
	atts := w.attempts(c.GetName())
	if len(atts) > 0 {
		last := atts[len(atts)-1]
		switch {
		case last.Status == runtime.StatusRunning || last.Status == runtime.StatusCreated:
			return false, time.Second
		case last.Status == runtime.StatusExited && last.ExitCode == 0:
			return true, 0
		case pod.GetSpec().GetRestartPolicy() == "Never":
			return false, 0 // the pod has failed; status says so
		}
		if d := w.backoffLeft(c.GetName(), atts); d > 0 {
			w.setWaiting(c.GetName(), "CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container %s", d.Round(time.Second), c.GetName()))
			return false, d
		}
	}
	return false, w.start(ctx, pod, c, nextAttempt(atts), podIP, vols)
}

// syncContainer keeps a regular container running as its restart policy wants.
func (w *podWorker) syncContainer(ctx context.Context, pod *orchv1.Pod, c *orchv1.Container, podIP string, vols map[string]string) time.Duration {
	atts := w.attempts(c.GetName())
	if len(atts) > 0 {
		last := atts[len(atts)-1]
		if last.Status == runtime.StatusRunning || last.Status == runtime.StatusCreated {
			w.ensureProbes(pod, c, last.ID, podIP)
			w.pruneAttempts(c.GetName(), atts)
			return 0
		}
		w.stopProbes(last.ID)
		policy := pod.GetSpec().GetRestartPolicy()
		if policy == "Never" || (policy == "OnFailure" && last.ExitCode == 0) {
			return 0
		}
		if d := w.backoffLeft(c.GetName(), atts); d > 0 {
			w.setWaiting(c.GetName(), "CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", d.Round(time.Second), c.GetName(), podName(pod)))
			return d
		}
	}
	return w.start(ctx, pod, c, nextAttempt(atts), podIP, vols)
}

// nextAttempt numbers the next start of a container: one past the newest attempt, so
// numbers only grow even when older attempts have been pruned (restartCount is the
// newest attempt's number).
func nextAttempt(atts []runtime.State) int {
	if len(atts) == 0 {
		return 0
	}
	return attemptOf(atts[len(atts)-1].ID) + 1
}

func ranLong(st runtime.State) bool {
	return !st.FinishedAt.IsZero() && st.FinishedAt.Sub(st.StartedAt) >= backoffReset
}

// restartStreak counts the attempts that ended quickly since the newest one that ran
// long enough to reset the back-off (or since the first). Pruning keeps that one, so the
// count is exact although older attempts are gone.
func restartStreak(atts []runtime.State) int {
	last := attemptOf(atts[len(atts)-1].ID)
	for i := len(atts) - 1; i >= 0; i-- {
		if ranLong(atts[i]) {
			return last - attemptOf(atts[i].ID)
		}
	}
	return last + 1
}

// restartBackoff is Kubernetes' crash-loop back-off after a streak of quick exits:
// 10 s, doubling, at most 5 min.
func restartBackoff(streak int) time.Duration {
	d := backoffInitial
	for i := 1; i < streak && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// backoffLeft is how long the next restart must wait after the last attempt ended.
func (w *podWorker) backoffLeft(name string, atts []runtime.State) time.Duration {
	last := atts[len(atts)-1]
	if last.FinishedAt.IsZero() {
		return 0
	}
	return time.Until(last.FinishedAt.Add(restartBackoff(restartStreak(atts))))
}

// prunable lists the attempts that may go: all but the newest two (the running one and
// the one before it, for --previous logs and lastState) and the newest one that ran
// long (the back-off counts from it); only finished ones.
func prunable(atts []runtime.State) []string {
	keepLong := -1
	for i := len(atts) - 1; i >= 0; i-- {
		if ranLong(atts[i]) {
			keepLong = i
			break
		}
	}
	var out []string
	for i := 0; i < len(atts)-2; i++ {
		if i != keepLong && (atts[i].Status == runtime.StatusExited || atts[i].Status == runtime.StatusUnknown) {
			out = append(out, atts[i].ID)
		}
	}
	return out
}

// pruneAttempts removes the attempts prunable says may go.
func (w *podWorker) pruneAttempts(name string, atts []runtime.State) {
	for _, id := range prunable(atts) {
		w.a.removeContainer(w.ctx, id, 0)
	}
}

type pullFailure struct {
	at    time.Time
	count int
	err   error
}

// pullImage resolves a container's image by its pull policy, backing off after failures.
func (w *podWorker) pullImage(ctx context.Context, pod *orchv1.Pod, c *orchv1.Container) (images.Image, error) {
	ref := c.GetImage()
	img, present := w.a.images.Get(ref)
	policy := c.GetImagePullPolicy()
	if policy == "" {
		policy = images.DefaultPullPolicy(ref)
	}
	pull, err := images.PullPolicyAllows(policy, ref, present)
	if err != nil {
		w.setWaiting(c.GetName(), "ErrImageNeverPull", fmt.Sprintf("container image %q is not present with pull policy of Never", ref))
		return images.Image{}, err
	}
	if !pull {
		return img, nil
	}
	w.a.pullMu.Lock()
	f := w.a.pullErr[ref]
	w.a.pullMu.Unlock()
	if f.count > 0 {
		d := min(backoffInitial*time.Duration(1<<min(f.count-1, 5)), backoffMax)
		if time.Since(f.at) < d {
			w.setWaiting(c.GetName(), "ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q: %v", ref, f.err))
			return images.Image{}, f.err
		}
	}
	w.setWaiting(c.GetName(), "ContainerCreating", "pulling image "+ref)
	img, err = w.a.images.Pull(ctx, ref, w.pullAuth(ctx, pod))
	w.a.pullMu.Lock()
	if err != nil {
		w.a.pullErr[ref] = pullFailure{at: time.Now(), count: f.count + 1, err: err}
		w.a.metrics.pulls.WithLabelValues("error").Inc()
	} else {
		delete(w.a.pullErr, ref)
		w.a.metrics.pulls.WithLabelValues("ok").Inc()
	}
	w.a.pullMu.Unlock()
	if err != nil {
		w.setWaiting(c.GetName(), "ErrImagePull", err.Error())
		w.a.event(ctx, pod, "Warning", "Failed", fmt.Sprintf("Failed to pull image %q: %v", ref, err))
		return images.Image{}, err
	}
	w.a.event(ctx, pod, "Normal", "Pulled", fmt.Sprintf("Successfully pulled image %q", ref))
	return img, nil
}

// start creates attempt n of a container. It returns when to look again.
func (w *podWorker) start(ctx context.Context, pod *orchv1.Pod, c *orchv1.Container, n int, podIP string, vols map[string]string) time.Duration {
	img, err := w.pullImage(ctx, pod, c)
	if err != nil {
		return 2 * time.Second
	}
	spec, err := w.containerSpec(ctx, pod, c, img, n, vols)
	if err != nil {
		w.a.metrics.starts.WithLabelValues("config_error").Inc()
		w.setWaiting(c.GetName(), "CreateContainerConfigError", err.Error())
		w.a.event(ctx, pod, "Warning", "Failed", "Error: "+err.Error())
		return 2 * time.Second
	}
	started := time.Now()
	st, err := w.a.rt.Start(ctx, spec)
	if err != nil {
		w.a.metrics.starts.WithLabelValues("run_error").Inc()
		w.setWaiting(c.GetName(), "RunContainerError", err.Error())
		w.a.event(ctx, pod, "Warning", "Failed", fmt.Sprintf("Error: failed to start container %q: %v", c.GetName(), err))
		return 2 * time.Second
	}
	w.a.metrics.starts.WithLabelValues("ok").Inc()
	w.a.metrics.startDuration.Observe(time.Since(started).Seconds())
	w.clearWaiting(c.GetName())
	w.a.event(ctx, pod, "Normal", "Started", fmt.Sprintf("Started container %s", c.GetName()))
	w.ensureProbes(pod, c, st.ID, podIP)
	return time.Second
}

// terminate stops everything of a pod being deleted and, when the pod still exists in
// the cluster, confirms the deletion. It reports whether the worker is finished.
func (w *podWorker) terminate(pod *orchv1.Pod, deleted bool) bool {
	ctx := w.ctx
	grace := time.Duration(api.PodGracePeriodSeconds(pod)) * time.Second
	if g := pod.GetMetadata().DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	w.stopProbes("")
	states, _ := w.a.rt.List()
	var wg sync.WaitGroup
	for _, st := range states {
		if podUIDOf(st.ID) != w.uid {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.a.removeContainer(ctx, st.ID, grace)
		}()
	}
	wg.Wait()
	if err := w.a.net.Teardown(ctx, w.uid); err != nil {
		w.a.log.Warn("teardown pod network", "pod", podName(pod), "err", err)
		return false
	}
	if err := w.a.vols.Teardown(w.uid); err != nil {
		w.a.log.Warn("remove pod volumes", "pod", podName(pod), "err", err)
		return false
	}
	if deleted {
		return true
	}
	// The uid precondition: if the pod was force-deleted and created again under the same
	// name meanwhile, the new pod is not this agent's to confirm.
	zero, uid := int64(0), pod.GetMetadata().GetUid()
	err := w.a.api.do(ctx, func(c *clients) error {
		_, err := c.pods.Delete(ctx, connect.NewRequest(&orchv1.DeleteRequest{Namespace: pod.GetMetadata().GetNamespace(),
			Name: pod.GetMetadata().GetName(), GracePeriodSeconds: &zero, Preconditions: &orchv1.Preconditions{Uid: &uid}}))
		return err
	})
	if err != nil && connect.CodeOf(err) != connect.CodeNotFound && connect.CodeOf(err) != connect.CodeAborted {
		w.a.log.Warn("confirm pod deletion", "pod", podName(pod), "err", err)
		return false
	}
	return true
}

var errNoContainer = errors.New("no such container")
