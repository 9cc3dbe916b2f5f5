package node

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	"github.com/orchd/orch/node/probe"
	"github.com/orchd/orch/node/runtime"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t.UTC().Truncate(time.Second))
}

// containerView is what the status needs to know of one container.
type containerView struct {
	status  *orchv1.ContainerStatus
	running bool
	done    bool // exited and will not be restarted
	failed  bool // done with a non-zero exit
	hasRun  bool
}

func (w *podWorker) viewContainer(pod *orchv1.Pod, c *orchv1.Container, isInit bool) containerView {
	atts := w.attempts(c.GetName())
	cs := &orchv1.ContainerStatus{Name: c.GetName(), Image: c.GetImage()}
	if img, ok := w.a.images.Get(c.GetImage()); ok {
		cs.ImageId = img.Digest
	}
	v := containerView{status: cs}
	w.mu.Lock()
	wait, waiting := w.waiting[c.GetName()]
	w.mu.Unlock()
	if len(atts) == 0 {
		if !waiting {
			wait = waitingState{reason: "ContainerCreating"}
		}
		cs.State = &orchv1.ContainerState{Waiting: &orchv1.ContainerStateWaiting{Reason: wait.reason, Message: wait.message}}
		return v
	}
	v.hasRun = true
	last := atts[len(atts)-1]
	cs.RestartCount = int32(attemptOf(last.ID))
	cs.ContainerId = "orch://" + last.ID
	if len(atts) > 1 {
		cs.LastState = &orchv1.ContainerState{Terminated: terminated(atts[len(atts)-2])}
	}
	switch last.Status {
	case runtime.StatusRunning, runtime.StatusCreated:
		v.running = true
		cs.State = &orchv1.ContainerState{Running: &orchv1.ContainerStateRunning{StartedAt: timestamp(last.StartedAt)}}
		started, ready := w.probeState(last.ID, c, isInit)
		cs.Started = proto.Bool(started)
		cs.Ready = ready
	default:
		policy := pod.GetSpec().GetRestartPolicy()
		restarts := policy == "Always" || (policy == "OnFailure" && last.ExitCode != 0) || (isInit && policy != "Never" && last.ExitCode != 0)
		if restarts && waiting {
			cs.State = &orchv1.ContainerState{Waiting: &orchv1.ContainerStateWaiting{Reason: wait.reason, Message: wait.message}}
			cs.LastState = &orchv1.ContainerState{Terminated: terminated(last)}
		} else {
			cs.State = &orchv1.ContainerState{Terminated: terminated(last)}
		}
		cs.Started = proto.Bool(false)
		v.done = !restarts
		v.failed = v.done && last.ExitCode != 0
		if isInit && last.ExitCode == 0 {
			v.done, cs.Ready = true, true
		}
	}
	return v
}

func terminated(st runtime.State) *orchv1.ContainerStateTerminated {
	reason := st.Reason
	if reason == "" {
		reason = runtime.ReasonError
		if st.ExitCode == 0 {
			reason = runtime.ReasonCompleted
		}
	}
	return &orchv1.ContainerStateTerminated{ExitCode: int32(st.ExitCode), Signal: int32(st.Signal), Reason: reason, Message: st.Message,
		StartedAt: timestamp(st.StartedAt), FinishedAt: timestamp(st.FinishedAt), ContainerId: "orch://" + st.ID}
}

// computeStatus derives the pod status from the containers as they are now.
func (w *podWorker) computeStatus(pod *orchv1.Pod, podIP string) *orchv1.PodStatus {
	old := pod.GetStatus()
	st := &orchv1.PodStatus{HostIp: w.a.hostIP, PodIp: podIP, StartTime: timestamp(w.startTime), QosClass: old.GetQosClass()}
	if st.QosClass == "" { // the server sets it; a pod from before it did gets the same
		st.QosClass = api.PodQOSClass(pod.GetSpec())
	}
	if podIP != "" {
		st.PodIps = []*orchv1.PodIP{{Ip: podIP}}
	}
	if w.a.hostIP != "" {
		st.HostIps = []*orchv1.HostIP{{Ip: w.a.hostIP}}
	}
	initDone, initFailed := true, false
	for _, c := range pod.GetSpec().GetInitContainers() {
		v := w.viewContainer(pod, c, true)
		st.InitContainerStatuses = append(st.InitContainerStatuses, v.status)
		if !(v.done && !v.failed) {
			initDone = false
		}
		if v.failed {
			initFailed = true
		}
	}
	allDone, anyFailed, anyRun, allReady := true, false, false, true
	for _, c := range pod.GetSpec().GetContainers() {
		v := w.viewContainer(pod, c, false)
		st.ContainerStatuses = append(st.ContainerStatuses, v.status)
		allDone = allDone && v.done
		anyFailed = anyFailed || v.failed
		anyRun = anyRun || v.hasRun
		allReady = allReady && v.status.GetReady()
	}
	switch {
	case initFailed:
		st.Phase = "Failed"
	case !initDone:
		st.Phase = "Pending"
	case allDone && anyFailed:
		st.Phase = "Failed"
	case allDone:
		st.Phase = "Succeeded"
	case anyRun:
		st.Phase = "Running"
	default:
		st.Phase = "Pending"
	}
	if isTerminal(old.GetPhase()) {
		st.Phase = old.GetPhase() // terminal phases never change
	}
	cond := func(typ string, ok bool, reason string) {
		s := "False"
		if ok {
			s, reason = "True", ""
		}
		c := &orchv1.PodCondition{Type: typ, Status: s, Reason: reason}
		for _, o := range old.GetConditions() {
			if o.GetType() == typ && o.GetStatus() == s {
				c.LastTransitionTime = o.GetLastTransitionTime()
			}
		}
		if c.LastTransitionTime == nil {
			c.LastTransitionTime = timestamp(time.Now())
		}
		st.Conditions = append(st.Conditions, c)
	}
	ready := initDone && allReady && st.Phase == "Running"
	cond("PodScheduled", true, "")
	cond("Initialized", initDone, "ContainersNotInitialized")
	cond("ContainersReady", ready, "ContainersNotReady")
	cond("Ready", ready, "ContainersNotReady")
	return st
}

