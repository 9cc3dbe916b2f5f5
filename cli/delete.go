package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

type deleteOptions struct {
	files          fileOptions
	selector       string
	all            bool
	allNamespaces  bool
	gracePeriod    int
	force          bool
	cascade        string
	wait           bool
	timeout        time.Duration
	ignoreNotFound bool
}

// target is one object to act on.
type target struct {
	Kind      *api.Kind
	Namespace string
	Name      string
}

func newDeleteCommand(e *env) *cobra.Command {
	o := &deleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete (KIND NAME... | KIND/NAME... | KIND -l SELECTOR | KIND --all | -f FILE)",
		Short: "Delete objects",
		Example: `  orchctl delete pod web
  orchctl delete -f examples/web.yaml
  orchctl delete pods -l app=web --grace-period 0
  orchctl delete deployment web --cascade=orphan`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runDelete(cmd.Context(), o, args)
		},
		ValidArgsFunction: completeKinds,
	}
	f := cmd.Flags()
	o.files.add(cmd, "to delete")
	f.StringVarP(&o.selector, "selector", "l", "", "delete the objects matching this label selector")
	f.BoolVar(&o.all, "all", false, "delete every object of the kind in the namespace")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "with -l or --all, across all namespaces")
	f.IntVar(&o.gracePeriod, "grace-period", -1, "seconds the object has to stop gracefully (-1: its own default; 0: at once)")
	f.BoolVar(&o.force, "force", false, "delete at once, without waiting for a graceful stop (grace period 0)")
	f.StringVar(&o.cascade, "cascade", "background", `"background", "foreground" or "orphan": what happens to the objects' dependents (the pods of a ReplicaSet...): deleted after the object, deleted before it (the object stays until they are gone), or left without their owner`)
	f.Lookup("cascade").NoOptDefVal = "background"
	f.BoolVar(&o.wait, "wait", true, "wait until the objects are gone (with --cascade=foreground, their dependents first)")
	f.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long --wait waits (0: forever)")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "treat NotFound as success")
	return cmd
}

// deleteTargets resolves the objects a delete names.
func (e *env) deleteTargets(ctx context.Context, o *deleteOptions, args []string) ([]target, error) {
	if len(o.files.files) > 0 {
		if len(args) > 0 {
			return nil, fmt.Errorf("cannot name objects both with -f and as arguments")
		}
		ms, err := ReadManifests(o.files.files, o.files.recursive, e.in)
		if err != nil {
			return nil, err
		}
		var ts []target
		for _, m := range ms {
			if err := e.prepare(m, true); err != nil {
				return nil, err
			}
			md := m.Object.GetMetadata()
			ts = append(ts, target{Kind: m.Kind, Namespace: md.GetNamespace(), Name: md.GetName()})
		}
		return ts, nil
	}
	refs, err := parseResourceArgs(args)
	if err != nil {
		return nil, err
	}
	var ts []target
	for _, ref := range refs {
		ns := e.nsFor(ref.Kind)
		if len(ref.Names) > 0 {
			if o.selector != "" || o.all {
				return nil, fmt.Errorf("name cannot be provided when a selector or --all is specified")
			}
			for _, n := range ref.Names {
				ts = append(ts, target{Kind: ref.Kind, Namespace: ns, Name: n})
			}
			continue
		}
		if o.selector == "" && !o.all {
			return nil, fmt.Errorf("resource(s) were provided, but no name was specified: name the objects, or pass -l SELECTOR or --all")
		}
		if o.allNamespaces {
			ns = ""
		}
		objs, _, err := e.client(ref.Kind).List(ctx, &orchv1.ListRequest{Namespace: ns, LabelSelector: o.selector})
		if err != nil {
			return nil, e.serverError(err, "", nil, "")
		}
		sortObjects(objs)
		for _, obj := range objs {
			md := obj.GetMetadata()
			ts = append(ts, target{Kind: ref.Kind, Namespace: md.GetNamespace(), Name: md.GetName()})
		}
	}
	return ts, nil
}

func (e *env) runDelete(ctx context.Context, o *deleteOptions, args []string) error {
	if err := e.connect(); err != nil {
		return err
	}
	ts, err := e.deleteTargets(ctx, o, args)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		fmt.Fprintln(e.errOut, "No resources found")
		return nil
	}
	policy, warning, err := cascadePolicy(o.cascade)
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintln(e.errOut, warning)
	}
	var errs errorList
	type pending struct {
		t   target
		uid string
	}
	var waits []pending
	for _, t := range ts {
		gone, err := e.client(t.Kind).Delete(ctx, o.request(t, policy))
		if err != nil {
			if isNotFound(err) && o.ignoreNotFound {
				continue
			}
			if errs.add(e.serverError(err, "", t.Kind, t.Name)) {
				return errs[len(errs)-1]
			}
			continue
		}
		fmt.Fprintf(e.out, "%s %q deleted\n", kindName(t.Kind), t.Name)
		uid := ""
		if gone != nil {
			uid = gone.GetMetadata().GetUid()
		}
		waits = append(waits, pending{t, uid})
	}
	if o.wait {
		wctx := ctx
		if o.timeout > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, o.timeout)
			defer cancel()
		}
		for _, p := range waits {
			if err := e.waitGone(wctx, p.t, p.uid); err != nil {
				if errs.add(err) {
					return errs[len(errs)-1]
				}
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// request is the delete request for one target.
func (o *deleteOptions) request(t target, policy string) *orchv1.DeleteRequest {
	r := &orchv1.DeleteRequest{Namespace: t.Namespace, Name: t.Name, PropagationPolicy: policy}
	switch {
	case o.force:
		r.GracePeriodSeconds = new(int64(0))
	case o.gracePeriod >= 0:
		r.GracePeriodSeconds = new(int64(o.gracePeriod))
	}
	return r
}

// cascadePolicy maps --cascade to a propagation policy as kubectl does, with its
// deprecated boolean forms (true: background, false: orphan) and their warning.
func cascadePolicy(flag string) (policy, warning string, err error) {
	switch flag {
	case "background":
		return api.DeletePropagationBackground, "", nil
	case "foreground":
		return api.DeletePropagationForeground, "", nil
	case "orphan":
		return api.DeletePropagationOrphan, "", nil
	case "true":
		return api.DeletePropagationBackground, "warning: --cascade=true is deprecated (boolean value) and can be replaced with --cascade=background.", nil
	case "false":
		return api.DeletePropagationOrphan, "warning: --cascade=false is deprecated (boolean value) and can be replaced with --cascade=orphan.", nil
	}
	return "", "", fmt.Errorf(`invalid cascade value (%s). Must be "background", "foreground", or "orphan"`, flag)
}

// waitGone polls until the object is gone, or replaced by a new one of the same name
// (another UID), as kubectl's delete --wait does.
func (e *env) waitGone(ctx context.Context, t target, uid string) error {
	delay := 100 * time.Millisecond
	for {
		obj, err := e.client(t.Kind).Get(ctx, t.Namespace, t.Name)
		switch {
		case isNotFound(err):
			return nil
		case err == nil && uid != "" && obj.GetMetadata().GetUid() != uid:
			return nil
		case err != nil && ctx.Err() == nil && !isTransient(err):
			return e.serverError(err, "", t.Kind, t.Name)
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("timed out waiting for %s/%s to be deleted (--timeout)", resourceName(t.Kind), t.Name)
			}
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}
