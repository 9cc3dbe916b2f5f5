package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

// Names the Deployment controller and kubectl share (apps/v1).
const (
	podTemplateHashLabel   = "pod-template-hash"
	revisionAnnotation     = "deployment.kubernetes.io/revision"
	changeCauseAnnotation  = "kubernetes.io/change-cause"
	restartedAtAnnotation  = "kubectl.kubernetes.io/restartedAt"
	progressingCondition   = "Progressing"
	timedOutReason         = "ProgressDeadlineExceeded"
	lastAppliedAnnotation  = "kubectl.kubernetes.io/last-applied-configuration"
	revisionHistoryAnnotat = "deployment.kubernetes.io/revision-history"
)

// rollbackSkippedAnnotations are not copied from a ReplicaSet back to its Deployment on
// undo, as kubectl's rollbacker skips them.
var rollbackSkippedAnnotations = map[string]bool{
	lastAppliedAnnotation:                       true,
	revisionAnnotation:                          true,
	revisionHistoryAnnotat:                      true,
	"deployment.kubernetes.io/desired-replicas": true,
	"deployment.kubernetes.io/max-replicas":     true,
	"deprecated.deployment.rollback.to":         true,
}

func newRolloutCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout SUBCOMMAND",
		Short: "Manage the rollout of a deployment",
		Example: `  orchctl rollout status deployment/web
  orchctl rollout history deployment/web
  orchctl rollout undo deployment/web --to-revision=2
  orchctl rollout restart deployment/web`,
	}
	cmd.AddCommand(newRolloutStatusCommand(e), newRolloutHistoryCommand(e), newRolloutUndoCommand(e),
		newRolloutPauseCommand(e, true), newRolloutPauseCommand(e, false), newRolloutRestartCommand(e))
	return cmd
}

// deploymentArg reads `deployment/web` or `deployment web`: rollouts are of deployments.
func deploymentArg(args []string) (string, error) {
	refs, err := parseResourceArgs(args)
	if err != nil {
		return "", err
	}
	if len(refs) != 1 || len(refs[0].Names) != 1 {
		return "", fmt.Errorf("exactly one deployment is required: TYPE/NAME or TYPE NAME")
	}
	if refs[0].Kind != api.DeploymentKind {
		return "", fmt.Errorf("no rollout support for %s: only deployments roll out", resourceName(refs[0].Kind))
	}
	return refs[0].Names[0], nil
}

func (e *env) getDeployment(ctx context.Context, name string) (*orchv1.Deployment, error) {
	o, err := e.client(api.DeploymentKind).Get(ctx, e.namespace, name)
	if err != nil {
		return nil, e.serverError(err, "", api.DeploymentKind, name)
	}
	return o.(*orchv1.Deployment), nil
}

// updateDeployment reads, changes and writes a deployment, again on a conflict.
// change returns false when there is nothing to write.
func (e *env) updateDeployment(ctx context.Context, name string, change func(*orchv1.Deployment) (bool, error)) (*orchv1.Deployment, bool, error) {
	for attempt := 0; ; attempt++ {
		d, err := e.getDeployment(ctx, name)
		if err != nil {
			return nil, false, err
		}
		d = proto.Clone(d).(*orchv1.Deployment)
		ok, err := change(d)
		if err != nil || !ok {
			return d, false, err
		}
		u, err := e.client(api.DeploymentKind).Update(ctx, d)
		if err == nil {
			return u.(*orchv1.Deployment), true, nil
		}
		if codeOf(err) != connect.CodeAborted || attempt >= 4 {
			return nil, false, e.serverError(err, "", api.DeploymentKind, name)
		}
	}
}

// ---------------------------------------------------------------------------------------
// rollout status

