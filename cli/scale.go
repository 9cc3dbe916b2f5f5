package cli

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// updateObject reads, changes and writes one object, again on a conflict; change
// returns false when there is nothing to write.
func (e *env) updateObject(ctx context.Context, k *api.Kind, name string, change func(api.Object) (bool, error)) (api.Object, error) {
	c := e.client(k)
	ns := e.nsFor(k)
	for attempt := 0; ; attempt++ {
		o, err := c.Get(ctx, ns, name)
		if err != nil {
			return nil, e.serverError(err, "", k, name)
		}
		o = proto.Clone(o).(api.Object)
		ok, err := change(o)
		if err != nil || !ok {
			return o, err
		}
		u, err := c.Update(ctx, o)
		if err == nil {
			return u, nil
		}
		if codeOf(err) != connect.CodeAborted || attempt >= 4 {
			return nil, e.serverError(err, "", k, name)
		}
	}
}

// scaleSpec is spec.replicas of the kinds orchctl scales.
func scaleSpec(o api.Object) (**int32, bool) {
	switch x := o.(type) {
	case *orchv1.Deployment:
		if x.Spec == nil {
			x.Spec = &orchv1.DeploymentSpec{}
		}
		return &x.Spec.Replicas, true
	case *orchv1.ReplicaSet:
		if x.Spec == nil {
			x.Spec = &orchv1.ReplicaSetSpec{}
		}
		return &x.Spec.Replicas, true
	}
	return nil, false
}

func newScaleCommand(e *env) *cobra.Command {
	var replicas, current int32
	cmd := &cobra.Command{
		Use:   "scale (deployment|replicaset) NAME --replicas=N",
		Short: "Set the number of replicas of a deployment or replica set",
		Example: `  orchctl scale deployment web --replicas=5
  orchctl scale deployment/web --current-replicas=5 --replicas=1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("replicas") {
				return fmt.Errorf("the --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
			}
			if replicas < 0 {
				return fmt.Errorf("the --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
			}
			refs, err := parseResourceArgs(args)
			if err != nil {
				return err
			}
			if err := e.connect(); err != nil {
				return err
			}
			var errs errorList
			for _, ref := range refs {
				if len(ref.Names) == 0 {
					return fmt.Errorf("resource(s) were provided, but no name was specified")
				}
				for _, name := range ref.Names {
					o, err := e.updateObject(cmd.Context(), ref.Kind, name, func(o api.Object) (bool, error) {
						p, ok := scaleSpec(o)
						if !ok {
							return false, fmt.Errorf("cannot scale %s: only deployments and replicasets can be scaled", resourceName(ref.Kind))
						}
						have := int32(1)
						if *p != nil {
							have = **p
						}
						if cmd.Flags().Changed("current-replicas") && have != current {
							return false, fmt.Errorf("expected replicas to be %d, was %d", current, have)
						}
						*p = proto.Int32(replicas)
						return have != replicas, nil
					})
					if err != nil {
						if errs.add(err) {
							return errs
						}
						continue
					}
					fmt.Fprintf(e.out, "%s scaled\n", objectName(ref.Kind, o))
				}
			}
			if len(errs) > 0 {
				return errs
			}
			return nil
		},
	}
	cmd.Flags().Int32Var(&replicas, "replicas", 0, "the new number of replicas (required)")
	cmd.Flags().Int32Var(&current, "current-replicas", -1, "precondition: scale only if the current number of replicas is this")
	return cmd
}
