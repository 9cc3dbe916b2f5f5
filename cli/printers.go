package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// kindName is how kubectl names a kind in messages: "pod", "deployment.apps".
func kindName(k *api.Kind) string {
	n := strings.ToLower(k.Name)
	if g := k.Group(); g != "" {
		n += "." + g
	}
	return n
}

// resourceName is how kubectl names a kind's resource in errors: "pods", "deployments.apps".
func resourceName(k *api.Kind) string {
	n := k.Plural
	if g := k.Group(); g != "" {
		n += "." + g
	}
	return n
}

// objectName is the -o name form: "pod/web", "deployment.apps/web".
func objectName(k *api.Kind, o api.Object) string {
	return kindName(k) + "/" + o.GetMetadata().GetName()
}

// HumanAge is kubectl's short duration: 5s, 3m, 2h, 4d, 2y.
func HumanAge(d time.Duration) string {
	switch s := int64(d.Round(time.Second) / time.Second); {
	case s < -1:
		return "<invalid>"
	case s < 0:
		return "0s"
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 60*60:
		return fmt.Sprintf("%dm", s/60)
	case s < 60*60*24:
		return fmt.Sprintf("%dh", s/(60*60))
	case s < 60*60*24*365:
		return fmt.Sprintf("%dd", s/(60*60*24))
	default:
		return fmt.Sprintf("%dy", s/(60*60*24*365))
	}
}

func age(ts *timestamppb.Timestamp, now time.Time) string {
	if ts == nil {
		return "<unknown>"
	}
	return HumanAge(now.Sub(ts.AsTime()))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// printOptions shape a table.
type printOptions struct {
	Wide          bool
	AllNamespaces bool
	ShowLabels    bool
	NoHeaders     bool
	Now           time.Time
}

// Table is a printed table: headers and rows of cells.
type Table struct {
	Headers []string
	Rows    [][]string
}

// columns describes a kind's table: its columns, its wide-only columns, and a row builder
// returning the cells of both.
type columns struct {
	headers []string
	wide    []string
	row     func(o api.Object, now time.Time) (cells, wide []string)
}

// BuildTable renders objects of one kind as kubectl's table for that kind.
func BuildTable(k *api.Kind, objs []api.Object, opt printOptions) Table {
	cols := columnsFor(k)
	t := Table{}
	if opt.AllNamespaces && k.Namespaced {
		t.Headers = append(t.Headers, "NAMESPACE")
	}
	t.Headers = append(t.Headers, "NAME")
	t.Headers = append(t.Headers, cols.headers...)
	if opt.Wide {
		t.Headers = append(t.Headers, cols.wide...)
	}
	if opt.ShowLabels {
		t.Headers = append(t.Headers, "LABELS")
	}
	for _, o := range objs {
		t.Rows = append(t.Rows, buildRow(k, cols, o, opt))
	}
	return t
}

func buildRow(k *api.Kind, cols columns, o api.Object, opt printOptions) []string {
	var r []string
	md := o.GetMetadata()
	if opt.AllNamespaces && k.Namespaced {
		r = append(r, md.GetNamespace())
	}
	r = append(r, md.GetName())
	cells, wide := cols.row(o, opt.Now)
	r = append(r, cells...)
	if opt.Wide {
		r = append(r, wide...)
	}
	if opt.ShowLabels {
		r = append(r, labelString(md.GetLabels()))
	}
	return r
}

// labelString is "a=b,c=d" in key order, or "<none>".
func labelString(l map[string]string) string {
	if len(l) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + l[k]
	}
	return strings.Join(keys, ",")
}

// newTabWriter aligns columns as kubectl does.
func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
}