// rolloutStatus is kubectl's DeploymentStatusViewer: the line to print, whether the
// rollout is done, or an error once it exceeded its progress deadline.
func rolloutStatus(d *orchv1.Deployment, wantRevision int64) (string, bool, error) {
	name := d.GetMetadata().GetName()
	if wantRevision > 0 {
		rev, _ := strconv.ParseInt(d.GetMetadata().GetAnnotations()[revisionAnnotation], 10, 64)
		if rev != wantRevision {
			return "", false, fmt.Errorf("desired revision (%d) is different from the running revision (%d)", wantRevision, rev)
		}
	}
	st := d.GetStatus()
	if d.GetMetadata().GetGeneration() > st.GetObservedGeneration() {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	for _, c := range st.GetConditions() {
		if c.GetType() == progressingCondition && c.GetReason() == timedOutReason {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", name)
		}
	}
	want := replicas(d.GetSpec())
	switch {
	case st.GetUpdatedReplicas() < want:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", name, st.GetUpdatedReplicas(), want), false, nil
	case st.GetReplicas() > st.GetUpdatedReplicas():
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", name, st.GetReplicas()-st.GetUpdatedReplicas()), false, nil
	case st.GetAvailableReplicas() < st.GetUpdatedReplicas():
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", name, st.GetAvailableReplicas(), st.GetUpdatedReplicas()), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", name), true, nil
}

func newRolloutStatusCommand(e *env) *cobra.Command {
	var watch bool
	var timeout time.Duration
	var revision int64
	cmd := &cobra.Command{
		Use:   "status deployment/NAME",
		Short: "Show the status of a rollout, and wait until it is done",
		Long: "Show the status of a rollout. With --watch (the default) it prints each change until the " +
			"rollout is done, and fails when the deployment exceeds its progress deadline.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := deploymentArg(args)
			if err != nil {
				return err
			}
			if err := e.connect(); err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return e.rolloutStatusWatch(ctx, name, watch, revision)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", true, "watch the rollout until it is done")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "how long to wait before giving up (0: forever)")
	cmd.Flags().Int64Var(&revision, "revision", 0, "pin to this revision; fail if the deployment is at another one")
	return cmd
}

func (e *env) rolloutStatusWatch(ctx context.Context, name string, watch bool, revision int64) error {
	last := ""
	show := func(d *orchv1.Deployment) (bool, error) {
		msg, done, err := rolloutStatus(d, revision)
		if err != nil {
			return true, err
		}
		if msg != last {
			fmt.Fprintln(e.out, msg)
			last = msg
		}
		return done, nil
	}
	for {
		d, err := e.getDeployment(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("timed out waiting for the condition")
			}
			return err
		}
		if done, err := show(d); done || err != nil || !watch {
			return err
		}
		w, err := e.watchClient(api.DeploymentKind).Watch(ctx, &orchv1.WatchRequest{Namespace: e.namespace,
			FieldSelector: "metadata.name=" + name, ResourceVersion: d.GetMetadata().GetResourceVersion()})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("timed out waiting for the condition")
			}
			return e.serverError(err, "", api.DeploymentKind, name)
		}
		for {
			typ, o, ok := w.Next()
			if !ok {
				break
			}
			switch typ {
			case api.Deleted:
				w.Close()
				return fmt.Errorf("deployment %q was deleted", name)
			case api.Added, api.Modified:
				if done, err := show(o.(*orchv1.Deployment)); done || err != nil {
					w.Close()
					return err
				}
			}
		}
		w.Close()
		if ctx.Err() != nil {
			return fmt.Errorf("timed out waiting for the condition")
		}
		// The watch ended (a master went away, the history moved on): read again.
	}
}

// ---------------------------------------------------------------------------------------
// rollout history and undo

// revisionOf is a ReplicaSet's deployment.kubernetes.io/revision, 0 when absent.
func revisionOf(o api.Object) int64 {
	n, _ := strconv.ParseInt(o.GetMetadata().GetAnnotations()[revisionAnnotation], 10, 64)
	return n
}

