package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func newDescribeCommand(e *env) *cobra.Command {
	var selector string
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:   "describe KIND [NAME...] | KIND/NAME...",
		Short: "Show the details of objects, with their events",
		Example: `  orchctl describe pod web
  orchctl describe deployments -l app=web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := parseResourceArgs(args)
			if err != nil {
				return err
			}
			if err := e.connect(); err != nil {
				return err
			}
			ctx := cmd.Context()
			var errs errorList
			first := true
			for _, ref := range refs {
				k := ref.Kind
				ns := e.nsFor(k)
				var objs []api.Object
				if len(ref.Names) > 0 {
					for _, n := range ref.Names {
						obj, err := e.client(k).Get(ctx, ns, n)
						if err != nil {
							if errs.add(e.serverError(err, "", k, n)) {
								return errs[len(errs)-1]
							}
							continue
						}
						objs = append(objs, obj)
					}
				} else {
					if allNamespaces {
						ns = ""
					}
					objs, _, err = e.client(k).List(ctx, &orchv1.ListRequest{Namespace: ns, LabelSelector: selector})
					if err != nil {
						if errs.add(e.serverError(err, "", nil, "")) {
							return errs[len(errs)-1]
						}
						continue
					}
					sortObjects(objs)
				}
				for _, obj := range objs {
					if !first {
						fmt.Fprintln(e.out)
					}
					first = false
					events, evErr := e.eventsFor(ctx, k, obj)
					if err := describe(e.out, k, obj, events, evErr, time.Now()); err != nil {
						return err
					}
				}
			}
			if len(errs) > 0 {
				return errs
			}
			return nil
		},
		ValidArgsFunction: completeKinds,
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "across all namespaces")
	return cmd
}

// eventsFor lists the events about an object, oldest first.
func (e *env) eventsFor(ctx context.Context, k *api.Kind, obj api.Object) ([]*orchv1.Event, error) {
	md := obj.GetMetadata()
	ns := md.GetNamespace()
	if ns == "" {
		ns = "default" // events about cluster-scoped objects live in "default", as in Kubernetes
	}
	fs := fmt.Sprintf("involvedObject.name=%s,involvedObject.kind=%s", md.GetName(), k.Name)
	objs, _, err := e.client(api.EventKind).List(ctx, &orchv1.ListRequest{Namespace: ns, FieldSelector: fs})
	if err != nil {
		return nil, err
	}
	var out []*orchv1.Event
	for _, o := range objs {
		ev := o.(*orchv1.Event)
		io := ev.GetInvolvedObject()
		// Filter here too, in case the server ignores a field selector it does not know.
		if io.GetName() != md.GetName() || io.GetKind() != k.Name {
			continue
		}
		if io.GetUid() != "" && md.GetUid() != "" && io.GetUid() != md.GetUid() {
			continue
		}
		out = append(out, ev)
	}
	sort.SliceStable(out, func(i, j int) bool { return eventTime(out[i]).Before(eventTime(out[j])) })
	return out, nil
}

func eventTime(e *orchv1.Event) time.Time {
	for _, ts := range []*timestamppb.Timestamp{e.GetLastTimestamp(), e.GetEventTime(), e.GetFirstTimestamp(), e.GetMetadata().GetCreationTimestamp()} {
		if ts != nil {
			return ts.AsTime()
		}
	}
	return time.Time{}
}

// describe writes kubectl's describe form of an object: its metadata, a few key fields,
// the YAML of its spec (or data) and status, and its events.
func describe(w io.Writer, k *api.Kind, obj api.Object, events []*orchv1.Event, evErr error, now time.Time) error {
	md := obj.GetMetadata()
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, value) }
	multi := func(name string, m map[string]string) {
		if len(m) == 0 {
			field(name, "<none>")
			return
		}
		keys := make([]string, 0, len(m))
		for key := range m {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for i, key := range keys {
			n := name + ":"
			if i > 0 {
				n = ""
			}
			fmt.Fprintf(tw, "%s\t%s=%s\n", n, key, m[key])
		}
	}
	field("Name", md.GetName())
	if k.Namespaced {
		field("Namespace", md.GetNamespace())
	}
	multi("Labels", md.GetLabels())
	multi("Annotations", md.GetAnnotations())
	if ts := md.GetCreationTimestamp(); ts != nil {
		field("CreationTimestamp", ts.AsTime().Local().Format(time.RFC1123Z))
	}
	if ts := md.GetDeletionTimestamp(); ts != nil {
		field("DeletionTimestamp", ts.AsTime().Local().Format(time.RFC1123Z))
	}
	for _, r := range md.GetOwnerReferences() {
		if r.GetController() {
			field("Controlled By", r.GetKind()+"/"+r.GetName())
		}
	}
	switch o := obj.(type) {
	case *orchv1.Pod:
		field("Node", orNone(o.GetSpec().GetNodeName()))
		field("Status", PodStatus(o))
		field("IP", orNone(o.GetStatus().GetPodIp()))
		if ts := o.GetStatus().GetStartTime(); ts != nil {
			field("Start Time", ts.AsTime().Local().Format(time.RFC1123Z))
		}
	case *orchv1.Deployment:
		st := o.GetStatus()
		field("Selector", selectorString(o.GetSpec().GetSelector()))
		field("Replicas", fmt.Sprintf("%d desired | %d updated | %d total | %d available | %d unavailable",
			replicas(o.GetSpec()), st.GetUpdatedReplicas(), st.GetReplicas(), st.GetAvailableReplicas(), st.GetUnavailableReplicas()))
		strategy := o.GetSpec().GetStrategy().GetType()
		if strategy == "" {
			strategy = "RollingUpdate"
		}
		field("StrategyType", strategy)
	case *orchv1.ReplicaSet:
		field("Selector", selectorString(o.GetSpec().GetSelector()))
		field("Replicas", fmt.Sprintf("%d current / %d desired", o.GetStatus().GetReplicas(), replicas(o.GetSpec())))
	case *orchv1.Service:
		sp := o.GetSpec()
		typ := sp.GetType()
		if typ == "" {
			typ = "ClusterIP"
		}
		field("Selector", labelString(sp.GetSelector()))
		field("Type", typ)
		field("IP", orNone(sp.GetClusterIp()))
		for _, p := range sp.GetPorts() {
			name := p.GetName()
			if name == "" {
				name = "<unset>"
			}
			field("Port", fmt.Sprintf("%s  %d/%s", name, p.GetPort(), protocolOf(p.GetProtocol())))
			field("TargetPort", intOrString(p.GetTargetPort())+"/"+protocolOf(p.GetProtocol()))
			if p.GetNodePort() != 0 {
				field("NodePort", fmt.Sprintf("%s  %d/%s", name, p.GetNodePort(), protocolOf(p.GetProtocol())))
			}
		}
	case *orchv1.Node:
		field("Roles", nodeRoles(md.GetLabels()))
		field("Status", NodeStatus(o))
		if ts := o.GetSpec().GetTaints(); len(ts) == 0 {
			field("Taints", "<none>")
		} else {
			for i, t := range ts {
				name := "Taints:"
				if i > 0 {
					name = ""
				}
				fmt.Fprintf(tw, "%s\t%s\n", name, api.TaintString(t))
			}
		}
		field("Unschedulable", fmt.Sprint(o.GetSpec().GetUnschedulable()))
	case *orchv1.DaemonSet:
		st := o.GetStatus()
		field("Selector", selectorString(o.GetSpec().GetSelector()))
		field("Desired Number of Nodes Scheduled", fmt.Sprint(st.GetDesiredNumberScheduled()))
		field("Current Number of Nodes Scheduled", fmt.Sprint(st.GetCurrentNumberScheduled()))
		field("Number of Nodes Scheduled with Up-to-date Pods", fmt.Sprint(st.GetUpdatedNumberScheduled()))
		field("Number of Nodes Scheduled with Available Pods", fmt.Sprint(st.GetNumberAvailable()))
		field("Number of Nodes Misscheduled", fmt.Sprint(st.GetNumberMisscheduled()))
	case *orchv1.Namespace:
		phase := o.GetStatus().GetPhase()
		if phase == "" {
			phase = "Active"
		}
		field("Status", phase)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// The body: spec and status as YAML; secrets show sizes only.
	switch o := obj.(type) {
	case *orchv1.Secret:
		typ := o.GetType()
		if typ == "" {
			typ = "Opaque"
		}
		fmt.Fprintf(w, "\nType:  %s\n\nData\n====\n", typ)
		keys := make([]string, 0, len(o.GetData()))
		for key := range o.GetData() {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			fmt.Fprintf(w, "%s:  %d bytes\n", key, len(o.GetData()[key]))
		}
	case *orchv1.ConfigMap:
		fmt.Fprint(w, "\nData\n====\n")
		keys := make([]string, 0, len(o.GetData()))
		for key := range o.GetData() {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			fmt.Fprintf(w, "%s:\n----\n%s\n\n", key, o.GetData()[key])
		}
	default:
		if spec := api.Field(obj, "spec"); spec != nil {
			if err := yamlSection(w, "Spec", spec); err != nil {
				return err
			}
		} else if err := yamlSection(w, "Data", api.Body(obj)); err != nil {
			return err
		}
		if status := api.Field(obj, "status"); status != nil {
			if err := yamlSection(w, "Status", status); err != nil {
				return err
			}
		}
	}

	// Events.
	switch {
	case evErr != nil:
		fmt.Fprintf(w, "Events:  <unavailable: %v>\n", evErr)
	case len(events) == 0:
		fmt.Fprintln(w, "Events:  <none>")
	default:
		fmt.Fprintln(w, "Events:")
		etw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(etw, "  Type\tReason\tAge\tFrom\tMessage")
		fmt.Fprintln(etw, "  ----\t------\t----\t----\t-------")
		for _, ev := range events {
			from := ev.GetSource().GetComponent()
			if from == "" {
				from = ev.GetReportingComponent()
			}
			ageStr := eventLastSeen(ev, now)
			if ev.GetCount() > 1 && ev.GetFirstTimestamp() != nil {
				ageStr = fmt.Sprintf("%s (x%d over %s)", ageStr, ev.GetCount(), age(ev.GetFirstTimestamp(), now))
			}
			fmt.Fprintf(etw, "  %s\t%s\t%s\t%s\t%s\n", ev.GetType(), ev.GetReason(), ageStr, from, strings.TrimSpace(ev.GetMessage()))
		}
		return etw.Flush()
	}
	return nil
}

// yamlSection writes "Title:" and the message as YAML indented by two spaces.
func yamlSection(w io.Writer, title string, m proto.Message) error {
	data, err := ObjectYAML(m)
	if err != nil {
		return err
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "{}" {
		_, err := fmt.Fprintf(w, "%s:  <none>\n", title)
		return err
	}
	fmt.Fprintf(w, "%s:\n", title)
	for _, l := range strings.Split(string(data), "\n") {
		fmt.Fprintf(w, "  %s\n", l)
	}
	return nil
}