// reportStatus writes the pod status when it changed. It writes the status subresource
// without a resourceVersion: the agent owns the status of its pods.
func (w *podWorker) reportStatus(ctx context.Context, pod *orchv1.Pod, podIP string) {
	st := w.computeStatus(pod, podIP)
	if w.reported != nil && proto.Equal(st, w.reported) {
		return
	}
	if proto.Equal(st, pod.GetStatus()) {
		w.reported = st
		return
	}
	next := &orchv1.Pod{Metadata: &orchv1.ObjectMeta{Namespace: pod.GetMetadata().GetNamespace(), Name: pod.GetMetadata().GetName()}, Status: st}
	err := w.a.api.do(ctx, func(c *clients) error {
		_, err := c.pods.UpdateStatus(ctx, connect.NewRequest(next))
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			w.a.log.Warn("update pod status", "pod", podName(pod), "err", err)
		}
		return
	}
	w.reported = st
}

// probeState tells whether a running container has started (startup probe passed) and
// is ready (readiness probe passes).
func (w *podWorker) probeState(id string, c *orchv1.Container, isInit bool) (started, ready bool) {
	w.mu.Lock()
	p := w.probes[id]
	w.mu.Unlock()
	started, ready = true, true
	if p == nil || isInit {
		return started, !isInit && c.GetReadinessProbe() == nil && c.GetStartupProbe() == nil
	}
	if p.start != nil && p.start.Result() != probe.Success {
		return false, false
	}
	if p.readiness != nil {
		ready = p.readiness.Result() == probe.Success
	}
	return started, ready
}

// ensureProbes starts the probe workers of a running container once.
func (w *podWorker) ensureProbes(pod *orchv1.Pod, c *orchv1.Container, id, podIP string) {
	if c.GetLivenessProbe() == nil && c.GetReadinessProbe() == nil && c.GetStartupProbe() == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.probes[id]; ok {
		return
	}
	ctx, cancel := context.WithCancel(w.ctx)
	cp := &containerProbes{cancel: cancel}
	w.probes[id] = cp
	ports := map[string]int32{}
	for _, p := range c.GetPorts() {
		if p.GetName() != "" {
			ports[p.GetName()] = p.GetContainerPort()
		}
	}
	target := probe.Target{PodIP: podIP, NamedPorts: ports, Exec: func(ctx context.Context, cmd []string) (int, []byte, error) {
		var out bytes.Buffer
		code, err := w.a.rt.Exec(ctx, id, cmd, nil, nil, &out, &out, false)
		return code, out.Bytes(), err
	}}
	failed := func(kind string) func(string) {
		return func(msg string) {
			w.a.event(ctx, pod, "Warning", "Unhealthy", fmt.Sprintf("%s probe failed: %s", kind, msg))
		}
	}
	kill := func(kind string) func(probe.Result, string) {
		return func(r probe.Result, msg string) {
			if r != probe.Failure {
				w.kick()
				return
			}
			w.a.event(ctx, pod, "Normal", "Killing", fmt.Sprintf("Container %s failed %s probe, will be restarted", c.GetName(), kind))
			grace := time.Duration(api.PodGracePeriodSeconds(pod)) * time.Second
			if err := w.a.rt.Stop(ctx, id, grace); err != nil && ctx.Err() == nil {
				w.a.log.Warn("kill unhealthy container", "container", id, "err", err)
			}
			w.kick()
		}
	}
	startRest := func() {
		if p := c.GetLivenessProbe(); p != nil {
			cp.liveness = probe.NewWorker(probe.Kind("liveness"), p, target, kill("Liveness"), failed("Liveness"))
			go cp.liveness.Run(ctx)
		}
		if p := c.GetReadinessProbe(); p != nil {
			cp.readiness = probe.NewWorker(probe.Kind("readiness"), p, target, func(probe.Result, string) { w.kick() }, failed("Readiness"))
			go cp.readiness.Run(ctx)
		}
	}
	if p := c.GetStartupProbe(); p != nil {
		var once bool
		onChange := func(r probe.Result, msg string) {
			if r == probe.Success && !once {
				once = true
				w.mu.Lock()
				startRest()
				w.mu.Unlock()
			}
			kill("Startup")(r, msg)
		}
		cp.start = probe.NewWorker(probe.Kind("startup"), p, target, onChange, failed("Startup"))
		go cp.start.Run(ctx)
		return
	}
	startRest()
}

// stopProbes stops the probes of one container ID, or of every container when id is "".
func (w *podWorker) stopProbes(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, p := range w.probes {
		if id == "" || k == id {
			p.cancel()
			delete(w.probes, k)
		}
	}
}