// ownedReplicaSets are the ReplicaSets the deployment controls, by revision.
func (e *env) ownedReplicaSets(ctx context.Context, d *orchv1.Deployment) ([]*orchv1.ReplicaSet, error) {
	objs, _, err := e.client(api.ReplicaSetKind).List(ctx, &orchv1.ListRequest{Namespace: d.GetMetadata().GetNamespace()})
	if err != nil {
		return nil, e.serverError(err, "", nil, "")
	}
	var out []*orchv1.ReplicaSet
	for _, o := range objs {
		for _, r := range o.GetMetadata().GetOwnerReferences() {
			if r.GetController() && r.GetUid() == d.GetMetadata().GetUid() {
				out = append(out, o.(*orchv1.ReplicaSet))
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return revisionOf(out[i]) < revisionOf(out[j]) })
	return out, nil
}

func writeHistory(w io.Writer, d *orchv1.Deployment, rss []*orchv1.ReplicaSet) error {
	fmt.Fprintf(w, "%s \n", objectName(api.DeploymentKind, d))
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	for _, rs := range rss {
		if revisionOf(rs) == 0 {
			continue
		}
		cause := rs.GetMetadata().GetAnnotations()[changeCauseAnnotation]
		if cause == "" {
			cause = "<none>"
		}
		fmt.Fprintf(tw, "%d\t%s\n", revisionOf(rs), cause)
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}

func newRolloutHistoryCommand(e *env) *cobra.Command {
	var revision int64
	cmd := &cobra.Command{
		Use:   "history deployment/NAME",
		Short: "Show the revisions of a deployment",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := deploymentArg(args)
			if err != nil {
				return err
			}
			if err := e.connect(); err != nil {
				return err
			}
			ctx := cmd.Context()
			d, err := e.getDeployment(ctx, name)
			if err != nil {
				return err
			}
			rss, err := e.ownedReplicaSets(ctx, d)
			if err != nil {
				return err
			}
			if revision == 0 {
				return writeHistory(e.out, d, rss)
			}
			for _, rs := range rss {
				if revisionOf(rs) == revision {
					fmt.Fprintf(e.out, "%s with revision #%d\nPod Template:\n", objectName(api.DeploymentKind, d), revision)
					b, err := ObjectYAML(rs.GetSpec().GetTemplate())
					if err != nil {
						return err
					}
					for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
						fmt.Fprintf(e.out, "  %s\n", l)
					}
					return nil
				}
			}
			return fmt.Errorf("unable to find the specified revision")
		},
	}
	cmd.Flags().Int64Var(&revision, "revision", 0, "show the pod template of this revision")
	return cmd
}

