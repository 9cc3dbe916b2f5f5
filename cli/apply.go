package cli

import (
	"context"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// fileOptions are the -f and -R flags of apply, create and delete.
type fileOptions struct {
	files     []string
	recursive bool
}

func (f *fileOptions) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringSliceVarP(&f.files, "filename", "f", nil, "file, directory or - (stdin) with the manifests "+what)
	cmd.Flags().BoolVarP(&f.recursive, "recursive", "R", false, "read directories given with -f recursively")
}

func newApplyCommand(e *env) *cobra.Command {
	f := &fileOptions{}
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update objects from manifests",
		Example: `  orchctl apply -f examples/web.yaml
  orchctl apply -f examples/
  cat pod.yaml | orchctl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ms, err := ReadManifests(f.files, f.recursive, e.in)
			if err != nil {
				return err
			}
			if err := e.connect(); err != nil {
				return err
			}
			var errs errorList
			for _, m := range ms {
				outcome, err := e.applyOne(cmd.Context(), m)
				if err != nil {
					if errs.add(err) {
						return errs[len(errs)-1]
					}
					continue
				}
				fmt.Fprintf(e.out, "%s %s\n", objectName(m.Kind, m.Object), outcome)
			}
			if len(errs) > 0 {
				return errs
			}
			return nil
		},
	}
	f.add(cmd, "to apply")
	return cmd
}

// manifestNamespace decides the namespace of an object from a manifest: its own, else -n,
// else the context's default. A manifest namespace that contradicts an explicit -n is an
// error, as in kubectl. Cluster-scoped kinds have none.
func manifestNamespace(k *api.Kind, objNS, flagNS, defaultNS string) (string, error) {
	if !k.Namespaced {
		return "", nil
	}
	if objNS != "" {
		if flagNS != "" && flagNS != objNS {
			return "", fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation", objNS, flagNS, objNS)
		}
		return objNS, nil
	}
	if flagNS != "" {
		return flagNS, nil
	}
	if defaultNS == "" {
		return "default", nil
	}
	return defaultNS, nil
}

// prepare fills the namespace of a manifest's object; the name must be set.
func (e *env) prepare(m *Manifest, needName bool) error {
	md := api.Meta(m.Object)
	ns, err := manifestNamespace(m.Kind, md.GetNamespace(), e.namespaceFlag, e.namespace)
	if err != nil {
		return fmt.Errorf("%s: %v", m.Where(), err)
	}
	md.Namespace = ns
	if needName && md.GetName() == "" {
		return fmt.Errorf("%s: metadata.name is required", m.Where())
	}
	if md.GetName() == "" && md.GetGenerateName() == "" {
		return fmt.Errorf("%s: metadata.name or metadata.generateName is required", m.Where())
	}
	return nil
}

// Apply outcomes, as kubectl prints them.
const (
	outcomeCreated    = "created"
	outcomeConfigured = "configured"
	outcomeUnchanged  = "unchanged"
)

// applyOutcome tells configured from unchanged: an update that changed nothing leaves the
// resourceVersion where it was.
func applyOutcome(liveRV, newRV string) string {
	if newRV != "" && newRV == liveRV {
		return outcomeUnchanged
	}
	return outcomeConfigured
}

// sameDesiredState tells whether applying desired onto live would change nothing the
// manifest controls: body (spec, data, ...), labels and annotations.
func sameDesiredState(desired, live api.Object) bool {
	dm, lm := desired.GetMetadata(), live.GetMetadata()
	return proto.Equal(api.Body(desired), api.Body(live)) &&
		proto.Equal(&orchv1.ObjectMeta{Labels: dm.GetLabels(), Annotations: dm.GetAnnotations()},
			&orchv1.ObjectMeta{Labels: lm.GetLabels(), Annotations: lm.GetAnnotations()})
}

// controllerAnnotationPrefix marks the annotations the Deployment controller writes.
const controllerAnnotationPrefix = "deployment.kubernetes.io/"

// preserveAllocated copies into desired the fields the cluster allocated and a manifest
// does not carry — system metadata, owners and finalizers, a service's cluster IP and node ports, a pod's node — so that applying
// the same manifest again neither fails on immutable fields nor reads as a change.
func preserveAllocated(desired, live api.Object) {
	dm, lm := api.Meta(desired), live.GetMetadata()
	dm.Uid = lm.GetUid()
	dm.CreationTimestamp = lm.GetCreationTimestamp()
	dm.DeletionTimestamp = lm.GetDeletionTimestamp()
	dm.DeletionGracePeriodSeconds = lm.DeletionGracePeriodSeconds
	dm.Generation = lm.GetGeneration()
	if len(dm.OwnerReferences) == 0 {
		dm.OwnerReferences = lm.GetOwnerReferences()
	}
	if len(dm.Finalizers) == 0 {
		dm.Finalizers = lm.GetFinalizers()
	}
	// Annotations the controllers keep (a Deployment's revision) stay unless the
	// manifest sets them, as kubectl's three-way merge keeps what it did not apply.
	for k, v := range lm.GetAnnotations() {
		if _, set := dm.GetAnnotations()[k]; !set && strings.HasPrefix(k, controllerAnnotationPrefix) {
			if dm.Annotations == nil {
				dm.Annotations = map[string]string{}
			}
			dm.Annotations[k] = v
		}
	}
	switch d := desired.(type) {
	case *orchv1.Service:
		l, ok := live.(*orchv1.Service)
		if !ok || d.GetSpec() == nil {
			return
		}
		ds, ls := d.Spec, l.GetSpec()
		if ds.ClusterIp == "" {
			ds.ClusterIp = ls.GetClusterIp()
		}
		if len(ds.ClusterIps) == 0 {
			ds.ClusterIps = ls.GetClusterIps()
		}
		if len(ds.IpFamilies) == 0 {
			ds.IpFamilies = ls.GetIpFamilies()
		}
		if ds.IpFamilyPolicy == nil && ls.IpFamilyPolicy != nil {
			v := ls.GetIpFamilyPolicy()
			ds.IpFamilyPolicy = &v
		}
		if ds.GetType() == "NodePort" || ds.GetType() == "LoadBalancer" {
			for _, dp := range ds.Ports {
				if dp.NodePort != 0 {
					continue
				}
				for _, lp := range ls.GetPorts() {
					if lp.GetPort() == dp.GetPort() && protocolOf(lp.GetProtocol()) == protocolOf(dp.GetProtocol()) {
						dp.NodePort = lp.GetNodePort()
					}
				}
			}
		}
	case *orchv1.Pod:
		l, ok := live.(*orchv1.Pod)
		if ok && d.GetSpec() != nil && d.Spec.NodeName == "" {
			d.Spec.NodeName = l.GetSpec().GetNodeName()
		}
	}
}

func protocolOf(p string) string {
	if p == "" {
		return "TCP"
	}
	return p
}

// applyOne creates the object or updates it to the manifest, and says which.
func (e *env) applyOne(ctx context.Context, m *Manifest) (string, error) {
	if err := e.prepare(m, true); err != nil {
		return "", err
	}
	c := e.client(m.Kind)
	md := m.Object.GetMetadata()
	what := fmt.Sprintf("error when applying %q", m.Source)
	for attempt := 0; ; attempt++ {
		live, err := c.Get(ctx, md.GetNamespace(), md.GetName())
		if isNotFound(err) {
			obj := proto.Clone(m.Object).(api.Object)
			if _, err := c.Create(ctx, obj); err != nil {
				if codeOf(err) == connect.CodeAlreadyExists && attempt == 0 {
					continue // created meanwhile: update it instead
				}
				return "", e.serverError(err, fmt.Sprintf("error when creating %q", m.Source), nil, "")
			}
			return outcomeCreated, nil
		}
		if err != nil {
			return "", e.serverError(err, what, nil, "")
		}
		desired := proto.Clone(m.Object).(api.Object)
		preserveAllocated(desired, live)
		if sameDesiredState(desired, live) {
			return outcomeUnchanged, nil
		}
		liveRV := live.GetMetadata().GetResourceVersion()
		api.Meta(desired).ResourceVersion = liveRV
		api.CopyField(desired, live, "status")
		updated, err := c.Update(ctx, desired)
		if codeOf(err) == connect.CodeAborted && attempt == 0 {
			continue // someone wrote in between: once more on a fresh read
		}
		if err != nil {
			return "", e.serverError(err, what, nil, "")
		}
		return applyOutcome(liveRV, updated.GetMetadata().GetResourceVersion()), nil
	}
}
