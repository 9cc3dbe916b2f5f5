package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orchd/orch/api"
	orchv1 "github.com/orchd/orch/proto/gen/orch/v1"
)

func newSetCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set SUBCOMMAND",
		Short: "Set specific features on objects",
	}
	cmd.AddCommand(newSetImageCommand(e))
	return cmd
}

// podTemplateOf is the pod template of the workload kinds.
func podTemplateOf(o api.Object) (*orchv1.PodSpec, bool) {
	var t *orchv1.PodTemplateSpec
	switch x := o.(type) {
	case *orchv1.Deployment:
		t = x.GetSpec().GetTemplate()
	case *orchv1.ReplicaSet:
		t = x.GetSpec().GetTemplate()
	case *orchv1.StatefulSet:
		t = x.GetSpec().GetTemplate()
	case *orchv1.DaemonSet:
		t = x.GetSpec().GetTemplate()
	default:
		return nil, false
	}
	if t.GetSpec() == nil {
		return nil, false
	}
	return t.Spec, true
}

// setImages sets the images of the named containers (and init containers) of spec; "*"
// names every container. It reports whether anything changed.
func setImages(spec *orchv1.PodSpec, images map[string]string) (bool, error) {
	changed := false
	for name, img := range images {
		found := false
		for _, cs := range [][]*orchv1.Container{spec.GetInitContainers(), spec.GetContainers()} {
			for _, c := range cs {
				if name == "*" || c.GetName() == name {
					found = true
					if c.Image != img {
						c.Image, changed = img, true
					}
				}
			}
		}
		if !found {
			return false, fmt.Errorf("unable to find container named %q", name)
		}
	}
	return changed, nil
}

func newSetImageCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "image (TYPE NAME | TYPE/NAME) CONTAINER=IMAGE ...",
		Short: "Update the image of containers of a workload",
		Example: `  orchctl set image deployment/web httpd=127.0.0.1:5000/orch/busybox:2
  orchctl set image deployment web *=busybox:1.36`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res []string
			images := map[string]string{}
			for _, a := range args {
				if c, img, ok := strings.Cut(a, "="); ok {
					if c == "" || img == "" {
						return fmt.Errorf("invalid image update %q: want CONTAINER=IMAGE", a)
					}
					images[c] = img
				} else {
					res = append(res, a)
				}
			}
			if len(images) == 0 {
				return fmt.Errorf("at least one image update is required: CONTAINER=IMAGE")
			}
			refs, err := parseResourceArgs(res)
			if err != nil {
				return err
			}
			if err := e.connect(); err != nil {
				return err
			}
			for _, ref := range refs {
				if len(ref.Names) == 0 {
					return fmt.Errorf("resource(s) were provided, but no name was specified")
				}
				for _, name := range ref.Names {
					o, err := e.updateObject(cmd.Context(), ref.Kind, name, func(o api.Object) (bool, error) {
						spec, ok := podTemplateOf(o)
						if !ok {
							return false, fmt.Errorf("cannot set the image of %s: only deployments, replicasets, statefulsets and daemonsets", resourceName(ref.Kind))
						}
						return setImages(spec, images)
					})
					if err != nil {
						return err
					}
					fmt.Fprintf(e.out, "%s image updated\n", objectName(ref.Kind, o))
				}
			}
			return nil
		},
	}
}