// rollbackTarget picks the ReplicaSet to roll back to: the one at toRevision, or the
// latest before the current one when toRevision is 0 (kubectl's rollbacker).
func rollbackTarget(name string, rss []*orchv1.ReplicaSet, toRevision int64) (*orchv1.ReplicaSet, error) {
	byRev := map[int64]*orchv1.ReplicaSet{}
	var revs []int64
	for _, rs := range rss {
		if r := revisionOf(rs); r > 0 {
			if _, dup := byRev[r]; !dup {
				revs = append(revs, r)
			}
			byRev[r] = rs
		}
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	if toRevision > 0 {
		rs, ok := byRev[toRevision]
		if !ok {
			return nil, fmt.Errorf("unable to find specified revision %d in history", toRevision)
		}
		return rs, nil
	}
	if len(revs) < 2 {
		return nil, fmt.Errorf("no rollout history found for deployment %q", name)
	}
	return byRev[revs[len(revs)-2]], nil
}

// templateWithoutHash is rs's template without the pod-template-hash label.
func templateWithoutHash(t *orchv1.PodTemplateSpec) *orchv1.PodTemplateSpec {
	c := proto.Clone(t).(*orchv1.PodTemplateSpec)
	if c.GetMetadata() != nil {
		delete(c.Metadata.Labels, podTemplateHashLabel)
	}
	return c
}

func newRolloutUndoCommand(e *env) *cobra.Command {
	var toRevision int64
	cmd := &cobra.Command{
		Use:   "undo deployment/NAME",
		Short: "Roll back to a previous revision",
		Long: "Roll back to the previous revision, or the one --to-revision names: its pod template is " +
			"copied back into the deployment, which rolls it out again.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := deploymentArg(args)
			if err != nil {
				return err
			}
			if toRevision < 0 {
				return fmt.Errorf("--to-revision must be a revision number (0: the previous one)")
			}
			if err := e.connect(); err != nil {
				return err
			}
			ctx := cmd.Context()
			skipped := false
			var target int64
			d, changed, err := e.updateDeployment(ctx, name, func(d *orchv1.Deployment) (bool, error) {
				if d.GetSpec().GetPaused() {
					return false, fmt.Errorf("you cannot rollback a paused deployment; resume it first with 'orchctl rollout resume %s' and try again", objectName(api.DeploymentKind, d))
				}
				rss, err := e.ownedReplicaSets(ctx, d)
				if err != nil {
					return false, err
				}
				rs, err := rollbackTarget(name, rss, toRevision)
				if err != nil {
					return false, err
				}
				target = revisionOf(rs)
				tmpl := templateWithoutHash(rs.GetSpec().GetTemplate())
				if proto.Equal(tmpl, templateWithoutHash(d.GetSpec().GetTemplate())) {
					skipped = true
					return false, nil
				}
				d.Spec.Template = tmpl
				m := api.Meta(d)
				for k, v := range rs.GetMetadata().GetAnnotations() {
					if !rollbackSkippedAnnotations[k] {
						if m.Annotations == nil {
							m.Annotations = map[string]string{}
						}
						m.Annotations[k] = v
					}
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			switch {
			case skipped:
				fmt.Fprintf(e.out, "%s skipped rollback (current template already matches revision %d)\n", objectName(api.DeploymentKind, d), target)
			case changed:
				fmt.Fprintf(e.out, "%s rolled back\n", objectName(api.DeploymentKind, d))
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&toRevision, "to-revision", 0, "the revision to roll back to (0: the previous one)")
	return cmd
}

// ---------------------------------------------------------------------------------------
// rollout pause, resume and restart

var errNoChange = errors.New("no change")

func newRolloutPauseCommand(e *env, pause bool) *cobra.Command {
	use, short, done := "resume", "Resume a paused deployment", "resumed"
	if pause {
		use, short, done = "pause", "Pause a deployment: template changes are not rolled out until it is resumed", "paused"
	}
	return &cobra.Command{
		Use:   use + " deployment/NAME",
		Short: short,
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := deploymentArg(args)
			if err != nil {
				return err
			}
			if err := e.connect(); err != nil {
				return err
			}
			d, _, err := e.updateDeployment(cmd.Context(), name, func(d *orchv1.Deployment) (bool, error) {
				if d.GetSpec().GetPaused() == pause {
					return false, errNoChange
				}
				d.Spec.Paused = pause
				return true, nil
			})
			if errors.Is(err, errNoChange) {
				if pause {
					return fmt.Errorf("%s %q is already paused", resourceName(api.DeploymentKind), name)
				}
				return fmt.Errorf("%s %q is not paused", resourceName(api.DeploymentKind), name)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.out, "%s %s\n", objectName(api.DeploymentKind, d), done)
			return nil
		},
	}
}

func newRolloutRestartCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "restart deployment/NAME",
		Short: "Restart every pod of a deployment with a rollout",
		Long:  "Restart every pod of a deployment: the pod template gets the annotation " + restartedAtAnnotation + ", which rolls out new pods.",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := deploymentArg(args)
			if err != nil {
				return err
			}
			if err := e.connect(); err != nil {
				return err
			}
			now := time.Now().UTC().Format(time.RFC3339)
			d, _, err := e.updateDeployment(cmd.Context(), name, func(d *orchv1.Deployment) (bool, error) {
				if d.GetSpec().GetPaused() {
					return false, fmt.Errorf("can't restart paused deployment (run rollout resume first)")
				}
				t := d.GetSpec().GetTemplate()
				if t == nil {
					d.Spec.Template = &orchv1.PodTemplateSpec{}
					t = d.Spec.Template
				}
				m := api.Meta(t)
				if m.Annotations == nil {
					m.Annotations = map[string]string{}
				}
				m.Annotations[restartedAtAnnotation] = now
				return true, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.out, "%s restarted\n", objectName(api.DeploymentKind, d))
			return nil
		},
	}
}