// writeRows writes rows (and the headers, unless noHeaders) aligned.
func (t Table) Write(w io.Writer, noHeaders bool) error {
	tw := newTabWriter(w)
	if !noHeaders {
		fmt.Fprintln(tw, strings.Join(t.Headers, "\t"))
	}
	for _, r := range t.Rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func columnsFor(k *api.Kind) columns {
	if c, ok := kindColumns[k.Name]; ok {
		return c
	}
	return columns{headers: []string{"AGE"}, row: func(o api.Object, now time.Time) ([]string, []string) {
		return []string{age(o.GetMetadata().GetCreationTimestamp(), now)}, nil
	}}
}

var kindColumns = map[string]columns{
	"Pod": {
		headers: []string{"READY", "STATUS", "RESTARTS", "AGE"},
		wide:    []string{"IP", "NODE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			p := o.(*orchv1.Pod)
			st := p.GetStatus()
			ready := 0
			for _, cs := range st.GetContainerStatuses() {
				if cs.GetReady() {
					ready++
				}
			}
			return []string{
					fmt.Sprintf("%d/%d", ready, len(p.GetSpec().GetContainers())),
					PodStatus(p),
					podRestarts(p, now),
					age(p.GetMetadata().GetCreationTimestamp(), now),
				}, []string{
					orNone(st.GetPodIp()),
					orNone(p.GetSpec().GetNodeName()),
				}
		},
	},
	"Deployment": {
		headers: []string{"READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			d := o.(*orchv1.Deployment)
			st := d.GetStatus()
			want := replicas(d.GetSpec())
			return []string{
				fmt.Sprintf("%d/%d", st.GetReadyReplicas(), want),
				strconv.Itoa(int(st.GetUpdatedReplicas())),
				strconv.Itoa(int(st.GetAvailableReplicas())),
				age(d.GetMetadata().GetCreationTimestamp(), now),
			}, templateWide(d.GetSpec().GetTemplate(), d.GetSpec().GetSelector())
		},
	},
	"ReplicaSet": {
		headers: []string{"DESIRED", "CURRENT", "READY", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			r := o.(*orchv1.ReplicaSet)
			st := r.GetStatus()
			return []string{
				strconv.Itoa(int(replicas(r.GetSpec()))),
				strconv.Itoa(int(st.GetReplicas())),
				strconv.Itoa(int(st.GetReadyReplicas())),
				age(r.GetMetadata().GetCreationTimestamp(), now),
			}, templateWide(r.GetSpec().GetTemplate(), r.GetSpec().GetSelector())
		},
	},
	"StatefulSet": {
		headers: []string{"READY", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			s := o.(*orchv1.StatefulSet)
			w := templateWide(s.GetSpec().GetTemplate(), nil)
			return []string{
				fmt.Sprintf("%d/%d", s.GetStatus().GetReadyReplicas(), replicas(s.GetSpec())),
				age(s.GetMetadata().GetCreationTimestamp(), now),
			}, w[:2]
		},
	},
	"DaemonSet": {
		headers: []string{"DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			d := o.(*orchv1.DaemonSet)
			st := d.GetStatus()
			return []string{
				strconv.Itoa(int(st.GetDesiredNumberScheduled())),
				strconv.Itoa(int(st.GetCurrentNumberScheduled())),
				strconv.Itoa(int(st.GetNumberReady())),
				strconv.Itoa(int(st.GetUpdatedNumberScheduled())),
				strconv.Itoa(int(st.GetNumberAvailable())),
				labelString(d.GetSpec().GetTemplate().GetSpec().GetNodeSelector()),
				age(d.GetMetadata().GetCreationTimestamp(), now),
			}, templateWide(d.GetSpec().GetTemplate(), d.GetSpec().GetSelector())
		},
	},
	"Job": {
		headers: []string{"STATUS", "COMPLETIONS", "DURATION", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			j := o.(*orchv1.Job)
			st := j.GetStatus()
			completions := "1"
			if has(j.GetSpec(), "completions") {
				completions = strconv.Itoa(int(j.GetSpec().GetCompletions()))
			}
			duration := ""
			if st.GetStartTime() != nil {
				end := now
				if st.GetCompletionTime() != nil {
					end = st.GetCompletionTime().AsTime()
				}
				duration = HumanAge(end.Sub(st.GetStartTime().AsTime()))
			}
			return []string{
				jobStatus(j),
				fmt.Sprintf("%d/%s", st.GetSucceeded(), completions),
				duration,
				age(j.GetMetadata().GetCreationTimestamp(), now),
			}, templateWide(j.GetSpec().GetTemplate(), j.GetSpec().GetSelector())
		},
	},
	"CronJob": {
		headers: []string{"SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			c := o.(*orchv1.CronJob)
			last := "<none>"
			if ts := c.GetStatus().GetLastScheduleTime(); ts != nil {
				last = age(ts, now)
			}
			tz := "<none>"
			if has(c.GetSpec(), "time_zone") {
				tz = c.GetSpec().GetTimeZone()
			}
			return []string{
				c.GetSpec().GetSchedule(),
				tz,
				strconv.FormatBool(c.GetSpec().GetSuspend()),
				strconv.Itoa(len(c.GetStatus().GetActive())),
				last,
				age(c.GetMetadata().GetCreationTimestamp(), now),
			}, nil
		},
	},
	"Service": {
		headers: []string{"TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"},
		wide:    []string{"SELECTOR"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			s := o.(*orchv1.Service)
			sp := s.GetSpec()
			typ := sp.GetType()
			if typ == "" {
				typ = "ClusterIP"
			}
			return []string{
				typ,
				orNone(sp.GetClusterIp()),
				serviceExternalIP(s),
				servicePorts(sp.GetPorts()),
				age(s.GetMetadata().GetCreationTimestamp(), now),
			}, []string{labelString(sp.GetSelector())}
		},
	},
	"Endpoints": {
		headers: []string{"ENDPOINTS", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			e := o.(*orchv1.Endpoints)
			var eps []string
			for _, ss := range e.GetSubsets() {
				for _, a := range ss.GetAddresses() {
					if len(ss.GetPorts()) == 0 {
						eps = append(eps, a.GetIp())
					}
					for _, p := range ss.GetPorts() {
						eps = append(eps, fmt.Sprintf("%s:%d", a.GetIp(), p.GetPort()))
					}
				}
			}
			s := "<none>"
			if len(eps) > 3 {
				s = strings.Join(eps[:3], ",") + fmt.Sprintf(" + %d more...", len(eps)-3)
			} else if len(eps) > 0 {
				s = strings.Join(eps, ",")
			}
			return []string{s, age(e.GetMetadata().GetCreationTimestamp(), now)}, nil
		},
	},
	"Node": {
		headers: []string{"STATUS", "ROLES", "AGE", "VERSION"},
		wide:    []string{"INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			n := o.(*orchv1.Node)
			info := n.GetStatus().GetNodeInfo()
			return []string{
					NodeStatus(n),
					nodeRoles(n.GetMetadata().GetLabels()),
					age(n.GetMetadata().GetCreationTimestamp(), now),
					info.GetKubeletVersion(),
				}, []string{
					orNone(nodeAddress(n, "InternalIP")),
					orNone(nodeAddress(n, "ExternalIP")),
					info.GetOsImage(),
					info.GetKernelVersion(),
					info.GetContainerRuntimeVersion(),
				}
		},
	},
	"Namespace": {
		headers: []string{"STATUS", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			n := o.(*orchv1.Namespace)
			phase := n.GetStatus().GetPhase()
			if phase == "" {
				phase = "Active"
				if n.GetMetadata().GetDeletionTimestamp() != nil {
					phase = "Terminating"
				}
			}
			return []string{phase, age(n.GetMetadata().GetCreationTimestamp(), now)}, nil
		},
	},
	"ConfigMap": {
		headers: []string{"DATA", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			c := o.(*orchv1.ConfigMap)
			return []string{strconv.Itoa(len(c.GetData()) + len(c.GetBinaryData())), age(c.GetMetadata().GetCreationTimestamp(), now)}, nil
		},
	},
	"Secret": {
		headers: []string{"TYPE", "DATA", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			s := o.(*orchv1.Secret)
			typ := s.GetType()
			if typ == "" {
				typ = "Opaque"
			}
			return []string{typ, strconv.Itoa(len(s.GetData())), age(s.GetMetadata().GetCreationTimestamp(), now)}, nil
		},
	},
	"ServiceAccount": {
		headers: []string{"SECRETS", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			s := o.(*orchv1.ServiceAccount)
			return []string{strconv.Itoa(len(s.GetSecrets())), age(s.GetMetadata().GetCreationTimestamp(), now)}, nil
		},
	},
	"PersistentVolumeClaim": {
		headers: []string{"STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			c := o.(*orchv1.PersistentVolumeClaim)
			phase := c.GetStatus().GetPhase()
			if c.GetMetadata().GetDeletionTimestamp() != nil {
				phase = "Terminating"
			}
			return []string{
				phase,
				c.GetSpec().GetVolumeName(),
				c.GetStatus().GetCapacity()["storage"],
				accessModes(c.GetStatus().GetAccessModes()),
				storageClass(c.GetSpec()),
				age(c.GetMetadata().GetCreationTimestamp(), now),
			}, nil
		},
	},
	"PersistentVolume": {
		headers: []string{"CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "REASON", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			v := o.(*orchv1.PersistentVolume)
			sp := v.GetSpec()
			claim := ""
			if r := sp.GetClaimRef(); r != nil {
				claim = r.GetNamespace() + "/" + r.GetName()
			}
			phase := v.GetStatus().GetPhase()
			if v.GetMetadata().GetDeletionTimestamp() != nil {
				phase = "Terminating"
			}
			return []string{
				sp.GetCapacity()["storage"],
				accessModes(sp.GetAccessModes()),
				sp.GetPersistentVolumeReclaimPolicy(),
				phase,
				claim,
				sp.GetStorageClassName(),
				v.GetStatus().GetReason(),
				age(v.GetMetadata().GetCreationTimestamp(), now),
			}, nil
		},
	},
	"Event": {
		headers: []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			e := o.(*orchv1.Event)
			io := e.GetInvolvedObject()
			obj := strings.ToLower(io.GetKind()) + "/" + io.GetName()
			return []string{eventLastSeen(e, now), e.GetType(), e.GetReason(), obj, strings.TrimSpace(e.GetMessage())}, nil
		},
	},
	"HorizontalPodAutoscaler": {
		headers: []string{"REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			h := o.(*orchv1.HorizontalPodAutoscaler)
			sp := h.GetSpec()
			minPods := int32(1)
			if has(sp, "min_replicas") {
				minPods = sp.GetMinReplicas()
			}
			ref := sp.GetScaleTargetRef()
			return []string{
				ref.GetKind() + "/" + ref.GetName(),
				hpaTargets(h),
				strconv.Itoa(int(minPods)),
				strconv.Itoa(int(sp.GetMaxReplicas())),
				strconv.Itoa(int(h.GetStatus().GetCurrentReplicas())),
				age(h.GetMetadata().GetCreationTimestamp(), now),
			}, nil
		},
	},
	"RoleBinding": {
		headers: []string{"ROLE", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			b := o.(*orchv1.RoleBinding)
			return []string{b.GetRoleRef().GetKind() + "/" + b.GetRoleRef().GetName(), age(b.GetMetadata().GetCreationTimestamp(), now)}, nil
		},
	},
	"ClusterRoleBinding": {
		headers: []string{"ROLE", "AGE"},
		row: func(o api.Object, now time.Time) ([]string, []string) {
			b := o.(*orchv1.ClusterRoleBinding)
			return []string{b.GetRoleRef().GetKind() + "/" + b.GetRoleRef().GetName(), age(b.GetMetadata().GetCreationTimestamp(), now)}, nil
		},
	},
}

