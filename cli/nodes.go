package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func newCordonCommand(e *env, cordon bool) *cobra.Command {
	use, short, done := "cordon NODE", "Mark a node as unschedulable", "cordoned"
	if !cordon {
		use, short, done = "uncordon NODE", "Mark a node as schedulable", "uncordoned"
	}
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Example: "  orchctl " + strings.Fields(use)[0] + " w1",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.connect(); err != nil {
				return err
			}
			var errs errorList
			for _, name := range nodeNames(args) {
				changed := false
				o, err := e.updateObject(cmd.Context(), api.NodeKind, name, func(o api.Object) (bool, error) {
					n := o.(*orchv1.Node)
					if n.GetSpec().GetUnschedulable() == cordon {
						return false, nil
					}
					if n.Spec == nil {
						n.Spec = &orchv1.NodeSpec{}
					}
					n.Spec.Unschedulable, changed = cordon, true
					return true, nil
				})
				if err != nil {
					if errs.add(err) {
						return errs
					}
					continue
				}
				if changed {
					fmt.Fprintf(e.out, "%s %s\n", objectName(api.NodeKind, o), done)
				} else {
					fmt.Fprintf(e.out, "%s already %s\n", objectName(api.NodeKind, o), done)
				}
			}
			if len(errs) > 0 {
				return errs
			}
			return nil
		},
	}
}

// nodeNames accepts NODE and node/NODE.
func nodeNames(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if k, n, ok := strings.Cut(a, "/"); ok {
			if kind, found := api.Lookup(k); found && kind == api.NodeKind {
				a = n
			}
		}
		out[i] = a
	}
	return out
}

var taintEffects = []string{api.TaintEffectNoSchedule, api.TaintEffectPreferNoSchedule, api.TaintEffectNoExecute}

// parseTaints reads kubectl's taint arguments: key=value:Effect and key:Effect add a
// taint; key:Effect- removes the taint of that key and effect, key- every taint of key.
func parseTaints(specs []string) (add, remove []*orchv1.Taint, err error) {
	for _, s := range specs {
		if strings.HasSuffix(s, "-") {
			key, effect, _ := strings.Cut(strings.TrimSuffix(s, "-"), ":")
			if key == "" || strings.Contains(key, "=") {
				return nil, nil, fmt.Errorf("invalid taint spec: %s: a removal is key- or key:Effect-", s)
			}
			if effect != "" && !slices.Contains(taintEffects, effect) {
				return nil, nil, fmt.Errorf("invalid taint effect: %s, unsupported taint effect", effect)
			}
			remove = append(remove, &orchv1.Taint{Key: key, Effect: effect})
			continue
		}
		kv, effect, ok := strings.Cut(s, ":")
		if !ok || effect == "" {
			return nil, nil, fmt.Errorf("invalid taint spec: %s: want key=value:Effect or key:Effect", s)
		}
		if !slices.Contains(taintEffects, effect) {
			return nil, nil, fmt.Errorf("invalid taint effect: %s, unsupported taint effect", effect)
		}
		key, value, _ := strings.Cut(kv, "=")
		if key == "" {
			return nil, nil, fmt.Errorf("invalid taint spec: %s: the key is empty", s)
		}
		t := &orchv1.Taint{Key: key, Value: value, Effect: effect}
		for _, o := range add {
			if o.GetKey() == key && o.GetEffect() == effect {
				return nil, nil, fmt.Errorf("duplicated taints with the same key and effect: %s", api.TaintString(t))
			}
		}
		add = append(add, t)
	}
	for _, r := range remove {
		for _, a := range add {
			if a.GetKey() == r.GetKey() && (r.GetEffect() == "" || r.GetEffect() == a.GetEffect()) {
				return nil, nil, fmt.Errorf("can not both modify and remove the following taint(s) in the same command: %s", api.TaintString(a))
			}
		}
	}
	return add, remove, nil
}

// applyTaints changes a node's taints as kubectl taint does and returns the verb it
// prints: "tainted", "untainted" or "modified" (an --overwrite of a value).
func applyTaints(node string, cur, add, remove []*orchv1.Taint, overwrite bool) ([]*orchv1.Taint, string, error) {
	out := slices.Clone(cur)
	for _, r := range remove {
		n := len(out)
		out = slices.DeleteFunc(out, func(t *orchv1.Taint) bool {
			return t.GetKey() == r.GetKey() && (r.GetEffect() == "" || t.GetEffect() == r.GetEffect())
		})
		if len(out) == n {
			spec := r.GetKey()
			if r.GetEffect() != "" {
				spec += ":" + r.GetEffect()
			}
			return nil, "", fmt.Errorf("taint %q not found", spec)
		}
	}
	verb := "untainted"
	if len(add) > 0 {
		verb = "tainted"
	}
	for _, a := range add {
		i := slices.IndexFunc(out, func(t *orchv1.Taint) bool { return t.GetKey() == a.GetKey() && t.GetEffect() == a.GetEffect() })
		if i < 0 {
			out = append(out, a)
			continue
		}
		if !overwrite {
			return nil, "", fmt.Errorf("node %s already has %s taint(s) with same effect(s) and --overwrite is false", node, a.GetKey())
		}
		out[i] = a
		verb = "modified"
	}
	return out, verb, nil
}

func newTaintCommand(e *env) *cobra.Command {
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "taint nodes NODE KEY_1=VAL_1:TAINT_EFFECT_1 ... KEY_N=VAL_N:TAINT_EFFECT_N",
		Short: "Update the taints on one or more nodes",
		Long: `Update the taints on one or more nodes. A taint is key=value:Effect or key:Effect, the
effect one of NoSchedule, PreferNoSchedule or NoExecute. A trailing dash removes taints:
key:Effect- the one of that effect, key- all of that key.`,
		Example: `  orchctl taint nodes w1 dedicated=special-user:NoSchedule
  orchctl taint nodes w1 dedicated:NoSchedule-
  orchctl taint nodes w1 dedicated-
  orchctl taint node/w1 bar:PreferNoSchedule`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var names, specs []string
			if k, n, ok := strings.Cut(args[0], "/"); ok {
				if kind, found := api.Lookup(k); !found || kind != api.NodeKind {
					return fmt.Errorf("only nodes can be tainted, not %q", k)
				}
				names, specs = []string{n}, args[1:]
			} else {
				if kind, found := api.Lookup(args[0]); !found || kind != api.NodeKind {
					return fmt.Errorf("only nodes can be tainted, not %q", args[0])
				}
				names, specs = args[1:2], args[2:]
			}
			if len(specs) == 0 {
				return fmt.Errorf("at least one taint update is required")
			}
			add, remove, err := parseTaints(specs)
			if err != nil {
				return err
			}
			if err := e.connect(); err != nil {
				return err
			}
			for _, name := range names {
				var verb string
				o, err := e.updateObject(cmd.Context(), api.NodeKind, name, func(o api.Object) (bool, error) {
					n := o.(*orchv1.Node)
					if n.Spec == nil {
						n.Spec = &orchv1.NodeSpec{}
					}
					taints, v, err := applyTaints(name, n.Spec.Taints, add, remove, overwrite)
					if err != nil {
						return false, err
					}
					n.Spec.Taints, verb = taints, v
					return true, nil
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(e.out, "%s %s\n", objectName(api.NodeKind, o), verb)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace the value of a taint of the same key and effect")
	return cmd
}
