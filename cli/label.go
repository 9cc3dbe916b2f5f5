package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orchd/orch/api"
)

// metaChanges are the key=value and key- arguments of label and annotate.
type metaChanges struct {
	set    map[string]string
	order  []string // the keys of set, in argument order
	remove []string
}

// splitMetaArgs separates the resource arguments from the changes: an argument with "="
// sets a key, one ending in "-" removes it, as kubectl reads them.
func splitMetaArgs(args []string) (res []string, ch metaChanges, err error) {
	ch.set = map[string]string{}
	for _, a := range args {
		switch {
		case strings.Contains(a, "="):
			k, v, _ := strings.Cut(a, "=")
			if k == "" {
				return nil, ch, fmt.Errorf("invalid argument %q: the key is empty", a)
			}
			if _, dup := ch.set[k]; dup {
				return nil, ch, fmt.Errorf("%q is given more than once", k)
			}
			ch.set[k] = v
			ch.order = append(ch.order, k)
		case strings.HasSuffix(a, "-") && !strings.Contains(a, "/"):
			ch.remove = append(ch.remove, strings.TrimSuffix(a, "-"))
		default:
			res = append(res, a)
		}
	}
	for _, k := range ch.remove {
		if _, ok := ch.set[k]; ok {
			return nil, ch, fmt.Errorf("can not both modify and remove the key %q in the same command", k)
		}
	}
	return res, ch, nil
}

// apply changes m (labels or annotations) and reports whether anything changed. Without
// overwrite a key that has another value is refused, as kubectl does; removing a key
// that is not there is no error.
func (ch metaChanges) apply(m map[string]string, overwrite bool, what string) (map[string]string, bool, error) {
	if !overwrite {
		var clash []string
		for _, k := range ch.order {
			if cur, ok := m[k]; ok && cur != ch.set[k] {
				clash = append(clash, fmt.Sprintf("'%s' already has a value (%s)", k, cur))
			}
		}
		if len(clash) > 0 {
			if what == "label" {
				return nil, false, fmt.Errorf("%s, and --overwrite is false", strings.Join(clash, ", "))
			}
			return nil, false, fmt.Errorf("--overwrite is false but found the following declared annotation(s): %s", strings.Join(clash, "; "))
		}
	}
	changed := false
	if m == nil {
		m = map[string]string{}
	}
	for _, k := range ch.order {
		if cur, ok := m[k]; !ok || cur != ch.set[k] {
			m[k], changed = ch.set[k], true
		}
	}
	for _, k := range ch.remove {
		if _, ok := m[k]; ok {
			delete(m, k)
			changed = true
		}
	}
	return m, changed, nil
}

func newMetaCommand(e *env, what string) *cobra.Command {
	var overwrite bool
	var resourceVersion string
	plural, done, kind := "labels", "labeled", "label"
	if what == "annotate" {
		plural, done, kind = "annotations", "annotated", "annotation"
	}
	cmd := &cobra.Command{
		Use:   what + " [--overwrite] (TYPE NAME | TYPE/NAME) KEY_1=VAL_1 ... KEY_N=VAL_N [KEY-]",
		Short: "Update the " + plural + " of objects",
		Long: "Update the " + plural + " of objects. KEY=VAL sets a key, KEY- removes it. A key that already has\n" +
			"another value is changed only with --overwrite.",
		Example: fmt.Sprintf(`  orchctl %[1]s pods web tier=frontend
  orchctl %[1]s --overwrite node/w1 tier=backend
  orchctl %[1]s deployment web tier-`, what),
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, ch, err := splitMetaArgs(args)
			if err != nil {
				return err
			}
			if len(ch.set)+len(ch.remove) == 0 {
				return fmt.Errorf("at least one %s update is required", kind)
			}
			refs, err := parseResourceArgs(res)
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
					changed := false
					o, err := e.updateObject(cmd.Context(), ref.Kind, name, func(o api.Object) (bool, error) {
						m := api.Meta(o)
						if resourceVersion != "" && m.GetResourceVersion() != resourceVersion {
							return false, fmt.Errorf("the object has been modified: resourceVersion is %s, not %s", m.GetResourceVersion(), resourceVersion)
						}
						cur := m.Labels
						if what == "annotate" {
							cur = m.Annotations
						}
						next, c, err := ch.apply(cur, overwrite, what)
						if err != nil || !c {
							return false, err
						}
						if what == "annotate" {
							m.Annotations = next
						} else {
							m.Labels = next
						}
						changed = true
						return true, nil
					})
					if err != nil {
						if errs.add(err) {
							return errs
						}
						continue
					}
					switch {
					case !changed && what == "annotate":
						fmt.Fprintf(e.out, "%s not annotated\n", objectName(ref.Kind, o))
					case !changed:
						fmt.Fprintf(e.out, "%s not labeled\n", objectName(ref.Kind, o))
					case len(ch.set) == 0 && what == "label":
						fmt.Fprintf(e.out, "%s unlabeled\n", objectName(ref.Kind, o))
					default:
						fmt.Fprintf(e.out, "%s %s\n", objectName(ref.Kind, o), done)
					}
				}
			}
			if len(errs) > 0 {
				return errs
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "change keys that already have a value")
	cmd.Flags().StringVar(&resourceVersion, "resource-version", "", "update only if the object is still at this resourceVersion")
	return cmd
}