// has tells whether a (proto3 optional) field of m is set; m may be a nil message.
func has(m proto.Message, name protoreflect.Name) bool {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(name)
	return fd != nil && r.Has(fd)
}

// replicas is spec.replicas of a workload, 1 when unset as Kubernetes defaults it.
func replicas(spec interface {
	proto.Message
	GetReplicas() int32
}) int32 {
	if !has(spec, "replicas") {
		return 1
	}
	return spec.GetReplicas()
}

// templateWide is the CONTAINERS, IMAGES and SELECTOR cells of a workload.
func storageClass(spec *orchv1.PersistentVolumeClaimSpec) string {
	if !has(spec, "storage_class_name") {
		return "<unset>"
	}
	return spec.GetStorageClassName()
}

func templateWide(t *orchv1.PodTemplateSpec, sel *orchv1.LabelSelector) []string {
	var names, images []string
	for _, c := range t.GetSpec().GetContainers() {
		names = append(names, c.GetName())
		images = append(images, c.GetImage())
	}
	return []string{orNone(strings.Join(names, ",")), orNone(strings.Join(images, ",")), selectorString(sel)}
}

// selectorString renders a label selector as a selector string ("app=web,tier in (a,b)").
func selectorString(s *orchv1.LabelSelector) string {
	if s == nil {
		return "<none>"
	}
	var parts []string
	if len(s.GetMatchLabels()) > 0 {
		parts = append(parts, labelString(s.GetMatchLabels()))
	}
	for _, r := range s.GetMatchExpressions() {
		switch r.GetOperator() {
		case "In", "NotIn":
			parts = append(parts, fmt.Sprintf("%s %s (%s)", r.GetKey(), strings.ToLower(r.GetOperator()), strings.Join(r.GetValues(), ",")))
		case "Exists":
			parts = append(parts, r.GetKey())
		case "DoesNotExist":
			parts = append(parts, "!"+r.GetKey())
		}
	}
	if len(parts) == 0 {
		return "<none>"
	}
	return strings.Join(parts, ",")
}

// PodStatus is the STATUS column of a pod, computed as kubectl computes it: the reason a
// container waits or terminated, else the phase; Terminating when the pod is being deleted.
func PodStatus(p *orchv1.Pod) string {
	st := p.GetStatus()
	reason := st.GetPhase()
	if st.GetReason() != "" {
		reason = st.GetReason()
	}
	if reason == "" {
		reason = "Pending"
	}
	initializing := false
	inits := st.GetInitContainerStatuses()
	for i, c := range inits {
		t, w := c.GetState().GetTerminated(), c.GetState().GetWaiting()
		switch {
		case t != nil && t.GetExitCode() == 0:
			continue
		case t != nil:
			switch {
			case t.GetReason() != "":
				reason = "Init:" + t.GetReason()
			case t.GetSignal() != 0:
				reason = fmt.Sprintf("Init:Signal:%d", t.GetSignal())
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", t.GetExitCode())
			}
		case w != nil && w.GetReason() != "" && w.GetReason() != "PodInitializing":
			reason = "Init:" + w.GetReason()
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(p.GetSpec().GetInitContainers()))
		}
		initializing = true
		break
	}
	if !initializing {
		hasRunning := false
		cs := st.GetContainerStatuses()
		for i := len(cs) - 1; i >= 0; i-- {
			c := cs[i]
			t, w := c.GetState().GetTerminated(), c.GetState().GetWaiting()
			switch {
			case w != nil && w.GetReason() != "":
				reason = w.GetReason()
			case t != nil && t.GetReason() != "":
				reason = t.GetReason()
			case t != nil && t.GetSignal() != 0:
				reason = fmt.Sprintf("Signal:%d", t.GetSignal())
			case t != nil:
				reason = fmt.Sprintf("ExitCode:%d", t.GetExitCode())
			case c.GetReady() && c.GetState().GetRunning() != nil:
				hasRunning = true
			}
		}
		if reason == "Completed" && hasRunning {
			reason = "Running"
		}
	}
	if p.GetMetadata().GetDeletionTimestamp() != nil {
		if st.GetReason() == "NodeLost" {
			return "Unknown"
		}
		return "Terminating"
	}
	return reason
}

// podRestarts is the RESTARTS column: the count, and how long ago the last restart was.
func podRestarts(p *orchv1.Pod, now time.Time) string {
	n := 0
	var last time.Time
	for _, c := range append(p.GetStatus().GetInitContainerStatuses(), p.GetStatus().GetContainerStatuses()...) {
		n += int(c.GetRestartCount())
		if t := c.GetLastState().GetTerminated(); t != nil && t.GetFinishedAt() != nil && t.GetFinishedAt().AsTime().After(last) {
			last = t.GetFinishedAt().AsTime()
		}
	}
	if n > 0 && !last.IsZero() {
		return fmt.Sprintf("%d (%s ago)", n, HumanAge(now.Sub(last)))
	}
	return strconv.Itoa(n)
}

func jobStatus(j *orchv1.Job) string {
	for _, c := range j.GetStatus().GetConditions() {
		if c.GetStatus() != "True" {
			continue
		}
		switch c.GetType() {
		case "Complete":
			return "Complete"
		case "Failed":
			return "Failed"
		case "Suspended":
			return "Suspended"
		case "FailureTarget":
			return "FailureTarget"
		case "SuccessCriteriaMet":
			return "SuccessCriteriaMet"
		}
	}
	if j.GetMetadata().GetDeletionTimestamp() != nil {
		return "Terminating"
	}
	return "Running"
}

func serviceExternalIP(s *orchv1.Service) string {
	sp := s.GetSpec()
	switch sp.GetType() {
	case "ExternalName":
		return sp.GetExternalName()
	case "LoadBalancer":
		var ips []string
		for _, in := range s.GetStatus().GetLoadBalancer().GetIngress() {
			if in.GetIp() != "" {
				ips = append(ips, in.GetIp())
			} else if in.GetHostname() != "" {
				ips = append(ips, in.GetHostname())
			}
		}
		ips = append(ips, sp.GetExternalIps()...)
		if len(ips) == 0 {
			return "<pending>"
		}
		return strings.Join(ips, ",")
	}
	return orNone(strings.Join(sp.GetExternalIps(), ","))
}

func servicePorts(ports []*orchv1.ServicePort) string {
	var out []string
	for _, p := range ports {
		proto := p.GetProtocol()
		if proto == "" {
			proto = "TCP"
		}
		if p.GetNodePort() != 0 {
			out = append(out, fmt.Sprintf("%d:%d/%s", p.GetPort(), p.GetNodePort(), proto))
		} else {
			out = append(out, fmt.Sprintf("%d/%s", p.GetPort(), proto))
		}
	}
	return orNone(strings.Join(out, ","))
}

// NodeStatus is the STATUS column of a node: Ready, NotReady or Unknown, and
// SchedulingDisabled when cordoned.
func NodeStatus(n *orchv1.Node) string {
	status := "Unknown"
	for _, c := range n.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			if c.GetStatus() == "True" {
				status = "Ready"
			} else {
				status = "NotReady"
			}
		}
	}
	if n.GetSpec().GetUnschedulable() {
		status += ",SchedulingDisabled"
	}
	return status
}

func nodeRoles(labels map[string]string) string {
	var roles []string
	for k, v := range labels {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if r := strings.TrimPrefix(k, "node-role.kubernetes.io/"); r != "" {
				roles = append(roles, r)
			}
		case k == "kubernetes.io/role" && v != "":
			roles = append(roles, v)
		}
	}
	sort.Strings(roles)
	return orNone(strings.Join(roles, ","))
}

func nodeAddress(n *orchv1.Node, typ string) string {
	for _, a := range n.GetStatus().GetAddresses() {
		if a.GetType() == typ {
			return a.GetAddress()
		}
	}
	return ""
}

func accessModes(modes []string) string {
	short := map[string]string{"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
	var out []string
	for _, m := range modes {
		if s, ok := short[m]; ok {
			out = append(out, s)
		} else {
			out = append(out, m)
		}
	}
	return strings.Join(out, ",")
}

func eventLastSeen(e *orchv1.Event, now time.Time) string {
	switch {
	case e.GetSeries().GetLastObservedTime() != nil:
		return age(e.GetSeries().GetLastObservedTime(), now)
	case e.GetLastTimestamp() != nil:
		return age(e.GetLastTimestamp(), now)
	case e.GetEventTime() != nil:
		return age(e.GetEventTime(), now)
	}
	return age(e.GetMetadata().GetCreationTimestamp(), now)
}

func hpaTargets(h *orchv1.HorizontalPodAutoscaler) string {
	var out []string
	for i, m := range h.GetSpec().GetMetrics() {
		if m.GetType() != "Resource" || m.GetResource() == nil {
			continue
		}
		r := m.GetResource()
		cur := "<unknown>"
		if cms := h.GetStatus().GetCurrentMetrics(); i < len(cms) && cms[i].GetResource() != nil {
			c := cms[i].GetResource().GetCurrent()
			if has(c, "average_utilization") {
				cur = fmt.Sprintf("%d%%", c.GetAverageUtilization())
			} else if c.GetAverageValue() != "" {
				cur = c.GetAverageValue()
			}
		}
		target := r.GetTarget().GetAverageValue()
		if has(r.GetTarget(), "average_utilization") {
			target = fmt.Sprintf("%d%%", r.GetTarget().GetAverageUtilization())
		}
		out = append(out, fmt.Sprintf("%s: %s/%s", r.GetName(), cur, target))
	}
	return orNone(strings.Join(out, ", "))
}

// ---------------------------------------------------------------------------------------------
// JSON and YAML

var marshalJSON = protojson.MarshalOptions{}

// ObjectJSON is the Kubernetes JSON form of an object, indented as kubectl indents it.
func ObjectJSON(m proto.Message) ([]byte, error) {
	raw, err := marshalJSON.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "    "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// ObjectYAML is the Kubernetes YAML form of an object.
func ObjectYAML(m proto.Message) ([]byte, error) {
	raw, err := marshalJSON.Marshal(m)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(raw)
}

// listJSON is a kubectl "List" of objects, compact.
func listJSON(objs []api.Object) ([]byte, error) {
	items := make([]json.RawMessage, 0, len(objs))
	for _, o := range objs {
		raw, err := marshalJSON.Marshal(o)
		if err != nil {
			return nil, err
		}
		items = append(items, raw)
	}
	return json.Marshal(struct {
		APIVersion string            `json:"apiVersion"`
		Items      []json.RawMessage `json:"items"`
		Kind       string            `json:"kind"`
		Metadata   map[string]string `json:"metadata"`
	}{"v1", items, "List", map[string]string{"resourceVersion": ""}})
}

// printObjects writes objects as -o json or yaml: a single object by itself (when single),
// else a List.
func printObjects(w io.Writer, format string, objs []api.Object, single bool) error {
	var data []byte
	var err error
	if single && len(objs) == 1 {
		if format == "json" {
			data, err = ObjectJSON(objs[0])
		} else {
			data, err = ObjectYAML(objs[0])
		}
	} else {
		var raw []byte
		if raw, err = listJSON(objs); err == nil {
			if format == "json" {
				var buf bytes.Buffer
				if err = json.Indent(&buf, raw, "", "    "); err == nil {
					buf.WriteByte('\n')
					data = buf.Bytes()
				}
			} else {
				data, err = yaml.JSONToYAML(raw)
			}
		}
	}
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// intOrString renders an int-or-string value.
func intOrString(v *structpb.Value) string {
	n, s, isInt := api.IntOrString(v)
	if isInt {
		return strconv.Itoa(n)
	}
	return s
}
